"""Configuration errors are never transient (hooks/transport_config.py and the transports using it).

A ``verify`` CA bundle that is missing, unreadable or not a CA bundle, a malformed proxy URL and an
unusable base URL fail at once with a ``PartnerInsightsConfigError`` naming the field and value, on
the requests path, the aiohttp path and msal's token path; pollers do not wait them out.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest
import requests

from airflow_provider_insights.exceptions import (
    PartnerInsightsApiError,
    PartnerInsightsConfigError,
    is_transient_error,
)
from airflow_provider_insights.hooks._auth_http import MsalHttpClient
from airflow_provider_insights.hooks.async_sessions import (
    AsyncTransportSettings,
    acquire_shared_session,
    release_shared_session,
)
from airflow_provider_insights.hooks.flow import Send, TransportFailure
from airflow_provider_insights.hooks.transport_config import ssl_context_for
from airflow_provider_insights.hooks.transports import AsyncTransport, SyncTransport

MISSING_CA = "/no/such/dir/corporate-ca.pem"
# Nothing listens on port 9 here: a real network failure, not a configuration error.
UNREACHABLE = "https://127.0.0.1:9/insights/v1/mpn/ScheduledDataset"


def _sync_send(url: str = UNREACHABLE, *, verify: bool | str = True, proxies: dict[str, str] | None = None):
    transport = SyncTransport(requests.Session(), verify=verify, proxies=proxies or {}, timeout=5)
    return transport.send(Send("GET", url, {}))


@pytest.fixture
def not_a_ca_bundle(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("this is not a certificate\n")
    return str(path)


# -- requests ----------------------------------------------------------------------------------------


def test_missing_ca_bundle_names_verify_and_the_path():
    with pytest.raises(PartnerInsightsConfigError) as caught:
        _sync_send(verify=MISSING_CA)
    assert "verify" in str(caught.value)
    assert MISSING_CA in str(caught.value)
    assert not is_transient_error(caught.value)


def test_a_file_that_is_not_a_ca_bundle_is_a_config_error(not_a_ca_bundle):
    with pytest.raises(PartnerInsightsConfigError, match="is not a CA bundle") as caught:
        _sync_send(verify=not_a_ca_bundle)
    assert not_a_ca_bundle in str(caught.value)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_ca_bundle_is_a_config_error(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text("x")
    path.chmod(0)
    with pytest.raises(PartnerInsightsConfigError, match="cannot read"):
        _sync_send(verify=str(path))


@pytest.mark.parametrize(
    ("proxy", "shown"),
    [
        ("http://user:hunter2@:3128", "'http://:3128' names no valid host"),
        ("http://user:hunter2@proxy:99999", "'http://proxy:99999' is not a valid URL"),
        ("http//user:hunter2@proxy", "'***@proxy' must start with one of http://"),
    ],
)
def test_a_malformed_proxy_is_a_config_error_without_its_password(proxy, shown):
    with pytest.raises(PartnerInsightsConfigError) as caught:
        _sync_send(proxies={"https": proxy})
    assert str(caught.value).startswith("proxies: the 'https' proxy")
    assert shown in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("url", ["https://exa mple.test/x", "https://api.example.test:99999/x", "https:///x"])
def test_an_unusable_base_url_is_a_config_error(url):
    with pytest.raises(PartnerInsightsConfigError, match="api_base_url"):
        _sync_send(url)


def test_a_network_failure_with_good_settings_stays_a_transport_failure():
    outcome = _sync_send()
    assert isinstance(outcome, TransportFailure)


# -- aiohttp -----------------------------------------------------------------------------------------


def test_ssl_context_for_a_missing_bundle_names_it(not_a_ca_bundle):
    with pytest.raises(PartnerInsightsConfigError, match=MISSING_CA):
        ssl_context_for(MISSING_CA)
    with pytest.raises(PartnerInsightsConfigError, match="is not a CA bundle"):
        ssl_context_for(not_a_ca_bundle)


async def test_async_session_with_a_missing_bundle_is_a_config_error():
    with pytest.raises(PartnerInsightsConfigError, match=MISSING_CA):
        await acquire_shared_session(AsyncTransportSettings(verify=MISSING_CA))


async def test_async_transport_with_a_malformed_proxy_is_a_config_error():
    shared = await acquire_shared_session(AsyncTransportSettings(proxies=(("https", "http://:3128"),)))
    try:
        with pytest.raises(PartnerInsightsConfigError, match="proxies"):
            await AsyncTransport(shared).send(Send("GET", UNREACHABLE, {}))
    finally:
        await release_shared_session(shared)


async def test_async_network_failure_with_good_settings_stays_a_transport_failure():
    shared = await acquire_shared_session(AsyncTransportSettings(timeout=5))
    try:
        outcome = await AsyncTransport(shared).send(Send("GET", UNREACHABLE, {}))
    finally:
        await release_shared_session(shared)
    assert isinstance(outcome, TransportFailure)


# -- msal's token requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"verify": MISSING_CA}, "verify"), ({"proxies": {"https": "http://:3128"}}, "proxies")],
)
def test_msal_http_client_raises_config_errors(settings, field):
    client = MsalHttpClient(authority="https://127.0.0.1:9/tenant", **settings)
    with pytest.raises(PartnerInsightsConfigError, match=field):
        client.post("https://127.0.0.1:9/tenant/oauth2/v2.0/token", data={"grant_type": "client_credentials"})


# -- through the hook and the trigger, against the sandbox ----------------------------------------------


def test_sync_hook_with_a_missing_ca_fails_at_once(make_hook, sb):
    sb.admin.reset_stats()
    hook = make_hook(verify=MISSING_CA)
    started = time.monotonic()
    with pytest.raises(PartnerInsightsConfigError, match=MISSING_CA) as caught:
        hook.list_datasets()
    assert time.monotonic() - started < 2  # no retries, no backoff
    assert not isinstance(caught.value, PartnerInsightsApiError)
    assert int(sb.admin.stats().get("token_requests", 0)) == 0


async def test_async_hook_with_a_missing_ca_fails_at_once(make_hook):
    hook = make_hook(verify=MISSING_CA)
    try:
        with pytest.raises(PartnerInsightsConfigError, match=MISSING_CA):
            await hook.aget_latest_execution("any-report")
    finally:
        await hook.aclose()


async def test_trigger_with_a_missing_ca_ends_with_an_error_event_naming_the_path(conn_env):
    from airflow_provider_insights.triggers.report_execution import PartnerInsightsReportExecutionTrigger

    trigger = PartnerInsightsReportExecutionTrigger(
        report_id="any-report",
        end_time=time.time() + 120,
        partner_insights_conn_id=conn_env(verify=MISSING_CA),
        poll_interval=0.05,
    )
    events = [event async for event in trigger.run()]
    assert events[0].payload["status"] == "error"
    assert MISSING_CA in events[0].payload["message"]


# -- is_transient_error ------------------------------------------------------------------------------


def test_asyncio_timeout_is_transient_even_where_it_is_not_an_oserror(monkeypatch):
    # On Python 3.10 asyncio.TimeoutError is a class of its own; play that on any version.
    class Python310AsyncioTimeoutError(Exception):
        pass

    monkeypatch.setattr(asyncio, "TimeoutError", Python310AsyncioTimeoutError)
    assert is_transient_error(Python310AsyncioTimeoutError())
    assert is_transient_error(TimeoutError())


def test_config_errors_are_not_transient():
    assert not is_transient_error(PartnerInsightsConfigError("verify: no CA bundle at '/x'"))


def test_secure_link_download_with_a_missing_ca_is_a_config_error_without_the_signature():
    from airflow_provider_insights.hooks.secure_link import open_secure_link

    with pytest.raises(PartnerInsightsConfigError, match=MISSING_CA) as caught:
        open_secure_link(
            requests.Session(),
            "https://acct.blob.core.windows.net/c/r.csv?sv=2021&sig=SIGNATURE123",
            offset=0,
            allowed_hosts=["*.blob.core.windows.net"],
            verify=MISSING_CA,
            proxies={},
            timeout=5,
            correlation_id="c",
        )
    assert "SIGNATURE123" not in str(caught.value)


def test_sensor_poke_with_a_missing_ca_raises_instead_of_waiting(conn_env):
    from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor
    from tests.operators.helpers import task_context

    sensor = PartnerInsightsReportExecutionSensor(
        task_id="wait", report_id="any-report", partner_insights_conn_id=conn_env(verify=MISSING_CA)
    )
    with pytest.raises(PartnerInsightsConfigError, match=MISSING_CA):
        sensor.poke(task_context())
