"""The transfer into Google Cloud Storage: gcp-storage-emulator through a ``google_cloud_platform`` connection.

The same checks as for S3 (moto) and ADLS (Azurite) in test_report_to_storage.py, on ``gs://``
destinations through the Google provider's filesystem (gcsfs). Nothing is mocked.

The emulator cannot cancel a resumable upload (see tests/fixtures/gcs.py): a failed transfer's
``discard()`` gets ``501`` and gcsfs retries it with back-off (about 30 s) before giving up. So
the failure path is run once here, and the limit itself is checked so that this file learns of
an emulator that gains it.
"""

from __future__ import annotations

import hashlib
import io

import pytest
import requests

from airflow_provider_insights.exceptions import PartnerInsightsTransferError, PartnerInsightsValidationError
from tests.transfers.conftest import blob_gets, make_completed_report, run_transfer

pytestmark = pytest.mark.integration


@pytest.fixture
def report(sb, insights_conn):
    return make_completed_report(sb, rows=400)


class _RetryTi:
    """The part of a task instance the operator reads on a retry (its try number)."""

    try_number = 2


def test_csv_is_byte_identical_to_what_the_sandbox_served(sb, report, gcs_emulator, key):
    result = run_transfer(report_id=report.report_id, destination=gcs_emulator.url(key), strip_bom=False)

    written = gcs_emulator.read_bytes(key)
    assert hashlib.sha256(written).hexdigest() == report.expected_sha256
    assert result["uri"] == gcs_emulator.asset_uri(key) == f"gs://{gcs_emulator.bucket}/{key}"
    assert result["bytes"] == len(written) and result["sha256"] == report.expected_sha256


def test_parquet_reads_back_equal_to_the_csv_parsed_with_pandas(sb, report, gcs_emulator, key, local_store):
    import pandas as pd
    import pyarrow.parquet as pq

    parquet_key = key.replace(".csv", ".parquet")
    result = run_transfer(
        report_id=report.report_id, destination=gcs_emulator.url(parquet_key), output_format="parquet"
    )
    run_transfer(report_id=report.report_id, destination=local_store.url("reference.csv"))

    written = gcs_emulator.read_bytes(parquet_key)
    table = pq.read_table(io.BytesIO(written))
    expected = pd.read_csv(io.BytesIO(local_store.read_bytes("reference.csv")), dtype=str, keep_default_na=False)
    assert table.to_pandas().equals(expected)
    assert result["rows"] == len(expected) == 400
    assert result["sha256"] == hashlib.sha256(written).hexdigest()


def test_a_destination_conn_id_and_a_folder_destination(sb, report, gcs_emulator):
    result = run_transfer(
        report_id=report.report_id,
        execution_id=report.execution_id,
        destination=f"gs://{gcs_emulator.bucket}/by-folder/",
        destination_conn_id=gcs_emulator.conn_id,
    )

    expected_key = f"by-folder/{report.report_id}_{report.execution_id}.csv"
    assert result["uri"] == gcs_emulator.asset_uri(expected_key)
    assert gcs_emulator.exists(expected_key)


def test_overwrite_false_refuses_before_downloading(sb, report, gcs_emulator, key):
    gcs_emulator.put(key, b"previous\r\n")

    with pytest.raises(PartnerInsightsValidationError, match="already exists"):
        run_transfer(report_id=report.report_id, destination=gcs_emulator.url(key))

    assert blob_gets(sb) == 0
    assert gcs_emulator.read_bytes(key) == b"previous\r\n"


def test_overwrite_true_replaces(sb, report, gcs_emulator, key):
    gcs_emulator.put(key, b"previous\r\n")

    result = run_transfer(
        report_id=report.report_id, destination=gcs_emulator.url(key), overwrite=True, strip_bom=False
    )

    assert hashlib.sha256(gcs_emulator.read_bytes(key)).hexdigest() == result["sha256"] == report.expected_sha256


def test_a_missing_bucket_is_refused_before_downloading(sb, report, gcs_emulator):
    with pytest.raises(PartnerInsightsValidationError, match="does not exist"):
        run_transfer(report_id=report.report_id, destination=f"gs://{gcs_emulator.conn_id}@no-such-bucket/r.csv")

    assert blob_gets(sb) == 0


def test_a_download_that_keeps_breaking_leaves_nothing(sb, insights_conn, gcs_emulator, key):
    # 15 MiB arrive over three cut attempts: more than one 8 MiB part, so a resumable upload
    # session really holds bytes when the transfer gives up.
    report = make_completed_report(sb, report_bytes=24 << 20)
    sb.admin.set_faults([{"kind": "reset", "after_bytes": 5 << 20, "count": 50}])

    with pytest.raises(PartnerInsightsTransferError, match="abandoned after 3 interrupted attempts"):
        run_transfer(report_id=report.report_id, destination=gcs_emulator.url(key), max_attempts=3, chunk_size=1 << 20)

    assert gcs_emulator.list_keys(key.split("/")[0]) == []


def test_the_emulator_cannot_cancel_a_resumable_upload(gcs_emulator):
    # What the test above cannot check: real GCS answers the cancel with 499 and drops the staged
    # bytes; the emulator answers 501, so they stay in its memory (invisible, never an object).
    started = requests.post(
        f"{gcs_emulator.endpoint}/upload/storage/v1/b/{gcs_emulator.bucket}/o",
        params={"uploadType": "resumable", "name": "cancelled.bin"},
        json={},
        timeout=10,
    )
    assert started.status_code == 200, started.text
    session = started.headers["Location"]

    cancelled = requests.delete(session, timeout=10)

    assert cancelled.status_code == 501  # a newer emulator that implements it: check the discard above
    assert not gcs_emulator.exists("cancelled.bin")


def test_a_retry_finds_its_own_output_and_keeps_it(sb, report, gcs_emulator, key):
    from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

    first = run_transfer(report_id=report.report_id, destination=gcs_emulator.url(key), strip_bom=False)
    retry = PartnerInsightsReportToStorageOperator(
        task_id="transfer_retry", report_id=report.report_id, destination=gcs_emulator.url(key), strip_bom=False
    )

    again = retry.execute(context={"ti": _RetryTi()})  # type: ignore[arg-type]

    assert again == first
    assert hashlib.sha256(gcs_emulator.read_bytes(key)).hexdigest() == report.expected_sha256


def test_a_retry_still_refuses_other_content(sb, report, gcs_emulator, key):
    from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

    gcs_emulator.put(key, b"previous\r\n")
    retry = PartnerInsightsReportToStorageOperator(
        task_id="transfer_retry", report_id=report.report_id, destination=gcs_emulator.url(key)
    )

    with pytest.raises(PartnerInsightsValidationError, match="already exists with other content"):
        retry.execute(context={"ti": _RetryTi()})  # type: ignore[arg-type]

    assert gcs_emulator.read_bytes(key) == b"previous\r\n"
