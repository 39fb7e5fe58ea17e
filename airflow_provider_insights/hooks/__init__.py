"""Hooks of the Partner Center Insights provider, and the one reset of what they keep per process."""

from __future__ import annotations


def reset_process_state() -> None:
    """Forget everything the provider keeps for the life of a process.

    That is: token providers (and their cached tokens), connections the async path read recently,
    which services refuse ``;`` value lists, and which secrets were already handed to Airflow's
    masker. For tests, and for a long-lived process after a connection was changed or rotated.
    """
    from airflow_provider_insights.hooks._executions import reset_value_list_refusals
    from airflow_provider_insights.hooks._hook_base import forget_connection_settings
    from airflow_provider_insights.hooks.auth import reset_token_providers
    from airflow_provider_insights.hooks.redaction import forget_masked

    reset_token_providers()
    forget_connection_settings()
    reset_value_list_refusals()
    forget_masked()
