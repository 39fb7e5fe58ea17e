"""Row counts and empty results reach the asset events, run through Airflow itself (``dag.test()``)."""

from __future__ import annotations

import pytest

from tests.fixtures.airflow_env import TEST_DAGS_FOLDER, run_dag_file
from tests.transfers.conftest import asset_event_extras

pytestmark = pytest.mark.integration

DAG_FILE = TEST_DAGS_FOLDER / "partitioned_transfer_dag.py"


def test_asset_events_carry_rows_partitions_and_emptiness(airflow_db, sb, insights_conn, local_store, monkeypatch):
    sb.admin.configure(pending_s=0.05, running_s=0.1, report_rows=300)
    monkeypatch.setenv("PARTITION_TEST_FOLDER_URL", local_store.url("by_day") + "/")
    monkeypatch.setenv("PARTITION_TEST_EMPTY_URL", local_store.url("empty.csv"))

    result = run_dag_file(DAG_FILE, logical_date=None)

    assert result.state == "success", result.task_states
    landed, empty = result.xcoms["land_ten_days"], result.xcoms["land_no_day"]
    assert landed["rows"] == 300 and len(landed["partitions"]) == 10 and landed["empty"] is False
    assert empty["rows"] == 0 and empty["empty"] is True
    extras = asset_event_extras(result.run_id)
    assert extras[local_store.asset_uri("by_day")] == {
        "bytes": landed["bytes"],
        "rows": 300,
        "empty": False,
        "format": "csv",
        "partitions": 10,
    }
    assert extras[local_store.asset_uri("empty.csv")] == {
        "bytes": empty["bytes"],
        "sha256": empty["sha256"],
        "rows": 0,
        "empty": True,
        "format": "csv",
    }
