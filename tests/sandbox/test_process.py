"""The server process: CLI output, connection files, state across restarts, bounded memory on big downloads."""

from __future__ import annotations

import hashlib
import json

import psutil
import pytest

from airflow_provider_insights.sandbox import SandboxProcess
from airflow_provider_insights.sandbox import credentials as cred

from ._client import Api, fetch

pytestmark = pytest.mark.integration


def test_state_and_certificates_survive_a_restart(tmp_path) -> None:
    with SandboxProcess(state_dir=tmp_path / "state", config={"pending_s": 0, "running_s": 0}) as sb:
        api = Api(sb)
        query_id = api.create_query(name="kept")
        report_id = api.create_report(query_id)["reportId"]
        execution = api.completed_execution(report_id)
        sb.admin.advance_clock(600)
        clock_before = sb.admin.now()
        port, ca_before = sb.port, (tmp_path / "state" / cred.CA_CERT_FILE).read_bytes()
        sb.restart()
        assert sb.port == port and (tmp_path / "state" / cred.CA_CERT_FILE).read_bytes() == ca_before
        assert sb.admin.now() >= clock_before  # the clock offset persisted
        assert api.ok("GET", "ScheduledQueries", params={"queryId": query_id})["value"][0]["name"] == "kept"
        again = api.completed_execution(report_id)  # the old token still verifies: same signing key
        assert again["executionId"] == execution["executionId"]
        response = fetch(sb, again["reportAccessSecureLink"])
        assert hashlib.sha256(response.content).hexdigest() == sb.admin.expected_sha256(
            "mpn", report_id, execution["executionId"]
        )


def test_cli_prints_the_connection_and_writes_files(tmp_path) -> None:
    with SandboxProcess(state_dir=tmp_path) as sb:
        log = sb.log_path.read_text()
        assert f"listening on {sb.url}" in log
        line = next(item for item in log.splitlines() if item.startswith("AIRFLOW_CONN_PARTNER_INSIGHTS_DEFAULT="))
        printed = json.loads(line.split("=", 1)[1].strip("'"))
        assert printed == sb.connection("mpn", "client_credentials")
        stored = json.loads((tmp_path / "connections" / "cmp-certificate.json").read_text())
        assert stored == sb.connection("cmp", "certificate")
        assert stored["extra"]["api_base_url"] == f"{sb.url}/insights/v1.1/cmp"
        assert stored["extra"]["certificate_thumbprint"] == cred.client_thumbprint(tmp_path)
        assert "password" not in stored
        assert json.loads(sb.connection_uri_env())["password"] == cred.CLIENT_SECRET


def test_large_download_keeps_server_memory_bounded(sb: SandboxProcess) -> None:
    sb.admin.configure(report_bytes=200_000_000)
    api = Api(sb)
    report_id = api.create_report(api.create_query())["reportId"]
    execution = api.completed_execution(report_id)
    server = psutil.Process(sb.pid)
    baseline = server.memory_info().rss
    peak, received, digest = baseline, 0, hashlib.sha256()
    with fetch(sb, execution["reportAccessSecureLink"], stream=True) as response:
        assert response.status_code == 200
        total = int(response.headers["Content-Length"])
        for chunk in response.iter_content(1 << 20):
            received += len(chunk)
            digest.update(chunk)
            peak = max(peak, server.memory_info().rss)
    assert received == total and total > 190_000_000
    assert peak - baseline < 64 * 1024 * 1024, f"server RSS grew by {(peak - baseline) >> 20} MiB"
    assert digest.hexdigest() == sb.admin.expected_sha256("mpn", report_id, execution["executionId"])
