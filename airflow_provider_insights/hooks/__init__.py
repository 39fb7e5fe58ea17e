"""hooks of the Partner Center Insights provider."""
