"""Secure links: pre-authorised only, expiring, Range, gzip, and the synthetic CSV/TSV content."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io

import pytest

from airflow_provider_insights.sandbox import SandboxProcess

from ._client import Api, fetch

pytestmark = pytest.mark.integration


@pytest.fixture
def api(sb: SandboxProcess) -> Api:
    sb.admin.configure(token_lifetime_s=365 * 24 * 3600)
    return Api(sb)


def _completed(api: Api, **report_fields: object) -> tuple[str, dict[str, object]]:
    report_id = api.create_report(api.create_query(), **report_fields)["reportId"]
    return report_id, api.completed_execution(report_id)


def test_download_matches_expected_digest_and_content(sb: SandboxProcess, api: Api) -> None:
    sb.admin.configure(report_rows=1200)
    report_id, execution = _completed(api)
    response = fetch(sb, str(execution["reportAccessSecureLink"]))
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    digest = hashlib.sha256(response.content).hexdigest()
    assert digest == sb.admin.expected_sha256("mpn", report_id, str(execution["executionId"]))
    assert response.content.startswith(b"\xef\xbb\xbf")
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["SubscriptionId", "CustomerName", "Month", "TotalSoldSeats"]
    assert len(rows) == 1201
    names = {row[1] for row in rows[1:]}
    assert any("Zürich" in n for n in names) and any("東京" in n for n in names)
    assert any('O\'Brien, "Ltd"' in n for n in names) and any("\n" in n for n in names)
    assert len({row[0] for row in rows[1:]}) == 1200  # row ids make every row distinct


def test_tsv_format(sb: SandboxProcess, api: Api) -> None:
    _, execution = _completed(api, Format="tsv")
    link = str(execution["reportAccessSecureLink"])
    assert ".tsv?" in link
    text = fetch(sb, link).content.decode("utf-8-sig")
    assert text.splitlines()[0] == "SubscriptionId\tCustomerName\tMonth\tTotalSoldSeats"


def test_report_bytes_sizes_the_file(sb: SandboxProcess, api: Api) -> None:
    sb.admin.configure(report_bytes=3_000_000)
    report_id, execution = _completed(api)
    size = sb.admin.expected_file("mpn", report_id, str(execution["executionId"]))["bytes"]
    assert 2_900_000 < size < 3_100_000


def test_authorization_header_is_refused(sb: SandboxProcess, api: Api) -> None:
    _, execution = _completed(api)
    response = fetch(sb, str(execution["reportAccessSecureLink"]), headers={"Authorization": f"Bearer {api.token}"})
    assert response.status_code == 403 and response.text.startswith("<?xml")


def test_bad_signature_and_expiry_are_refused(sb: SandboxProcess, api: Api) -> None:
    sb.admin.configure(link_lifetime_s=60)
    _, execution = _completed(api)
    link = str(execution["reportAccessSecureLink"])
    tampered = fetch(sb, link.replace("sig=", "sig=A"))
    assert tampered.status_code == 403 and "<Code>AuthenticationFailed</Code>" in tampered.text
    assert fetch(sb, link.split("?")[0]).status_code == 403
    assert fetch(sb, link).status_code == 200
    sb.admin.advance_clock(61)
    expired = fetch(sb, link)
    assert expired.status_code == 403 and "<Code>AuthenticationFailed</Code>" in expired.text


def test_range_requests(sb: SandboxProcess, api: Api) -> None:
    sb.admin.configure(report_rows=5000)
    _, execution = _completed(api)
    link = str(execution["reportAccessSecureLink"])
    whole = fetch(sb, link).content
    for start in (0, 3, 70_000, len(whole) - 10):
        part = fetch(sb, link, headers={"Range": f"bytes={start}-"})
        assert part.status_code == 206
        assert part.headers["Content-Range"] == f"bytes {start}-{len(whole) - 1}/{len(whole)}"
        assert int(part.headers["Content-Length"]) == len(whole) - start
        assert part.content == whole[start:]
    bounded = fetch(sb, link, headers={"Range": "bytes=100-199"})
    assert bounded.content == whole[100:200]
    assert fetch(sb, link, headers={"Range": f"bytes={len(whole)}-"}).status_code == 416


def test_gzip_fault_serves_compressed_bytes(sb: SandboxProcess, api: Api) -> None:
    sb.admin.configure(report_rows=3000)
    report_id, execution = _completed(api)
    link = str(execution["reportAccessSecureLink"])
    sb.admin.set_faults([{"kind": "gzip", "count": 2}])
    packed = fetch(sb, link, stream=True)
    raw = packed.raw.read(decode_content=False)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert int(packed.headers["Content-Length"]) == len(raw)
    expected = sb.admin.expected_sha256("mpn", report_id, str(execution["executionId"]))
    assert hashlib.sha256(gzip.decompress(raw)).hexdigest() == expected
    tail = fetch(sb, link, headers={"Range": "bytes=100-"}, stream=True)
    assert tail.status_code == 206 and tail.raw.read(decode_content=False) == raw[100:]
    assert "Content-Encoding" not in fetch(sb, link).headers
