"""PartnerInsightsReportToStorageOperator against the HTTPS sandbox and real stores (local, moto S3, Azurite).

Nothing is mocked except, in one test, the absence of pyarrow (it is installed here).
"""

from __future__ import annotations

import hashlib
import io
import logging
import sys

import pytest

from airflow_provider_insights.exceptions import (
    PartnerInsightsConfigError,
    PartnerInsightsTransferError,
    PartnerInsightsValidationError,
)
from tests.transfers.conftest import blob_gets, execution_reads, make_completed_report, run_transfer

pytestmark = pytest.mark.integration

BOM = b"\xef\xbb\xbf"


@pytest.fixture
def report(sb, insights_conn):
    return make_completed_report(sb, rows=400)


def test_csv_is_byte_identical_to_what_the_sandbox_served(sb, report, landing_store, key):
    result = run_transfer(report_id=report.report_id, destination=landing_store.url(key), strip_bom=False)

    written = landing_store.read_bytes(key)
    assert hashlib.sha256(written).hexdigest() == report.expected_sha256
    assert result == {
        "uri": landing_store.asset_uri(key),
        "bytes": len(written),
        "sha256": report.expected_sha256,
        "rows": 400,
        "empty": False,
        "format": "csv",
    }


def test_tsv_is_copied_as_served(sb, insights_conn, local_store):
    tsv = make_completed_report(sb, rows=50, report_format="tsv")

    result = run_transfer(
        report_id=tsv.report_id, destination=local_store.url("r.tsv"), output_format="tsv", strip_bom=False
    )

    assert result["format"] == "tsv" and result["sha256"] == tsv.expected_sha256
    assert b"\t" in local_store.read_bytes("r.tsv").splitlines()[0]


def test_a_tsv_report_is_not_relabelled_as_csv(sb, insights_conn, local_store):
    tsv = make_completed_report(sb, rows=50, report_format="tsv")

    with pytest.raises(PartnerInsightsValidationError, match="served as tsv"):
        run_transfer(report_id=tsv.report_id, destination=local_store.url("r.csv"), output_format="csv")

    assert blob_gets(sb) == 0 and not local_store.exists("r.csv")


def test_csv_default_strips_the_bom_only(sb, report, landing_store, key):
    result = run_transfer(
        report_id=report.report_id, execution_id=report.execution_id, destination=landing_store.url(key)
    )

    written = landing_store.read_bytes(key)
    assert not written.startswith(BOM)
    assert hashlib.sha256(BOM + written).hexdigest() == report.expected_sha256
    assert result["sha256"] == hashlib.sha256(written).hexdigest()


def test_parquet_reads_back_equal_to_the_csv_parsed_with_pandas(sb, report, landing_store, key, local_store):
    import pandas as pd
    import pyarrow.parquet as pq

    parquet_key = key.replace(".csv", ".parquet")
    result = run_transfer(
        report_id=report.report_id, destination=landing_store.url(parquet_key), output_format="parquet"
    )
    run_transfer(report_id=report.report_id, destination=local_store.url("reference.csv"))

    written = landing_store.read_bytes(parquet_key)
    table = pq.read_table(io.BytesIO(written))
    expected = pd.read_csv(io.BytesIO(local_store.read_bytes("reference.csv")), dtype=str, keep_default_na=False)
    assert table.to_pandas().equals(expected)
    assert {str(field.type) for field in table.schema} == {"string"}
    assert result["rows"] == len(expected) == 400
    assert result["sha256"] == hashlib.sha256(written).hexdigest()
    assert result["format"] == "parquet"
    # The sandbox's files carry quoted commas, quotes, embedded newlines and non-ASCII text.
    text = "".join(expected["CustomerName"])
    assert "\n" in text and '"' in text and "," in text and "ü" in text


