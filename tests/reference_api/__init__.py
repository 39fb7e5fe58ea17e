"""An independent reference implementation of the Partner Center Insights API, written from Microsoft's pages.

Used to check the provider's hook against something other than the project's own sandbox. It imports
nothing from ``airflow_provider_insights``.
"""
