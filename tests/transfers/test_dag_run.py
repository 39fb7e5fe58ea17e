"""Report -> sensor -> transfer to each store, run through Airflow itself (``dag.test()``)."""

from __future__ import annotations

import hashlib
import io

import pytest

from tests.fixtures.airflow_env import TEST_DAGS_FOLDER, run_dag_file
from tests.transfers.conftest import asset_event_extras

pytestmark = pytest.mark.integration

DAG_FILE = TEST_DAGS_FOLDER / "transfer_report_to_stores_dag.py"
BOM = b"\xef\xbb\xbf"


def test_report_is_copied_to_every_store(airflow_db, sb, insights_conn, local_store, moto_s3, azurite, monkeypatch):
    import pandas as pd
    import pyarrow.parquet as pq

    sb.admin.configure(pending_s=0.05, running_s=0.1, report_rows=250)
    monkeypatch.setenv("TRANSFER_TEST_LOCAL_URL", local_store.url("dag/report.csv"))
    monkeypatch.setenv("TRANSFER_TEST_S3_URL", moto_s3.url("dag/report.csv"))
    monkeypatch.setenv("TRANSFER_TEST_AZURE_URL", azurite.url("dag/report.parquet"))

    result = run_dag_file(DAG_FILE, logical_date=None)

    assert result.state == "success", result.task_states
    report_id, execution_id = result.xcoms["create_report"], result.xcoms["wait"]
    served_sha256 = sb.admin.expected_sha256("mpn", report_id, execution_id)
    for store, key in ((local_store, "dag/report.csv"), (moto_s3, "dag/report.csv")):
        written = store.read_bytes(key)
        assert hashlib.sha256(BOM + written).hexdigest() == served_sha256
        assert result.xcoms[f"to_{store.name}"] == {
            "uri": store.asset_uri(key),
            "bytes": len(written),
            "sha256": hashlib.sha256(written).hexdigest(),
            "rows": 250,
            "empty": False,
            "format": "csv",
        }
    parquet = azurite.read_bytes("dag/report.parquet")
    table = pq.read_table(io.BytesIO(parquet)).to_pandas()
    expected = pd.read_csv(io.BytesIO(local_store.read_bytes("dag/report.csv")), dtype=str, keep_default_na=False)
    assert table.equals(expected)
    assert result.xcoms["to_azure"]["rows"] == 250
    assert result.xcoms["to_azure"]["uri"] == azurite.asset_uri("dag/report.parquet")
    _assert_asset_events(result.run_id, [moto_s3.asset_uri("dag/report.csv"), azurite.asset_uri("dag/report.parquet")])


def _assert_asset_events(run_id: str, uris: list[str]) -> None:
    """Each destination got an asset event (what schedules downstream DAGs), carrying the digest."""
    by_uri = asset_event_extras(run_id)
    for uri in uris:
        assert uri in by_uri, sorted(by_uri)
        assert len(by_uri[uri]["sha256"]) == 64