def test_parquet_of_a_report_larger_than_one_csv_block_keeps_every_row_as_strings(sb, insights_conn, local_store):
    import pyarrow.parquet as pq

    report = make_completed_report(sb, report_bytes=6 << 20)  # > the 4 MiB CSV block: several batches
    result = run_transfer(
        report_id=report.report_id, destination=local_store.url("big.parquet"), output_format="parquet"
    )
    run_transfer(report_id=report.report_id, destination=local_store.url("big.csv"))

    parquet = pq.ParquetFile(io.BytesIO(local_store.read_bytes("big.parquet")))
    assert {str(field.type) for field in parquet.schema_arrow} == {"string"}
    csv_records = pq.read_table(io.BytesIO(local_store.read_bytes("big.parquet"))).num_rows
    assert result["rows"] == parquet.metadata.num_rows == csv_records > 50_000


def test_gzip_served_file_is_decoded(sb, report, local_store):
    sb.admin.set_faults([{"kind": "gzip", "count": 10}])
    result = run_transfer(report_id=report.report_id, destination=local_store.url("r.csv"), strip_bom=False)

    assert sb.admin.stats()["faults_fired"].get("gzip") == 1
    assert result["sha256"] == report.expected_sha256
    assert hashlib.sha256(local_store.read_bytes("r.csv")).hexdigest() == report.expected_sha256


@pytest.mark.parametrize("gzip", [False, True], ids=["identity", "gzip"])
def test_reset_mid_body_resumes_with_a_range_request(sb, insights_conn, local_store, gzip):
    report = make_completed_report(sb, report_bytes=3 << 20)
    faults = [{"kind": "reset", "after_bytes": 100_000}]  # < the gzip size too
    if gzip:
        faults.append({"kind": "gzip", "count": 10})
    sb.admin.set_faults(faults)

    result = run_transfer(
        report_id=report.report_id, destination=local_store.url("r.csv"), strip_bom=False, chunk_size=64 << 10
    )

    stats = sb.admin.stats()
    assert stats["faults_fired"]["reset"] == 1
    assert blob_gets(sb) == 2
    assert result["sha256"] == report.expected_sha256
    # A resumed download asks only for the rest, so the sandbox served each byte once: as many
    # as for a clean download. A restart from zero would have served the first part twice.
    resumed_bytes_served = stats["bytes_served"]
    sb.admin.reset_stats()
    sb.admin.set_faults(faults[1:])
    run_transfer(report_id=report.report_id, destination=local_store.url("clean.csv"), strip_bom=False)
    assert sb.admin.stats()["bytes_served"] == resumed_bytes_served


def test_expired_link_is_refreshed_by_reading_the_execution_again(sb, report, local_store):
    sb.admin.set_faults([{"kind": "expire_link"}])

    result = run_transfer(
        report_id=report.report_id,
        execution_id=report.execution_id,
        destination=local_store.url("r.csv"),
        strip_bom=False,
    )

    assert sb.admin.stats()["faults_fired"]["expire_link"] == 1
    assert execution_reads(sb) == 2  # the first read, and the refresh after the 403
    assert blob_gets(sb) == 2
    assert result["sha256"] == report.expected_sha256


def test_expired_link_during_a_resume_is_refreshed_and_continues(sb, insights_conn, local_store):
    report = make_completed_report(sb, report_bytes=2 << 20)
    # The first GET is refused (expired), the second is cut mid-body, the third resumes.
    sb.admin.set_faults([{"kind": "expire_link"}, {"kind": "reset", "after_bytes": 500_000}])

    result = run_transfer(
        report_id=report.report_id, destination=local_store.url("r.csv"), strip_bom=False, chunk_size=64 << 10
    )

    assert execution_reads(sb) == 2
    assert blob_gets(sb) == 3
    assert result["sha256"] == report.expected_sha256


def test_bounded_attempts_then_a_clear_error_and_nothing_written(sb, insights_conn, store, key):
    # More than one 8 MiB part is staged before the failure, so S3 and Azure really hold parts.
    report = make_completed_report(sb, report_bytes=24 << 20)
    sb.admin.set_faults([{"kind": "reset", "after_bytes": 5 << 20, "count": 50}])

    with pytest.raises(PartnerInsightsTransferError, match="abandoned after 3 interrupted attempts") as caught:
        run_transfer(report_id=report.report_id, destination=store.url(key), max_attempts=3, chunk_size=1 << 20)

    assert f"report {report.report_id} execution {report.execution_id}" in str(caught.value)
    assert "sig=" not in str(caught.value) and "_blob" not in str(caught.value)
    assert store.list_keys(key.split("/")[0]) == []
    if store.name == "s3":
        assert key not in store.pending_uploads()


