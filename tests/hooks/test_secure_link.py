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


def test_one_attempt_only_a_503_is_for_the_caller_to_retry(completed_execution, sb):
    # The transfer retries and resumes from the bytes it has; a retry here would multiply with it.
    hook, execution = completed_execution()
    sb.admin.set_faults([{"kind": "status", "status": 503, "path": "/_blob/"}])
    sb.admin.reset_stats()
    with pytest.raises(PartnerInsightsApiError) as caught:
        hook.open_secure_link(execution.report_access_secure_link)
    assert caught.value.status_code == 503
    assert _blob_requests(sb.admin.stats()) == 1


def test_no_answer_is_status_0_without_the_signature(completed_execution, make_hook, sb):
    _, execution = completed_execution()
    impatient = make_hook(timeout=0.3)
    link = execution.report_access_secure_link
    sb.admin.set_faults([{"kind": "delay", "seconds": 1.5, "path": "/_blob/"}])
    sb.admin.reset_stats()
    with pytest.raises(PartnerInsightsApiError) as caught:
        impatient.open_secure_link(link)
    assert caught.value.status_code == 0
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # requests' text has the link
    signature = link.split("sig=", 1)[1].split("&", 1)[0]
    assert signature not in str(caught.value)
    assert _blob_requests(sb.admin.stats()) == 1


class _Redirector:
    """An HTTPS server on 127.0.0.1 (the sandbox's certificate) answering every GET with a 302 to ``target``."""

    def __init__(self, cert_dir, target: str) -> None:
        import http.server
        import threading

        from airflow_provider_insights.sandbox.tls import ensure_tls_material

        tls = ensure_tls_material(cert_dir)
        location = target

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = tls.server_ssl_context().wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _CountingListener:
    """A TCP port that counts the connections made to it (and answers none)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            client.close()

    def close(self) -> None:
        self._listener.close()


def test_redirect_to_a_host_outside_allowed_download_hosts_is_refused_before_connecting(completed_execution, sb):
    from pathlib import Path

    hook, _ = completed_execution()
    elsewhere = _CountingListener()
    # localhost is the same machine under a name allowed_download_hosts ("127.0.0.1") does not list.
    redirector = _Redirector(Path(sb.ca_path).parent, f"https://localhost:{elsewhere.port}/_blob/r.csv?sig=stolen")
    try:
        with pytest.raises(PartnerInsightsValidationError) as caught:
            hook.open_secure_link(f"{redirector.url}/_blob/r.csv?sig=first")
    finally:
        redirector.close()
        elsewhere.close()
    assert caught.value.field == "secure_link"
    assert "localhost" in str(caught.value)
    assert "stolen" not in str(caught.value)
    assert elsewhere.accepted == 0


def test_redirect_within_allowed_download_hosts_is_followed(completed_execution, sb):
    from pathlib import Path

    hook, execution = completed_execution()
    redirector = _Redirector(Path(sb.ca_path).parent, execution.report_access_secure_link)
    try:
        response, data = _download(hook, f"{redirector.url}/_blob/moved.csv?sig=first")
    finally:
        redirector.close()
    assert response.status == 200
    assert hashlib.sha256(data).hexdigest() == sb.admin.expected_sha256(
        "mpn", execution.report_id, execution.execution_id
    )
