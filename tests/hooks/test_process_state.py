"""One reset for everything the provider keeps per process."""

from __future__ import annotations

from airflow_provider_insights.connection import ConnectionSettings
from airflow_provider_insights.hooks import _hook_base, auth, redaction, reset_process_state
from airflow_provider_insights.hooks._executions import refuses_value_lists, remember_value_lists_refused

SERVICE = "https://api.test/insights/v1/mpn"


def test_reset_process_state_forgets_tokens_settings_refusals_and_masked_secrets():
    settings = ConnectionSettings.from_parts(
        login="client", password="secret", extra={"tenant_id": "t", "auth_type": "client_credentials"}
    )
    provider = auth.get_token_provider(settings)
    _hook_base._remember_settings("conn", settings)
    remember_value_lists_refused(SERVICE)
    redaction._masked_digests.add("digest")

    reset_process_state()

    assert auth.get_token_provider(settings) is not provider
    assert _hook_base._recently_read_settings("conn") is None
    assert not refuses_value_lists(SERVICE)
    assert not redaction._masked_digests