def test_failure_leaves_an_existing_object_untouched(sb, insights_conn, store, key):
    report = make_completed_report(sb, report_bytes=12 << 20)
    store.put(key, b"previous,version\r\n")
    sb.admin.set_faults([{"kind": "reset", "after_bytes": 5 << 20, "count": 50}])

    with pytest.raises(PartnerInsightsTransferError):
        run_transfer(report_id=report.report_id, destination=store.url(key), overwrite=True, max_attempts=2)

    assert store.read_bytes(key) == b"previous,version\r\n"
    assert store.list_keys(key.split("/")[0]) == [key]


def test_overwrite_false_refuses_before_downloading(sb, report, landing_store, key):
    landing_store.put(key, b"previous\r\n")

    with pytest.raises(PartnerInsightsValidationError, match="already exists"):
        run_transfer(report_id=report.report_id, destination=landing_store.url(key))

    assert blob_gets(sb) == 0
    assert landing_store.read_bytes(key) == b"previous\r\n"


def test_overwrite_true_replaces(sb, report, landing_store, key):
    landing_store.put(key, b"previous\r\n")

    result = run_transfer(
        report_id=report.report_id, destination=landing_store.url(key), overwrite=True, strip_bom=False
    )

    assert hashlib.sha256(landing_store.read_bytes(key)).hexdigest() == result["sha256"] == report.expected_sha256


@pytest.mark.parametrize("store_fixture", ["moto_s3", "gcs_emulator"])
def test_destination_conn_id_and_folder_destination(sb, report, store_fixture, request):
    bucket_store = request.getfixturevalue(store_fixture)
    result = run_transfer(
        report_id=report.report_id,
        execution_id=report.execution_id,
        destination=bucket_store.asset_uri("by-folder/"),  # no connection in the URL: the argument names it
        destination_conn_id=bucket_store.conn_id,
    )

    expected_key = f"by-folder/{report.report_id}_{report.execution_id}.csv"
    assert result["uri"] == bucket_store.asset_uri(expected_key)
    assert "@" not in result["uri"]
    assert bucket_store.exists(expected_key)


def test_outlet_asset_names_the_destination_without_the_connection(moto_s3):
    from airflow.sdk import Asset

    from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

    static = PartnerInsightsReportToStorageOperator(task_id="t", report_id="r", destination=moto_s3.url("a/b.csv"))
    templated = PartnerInsightsReportToStorageOperator(
        task_id="u", report_id="r", destination="s3://bucket/{{ ds }}/b.csv"
    )

    assert static.outlets == [Asset(f"s3://{moto_s3.bucket}/a/b.csv")]
    assert templated.outlets == []
    assert "destination" in PartnerInsightsReportToStorageOperator.template_fields


def test_link_outside_the_allow_list_is_refused(sandbox, sb, report, local_store, monkeypatch):
    import json

    conn = sandbox.connection(program="mpn", auth_type="client_credentials")
    conn["extra"]["allowed_download_hosts"] = "*.blob.core.windows.net"
    monkeypatch.setenv("AIRFLOW_CONN_PARTNER_INSIGHTS_NARROW", json.dumps(conn))

    with pytest.raises(PartnerInsightsValidationError, match="allowed_download_hosts"):
        run_transfer(
            report_id=report.report_id,
            destination=local_store.url("r.csv"),
            partner_insights_conn_id="partner_insights_narrow",
        )

    assert blob_gets(sb) == 0
    assert local_store.list_keys() == []


