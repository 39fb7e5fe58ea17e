"""Secure-link downloads against the sandbox's blob endpoint: host checks, no token, Range, expiry, raw bytes."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from airflow_provider_insights.exceptions import (
    PartnerInsightsApiError,
    PartnerInsightsLinkExpiredError,
    PartnerInsightsValidationError,
)

pytestmark = pytest.mark.integration


def _blob_requests(stats: dict) -> int:
    return sum(count for route, count in stats["requests"].items() if "/_blob" in route)


def _download(hook, link, offset=0, chunk_size=4096):
    with hook.open_secure_link(link, offset=offset) as response:
        return response, b"".join(response.iter_raw(chunk_size))


def test_full_download_is_the_report_and_sends_no_token(completed_execution, sb):
    hook, execution = completed_execution()
    response, data = _download(hook, execution.report_access_secure_link)
    assert response.status == 200
    assert response.total_length in (None, len(data))
    assert hashlib.sha256(data).hexdigest() == sb.admin.expected_sha256(
        "mpn", execution.report_id, execution.execution_id
    )
    # The headers requests really sent on the wire for this download.
    sent = response._response.request.headers
    assert "Authorization" not in sent
    assert not any(name.lower() == "authorization" for name in sent)
    assert sent["User-Agent"].startswith("airflow-provider-insights/")
    assert "sig=" not in repr(response)


def test_range_resumes_from_an_offset(completed_execution):
    hook, execution = completed_execution()
    _, whole = _download(hook, execution.report_access_secure_link)
    offset = len(whole) // 3
    response, rest = _download(hook, execution.report_access_secure_link, offset=offset)
    assert response.status == 206
    assert rest == whole[offset:]
    assert response.total_length == len(whole)
    assert response.content_length == len(whole) - offset
    assert response._response.request.headers["Range"] == f"bytes={offset}-"


def test_gzip_bytes_are_not_decoded(completed_execution, sb):
    hook, execution = completed_execution()
    sb.admin.set_faults([{"kind": "gzip", "count": None}])
    response, raw = _download(hook, execution.report_access_secure_link)
    assert response.content_encoding == "gzip"
    assert raw[:2] == b"\x1f\x8b"
    decoded = gzip.decompress(raw)
    assert hashlib.sha256(decoded).hexdigest() == sb.admin.expected_sha256(
        "mpn", execution.report_id, execution.execution_id
    )
    offset = len(raw) // 2
    response, tail = _download(hook, execution.report_access_secure_link, offset=offset)
    assert response.status == 206
    assert tail == raw[offset:]


def test_lost_connection_mid_body_is_a_typed_error_and_resumable(completed_execution, sb):
    hook, execution = completed_execution()
    link = execution.report_access_secure_link
    _, whole = _download(hook, link)
    sb.admin.set_faults([{"kind": "reset", "after_bytes": len(whole) // 2}])
    received = bytearray()
    with pytest.raises(PartnerInsightsApiError) as caught, hook.open_secure_link(link) as response:
        for chunk in response.iter_raw(1024):
            received.extend(chunk)
    assert caught.value.status_code == 0
    assert "connection lost" in str(caught.value)
    assert "sig=" not in str(caught.value)
    assert caught.value.correlation_id
    _, rest = _download(hook, link, offset=len(received))
    assert bytes(received) + rest == whole


def test_expired_link_is_link_expired_error(completed_execution, sb):
    hook, execution = completed_execution()
    sb.admin.set_faults([{"kind": "expire_link"}])
    with pytest.raises(PartnerInsightsLinkExpiredError) as caught:
        hook.open_secure_link(execution.report_access_secure_link)
    text = str(caught.value)
    assert caught.value.status_code == 403
    assert "sig=" not in text
    assert "?" not in caught.value.url
    assert caught.value.request_id


def test_link_past_its_lifetime_is_refused(completed_execution, sb):
    hook, execution = completed_execution()
    sb.admin.advance_clock(10 * 24 * 3600)
    with pytest.raises(PartnerInsightsLinkExpiredError):
        hook.open_secure_link(execution.report_access_secure_link)


def test_host_not_allowed_is_refused_before_any_request(completed_execution, make_hook, sb):
    _, execution = completed_execution()
    strict = make_hook(allowed_download_hosts="*.blob.core.windows.net")
    sb.admin.reset_stats()
    with pytest.raises(PartnerInsightsValidationError) as caught:
        strict.open_secure_link(execution.report_access_secure_link)
    assert caught.value.field == "secure_link"
    assert "sig=" not in str(caught.value)
    stats = sb.admin.stats()
    assert _blob_requests(stats) == 0
    assert sum(stats["requests"].values()) == 0


def test_plain_http_link_is_refused(completed_execution, sb):
    hook, execution = completed_execution()
    sb.admin.reset_stats()
    insecure = execution.report_access_secure_link.replace("https://", "http://", 1)
    with pytest.raises(PartnerInsightsValidationError):
        hook.open_secure_link(insecure)
    assert _blob_requests(sb.admin.stats()) == 0
