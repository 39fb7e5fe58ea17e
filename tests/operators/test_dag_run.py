"""The operators and the deferred sensor run through Airflow itself (``dag.test()``) against the sandbox."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from tests.fixtures.airflow_env import TEST_DAGS_FOLDER, run_dag_file
from tests.operators.helpers import PROGRAM, items_of, request_counts, slow_executions

pytestmark = pytest.mark.integration

DAG_FILE = TEST_DAGS_FOLDER / "insights_one_off_dag.py"


def complete_executions_once_polled_twice(sb, stop: threading.Event) -> None:
    """Advance the sandbox clock (completing every execution) once executions were read twice.

    The sensor is deferrable: the worker checks once, then only the trigger polls. Holding the
    execution back until a second read therefore proves the run went through the trigger.
    """
    while not stop.is_set():
        reads = sum(
            n
            for (method, route), n in request_counts(sb.admin.stats()).items()
            if method == "GET" and "execution" in route.lower()
        )
        if reads >= 2:
            sb.admin.advance_clock(3 * 3600)
            return
        stop.wait(0.05)


def test_one_off_dag_runs_deferred_and_a_rerun_creates_no_second_report(airflow_db, sb, insights_conn):
    slow_executions(sb)
    logical_date = datetime(2024, 3, 1, tzinfo=timezone.utc)
    stop = threading.Event()
    helper = threading.Thread(target=complete_executions_once_polled_twice, args=(sb, stop), daemon=True)
    helper.start()
    try:
        first = run_dag_file(DAG_FILE, logical_date=logical_date)
    finally:
        stop.set()
        helper.join()

    assert first.state == "success", first.task_states
    assert set(first.task_states.values()) == {"success"}
    report_id = first.xcoms["create_report"]
    assert first.all_xcoms[("create_report", "report_id")] == report_id
    [report] = [r for r in items_of(sb.admin.reports(PROGRAM)) if r["reportId"] == report_id]
    assert report["queryId"] == first.xcoms["create_query"]
    assert first.xcoms["wait"]  # the completed execution's id
    reports_before = len(items_of(sb.admin.reports(PROGRAM)))

    second = run_dag_file(DAG_FILE, logical_date=logical_date)

    assert second.state == "success", second.task_states
    assert second.xcoms["create_report"] == report_id
    assert len(items_of(sb.admin.reports(PROGRAM))) == reports_before


def test_the_daily_run_reports_on_the_day_before_it(airflow_db, sb, insights_conn):
    run = run_dag_file(DAG_FILE, logical_date=datetime(2024, 3, 5, tzinfo=timezone.utc))

    assert run.state == "success", run.task_states
    [report] = [r for r in items_of(sb.admin.reports(PROGRAM)) if r["reportId"] == run.xcoms["create_report"]]
    assert (report["queryStartTime"], report["queryEndTime"]) == ("2024-03-04T00:00:00Z", "2024-03-04T23:59:59Z")
