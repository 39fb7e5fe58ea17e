"""The schema guard (``on_schema_change``), one Parquet schema per query, and empty results.

Against the HTTPS sandbox and real stores. A schema change is the sandbox's ``schema_drift`` fault:
the next execution's file has the given header instead of its query's columns, as when the
service changes a dataset under a saved query. An empty result is a one-off report whose window
holds no day (``[D 00:00:01, D 23:59:59]``): the file is a header only.
"""

from __future__ import annotations

import io

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsEmptyReportError, PartnerInsightsSchemaChangeError
from tests.transfers.conftest import make_completed_report, run_transfer

pytestmark = pytest.mark.integration

QUERY_COLUMNS = ["CustomerName", "PartnerLocation", "ActiveSeats", "Month"]
# ActiveSeats gone, Month before PartnerLocation, a new column.
DRIFTED = ["CustomerName", "Month", "PartnerLocation", "CustomerTenantId"]
EMPTY_WINDOW = ("2026-08-01T00:00:01Z", "2026-08-01T23:59:59Z")
CHANGE = {"added": ["CustomerTenantId"], "removed": ["ActiveSeats"], "moved": ["PartnerLocation", "Month"]}


def _drifted_report(sb):
    sb.admin.set_faults([{"kind": "schema_drift", "columns": DRIFTED}])
    report = make_completed_report(sb, rows=120)
    assert sb.admin.faults() == []  # fired once, on that execution
    return report


def test_a_changed_header_fails_naming_the_columns_and_writes_nothing(sb, insights_conn, store, key):
    report = _drifted_report(sb)

    with pytest.raises(PartnerInsightsSchemaChangeError) as raised:
        run_transfer(report_id=report.report_id, destination=store.url(key), on_schema_change="fail")

    assert raised.value.change.to_dict() == CHANGE
    assert "added ['CustomerTenantId']; removed ['ActiveSeats']; moved ['PartnerLocation', 'Month']" in str(
        raised.value
    )
    assert not store.exists(key)


def test_a_changed_header_warns_and_is_reported_in_the_result(sb, insights_conn, local_store, caplog):
    report = _drifted_report(sb)

    with caplog.at_level("WARNING"):
        result = run_transfer(report_id=report.report_id, destination=local_store.url("drift.csv"))

    assert result["schema_change"] == CHANGE and result["rows"] == 120
    assert local_store.read_bytes("drift.csv").splitlines()[0].decode() == ",".join(DRIFTED)
    assert "removed ['ActiveSeats']" in caplog.text and "on_schema_change='warn'" in caplog.text


def test_partitioned_landing_checks_the_header_before_publishing(sb, insights_conn, local_store):
    report = _drifted_report(sb)

    with pytest.raises(PartnerInsightsSchemaChangeError):
        run_transfer(
            report_id=report.report_id,
            destination=local_store.url("days") + "/",
            partition_by="Month",
            on_schema_change="fail",
        )

    assert local_store.list_keys() == []


def test_parquet_keeps_the_query_schema_across_runs_even_when_the_header_drifts(sb, insights_conn, local_store):
    import pyarrow.parquet as pq

    steady = make_completed_report(sb, rows=50)
    drifted = _drifted_report(sb)

    run_transfer(report_id=steady.report_id, destination=local_store.url("a.parquet"), output_format="parquet")
    result = run_transfer(
        report_id=drifted.report_id, destination=local_store.url("b.parquet"), output_format="parquet"
    )

    first = pq.read_table(io.BytesIO(local_store.read_bytes("a.parquet")))
    second = pq.read_table(io.BytesIO(local_store.read_bytes("b.parquet")))
    assert first.schema == second.schema and first.schema.names == QUERY_COLUMNS
    assert second.column("ActiveSeats").null_count == 120  # removed from the file: null, not guessed
    assert result["schema_change"] == CHANGE and result["rows"] == 120


def test_an_empty_result_is_reported_and_written_as_a_header(sb, insights_conn, store, key):
    report = make_completed_report(sb, rows=100, window=EMPTY_WINDOW)

    result = run_transfer(report_id=report.report_id, destination=store.url(key))

    assert result["rows"] == 0 and result["empty"] is True
    assert store.read_bytes(key).decode() == ",".join(QUERY_COLUMNS) + "\r\n"


def test_an_empty_partitioned_result_publishes_nothing(sb, insights_conn, local_store):
    report = make_completed_report(sb, rows=100, window=EMPTY_WINDOW)

    result = run_transfer(report_id=report.report_id, destination=local_store.url("d") + "/", partition_by="Month")

    assert result["rows"] == 0 and result["empty"] is True and result["partitions"] == []
    assert local_store.list_keys() == []


@pytest.mark.parametrize("partitioned", [False, True], ids=["file", "partitioned"])
def test_fail_on_empty_fails_and_writes_nothing(sb, insights_conn, local_store, partitioned):
    report = make_completed_report(sb, rows=100, window=EMPTY_WINDOW)
    options = {"destination": local_store.url("d") + "/", "partition_by": "Month"} if partitioned else {}

    with pytest.raises(PartnerInsightsEmptyReportError, match="a header and no rows"):
        run_transfer(
            report_id=report.report_id,
            **({"destination": local_store.url("empty.parquet"), "output_format": "parquet"} | options),
            fail_on_empty=True,
        )

    assert local_store.list_keys() == []
