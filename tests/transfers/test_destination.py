"""A bad destination is refused before anything is downloaded, naming the input (issue 7, section 3).

Against the HTTPS sandbox and the real stores (local folder, moto S3, Azurite), reached through
Airflow connections. Nothing is mocked.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsConfigError, PartnerInsightsValidationError
from tests.fixtures.storage import AZURE_CONN_ID, azure_connection, conn_env_name
from tests.transfers.conftest import blob_gets, execution_reads, make_completed_report, run_transfer

pytestmark = pytest.mark.integration


@pytest.fixture
def report(sb, insights_conn):
    return make_completed_report(sb, rows=50)


def _refused(sb, report, **kwargs) -> PartnerInsightsValidationError:
    """Run the transfer, expect a validation error, and check nothing was downloaded."""
    with pytest.raises(PartnerInsightsValidationError) as caught:
        run_transfer(report_id=report.report_id, **kwargs)
    assert blob_gets(sb) == 0
    return caught.value


def test_a_file_url_with_a_host_is_refused_with_the_three_slash_form(sb, report, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    error = _refused(sb, report, destination="file://tmp/x.csv")

    assert error.field == "destination"
    assert "'file://tmp/x.csv'" in str(error) and error.allowed == ["file:///tmp/x.csv"]
    assert list(tmp_path.iterdir()) == []  # nothing written under the working directory
    assert execution_reads(sb) == 0  # refused before the service was asked anything


def test_a_localhost_file_url_is_refused_with_its_path():
    from airflow_provider_insights.transfers._destination import check_destination

    with pytest.raises(PartnerInsightsValidationError) as caught:
        check_destination("file://localhost/tmp/x.csv", None)

    assert caught.value.allowed == ["file:///tmp/x.csv"]


def test_a_relative_path_is_refused(sb, report, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    error = _refused(sb, report, destination="out/x.csv")

    assert error.field == "destination" and "relative path" in str(error)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("destination", ["", "   "], ids=["empty", "blank"])
def test_an_empty_destination_is_refused(sb, report, tmp_path, monkeypatch, destination):
    monkeypatch.chdir(tmp_path)

    error = _refused(sb, report, destination=destination)

    assert error.field == "destination" and "empty" in str(error)
    assert list(tmp_path.iterdir()) == []


def test_a_destination_that_renders_to_nothing_is_refused(sb, report, tmp_path, monkeypatch):
    from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

    monkeypatch.chdir(tmp_path)
    operator = PartnerInsightsReportToStorageOperator(
        task_id="rendered_empty", report_id=report.report_id, destination="{{ params.folder or '' }}"
    )
    operator.render_template_fields(context={"params": {"folder": None}})  # type: ignore[arg-type]
    assert operator.destination == ""

    with pytest.raises(PartnerInsightsValidationError, match="destination: '' is empty"):
        operator.execute(context={})  # type: ignore[arg-type]

    assert blob_gets(sb) == 0 and list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_refused_before_downloading(sb, report, store, key):
    store.put(f"{key}/inside.csv", b"a\r\n")  # on object stores, a prefix: what a folder is there

    error = _refused(sb, report, destination=store.url(key))

    assert (
        error.field == "destination"
        and "existing folder" in str(error)
        and "end the destination with '/'" in str(error)
    )
    assert store.list_keys(key) == [f"{key}/inside.csv"]


def test_a_missing_bucket_is_refused_naming_it(sb, report, moto_s3):
    error = _refused(sb, report, destination=f"s3://{moto_s3.conn_id}@no-such-bucket-4c1d/r.csv")

    assert error.field == "destination"
    assert "'no-such-bucket-4c1d' does not exist" in str(error) and repr(moto_s3.conn_id) in str(error)


def test_a_missing_container_is_refused_naming_it(sb, report, azurite):
    error = _refused(sb, report, destination=f"abfs://{azurite.conn_id}@no-such-container/r.csv")

    assert error.field == "destination" and "'no-such-container' does not exist" in str(error)


# ftp: fsspec has a filesystem for it, Airflow none (gs was the example until the test extra
# brought the Google provider).
@pytest.mark.parametrize("scheme", ["s4", "ftp"], ids=["unknown-to-fsspec", "no-airflow-filesystem"])
def test_an_unknown_scheme_is_refused_listing_the_known_ones(sb, report, scheme):
    error = _refused(sb, report, destination=f"{scheme}://bucket/r.csv")

    assert error.field == "destination" and f"scheme {scheme!r}" in str(error)
    assert "s3://" in error.allowed and "file://" in error.allowed


@pytest.mark.parametrize("store_name", ["s3", "azure"])
def test_a_destination_conn_id_that_does_not_exist_is_refused(sb, report, moto_s3, azurite, store_name):
    # Airflow's S3 filesystem would go on anonymously; Azure's would raise its own lookup error.
    store = moto_s3 if store_name == "s3" else azurite
    destination = store.asset_uri("r.csv")

    error = _refused(sb, report, destination=destination, destination_conn_id="no_such_connection")

    assert error.field == "destination_conn_id" and "'no_such_connection' does not exist" in str(error)
    assert execution_reads(sb) == 0


def test_a_connection_named_in_the_uri_that_does_not_exist_is_refused(sb, report, moto_s3):
    error = _refused(sb, report, destination=f"s3://no_such_connection@{moto_s3.bucket}/r.csv")

    assert error.field == "destination" and "'no_such_connection' does not exist" in str(error)


def test_two_different_connections_are_refused(sb, report, moto_s3):
    # Airflow silently prefers the one before '@' (an adlfs container@account URL is read so too).
    error = _refused(sb, report, destination=moto_s3.url("r.csv"), destination_conn_id="aws_default")

    assert error.field == "destination" and "Name the connection once" in str(error)


def test_a_store_that_refuses_the_credentials_is_a_config_error_naming_the_destination(
    sb, report, azurite, monkeypatch
):
    conn = azure_connection(azurite.blob_endpoint)
    wrong_key = "A" * 86 + "=="
    conn["extra"]["connection_string"] = conn["extra"]["connection_string"].replace(
        conn["extra"]["connection_string"].split("AccountKey=")[1].split(";")[0], wrong_key
    )
    monkeypatch.setenv(conn_env_name("azure_wrong_key"), json.dumps(conn))

    with pytest.raises(PartnerInsightsConfigError) as caught:
        run_transfer(report_id=report.report_id, destination=f"abfs://azure_wrong_key@{azurite.container}/r.csv")

    text = str(caught.value)
    assert f"abfs://{azurite.container}/r.csv" in text and "'azure_wrong_key'" in text
    assert wrong_key not in text
    assert blob_gets(sb) == 0 and not azurite.exists("r.csv")
    assert AZURE_CONN_ID != "azure_wrong_key"
