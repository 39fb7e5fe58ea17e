"""HTTPS front of the reference Insights API: TLS, bearer check, fault injection, request log, secure links.

Runs a stdlib ``ThreadingHTTPServer`` in a daemon thread on loopback (starts in milliseconds). The API
is served under one base path (``/insights/v1/mpn`` by default, ``/insights/v1.1/cmp`` for CMP); report
files under ``/blobstore/...`` with an Azure-SAS-like signed query string. Written from Microsoft's pages
(see :mod:`tests.reference_api.api`); shares no code with the provider or its sandbox.

Behaviour and where it comes from:

- Every API call needs ``Authorization: Bearer <token>`` (all pages' "Request header" tables); any
  non-empty token is accepted, since tokens come from the sandbox's Entra ID emulation. Missing -> 401
  "Unauthorized" (FAQ).
- A body sent with POST/PUT must be ``application/json`` (the pages' ``Content-Type`` row); otherwise 415,
  as ASP.NET answers [INFERRED].
- ``MS-RequestId``/``MS-CorrelationId`` are echoed back when sent (Partner Center convention).
- The secure link is "pre-authorised" (community clients fetch it without a token): a request carrying
  ``Authorization`` is refused (400), a bad or expired signature answers 403 ``AuthenticationFailed``
  like Azure Blob Storage; ``Range: bytes=N-`` answers 206.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import re
import secrets
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from tests.reference_api.api import ApiResponse, ReferenceApi, ReferenceSettings, dump, format_time, sign
from tests.reference_api.certs import ServerCertificate

BASE_PATHS = {"mpn": "/insights/v1/mpn", "cmp": "/insights/v1.1/cmp"}
BLOB_PREFIX = "/blobstore/reports/"
FAULT_KINDS = ("status", "error_envelope", "drop", "reset")


@dataclass
class Fault:
    """One injected failure.

    :param kind: ``status`` (an HTTP error, e.g. 429 with ``Retry-After``, 500, 503), ``error_envelope``
        (HTTP 200 whose body says ``statusCode`` 400), ``drop`` (headers and part of the body, then the
        connection closes) or ``reset`` (the connection closes before any byte of the answer).
    :param status: HTTP status for ``status``; envelope ``statusCode`` for ``error_envelope``.
    :param retry_after: value of the ``Retry-After`` header, if any.
    :param message: the message in the body.
    :param path: regex searched in the request path; None matches every path.
    :param method: HTTP method to match; None matches all.
    :param count: how many requests it hits.
    :param after_bytes: for ``drop``: body bytes sent before closing (default: half the body).
    """

    kind: str
    status: int = 500
    retry_after: int | None = None
    message: str = "Injected fault"
    path: str | None = None
    method: str | None = None
    count: int = 1
    after_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}")

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to the request."""
        return (self.method is None or self.method.upper() == method.upper()) and (
            self.path is None or re.search(self.path, path) is not None
        )


