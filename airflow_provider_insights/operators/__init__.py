"""operators of the Partner Center Insights provider."""
