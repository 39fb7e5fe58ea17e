"""OpenLineage: the daily extract example run through Airflow with the OpenLineage provider, events read back.

The DAG (dags_examples/partner_insights_daily_extract.py, unchanged) runs with ``dag.test()`` in
a child process (tests/fixtures/openlineage.py says why) against the sandbox, writing to GCS
(gcp-storage-emulator); the file transport's events are what a lineage backend would receive.
Nothing is mocked.

What each task emits:

- ``transfer_to_storage``: the Partner Center dataset as input (``partnercenter://<host>``,
  ``<program>.<dataset>``, the query's columns as schema) and the object written as output
  (``gs://<bucket>``, its key, the schema, ``outputStatistics`` with rows and bytes). A FAIL event
  carries the error and both datasets, without statistics.
- ``create_query``, ``create_report``, ``delete_report`` and the sensor: START and COMPLETE with
  no dataset. They create, run or delete objects in Partner Center; no data moves, so they have
  no lineage to give, and give none.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_insights.transfers._lineage import destination_naming, partner_center_namespace
from tests.fixtures.openlineage import read_events, run_dag_emitting_lineage, task_events
from tests.transfers.conftest import make_completed_report

pytestmark = pytest.mark.integration

DAG_FILE = Path(__file__).resolve().parents[2] / "dags_examples" / "partner_insights_daily_extract.py"
DAG_ID = "partner_insights_daily_extract"
DATASET = "CustomersAndTenants"
COLUMNS = ["CustomerName", "CustomerTenantId", "Product", "SKU", "Month", "BilledRevenueUSD"]
NO_LINEAGE_TASKS = ("create_query", "create_report", "wait_for_execution", "delete_report")


@pytest.fixture
def run_extract(airflow_db, sb, insights_conn, gcs_emulator, tmp_path):
    """Run the daily extract into a fresh GCS folder; return (run result, events, GCS root key)."""

    def run() -> tuple[dict[str, Any], list[dict[str, Any]], str]:
        root = f"lineage-{uuid.uuid4().hex[:8]}"
        events_file = tmp_path / "events.jsonl"
        yesterday = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        run = run_dag_emitting_lineage(
            DAG_FILE,
            logical_date=yesterday,
            events_file=events_file,
            env={
                "PARTNER_INSIGHTS_DESTINATION_ROOT": f"gs://{gcs_emulator.bucket}/{root}",
                "PARTNER_INSIGHTS_DESTINATION_CONN_ID": gcs_emulator.conn_id,
                "PARTNER_INSIGHTS_POLL_SECONDS": "0.1",
            },
        )
        return run, read_events(events_file), root

    sb.admin.configure(pending_s=0.05, running_s=0.1, report_rows=120)
    return run


def _assert_no_secret(events: list[dict[str, Any]], sb) -> None:
    text = "\n".join(map(str, events))
    conn = sb.connection()
    assert conn["password"] not in text
    assert "sig=" not in text and "_blob" not in text  # a secure link's query, its path
    assert "Bearer" not in text and "eyJ" not in text  # an access token (a JWT)


def test_the_transfer_emits_the_partner_center_dataset_and_the_object_written(run_extract, sb, gcs_emulator):
    run, events, root = run_extract()

    assert run["state"] == "success", run
    written = run["xcoms"]["transfer_to_storage"]
    complete = task_events(events, DAG_ID, "transfer_to_storage")["COMPLETE"]
    [source] = complete["inputs"]
    assert source["namespace"] == partner_center_namespace(sb.url) == f"partnercenter://{sb.url.split('//')[1]}"
    assert source["name"] == f"mpn.{DATASET}"
    assert [field["name"] for field in source["facets"]["schema"]["fields"]] == COLUMNS
    [target] = complete["outputs"]
    key = written["uri"].split(f"gs://{gcs_emulator.bucket}/", 1)[1]
    assert key.startswith(f"{root}/customers_and_tenants/date=")
    assert (target["namespace"], target["name"]) == (f"gs://{gcs_emulator.bucket}", key)
    assert [field["name"] for field in target["facets"]["schema"]["fields"]] == COLUMNS
    stored = gcs_emulator.read_bytes(key)
    rows = list(csv.reader(io.StringIO(stored.decode("utf-8"))))
    statistics = target["outputFacets"]["outputStatistics"]
    assert statistics["size"] == len(stored) == written["bytes"]
    assert statistics["rowCount"] == len(rows) - 1 == written["rows"] > 0
    assert rows[0] == COLUMNS
    _assert_no_secret(events, sb)
    # The same run: the query, report and sensor tasks emit START and COMPLETE with no dataset.
    for task_id in NO_LINEAGE_TASKS:
        emitted = task_events(events, DAG_ID, task_id)
        assert {"START", "COMPLETE"} <= emitted.keys(), (task_id, sorted(emitted))
        for event in emitted.values():
            assert (event["inputs"], event["outputs"]) == ([], []), task_id


def test_a_failed_transfer_emits_fail_with_the_error(run_extract, sb):
    sb.admin.set_faults([{"kind": "reset", "after_bytes": 1_000, "count": 50}])

    run, events, root = run_extract()

    assert run["state"] == "failed", run
    emitted = task_events(events, DAG_ID, "transfer_to_storage")
    assert "COMPLETE" not in emitted
    fail = emitted["FAIL"]
    error = fail["run"]["facets"]["errorMessage"]
    assert "abandoned after 5 interrupted attempts" in error["message"]
    assert error["programmingLanguage"] == "python"
    [source] = fail["inputs"]
    assert source["name"] == f"mpn.{DATASET}"
    [target] = fail["outputs"]
    assert target["name"].startswith(f"{root}/customers_and_tenants/date=")
    assert "outputStatistics" not in target.get("outputFacets", {})
    # The teardown still ran, and its events are there too.
    assert "COMPLETE" in task_events(events, DAG_ID, "delete_report")
    _assert_no_secret(events, sb)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://bucket/a/b.csv", ("s3://bucket", "a/b.csv")),
        ("gs://bucket/a/b.csv", ("gs://bucket", "a/b.csv")),
        ("abfs://container/a/b.csv", ("abfs://container", "a/b.csv")),
        ("file:///data/a/b.csv", ("file", "/data/a/b.csv")),
    ],
)
def test_destinations_are_named_per_openlineage_conventions(uri, expected):
    assert destination_naming(uri) == expected


def test_the_namespace_keeps_host_and_port_and_nothing_else():
    assert partner_center_namespace("https://api.partnercenter.microsoft.com/insights/v1/mpn") == (
        "partnercenter://api.partnercenter.microsoft.com"
    )
    assert partner_center_namespace("https://user:pw@127.0.0.1:8443/insights/v1/cmp?x=1") == (
        "partnercenter://127.0.0.1:8443"
    )


def test_a_partitioned_transfer_names_each_partition_with_its_figures(sb, insights_conn, local_store):
    # In process: the operator's lineage method is what the OpenLineage listener calls at COMPLETE.
    from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

    report = make_completed_report(sb, rows=90, window=("2026-08-01T00:00:00Z", "2026-08-04T00:00:00Z"))
    operator = PartnerInsightsReportToStorageOperator(
        task_id="partitioned",
        report_id=report.report_id,
        destination=local_store.url("by_day") + "/",
        partition_by="Month",
    )
    reads_before = sb.admin.request_count("GET", "/ScheduledReport")
    result = operator.execute(context={})  # type: ignore[arg-type]

    lineage = operator.get_openlineage_facets_on_complete(None)

    # The schema guard and the lineage share one read of the report.
    assert sb.admin.request_count("GET", "/ScheduledReport") == reads_before + 1

    [source] = lineage.inputs
    assert (source.namespace, source.name) == (partner_center_namespace(sb.url), "mpn.DynamicsUsage")
    by_name = {target.name: target for target in lineage.outputs}
    assert len(by_name) == len(result["partitions"]) == 3
    for part in result["partitions"]:
        target = by_name[destination_naming(part["uri"])[1]]
        statistics = target.outputFacets["outputStatistics"]
        assert (target.namespace, statistics.rowCount, statistics.size) == ("file", part["rows"], part["bytes"])
    assert sum(part["rows"] for part in result["partitions"]) == result["rows"] == 90
