"""Helpers shared by the operator, sensor and trigger tests (all of them talk to the sandbox)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

PROGRAM = "mpn"
QUERY_TEXT = "SELECT CustomerName, Product, BilledRevenueUSD FROM CustomersAndTenants TIMESPAN LAST_MONTH"
STATE_CHANGING_METHODS = ("POST", "PUT", "DELETE")


@dataclass
class StubTaskInstance:
    """Stands in for the runtime task instance when an operator's ``execute`` is called directly.

    A real one needs a running task supervisor; the DAG tests (tests/operators/test_dag_run.py) run
    the same operators through Airflow itself. This one records XCom pushes.
    """

    dag_id: str = "insights_test_dag"
    task_id: str = "insights_test_task"
    map_index: int = -1
    run_id: str = "manual__2024-01-02T00:00:00+00:00"
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)
    first_reschedule_date: datetime | None = None

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def get_first_reschedule_date(self, context: Any) -> datetime | None:
        return self.first_reschedule_date


class MemoryStateStore:
    """Stands in for Airflow 3.3's ``task_state_store`` (same get/set interface), kept in memory."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.values[key] = value


def task_context(
    *,
    ti: StubTaskInstance | None = None,
    logical_date: datetime | None = datetime(2024, 1, 2, tzinfo=timezone.utc),
    state_store: MemoryStateStore | None = None,
) -> Any:
    """A minimal task context for calling ``execute`` directly."""
    ti = ti or StubTaskInstance()
    context: dict[str, Any] = {"ti": ti, "task_instance": ti, "logical_date": logical_date, "run_id": ti.run_id}
    if state_store is not None:
        context["task_state_store"] = state_store
    return context


def request_counts(stats: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    """``(method, route) -> count`` from ``sb.admin.stats()``, whichever shape the sandbox reports."""
    requests = stats.get("requests", stats)
    counts: dict[tuple[str, str], int] = {}
    items: Iterable[Any] = requests.items() if isinstance(requests, Mapping) else requests
    for item in items:
        if isinstance(item, Mapping):
            key = (str(item.get("method", "")).upper(), str(item.get("route", item.get("path", ""))))
            counts[key] = counts.get(key, 0) + int(item.get("count", 1))
            continue
        name, value = item
        if isinstance(value, Mapping):  # {method: {route: n}}
            for route, number in value.items():
                counts[(str(name).upper(), str(route))] = int(number)
        else:  # {"POST /route": n}
            method, _, route = str(name).partition(" ")
            counts[(method.upper(), route)] = int(value)
    return counts


def state_changing_calls(stats: Mapping[str, Any]) -> int:
    """How many POST/PUT/DELETE requests reached the Insights API (token requests excluded)."""
    return sum(
        number
        for (method, route), number in request_counts(stats).items()
        if method in STATE_CHANGING_METHODS and "token" not in route.lower() and "_sandbox" not in route
    )


def api_calls(stats: Mapping[str, Any]) -> int:
    """How many requests reached the Insights API (token requests excluded)."""
    return sum(
        number
        for (_, route), number in request_counts(stats).items()
        if "token" not in route.lower() and "_sandbox" not in route
    )


def items_of(raw: Any) -> list[Mapping[str, Any]]:
    """The objects of a raw admin listing (a list, or a mapping by id)."""
    if isinstance(raw, Mapping):
        raw = raw.get("value", list(raw.values()))
    return list(raw)


def report_names(sb: Any) -> list[str]:
    """The names of the reports the sandbox holds."""
    return [str(item.get("reportName") or item.get("report_name")) for item in items_of(sb.admin.reports(PROGRAM))]


def fast_executions(sb: Any) -> None:
    """Make executions move from Pending to Completed within a fraction of a second."""
    sb.admin.configure(pending_s=0.05, running_s=0.1)


def slow_executions(sb: Any) -> None:
    """Make executions stay Pending until the test advances the sandbox clock."""
    sb.admin.configure(pending_s=3600, running_s=3600)


def set_connection(monkeypatch: Any, sb: Any, conn_id: str, **extra_overrides: Any) -> str:
    """Set ``AIRFLOW_CONN_<conn_id>`` to the sandbox's MPN connection with some extras changed."""
    connection = sb.connection(program=PROGRAM, auth_type="client_credentials")
    connection = {**connection, "extra": {**connection["extra"], **extra_overrides}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
    return conn_id


def create_one_off_report(conn_id: str, name: str = "one off") -> str:
    """Create a query and a one-off report through the hook; return the report id."""
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    hook = PartnerInsightsHook(partner_insights_conn_id=conn_id)
    query = hook.create_query(name=f"{name} query", query=QUERY_TEXT)
    return hook.create_report(report_name=name, query_id=query.query_id, execute_now=True).report_id


def future_start(sb: Any, hours: float = 5) -> datetime:
    """``hours`` from now by both clocks: the sandbox's (advanced by earlier tests) and the real one."""
    now = max(time.time(), sb.admin.now())
    return datetime.fromtimestamp(now + hours * 3600, tz=timezone.utc)


def create_recurring_report(sb: Any, conn_id: str, name: str = "recurring", start_in_hours: float = 5) -> str:
    """Create a query and a recurring report (no execution until its start time); return its id."""
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    hook = PartnerInsightsHook(partner_insights_conn_id=conn_id)
    query = hook.create_query(name=f"{name} query", query=QUERY_TEXT)
    return hook.create_report(
        report_name=name,
        query_id=query.query_id,
        execute_now=False,
        start_time=future_start(sb, start_in_hours),
        recurrence_interval=24,
    ).report_id
