"""The transfer into Google Cloud Storage: gcp-storage-emulator through a ``google_cloud_platform`` connection.

The checks every store gets (byte-identical CSV, Parquet, overwrite refused or replacing, a retry
finding its own output) run on GCS in test_report_to_storage.py through its ``landing_store``
fixture; this file holds what is particular to ``gs://`` destinations through the Google
provider's filesystem (gcsfs). Nothing is mocked.

The emulator cannot cancel a resumable upload (see tests/fixtures/gcs.py): a failed transfer's
``discard()`` gets ``501`` and gcsfs retries it with back-off (about 30 s) before giving up. So
the failure path is run once here, and the limit itself is checked so that this file learns of
an emulator that gains it.
"""

from __future__ import annotations

import pytest
import requests

from airflow_provider_insights.exceptions import PartnerInsightsTransferError, PartnerInsightsValidationError
from tests.transfers.conftest import blob_gets, make_completed_report, run_transfer

pytestmark = pytest.mark.integration


@pytest.fixture
def report(sb, insights_conn):
    return make_completed_report(sb, rows=400)


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
