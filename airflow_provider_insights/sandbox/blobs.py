"""Secure links (SAS-like, HMAC-signed, expiring) and the blob download endpoint.

The endpoint behaves like Azure Blob Storage for a pre-authorised URL: an ``Authorization``
header is refused, a bad or expired signature answers 403 AuthenticationFailed (XML body), Range
requests answer 206 with Content-Range, Content-Length is always set. Bodies stream in chunks.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from airflow_provider_insights.sandbox.context import SandboxContext, base_url, context_of
from airflow_provider_insights.sandbox.csvgen import ReportContent
from airflow_provider_insights.sandbox.reports import content_of, execution_status
from airflow_provider_insights.sandbox.state import format_time, parse_time
from airflow_provider_insights.sandbox.tokens import b64url_encode

SAS_VERSION = "2021-08-06"
CHUNK_SIZE = 1 << 20
EXECUTION_ID_LENGTH = 36  # a UUID, the end of every blob name's stem
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def blob_name(execution: dict[str, Any], style: str = "execution_id") -> str:
    """``<executionId>.<csv|tsv>``, or ``<report name>_<executionId>.<csv|tsv>`` (field notes).

    :param execution: the stored execution.
    :param style: the ``blob_name`` switch: ``execution_id`` or ``report_name``.
    """
    plain = f"{execution['executionId']}.{execution['_format']}"
    report_name = execution.get("_reportName")
    if style != "report_name" or not report_name:
        return plain
    # A slash would make a virtual folder: keep the name one path segment.
    return f"{report_name.replace('/', '-')}_{plain}"


def _sign(key: bytes, program: str, name: str, expiry: str) -> str:
    message = f"{program}/{name}\n{expiry}\nr"
    return b64url_encode(hmac.new(key, message.encode(), hashlib.sha256).digest())


def make_secure_link(ctx: SandboxContext, url: str, program: str, execution: dict[str, Any]) -> tuple[str, str, str]:
    """Return ``(secure link, location without query, expiry time)`` for a completed execution.

    :param ctx: the sandbox.
    :param url: ``https://host:port`` as the client sees us.
    :param program: ``mpn`` or ``cmp``.
    :param execution: the stored execution.
    """
    now = ctx.state.now()
    expiry = format_time(now + float(ctx.state.config["link_lifetime_s"]))
    name = blob_name(execution, ctx.behaviours["blob_name"])
    query = urlencode(
        {
            "sv": SAS_VERSION,
            "st": format_time(now - 300),
            "se": expiry,
            "sr": "b",
            "sp": "r",
            "sig": _sign(ctx.state.signing_key, program, name, expiry),
        }
    )
    # Spaces and other reserved characters in a report name arrive percent-encoded, as on Azure.
    location = f"{url}/_blob/{program}/{quote(name, safe='')}"
    return f"{location}?{query}", location, expiry


def _azure_error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}\nRequestId:sandbox\nTime:sandbox</Message></Error>"
    )
    return web.Response(
        status=status, body=body.encode(), content_type="application/xml", headers={"x-ms-error-code": code}
    )


def _authentication_failed(detail: str) -> web.Response:
    return _azure_error(
        403,
        "AuthenticationFailed",
        "Server failed to authenticate the request. Make sure the value of Authorization header "
        f"is formed correctly including the signature. {detail}",
    )


def _check_signature(ctx: SandboxContext, request: web.Request, program: str, name: str) -> str | None:
    expiry = request.query.get("se", "")
    signature = request.query.get("sig", "")
    if not expiry or not signature:
        return "Signature fields not well formed."
    if not hmac.compare_digest(_sign(ctx.state.signing_key, program, name, expiry), signature):
        return "Signature did not match."
    try:
        if parse_time(expiry) <= ctx.state.now():
            return "Signed expiry time has to be after signed start time."
    except ValueError:
        return "Signed expiry time is not well formed."
    return None


def _find_execution(ctx: SandboxContext, program: str, name: str) -> dict[str, Any] | None:
    if program not in ctx.state.programs:
        return None
    execution_id = name.rsplit(".", 1)[0][-EXECUTION_ID_LENGTH:]
    execution = ctx.state.data(program)["executions"].get(execution_id)
    if execution is None or name not in {blob_name(execution), blob_name(execution, "report_name")}:
        return None
    if execution_status(execution, ctx.state.now()) != "Completed":
        return None
    return execution


def _parse_range(header: str | None, total: int) -> tuple[int, int] | str | None:
    """``(start, end_exclusive)``, ``None`` without a Range header, ``"invalid"`` if unsatisfiable."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return "invalid"
    if not match.group(1):
        length = int(match.group(2))
        return (max(0, total - length), total)
    start = int(match.group(1))
    end = int(match.group(2)) + 1 if match.group(2) else total
    if start >= total or end <= start:
        return "invalid"
    return start, min(end, total)


