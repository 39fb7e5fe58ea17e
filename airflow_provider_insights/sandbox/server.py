"""The aiohttp application: routes, and the middleware that counts requests and injects faults."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from airflow_provider_insights.sandbox import admin, api, blobs, entra
from airflow_provider_insights.sandbox.behaviours import Behaviours
from airflow_provider_insights.sandbox.context import CONTEXT_KEY, SandboxContext, context_of, request_ids
from airflow_provider_insights.sandbox.envelope import api_base, envelope
from airflow_provider_insights.sandbox.state import SandboxState
from airflow_provider_insights.sandbox.tls import TlsMaterial, load_client_public_key

_REASONS = {
    429: "Rate limit is exceeded. Try again later.",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "<unmatched>"


def _program_of(request: web.Request) -> str:
    found = api_base(request.path)
    return found[1] if found else "mpn"


def _status_fault(request: web.Request, status: int, retry_after: Any, message: str | None) -> web.Response:
    headers = dict(request_ids(request))
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = envelope(_program_of(request), [], message=message or _REASONS.get(status, "Fault injected"), status=status)
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def fault_and_stats_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Count the request by route template, then apply delay / status / error_envelope faults.

    :param request: the request.
    :param handler: the route handler.
    """
    if request.path.startswith("/_sandbox/"):
        return await handler(request)
    ctx = context_of(request)
    ctx.stats.count_request(request.method, _route_template(request))
    path, method = request.path, request.method
    delay = ctx.faults.take("delay", path, method)
    if delay:
        ctx.stats.faults_fired["delay"] += 1
        await asyncio.sleep(float(delay.params.get("seconds", 1)))
    status = ctx.faults.take("status", path, method)
    if status:
        ctx.stats.faults_fired["status"] += 1
        return _status_fault(
            request,
            int(status.params.get("status", 503)),
            status.params.get("retry_after"),
            status.params.get("message"),
        )
    wrapped = ctx.faults.take("error_envelope", path, method)
    if wrapped:
        ctx.stats.faults_fired["error_envelope"] += 1
        body = envelope(
            _program_of(request),
            [],
            message=wrapped.params.get("message", "Bad Request"),
            status=int(wrapped.params.get("status", 400)),
        )
        return web.json_response(body, status=200, headers=request_ids(request))
    return await handler(request)


def build_context(
    state_dir: str | Path,
    tls: TlsMaterial,
    config: dict[str, Any] | None = None,
    behaviours: Behaviours | None = None,
) -> SandboxContext:
    """Load state and keys into a context.

    :param state_dir: the state directory.
    :param tls: the generated certificates.
    :param config: setting overrides applied at start.
    :param behaviours: the reading of the API to play (default: the documented profile).
    """
    client_cert = x509.load_pem_x509_certificate(tls.client_cert_path.read_bytes())
    return SandboxContext(
        state=SandboxState.load(state_dir, config),
        tls=tls,
        client_public_key=load_client_public_key(state_dir),
        client_sha256=client_cert.fingerprint(hashes.SHA256()).hex(),
        behaviours=behaviours or Behaviours(),
    )


def build_app(ctx: SandboxContext) -> web.Application:
    """The application with every route.

    :param ctx: the shared context.
    """
    app = web.Application(middlewares=[fault_and_stats_middleware], client_max_size=16 * 1024 * 1024)
    app[CONTEXT_KEY] = ctx
    admin.add_routes(app)
    blobs.add_routes(app)
    api.add_routes(app)
    entra.add_routes(app)
    return app
