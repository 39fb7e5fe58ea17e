"""Shared helpers for transfer tests: a completed report in the sandbox, and running the operator."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest

QUERY = "SELECT CustomerName,PartnerLocation,ActiveSeats,Month FROM DynamicsUsage TIMESPAN LAST_MONTH"
BLOB_ROUTE_PREFIX = "GET /_blob/"
EXECUTIONS_ROUTE_PART = "ScheduledReport/execution/"


@dataclass
class CompletedReport:
    report_id: str
    execution_id: str
    expected_sha256: str  # of the bytes the sandbox serves (after gzip decoding), BOM included


def make_completed_report(
    sb: Any,
    *,
    rows: int | None = None,
    report_bytes: int | None = None,
    conn_id: str = "partner_insights_default",
    report_format: str = "csv",
    window: tuple[str, str] | None = None,
    query: str = QUERY,
) -> CompletedReport:
    """Create a query and an execute-now report in the sandbox and return its completed execution.

    ``window`` is the report's ``(QueryStartTime, QueryEndTime)``: the sandbox dates the rows'
    date columns (``Month``) with the window's days, in turn.
    """
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook
    from airflow_provider_insights.models import ExecutionStatus

    settings: dict[str, Any] = {"pending_s": 0, "running_s": 0}
    if report_bytes is not None:
        settings["report_bytes"] = report_bytes
    else:
        settings.update(report_rows=rows or 300, report_bytes=None)
    sb.admin.configure(**settings)
    hook = PartnerInsightsHook(partner_insights_conn_id=conn_id)
    created = hook.create_query(name=f"transfer-{uuid.uuid4().hex[:8]}", query=query)
    query_start, query_end = window or (None, None)
    report = hook.create_report(
        report_name=f"transfer-{uuid.uuid4().hex[:8]}",
        query_id=created.query_id,
        execute_now=True,
        format=report_format,
        query_start_time=query_start,
        query_end_time=query_end,
    )
    execution = hook.get_latest_execution(report.report_id, statuses=(ExecutionStatus.COMPLETED,))
    assert execution is not None and execution.is_completed, execution
    sb.admin.reset_stats()
    return CompletedReport(
        report.report_id,
        execution.execution_id,
        sb.admin.expected_sha256("mpn", report.report_id, execution.execution_id),
    )


def blob_gets(sb: Any) -> int:
    """How many secure-link downloads the sandbox answered."""
    return sum(count for route, count in sb.admin.stats()["requests"].items() if route.startswith(BLOB_ROUTE_PREFIX))


def execution_reads(sb: Any) -> int:
    """How many times the executions endpoint was read."""
    return sum(
        count
        for route, count in sb.admin.stats()["requests"].items()
        if route.startswith("GET ") and EXECUTIONS_ROUTE_PART in route
    )


def asset_event_extras(run_id: str) -> dict[str, dict[str, Any]]:
    """The ``extra`` of each asset event a DAG run emitted, by asset URI."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent, AssetModel)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetEvent.source_run_id == run_id)
            .all()
        )
        return {model.uri: dict(event.extra) for event, model in events}


def run_transfer(**kwargs: Any) -> dict[str, Any]:
    """Build the operator and run ``execute`` as a worker would (connections from AIRFLOW_CONN_*)."""
    from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

    operator = PartnerInsightsReportToStorageOperator(task_id=f"transfer_{uuid.uuid4().hex[:6]}", **kwargs)
    result: dict[str, Any] = operator.execute(context={})  # type: ignore[arg-type]
    return result


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    """A destination key unique to the test."""
    return f"{request.node.name.replace('[', '-').replace(']', '')}-{uuid.uuid4().hex[:6]}/report.csv"
