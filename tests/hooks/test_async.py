"""The async (aiohttp) methods in an event loop, against the sandbox over HTTPS."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsApiError
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
        query = hook.create_query(name=f"hookasync{uuid.uuid4().hex[:8]}",
                                  query=f"SELECT {dataset.selectable_columns[0]} FROM {dataset.name}")
        report = hook.create_report(report_name=f"hookasync{uuid.uuid4().hex[:8]}", query_id=query.query_id,
                                    execute_now=True)
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


async def test_one_session_per_loop_closed_by_aclose(pending_report):
    conn_id, report_id = pending_report()
    hook = PartnerInsightsHook(conn_id)
    await hook.alist_executions(report_id, statuses="Pending")
    session = hook._aio_session
    assert session is not None
    await hook.aget_latest_execution(report_id)
    assert hook._aio_session is session
    await hook.aclose()
    assert session.closed
    assert hook._aio_session is None


async def test_async_retries_and_token_renewal(pending_report, sb):
    conn_id, report_id = pending_report()
    hook = PartnerInsightsHook(conn_id, backoff_base=0.01)
    try:
        await hook.aget_latest_execution(report_id)
        sb.admin.reset_stats()
        sb.admin.set_faults([
            {"kind": "status", "status": 429, "retry_after": 0, "path": "execution"},
            {"kind": "status", "status": 503, "path": "execution"},
            {"kind": "expire_token"},
        ])
        assert await hook.aget_latest_execution(report_id) is not None
        stats = sb.admin.stats()
        assert _requests_to(stats, "execution") == 4
        assert stats["token_requests"] == 1
    finally:
        await hook.aclose()


async def test_async_error_envelope_is_raised(pending_report, sb):
    conn_id, report_id = pending_report()
    hook = PartnerInsightsHook(conn_id, backoff_base=0.01)
    sb.admin.set_faults([{"kind": "error_envelope", "status": 400, "message": "Invalid report id",
                          "path": "execution"}])
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