class FaultQueue:
    """Faults waiting to fire, first added first used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Fault] = []
        self.fired: list[tuple[str, str, str]] = []  # (kind, method, path)

    def add(self, kind: str | Fault, **options: Any) -> Fault:
        """Queue a fault: ``faults.add("status", status=429, retry_after=0, path="ScheduledQueries")``."""
        fault = kind if isinstance(kind, Fault) else Fault(kind=kind, **options)
        with self._lock:
            self._pending.append(fault)
        return fault

    def clear(self) -> None:
        """Forget pending and fired faults."""
        with self._lock:
            self._pending.clear()
            self.fired.clear()

    @property
    def pending(self) -> list[Fault]:
        """Faults not used up yet."""
        with self._lock:
            return list(self._pending)

    def take(self, method: str, path: str) -> Fault | None:
        """The fault that applies to this request, counting it used."""
        with self._lock:
            for fault in self._pending:
                if fault.matches(method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._pending.remove(fault)
                    self.fired.append((fault.kind, method, path))
                    return fault
        return None


@dataclass
class RecordedRequest:
    """One request as the server saw it.

    :param method: HTTP method.
    :param path: the path, without query string.
    :param query: parameters as sent (original names), each with its values.
    :param headers: header names lower-cased.
    :param body: the parsed JSON body, if any.
    :param fault: the kind of fault answered instead of the normal answer, if any.
    :param status: the status answered (None for a connection closed before answering).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any = None
    fault: str | None = None
    status: int | None = None

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (exact name as sent)."""
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def is_download(self) -> bool:
        """Whether this was a secure-link GET."""
        return self.path.startswith(BLOB_PREFIX)


class RequestLog:
    """Thread-safe list of :class:`RecordedRequest`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def append(self, item: RecordedRequest) -> None:
        """Record a request."""
        with self._lock:
            self._items.append(item)

    def clear(self) -> None:
        """Forget every request."""
        with self._lock:
            self._items.clear()

    def __iter__(self) -> Iterator[RecordedRequest]:
        with self._lock:
            return iter(list(self._items))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __getitem__(self, index: int) -> RecordedRequest:
        with self._lock:
            return self._items[index]

    def matching(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Requests with this method and whose path matches the regex ``path`` (searched, case-insensitive)."""
        return [
            item
            for item in self
            if (method is None or item.method == method.upper())
            and (path is None or re.search(path, item.path, re.IGNORECASE))
        ]

    @property
    def api(self) -> list[RecordedRequest]:
        """API calls only (no downloads)."""
        return [item for item in self if not item.is_download]

    @property
    def downloads(self) -> list[RecordedRequest]:
        """Secure-link GETs only."""
        return [item for item in self if item.is_download]


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    reference: ReferenceServer
    ssl_context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs here, in the connection's own thread, so a slow client blocks nobody.
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        except (ssl.SSLError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Client disconnects are expected (faults, retries): stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid delayed-ACK stalls
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr; the test reads :class:`RequestLog`."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def _serve(self) -> None:
        self.server.reference.serve(self)

    def send_response(self, code: int, message: str | None = None) -> None:
        # Record the status before any byte leaves: a client may read the log as soon as it has the answer.
        record = getattr(self, "current_record", None)
        if record is not None:
            record.status = code
        super().send_response(code, message)


class ReferenceServer:
    """The reference Insights API over HTTPS on loopback.

    :param certificate: TLS material (see :func:`tests.reference_api.certs.generate_server_certificate`).
    :param program: ``mpn`` or ``cmp``.
    :param base_path: the API base path; by default ``/insights/v1/mpn`` or ``/insights/v1.1/cmp``.
    :param host: address to bind (loopback).
    :param settings: initial :class:`ReferenceSettings` values.
    """

    def __init__(
        self,
        *,
        certificate: ServerCertificate,
        program: str = "mpn",
        base_path: str | None = None,
        host: str = "127.0.0.1",
        **settings: Any,
    ):
        self.certificate = certificate
        self.host = host
        self.base_path = (base_path or BASE_PATHS[program]).rstrip("/")
        self.faults = FaultQueue()
        self.requests = RequestLog()
        self._link_key = secrets.token_bytes(32)
        self.api = ReferenceApi(
            base_url_getter=lambda: self.base_url,
            link_maker=self._make_link,
            settings=ReferenceSettings(program=program, **settings),
        )
        self._httpd: _TLSServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------ lifecycle
    def start(self) -> ReferenceServer:
        """Bind a free port and serve in a daemon thread."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.certificate.cert_path), str(self.certificate.key_path))
        httpd = _TLSServer((self.host, 0), _Handler)
        httpd.reference = self
        httpd.ssl_context = context
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="reference-insights-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------ addresses
    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("reference server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``https://127.0.0.1:PORT``."""
        return f"https://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. ``https://127.0.0.1:PORT/insights/v1/mpn``."""
        return f"{self.url}{self.base_path}"

    @property
    def ca_path(self) -> Path:
        """PEM of the CA that signed the server certificate."""
        return self.certificate.ca_path

    @property
    def blob_host(self) -> str:
        """Host of the secure links (the same server, another path)."""
        return self.host

    # ------------------------------------------------------------------------------ administration
    def configure(self, *, base_path: str | None = None, **settings: Any) -> None:
        """Change the base path and/or :class:`ReferenceSettings` at run time."""
        if base_path is not None:
            self.base_path = base_path.rstrip("/")
        elif "program" in settings:
            self.base_path = BASE_PATHS[settings["program"]]
        if settings:
            self.api.configure(**settings)

    def reset(self) -> None:
        """Clear state, faults and the request log; restore default settings of the current program."""
        program = self.api.settings.program
        self.api.settings = ReferenceSettings(program=program)
        self.api.reset()
        self.faults.clear()
        self.requests.clear()
        self._link_key = secrets.token_bytes(32)

    def expire_links(self) -> None:
        """Invalidate every secure link handed out so far (they answer 403 from now on)."""
        self._link_key = secrets.token_bytes(32)

    def connection(self, token_conn: dict[str, Any], *, bundle_dir: Path | None = None) -> dict[str, Any]:
        """An Airflow connection dict that gets tokens like ``token_conn`` but calls this server.

        Keeps ``token_conn``'s login, password, tenant, authority and credentials; points ``api_base_url``
        here, ``program`` at this server's program, ``allowed_download_hosts`` at :attr:`blob_host`, and
        ``verify`` at a bundle trusting both ``token_conn``'s CA and this server's CA.

        :param token_conn: a connection dict such as the sandbox's ``connection()`` returns.
        :param bundle_dir: where to write the combined CA bundle (default: next to this server's CA).
        """
        conn = copy.deepcopy(token_conn)
        extra = conn.get("extra") or {}
        extra = json.loads(extra) if isinstance(extra, str) else dict(extra)
        pems = [self.ca_path.read_bytes()]
        token_verify = extra.get("verify")
        if (
            isinstance(token_verify, str)
            and token_verify.lower() not in ("true", "false", "")
            and Path(token_verify).is_file()
        ):
            pems.insert(0, Path(token_verify).read_bytes())
        bundle = (bundle_dir or self.ca_path.parent) / f"trust-{self.port}.pem"
        bundle.write_bytes(b"\n".join(pem.rstrip(b"\n") + b"\n" for pem in pems))
        extra.update(
            {
                "api_base_url": self.base_url,
                "program": self.api.settings.program,
                "verify": str(bundle),
                "allowed_download_hosts": self.blob_host,
            }
        )
        conn["extra"] = extra
        return conn

    def _make_link(self, report_id: str, execution_id: str, report_format: str, expiry: datetime.datetime) -> str:
        path = f"{BLOB_PREFIX}{report_id}/{execution_id}.{report_format}"
        expiry_text = format_time(expiry)
        params = {
            "sv": "2021-08-06",
            "sr": "b",
            "sp": "r",
            "se": expiry_text,
            "sig": sign(self._link_key, path, expiry_text),
        }
        return f"{self.url}{path}?{urlencode(params, quote_via=quote)}"

    # ------------------------------------------------------------------------------ serving
    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer one request (called in the connection's thread)."""
        parts = urlsplit(handler.path)
        query_pairs = parse_qsl(parts.query, keep_blank_values=True)
        record = RecordedRequest(
            method=handler.command,
            path=parts.path,
            query={name: [v for n, v in query_pairs if n == name] for name, _ in query_pairs},
            headers={name.lower(): value for name, value in handler.headers.items()},
        )
        raw_body = self._read_body(handler)
        if raw_body:
            try:
                record.body = json.loads(raw_body)
            except ValueError:
                record.body = raw_body.decode("utf-8", "replace")
        fault = self.faults.take(handler.command, parts.path)
        record.fault = fault.kind if fault is not None else None
        handler.current_record = record  # type: ignore[attr-defined]
        self.requests.append(record)
        if fault is not None:
            self._send_fault(handler, fault)
        elif parts.path.startswith(BLOB_PREFIX):
            self._serve_download(handler, parts.path, dict(query_pairs))
        else:
            self._serve_api(handler, parts.path, query_pairs, raw_body, record)

    @staticmethod
    def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length > 0 else b""

    def _serve_api(
        self,
        handler: BaseHTTPRequestHandler,
        path: str,
        query_pairs: list[tuple[str, str]],
        raw_body: bytes,
        record: RecordedRequest,
    ) -> int:
        prefix = self.base_path.lower() + "/"
        if not path.lower().startswith(prefix):
            return self._send_json(handler, ApiResponse(404, {"message": "Resource not found"}))
        if not re.match(r"^Bearer\s+\S+", handler.headers.get("Authorization") or ""):
            response = self.api.error(401, "Unauthorized")
            response.headers["WWW-Authenticate"] = "Bearer"
            return self._send_json(handler, response)
        if raw_body and "application/json" not in (handler.headers.get("Content-Type") or "").lower():
            return self._send_json(handler, ApiResponse(415, {"message": "Unsupported Media Type"}))
        if raw_body and not isinstance(record.body, (dict, list)):
            return self._send_json(handler, self.api.error(400, "Null or missing value"))
        query = {name.lower(): value for name, value in query_pairs}
        response = self.api.handle(handler.command, path[len(prefix) :], query, record.body)
        return self._send_json(handler, response)

    def _common_headers(self, handler: BaseHTTPRequestHandler) -> dict[str, str]:
        headers = {}
        for name in ("MS-RequestId", "MS-CorrelationId"):
            value = handler.headers.get(name)
            if value:
                headers[name] = value
        return headers

    def _send_json(self, handler: BaseHTTPRequestHandler, response: ApiResponse) -> int:
        payload = dump(response.body)
        handler.send_response(response.status)
        for name, value in {**self._common_headers(handler), **response.headers}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)
        return response.status

    def _send_fault(self, handler: BaseHTTPRequestHandler, fault: Fault) -> int | None:
        if fault.kind == "reset":
            self._close(handler)
            return None
        if fault.kind == "error_envelope":
            body = self.api.envelope([], message=fault.message, status=fault.status)
            return self._send_json(handler, ApiResponse(200, body))
        if fault.kind == "status":
            body = self.api.envelope([], message=fault.message, status=fault.status)
            headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            return self._send_json(handler, ApiResponse(fault.status, body, headers))
        return self._send_dropped(handler, fault)

    def _send_dropped(self, handler: BaseHTTPRequestHandler, fault: Fault) -> int:
        """Announce a full body, send part of it, then close: the client sees the connection drop mid-response."""
        parts = urlsplit(handler.path)
        payload = self._payload_for_drop(handler, parts)
        cut = fault.after_bytes if fault.after_bytes is not None else len(payload) // 2
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload[:cut])
        handler.wfile.flush()
        self._close(handler)
        return 200

    def _payload_for_drop(self, handler: BaseHTTPRequestHandler, parts: Any) -> bytes:
        match = re.match(rf"^{re.escape(BLOB_PREFIX)}([^/]+)/([^/.]+)\.", parts.path)
        if match:
            try:
                return self.api.report_bytes(match[1], match[2])
            except KeyError:
                pass
        return dump(self.api.envelope([{"padding": "x" * 256}], message=None))

    @staticmethod
    def _close(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        try:
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ------------------------------------------------------------------------------ secure links
    def _serve_download(self, handler: BaseHTTPRequestHandler, path: str, params: dict[str, str]) -> int:
        if handler.headers.get("Authorization"):
            return self._send_blob_error(
                handler,
                400,
                "InvalidAuthenticationInfo",
                "A pre-authorised link must not carry an Authorization header.",
            )
        expiry_text = params.get("se", "")
        expected = sign(self._link_key, path, expiry_text)
        if not secrets.compare_digest(params.get("sig", ""), expected):
            return self._send_blob_error(handler, 403, "AuthenticationFailed", "Signature did not match.")
        if expiry_text < format_time(datetime.datetime.now(datetime.timezone.utc)):
            return self._send_blob_error(handler, 403, "AuthenticationFailed", "Signed expiry time has passed.")
        match = re.match(rf"^{re.escape(BLOB_PREFIX)}([^/]+)/([^/.]+)\.(csv|tsv)$", path)
        try:
            data = self.api.report_bytes(match[1], match[2]) if match else None
        except KeyError:
            data = None
        if data is None:
            return self._send_blob_error(handler, 404, "BlobNotFound", "The specified blob does not exist.")
        return self._send_blob(handler, data, "text/tab-separated-values" if path.endswith(".tsv") else "text/csv")

    def _send_blob(self, handler: BaseHTTPRequestHandler, data: bytes, content_type: str) -> int:
        status, start = 200, 0
        range_header = handler.headers.get("Range")
        if range_header:
            match = re.match(r"^bytes=(\d+)-$", range_header.strip())
            if not match or int(match[1]) >= len(data):
                return self._send_blob_error(handler, 416, "InvalidRange", "The range specified is invalid.")
            status, start = 206, int(match[1])
        body = data[start:]
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("x-ms-blob-type", "BlockBlob")
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)
        return status

    @staticmethod
    def _send_blob_error(handler: BaseHTTPRequestHandler, status: int, code: str, message: str) -> int:
        payload = (
            f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
        ).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/xml")
        handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("x-ms-error-code", code)
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)
        return status
