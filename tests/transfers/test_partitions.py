"""partition_by: a many-day one-off report split into Hive-style day partitions.

Against the HTTPS sandbox (a one-off report with ``QueryStartTime``/``QueryEndTime`` dates its rows
with the window's days) and real stores (local, moto S3, Azurite). Nothing is mocked.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
from datetime import date, timedelta

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from tests.transfers.conftest import blob_gets, make_completed_report, run_transfer

pytestmark = pytest.mark.integration

FIRST_DAY = date(2026, 8, 1)


def _window(days: int) -> tuple[str, str]:
    return f"{FIRST_DAY}T00:00:00Z", f"{FIRST_DAY + timedelta(days=days)}T00:00:00Z"


def _days(count: int) -> list[str]:
    return [str(FIRST_DAY + timedelta(days=offset)) for offset in range(count)]


def _folder(store, name: str) -> str:
    return store.url(name.rstrip("/")) + "/"  # the local store's URLs are paths: no trailing "/"


def _records(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_a_90_day_backfill_lands_90_partitions_whose_rows_add_up_to_the_file(sb, insights_conn, local_store):
    report = make_completed_report(sb, rows=4000, window=_window(90))
    whole = run_transfer(report_id=report.report_id, destination=local_store.url("whole.csv"))
    sb.admin.reset_stats()

    result = run_transfer(report_id=report.report_id, destination=_folder(local_store, "by_day"), partition_by="Month")

    assert blob_gets(sb) == 1  # one download, split on the way
    assert [partition["date"] for partition in result["partitions"]] == _days(90)
    assert local_store.list_keys("by_day/") == [f"by_day/date={day}/part.csv" for day in _days(90)]
    assert result["rows"] == sum(partition["rows"] for partition in result["partitions"]) == whole["rows"] == 4000
    assert result["uri"] == local_store.asset_uri("by_day") + "/" and result["empty"] is False
    header, *rows = _records(local_store.read_bytes("whole.csv"))
    landed = []
    for partition in result["partitions"]:
        data = local_store.read_bytes(f"by_day/date={partition['date']}/part.csv")
        assert hashlib.sha256(data).hexdigest() == partition["sha256"] and len(data) == partition["bytes"]
        partition_header, *partition_rows = _records(data)
        assert partition_header == header and len(partition_rows) == partition["rows"]
        assert {row[header.index("Month")] for row in partition_rows} == {partition["date"]}
        landed.extend(partition_rows)
    assert sorted(landed) == sorted(rows)  # every row once, as served


def test_partitions_land_in_object_stores_and_a_relanding_changes_nothing(sb, insights_conn, store, key):
    report = make_completed_report(sb, rows=300, window=_window(5))
    folder = key.rsplit("/", 1)[0] + "/"
    destination = _folder(store, folder)

    first = run_transfer(report_id=report.report_id, destination=destination, partition_by="Month")
    before = {key: store.read_bytes(key) for key in store.list_keys(folder)}
    stamps = _stamps(store, before)
    again = run_transfer(report_id=report.report_id, destination=destination, partition_by="Month")

    assert len(before) == 5 and not any(partition["unchanged"] for partition in first["partitions"])
    assert all(partition["unchanged"] for partition in again["partitions"])
    assert [p["sha256"] for p in again["partitions"]] == [p["sha256"] for p in first["partitions"]]
    assert {key: store.read_bytes(key) for key in store.list_keys(folder)} == before
    assert _stamps(store, before) == stamps  # not rewritten: same modification times / ETags


def _stamps(store, keys) -> dict[str, object]:
    if store.name == "local":
        return {key: os.stat(store.root / key).st_mtime_ns for key in keys}
    if store.name == "s3":
        return {key: store.client().head_object(Bucket=store.bucket, Key=key)["ETag"] for key in keys}
    container = store.container_client()
    return {key: container.get_blob_client(key).get_blob_properties().etag for key in keys}


def test_other_content_needs_overwrite_and_nothing_is_published_without_it(sb, insights_conn, local_store):
    first = make_completed_report(sb, rows=200, window=_window(3))
    other = make_completed_report(sb, rows=210, window=_window(3))
    destination = _folder(local_store, "days")
    run_transfer(report_id=first.report_id, destination=destination, partition_by="Month")
    before = {key: local_store.read_bytes(key) for key in local_store.list_keys("days/")}

    with pytest.raises(PartnerInsightsValidationError, match=r"^destination: 3 partitions already exist") as raised:
        run_transfer(report_id=other.report_id, destination=destination, partition_by="Month")
    assert "overwrite=True" in str(raised.value)
    assert {key: local_store.read_bytes(key) for key in local_store.list_keys("days/")} == before

    replaced = run_transfer(report_id=other.report_id, destination=destination, partition_by="Month", overwrite=True)
    assert replaced["rows"] == 210 and not any(p["unchanged"] for p in replaced["partitions"])
    assert sum(len(_records(local_store.read_bytes(key))) - 1 for key in local_store.list_keys("days/")) == 210


def test_parquet_partitions_share_the_query_schema(sb, insights_conn, local_store):
    import pyarrow.parquet as pq

    report = make_completed_report(sb, rows=500, window=_window(7))

    result = run_transfer(
        report_id=report.report_id,
        destination=_folder(local_store, "pq"),
        output_format="parquet",
        partition_by="month",
    )

    schemas = set()
    for partition in result["partitions"]:
        table = pq.read_table(io.BytesIO(local_store.read_bytes(f"pq/date={partition['date']}/part.parquet")))
        assert table.num_rows == partition["rows"]
        assert set(table.column("Month").to_pylist()) == {partition["date"]}
        schemas.add(str(table.schema))
    assert len(result["partitions"]) == 7 and result["rows"] == 500
    assert len(schemas) == 1 and "CustomerName: string" in schemas.pop()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"partition_by": "Month", "destination": "file:///tmp/by-day.csv"}, "destination"),
        ({"partition_by": "Region", "destination": "file:///tmp/by-day/"}, "partition_by"),
        (
            {"partition_by": "Month", "destination": "file:///tmp/by-day/", "on_schema_change": "drop"},
            "on_schema_change",
        ),
    ],
)
def test_bad_partition_options_fail_before_downloading(sb, insights_conn, options, field):
    report = make_completed_report(sb, rows=20)

    with pytest.raises(PartnerInsightsValidationError) as raised:
        run_transfer(report_id=report.report_id, **options)

    assert raised.value.field == field
    assert blob_gets(sb) == 0


def test_a_dropped_and_expired_link_resume_into_the_same_partitions_without_leaking_it(
    sb, insights_conn, local_store, caplog, capfd
):
    report = make_completed_report(sb, report_bytes=2 << 20, window=_window(4))
    clean = run_transfer(report_id=report.report_id, destination=_folder(local_store, "clean"), partition_by="Month")
    sb.admin.set_faults([{"kind": "expire_link"}, {"kind": "reset", "after_bytes": 300_000}])
    caplog.set_level(logging.INFO)

    result = run_transfer(report_id=report.report_id, destination=_folder(local_store, "resumed"), partition_by="Month")

    assert [p["sha256"] for p in result["partitions"]] == [p["sha256"] for p in clean["partitions"]]
    assert sb.admin.stats()["faults_fired"] == {"expire_link": 1, "reset": 1}
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    execution = PartnerInsightsHook().get_execution(report.report_id, report.execution_id)
    assert execution is not None and execution.report_access_secure_link
    query = execution.report_access_secure_link.split("?", 1)[1]
    captured = capfd.readouterr()
    text = "\n".join([*(record.getMessage() for record in caplog.records), captured.out, captured.err, str(result)])
    assert "4 partitions" in text
    assert query not in text and "sig=" not in text
