"""The async (aiohttp) methods in an event loop, against the sandbox over HTTPS."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit

import psutil
import pytest

from airflow_provider_insights.exceptions import PartnerInsightsApiError
from airflow_provider_insights.hooks import async_sessions, request_parts
from airflow_provider_insights.hooks.insights import PartnerInsightsHook
from airflow_provider_insights.models import ExecutionStatus

pytestmark = pytest.mark.integration


def _requests_to(stats: dict, fragment: str) -> int:
    return sum(count for route, count in stats["requests"].items() if route.startswith("GET ") and fragment in route)


@pytest.fixture
def pending_report(make_hook, sb):
    """A report with one execution just created (Pending), made with the sync hook; returns (conn_id, report_id)."""

    def make(program: str = "mpn"):
        sb.admin.configure(pending_s=600, running_s=600)  # stays Pending until the clock is advanced
        hook = make_hook(program=program)
        dataset = hook.list_datasets()[0]
        query = hook.create_query(
            name=f"hookasync{uuid.uuid4().hex[:8]}", query=f"SELECT {dataset.selectable_columns[0]} FROM {dataset.name}"
        )
        report = hook.create_report(
            report_name=f"hookasync{uuid.uuid4().hex[:8]}", query_id=query.query_id, execute_now=True
        )
        return hook.partner_insights_conn_id, report.report_id

    return make


@pytest.mark.parametrize("program", ["mpn", "cmp"])
async def test_async_execution_methods(pending_report, sb, program):
    conn_id, report_id = pending_report(program)
    hook = PartnerInsightsHook(conn_id, backoff_base=0.01)
    try:
        assert await hook.alist_executions(report_id) == []  # documented 404 -> nothing completed yet
        waiting = await hook.aget_latest_execution(report_id)
        assert waiting is not None
        assert waiting.is_waiting
        listed = await hook.alist_executions(
            report_id, statuses=[ExecutionStatus.PENDING, ExecutionStatus.RUNNING], latest=False
        )
        assert [item.execution_id for item in listed] == [waiting.execution_id]

        sb.admin.advance_clock(3600)
        done = await hook.aget_execution(report_id, waiting.execution_id)
        assert done is not None
        assert done.is_completed
        assert (await hook.aget_latest_execution(report_id, statuses=[ExecutionStatus.COMPLETED])).execution_id == (
            waiting.execution_id
        )
        assert await hook.aget_execution(report_id, "00000000-0000-0000-0000-000000000000") is None
    finally:
        await hook.aclose()


async def test_async_settings_come_from_the_async_connection_api(pending_report):
    conn_id, _report_id = pending_report()
    hook = PartnerInsightsHook(conn_id)
    try:
        settings = await hook.aget_settings()
        assert settings.api_base_url.endswith("/insights/v1/mpn")
        assert await hook.aget_settings() is settings
        assert hook.settings is settings  # shared with the sync path, not read twice
    finally:
        await hook.aclose()


async def test_hooks_of_one_loop_share_one_session_closed_by_the_last_aclose(pending_report):
    conn_id, report_id = pending_report()
    first, second = PartnerInsightsHook(conn_id), PartnerInsightsHook(conn_id)
    await first.alist_executions(report_id, statuses="Pending")
    await second.aget_latest_execution(report_id)
    shared = first._aio_shared
    assert shared is not None
    assert second._aio_shared is shared
    assert shared.references == 2

    await first.aclose()
    assert first._aio_shared is None
    assert not shared.session.closed  # still the other hook's
    assert await second.aget_latest_execution(report_id) is not None

    await second.aclose()
    assert shared.session.closed
    assert not async_sessions._sessions_of(asyncio.get_running_loop()).open  # nothing kept once nobody uses it

    # A hook used after everything was released opens a fresh session; the hook is reusable too.
    assert await first.aget_latest_execution(report_id) is not None
    assert first._aio_shared is not shared
    await first.aclose()


async def test_a_sibling_closing_mid_flight_does_not_break_the_others(pending_report):
    conn_id, report_id = pending_report()
    hooks = [PartnerInsightsHook(conn_id) for _ in range(10)]

    async def poll_then_close(hook):
        try:
            return await hook.aget_latest_execution(report_id)
        finally:
            await hook.aclose()

    results = await asyncio.gather(*(poll_then_close(hook) for hook in hooks))

    assert all(result is not None for result in results)


async def test_concurrent_calls_of_one_hook_hold_one_reference(pending_report):
    conn_id, report_id = pending_report()
    hook = PartnerInsightsHook(conn_id)
    await asyncio.gather(*(hook.aget_latest_execution(report_id) for _ in range(5)))
    shared = hook._aio_shared
    assert shared is not None
    assert shared.references == 1
    await hook.aclose()
    assert shared.session.closed


async def test_tls_context_and_proxies_are_worked_out_once_per_pool(pending_report, monkeypatch):
    conn_id, report_id = pending_report()
    built, proxy_lookups = [], []
    real_context, real_proxies = async_sessions.ssl_context_for, request_parts.requests.utils.get_environ_proxies
    # Spies around the real functions: they count calls and return what the real ones return.
    monkeypatch.setattr(async_sessions, "ssl_context_for", lambda verify: built.append(verify) or real_context(verify))
    monkeypatch.setattr(
        request_parts.requests.utils,
        "get_environ_proxies",
        lambda url, **kw: proxy_lookups.append(url) or real_proxies(url, **kw),
    )
    hooks = [PartnerInsightsHook(conn_id) for _ in range(20)]
    try:
        await asyncio.gather(*(hook.aget_latest_execution(report_id) for hook in hooks))
        await asyncio.gather(*(hook.aget_latest_execution(report_id) for hook in hooks))
    finally:
        await asyncio.gather(*(hook.aclose() for hook in hooks))

    assert len(built) == 1
    assert len(proxy_lookups) == 1


def _connections_to(url: str) -> int:
    port = urlsplit(url).port
    return sum(
        1
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


async def test_the_pool_caps_connections_and_queues_the_rest(pending_report, sb):
    conn_id, report_id = pending_report()
    before = _connections_to(sb.url)  # the sync hook's pool, used to make the report
    hooks = [PartnerInsightsHook(conn_id) for _ in range(3 * async_sessions.ASYNC_CONNECTION_LIMIT)]
    try:
        results = await asyncio.gather(*(hook.aget_latest_execution(report_id) for hook in hooks))
        opened = _connections_to(sb.url) - before  # kept alive for the next polls
    finally:
        await asyncio.gather(*(hook.aclose() for hook in hooks))

    assert all(result is not None for result in results)
    assert 0 < opened <= async_sessions.ASYNC_CONNECTION_LIMIT


async def test_hooks_of_one_connection_read_it_once(pending_report, monkeypatch):
    conn_id, report_id = pending_report()
    reads = []
    real = PartnerInsightsHook.aget_connection.__func__

    async def counting(cls, conn_id):
        reads.append(conn_id)
        return await real(cls, conn_id)

    monkeypatch.setattr(PartnerInsightsHook, "aget_connection", classmethod(counting))
    hooks = [PartnerInsightsHook(conn_id) for _ in range(10)]
    try:
        for hook in hooks:
            await hook.aget_latest_execution(report_id)
    finally:
        await asyncio.gather(*(hook.aclose() for hook in hooks))

    assert reads == [conn_id]


async def test_async_retries_and_token_renewal(pending_report, sb):
    conn_id, report_id = pending_report()
    hook = PartnerInsightsHook(conn_id, backoff_base=0.01)
    try:
        await hook.aget_latest_execution(report_id)
        sb.admin.reset_stats()
        sb.admin.set_faults(
            [
                {"kind": "status", "status": 429, "retry_after": 0, "path": "execution"},
                {"kind": "status", "status": 503, "path": "execution"},
                {"kind": "expire_token"},
            ]
        )
        assert await hook.aget_latest_execution(report_id) is not None
        stats = sb.admin.stats()
        assert _requests_to(stats, "execution") == 4
        assert stats["token_requests"] == 1
    finally:
        await hook.aclose()


async def test_async_error_envelope_is_raised(pending_report, sb):
    conn_id, report_id = pending_report()
    hook = PartnerInsightsHook(conn_id, backoff_base=0.01)
    sb.admin.set_faults(
        [{"kind": "error_envelope", "status": 400, "message": "Invalid report id", "path": "execution"}]
    )
    try:
        with pytest.raises(PartnerInsightsApiError) as caught:
            await hook.aget_latest_execution(report_id)
        assert caught.value.status_code == 400
        assert "Invalid report id" in str(caught.value)
        assert caught.value.correlation_id
    finally:
        await hook.aclose()


async def test_async_calls_run_concurrently_on_one_hook(pending_report):
    conn_id, report_id = pending_report()
    hook = PartnerInsightsHook(conn_id)
    try:
        results = await asyncio.gather(*(hook.aget_latest_execution(report_id) for _ in range(5)))
        assert len({result.execution_id for result in results}) == 1
    finally:
        await hook.aclose()


async def test_requests_beyond_the_pool_wait_before_aiohttp_builds_them(pending_report, monkeypatch):
    # Hundreds of waiting triggers must each hold one small waiter, not a request built inside
    # aiohttp (URL, headers, timers...): at most the pool's size of requests is in aiohttp at once.
    import aiohttp

    conn_id, report_id = pending_report()
    inside = [0, 0]  # now, most at once
    original = aiohttp.ClientSession._request

    async def counted(self, *args, **kwargs):
        inside[0] += 1
        inside[1] = max(inside[1], inside[0])
        try:
            return await original(self, *args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(aiohttp.ClientSession, "_request", counted)
    hooks = [PartnerInsightsHook(conn_id) for _ in range(3 * async_sessions.ASYNC_CONNECTION_LIMIT)]
    try:
        results = await asyncio.gather(*(hook.aget_latest_execution(report_id) for hook in hooks))
    finally:
        await asyncio.gather(*(hook.aclose() for hook in hooks))

    assert all(result is not None for result in results)
    assert 0 < inside[1] <= async_sessions.ASYNC_CONNECTION_LIMIT
