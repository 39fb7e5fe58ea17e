"""transfers of the Partner Center Insights provider."""
