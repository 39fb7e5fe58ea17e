"""The operators and the deferred sensor run through Airflow itself (``dag.test()``) against the sandbox."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.fixtures.airflow_env import TEST_DAGS_FOLDER, run_dag_file
from tests.operators.helpers import PROGRAM, fast_executions, items_of

pytestmark = pytest.mark.integration

DAG_FILE = TEST_DAGS_FOLDER / "insights_one_off_dag.py"


def test_one_off_dag_runs_and_a_rerun_creates_no_second_report(airflow_db, sb, insights_conn):
    fast_executions(sb)
    logical_date = datetime(2024, 3, 1, tzinfo=timezone.utc)

    first = run_dag_file(DAG_FILE, logical_date=logical_date)

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
