"""sensors of the Partner Center Insights provider."""
