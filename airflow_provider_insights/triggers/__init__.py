"""triggers of the Partner Center Insights provider."""