class _GzipFile:
    """A gzip rendition cached on disk, so that its length is known and Range can seek in it."""

    def __init__(self, ctx: SandboxContext, program: str, content: ReportContent, name: str) -> None:
        self.path = Path(ctx.state_dir) / "blobcache" / f"{program}-{name}.gz"
        self.content = content

    def ensure(self) -> Path:
        if not self.path.exists():
            self.path.parent.mkdir(exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            with temporary.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as packed:
                for chunk in self.content.iter_bytes():
                    packed.write(chunk)
            temporary.replace(self.path)
        return self.path

    def iter_bytes(self, start: int, end: int):  # type: ignore[no-untyped-def]
        with self.path.open("rb") as handle:
            handle.seek(start)
            remaining = end - start
            while remaining > 0:
                chunk = handle.read(min(CHUNK_SIZE, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk


async def download(request: web.Request) -> web.StreamResponse:
    """``GET /_blob/{program}/{name}?...&sig=...``: the report file behind a secure link.

    :param request: the request.
    """
    ctx = context_of(request)
    program, name = request.match_info["program"], request.match_info["name"]
    if "Authorization" in request.headers:
        return _azure_error(
            403,
            "AuthorizationFailure",
            "This request is not authorized to perform this operation: a pre-authorised (SAS) "
            "link must be fetched without an Authorization header.",
        )
    problem = _check_signature(ctx, request, program, name)
    if problem is None and ctx.faults.take("expire_link", request.path, request.method):
        ctx.stats.faults_fired["expire_link"] += 1
        problem = "Signed expiry time has to be after signed start time."
    if problem:
        return _authentication_failed(problem)
    execution = _find_execution(ctx, program, name)
    if execution is None:
        return _azure_error(404, "BlobNotFound", "The specified blob does not exist.")
    content = content_of(execution)
    gzip_rule = ctx.faults.take("gzip", request.path, request.method)
    source: Any = content
    headers = {
        "Content-Type": "text/csv; charset=utf-8"
        if execution["_format"] == "csv"
        else "text/tab-separated-values; charset=utf-8",
        "Accept-Ranges": "bytes",
        "x-ms-blob-type": "BlockBlob",
        "ETag": f'"{execution["executionId"]}"',
    }
    if gzip_rule:
        ctx.stats.faults_fired["gzip"] += 1
        packed = _GzipFile(ctx, program, content, name)
        total = (await asyncio.to_thread(packed.ensure)).stat().st_size
        source = packed
        headers["Content-Encoding"] = "gzip"
    else:
        total = content.total_size
    wanted = _parse_range(request.headers.get("Range"), total)
    if wanted == "invalid":
        return web.Response(status=416, headers={"Content-Range": f"bytes */{total}"})
    start, end = wanted if isinstance(wanted, tuple) else (0, total)
    status = 206 if isinstance(wanted, tuple) else 200
    if status == 206:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{total}"
    return await _stream(request, ctx, source, start, end, status, headers)


async def _stream(
    request: web.Request, ctx: SandboxContext, source: Any, start: int, end: int, status: int, headers: dict[str, str]
) -> web.StreamResponse:
    reset_rule = ctx.faults.take("reset", request.path, request.method)
    reset_after = int(reset_rule.params.get("after_bytes", 0)) if reset_rule else None
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = end - start
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    sent = 0
    async for chunk in _prefetched(source.iter_bytes(start, end)):
        if reset_after is not None and sent + len(chunk) >= reset_after:
            await response.write(chunk[: max(0, reset_after - sent)])
            ctx.stats.faults_fired["reset"] += 1
            ctx.stats.bytes_served += max(0, reset_after - sent)
            if request.transport is not None:
                request.transport.abort()
            return response
        await response.write(chunk)
        sent += len(chunk)
        ctx.stats.bytes_served += len(chunk)
    await response.write_eof()
    return response


def _take_batch(chunks: Iterator[Any], budget: int = CHUNK_SIZE) -> list[Any]:
    batch, size = [], 0
    for chunk in chunks:
        batch.append(chunk)
        size += len(chunk)
        if size >= budget:
            break
    return batch


async def _prefetched(chunks: Iterator[Any]) -> AsyncIterator[Any]:
    """Yield ``chunks`` while the next batch is generated in a thread.

    Encryption and socket sends release the GIL, so producing the next batch overlaps with
    sending this one; only one batch is ever waiting, which bounds memory.
    """
    pending = asyncio.ensure_future(asyncio.to_thread(_take_batch, chunks))
    while True:
        batch = await pending
        if not batch:
            return
        pending = asyncio.ensure_future(asyncio.to_thread(_take_batch, chunks))
        try:
            for chunk in batch:
                yield chunk
        except GeneratorExit:
            await pending
            raise


def secure_link_base(request: web.Request) -> str:
    """The host secure links point at: the one the client connected to.

    :param request: the request.
    """
    return base_url(request)


def add_routes(app: web.Application) -> None:
    """Register the blob routes.

    :param app: the application.
    """
    app.router.add_route("GET", "/_blob/{program}/{name}", download)
    app.router.add_route("HEAD", "/_blob/{program}/{name}", download)
