"""A request that may have reached the service is not sent twice when it is not idempotent (POST).

A retried POST after a read timeout or a 500 could create a second report or query; the operators
look up by name before creating, so the hook hands them the error instead. Against the sandbox.
"""

from __future__ import annotations

import socket
import uuid
from typing import Any

import pytest
import requests

from airflow_provider_insights.exceptions import (
    PartnerInsightsApiError,
    PartnerInsightsAuthError,
    PartnerInsightsNotFoundError,
)
from airflow_provider_insights.hooks.insights import PartnerInsightsHook
from airflow_provider_insights.hooks.retry import Decision, decide, failed_before_sending, is_retryable_exception

pytestmark = pytest.mark.integration

QUERIES_PATH = r"/ScheduledQueries$"


def _requests_to(sb: Any, method: str, suffix: str) -> int:
    return sum(
        count
        for route, count in sb.admin.stats()["requests"].items()
        if route.startswith(f"{method} ") and route.endswith(suffix)
    )


def _query(hook: PartnerInsightsHook) -> dict[str, str]:
    dataset = hook.list_datasets()[0]
    return {
        "name": f"retrysafety{uuid.uuid4().hex[:8]}",
        "query": f"SELECT {dataset.selectable_columns[0]} FROM {dataset.name}",
    }


def test_post_is_not_resent_after_a_read_timeout(make_hook, sb):
    hook = make_hook(timeout=0.3)
    query = _query(hook)
    # The sandbox reads the POST, then takes longer than the hook waits: the query may well exist.
    sb.admin.set_faults([{"kind": "delay", "seconds": 1.5, "path": QUERIES_PATH, "method": "POST"}])

    with pytest.raises(PartnerInsightsApiError) as raised:
        hook.create_query(**query)

    assert raised.value.status_code == 0
    assert "not sent again" in str(raised.value)
    assert _requests_to(sb, "POST", "ScheduledQueries") == 1


async def test_async_post_is_not_resent_after_a_read_timeout(make_hook, sb):
    # The async path runs the same flow; a POST there must not be resent either.
    from airflow_provider_insights.hooks.flow import ApiRequest, request_flow
    from airflow_provider_insights.hooks.request_parts import build_url, new_correlation_id

    hook = make_hook(timeout=0.3)
    settings = await hook.aget_settings()
    sb.admin.set_faults([{"kind": "delay", "seconds": 1.5, "path": QUERIES_PATH, "method": "POST"}])
    request = ApiRequest(
        "POST",
        build_url(settings.api_base_url, "ScheduledQueries"),
        json_body={"Name": f"retrysafety{uuid.uuid4().hex[:8]}", "Query": "SELECT x FROM y"},
    )
    try:
        with pytest.raises(PartnerInsightsApiError) as raised:
            await hook._arun(
                settings, request_flow(request, correlation_id=new_correlation_id(), policy=hook.retry_policy(settings))
            )
    finally:
        await hook.aclose()
    assert raised.value.status_code == 0
    assert _requests_to(sb, "POST", "ScheduledQueries") == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_post_is_not_resent_after_an_ambiguous_server_error(make_hook, sb, status):
    hook = make_hook()
    query = _query(hook)
    sb.admin.set_faults([{"kind": "status", "status": status, "path": QUERIES_PATH, "method": "POST"}])

    with pytest.raises(PartnerInsightsApiError) as raised:
        hook.create_query(**query)

    assert raised.value.status_code == status
    assert _requests_to(sb, "POST", "ScheduledQueries") == 1


@pytest.mark.parametrize("status", [429, 503])
def test_post_is_retried_when_the_service_turned_it_away(make_hook, sb, status):
    hook = make_hook()
    query = _query(hook)
    sb.admin.set_faults(
        [{"kind": "status", "status": status, "retry_after": 0, "path": QUERIES_PATH, "method": "POST"}]
    )

    created = hook.create_query(**query)

    assert created.name == query["name"]
    assert _requests_to(sb, "POST", "ScheduledQueries") == 2


def test_put_is_still_retried_after_a_server_error(make_hook, sb):
    hook = make_hook()
    created = hook.create_query(**_query(hook))
    report = hook.create_report(
        report_name=f"retrysafety{uuid.uuid4().hex[:8]}",
        query_id=created.query_id,
        start_time="2030-01-01T00:00:00Z",
        recurrence_interval=24,
    )
    sb.admin.set_faults([{"kind": "status", "status": 500, "path": r"/ScheduledReport/pause/", "method": "PUT"}])

    hook.pause_report(report.report_id)

    assert _requests_to(sb, "PUT", "/ScheduledReport/pause/{reportId}") == 2


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed on exit: connecting is refused


def test_a_refused_connection_is_known_to_precede_sending_and_a_read_timeout_is_not():
    port = _refused_port()
    with pytest.raises(requests.ConnectionError) as refused:
        requests.post(f"https://127.0.0.1:{port}/x", timeout=2, verify=False)
    read_timeout = requests.exceptions.ReadTimeout("read timed out")
    reset = requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer"))

    assert failed_before_sending(refused.value)
    assert not failed_before_sending(read_timeout)
    assert not failed_before_sending(reset)
    assert is_retryable_exception(read_timeout) and not is_retryable_exception(read_timeout, idempotent=False)
    for error, expected in ((refused.value, Decision.RETRY), (read_timeout, Decision.FAIL), (reset, Decision.FAIL)):
        assert (
            decide(status=None, error=error, retries_done=0, max_retries=3, token_refreshed=False, idempotent=False)
            is expected
        )


async def test_an_aiohttp_connect_failure_is_known_to_precede_sending():
    import aiohttp

    port = _refused_port()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await session.post(f"http://127.0.0.1:{port}/x")
    assert failed_before_sending(refused.value)
    assert not failed_before_sending(aiohttp.ServerDisconnectedError())
    assert not failed_before_sending(aiohttp.SocketTimeoutError())


def test_token_endpoint_network_errors_are_retried_within_the_request(make_hook, flaky_proxy, sb):
    # The first connection to Entra ID is reset: the token fetch is part of the request, so it is retried.
    proxy = flaky_proxy(1)
    hook = make_hook(authority_host=f"https://127.0.0.1:{proxy.port}")

    assert hook.list_datasets()
    assert proxy.accepted >= 2


def test_token_endpoint_staying_unreachable_is_a_typed_auth_error_without_secrets(make_hook, flaky_proxy):
    proxy = flaky_proxy(100)
    hook = make_hook(authority_host=f"https://127.0.0.1:{proxy.port}", max_retries=2)

    with pytest.raises(PartnerInsightsAuthError) as raised:
        hook.list_datasets()

    assert raised.value.error_code == "token_endpoint_unreachable"
    assert "did not answer" in str(raised.value)
    assert raised.value.__cause__ is None
    assert proxy.accepted == 3  # the first attempt and max_retries retries
    assert all(secret not in str(raised.value) for secret in hook.settings.secrets)


async def test_async_token_endpoint_network_errors_are_retried_within_the_request(make_hook, flaky_proxy):
    proxy = flaky_proxy(1)
    hook = make_hook(authority_host=f"https://127.0.0.1:{proxy.port}")
    try:
        # An unknown report: a 404 from the API means the request got past the token fetch.
        with pytest.raises(PartnerInsightsNotFoundError):
            await hook.alist_executions("00000000-0000-0000-0000-000000000000")
    finally:
        await hook.aclose()
    assert proxy.accepted >= 2