def test_progress_is_logged_and_no_line_carries_the_link_query(sb, insights_conn, local_store, caplog, capfd):
    report = make_completed_report(sb, report_bytes=2 << 20)
    sb.admin.set_faults([{"kind": "expire_link"}, {"kind": "reset", "after_bytes": 300_000}])
    # INFO, the task log's level (urllib3's DEBUG lines show request URLs; Airflow's masker
    # hides the link there, which caplog does not apply).
    caplog.set_level(logging.INFO)

    run_transfer(
        report_id=report.report_id, destination=local_store.url("r.csv"), progress_interval=0, chunk_size=256 << 10
    )

    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    execution = PartnerInsightsHook().get_execution(report.report_id, report.execution_id)
    assert execution is not None and execution.report_access_secure_link
    query = execution.report_access_secure_link.split("?", 1)[1]
    # The operator logs through Airflow's structlog (printed), the hook through logging.
    captured = capfd.readouterr()
    text = "\n".join([*(record.getMessage() for record in caplog.records), captured.out, captured.err])
    assert "Downloaded" in text and "MB/s" in text and "%" in text
    assert "resuming with a Range request" in text and "re-reading the execution" in text
    assert query not in text and "sig=" not in text


def test_pyarrow_missing_is_a_clear_error_before_downloading(sb, report, local_store, monkeypatch):
    # pyarrow is installed here: hide it to play a deployment without the parquet extra.
    for name in [name for name in sys.modules if name == "pyarrow" or name.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)

    with pytest.raises(PartnerInsightsConfigError, match="pyarrow"):
        run_transfer(report_id=report.report_id, destination=local_store.url("r.parquet"), output_format="parquet")

    assert blob_gets(sb) == 0


def test_unknown_output_format_is_refused():
    with pytest.raises(PartnerInsightsValidationError, match="output_format"):
        run_transfer(report_id="r", destination="file:///tmp/never.csv", output_format="xlsx")


class _RetryTi:
    """The part of a task instance the operator reads on a retry (its try number)."""

    try_number = 2


def test_a_retry_keeps_identical_output_of_an_earlier_try(sb, report, landing_store, key):
    from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

    first = run_transfer(report_id=report.report_id, destination=landing_store.url(key), strip_bom=False)
    retry = PartnerInsightsReportToStorageOperator(
        task_id="transfer_retry", report_id=report.report_id, destination=landing_store.url(key), strip_bom=False
    )

    again = retry.execute(context={"ti": _RetryTi()})  # type: ignore[arg-type]

    assert again == first
    assert hashlib.sha256(landing_store.read_bytes(key)).hexdigest() == report.expected_sha256


def test_a_retry_still_refuses_other_content(sb, report, landing_store, key):
    from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

    landing_store.put(key, b"previous\r\n")
    retry = PartnerInsightsReportToStorageOperator(
        task_id="transfer_retry", report_id=report.report_id, destination=landing_store.url(key)
    )

    with pytest.raises(PartnerInsightsValidationError, match="already exists with other content"):
        retry.execute(context={"ti": _RetryTi()})  # type: ignore[arg-type]

    assert landing_store.read_bytes(key) == b"previous\r\n"


def test_data_redacted_is_a_warning_and_part_of_the_result(sb, set_profile, report, local_store, capfd):
    from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

    operator = PartnerInsightsReportToStorageOperator(
        task_id="transfer_redacted", report_id=report.report_id, destination=local_store.url("r.csv")
    )
    set_profile(data_redacted=True)

    result = operator.execute(context={})  # type: ignore[arg-type]

    assert result["data_redacted"] is True
    assert {"uri", "bytes", "sha256", "rows", "format"} <= result.keys()
    captured = capfd.readouterr()
    warning = [line for line in (captured.out + captured.err).splitlines() if "dataRedacted: true" in line]
    assert warning and "warning" in warning[0].lower() and report.execution_id in warning[0]


def test_a_retry_keeps_identical_parquet_output_of_an_earlier_try(sb, report, local_store):
    # The digest of the stored object and of the conversion are one computation.
    from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

    first = run_transfer(report_id=report.report_id, destination=local_store.url("r.parquet"), output_format="parquet")
    retry = PartnerInsightsReportToStorageOperator(
        task_id="transfer_retry",
        report_id=report.report_id,
        destination=local_store.url("r.parquet"),
        output_format="parquet",
    )

    assert retry.execute(context={"ti": _RetryTi()}) == first  # type: ignore[arg-type]
    assert hashlib.sha256(local_store.read_bytes("r.parquet")).hexdigest() == first["sha256"]
