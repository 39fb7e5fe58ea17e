"""Admin routes under ``/_sandbox/`` (no auth): faults, stats, settings, profile, clock, raw state, digests."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from airflow_provider_insights.sandbox import credentials as cred
from airflow_provider_insights.sandbox.context import base_url, context_of
from airflow_provider_insights.sandbox.reports import content_of, execution_status, run_schedules
from airflow_provider_insights.sandbox.state import PROGRAMS

TABLES = ("queries", "reports", "executions")


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def health(request: web.Request) -> web.Response:
    """``GET /_sandbox/health``."""
    ctx = context_of(request)
    return web.json_response({"status": "ok", "url": base_url(request), "now": ctx.state.now()})


async def get_faults(request: web.Request) -> web.Response:
    """``GET /_sandbox/faults``: the remaining rules."""
    return web.json_response(context_of(request).faults.to_list())


async def set_faults(request: web.Request) -> web.Response:
    """``PUT /_sandbox/faults`` (replace) or ``POST /_sandbox/faults`` (append): a JSON list of rules."""
    ctx = context_of(request)
    specs = await request.json()
    if isinstance(specs, dict):
        specs = [specs]
    try:
        (ctx.faults.set if request.method == "PUT" else ctx.faults.add)(specs)
    except (ValueError, TypeError) as err:
        return _bad_request(str(err))
    return web.json_response(ctx.faults.to_list())


async def clear_faults(request: web.Request) -> web.Response:
    """``DELETE /_sandbox/faults``."""
    context_of(request).faults.clear()
    return web.json_response([])


async def get_stats(request: web.Request) -> web.Response:
    """``GET /_sandbox/stats``."""
    return web.json_response(context_of(request).stats.to_dict())


async def reset_stats(request: web.Request) -> web.Response:
    """``DELETE /_sandbox/stats``."""
    ctx = context_of(request)
    ctx.stats.reset()
    return web.json_response(ctx.stats.to_dict())


async def get_config(request: web.Request) -> web.Response:
    """``GET /_sandbox/config``."""
    return web.json_response(context_of(request).state.config)


async def configure(request: web.Request) -> web.Response:
    """``POST /_sandbox/config``: override settings (JSON object)."""
    ctx = context_of(request)
    try:
        return web.json_response(ctx.state.configure(await request.json()))
    except KeyError as err:
        return _bad_request(str(err.args[0]))


async def reset_config(request: web.Request) -> web.Response:
    """``DELETE /_sandbox/config``: back to the settings the server started with."""
    return web.json_response(context_of(request).state.reset_config())


async def get_profile(request: web.Request) -> web.Response:
    """``GET /_sandbox/profile``: the profile in force, every switch, and those overridden."""
    return web.json_response(context_of(request).behaviours.to_dict())


async def set_profile(request: web.Request) -> web.Response:
    """``POST /_sandbox/profile`` with ``{"profile": "field"}`` and/or ``{"switches": {name: value}}``.

    A profile sets every switch to its value there; ``switches`` then override single behaviours
    (without ``profile``, on top of the current values). Nothing changes if anything is refused.
    """
    behaviours = context_of(request).behaviours
    body = await request.json()
    if not isinstance(body, dict) or set(body) - {"profile", "switches"} or not body:
        return _bad_request('expected {"profile": "documented" | "field", "switches": {name: value}}')
    try:
        behaviours.use(body.get("profile"), body.get("switches") or {})
    except ValueError as err:
        return _bad_request(str(err))
    return web.json_response(behaviours.to_dict())


async def reset_profile(request: web.Request) -> web.Response:
    """``DELETE /_sandbox/profile``: back to the profile and switches the server started with."""
    behaviours = context_of(request).behaviours
    behaviours.reset()
    return web.json_response(behaviours.to_dict())


async def get_clock(request: web.Request) -> web.Response:
    """``GET /_sandbox/clock``."""
    state = context_of(request).state
    return web.json_response({"now": state.now(), "offset": state.clock_offset})


async def advance_clock(request: web.Request) -> web.Response:
    """``POST /_sandbox/clock`` with ``{"advance": seconds}``; recurring schedules catch up."""
    ctx = context_of(request)
    body = await request.json()
    try:
        seconds = float(body["advance"])
    except (KeyError, TypeError, ValueError):
        return _bad_request('expected {"advance": seconds}')
    if seconds < 0:
        return _bad_request("the clock only moves forward")
    ctx.state.advance_clock(seconds)
    for program in PROGRAMS:
        run_schedules(ctx, program, request.path, request.method)
    return web.json_response({"now": ctx.state.now(), "offset": ctx.state.clock_offset})


async def raw_table(request: web.Request) -> web.Response:
    """``GET /_sandbox/state/{program}/{table}``: stored queries, reports or executions (with status)."""
    ctx = context_of(request)
    program, table = request.match_info["program"], request.match_info["table"]
    if program not in PROGRAMS or table not in TABLES:
        return _bad_request(f"program must be one of {PROGRAMS} and table one of {TABLES}")
    run_schedules(ctx, program, request.path, request.method)
    items = [dict(item) for item in ctx.state.data(program)[table].values()]
    if table == "executions":
        now = ctx.state.now()
        for item in items:
            item["executionStatus"] = execution_status(item, now)
    return web.json_response(items)


async def wipe(request: web.Request) -> web.Response:
    """``POST /_sandbox/reset``: forget every query, report and execution."""
    ctx = context_of(request)
    ctx.state.wipe()
    ctx.sha_cache.clear()
    return web.json_response({"status": "wiped"})


async def expected_sha256(request: web.Request) -> web.Response:
    """``GET /_sandbox/sha256/{program}/{reportId}/{executionId}``: digest of the decoded file."""
    ctx = context_of(request)
    program = request.match_info["program"]
    if program not in PROGRAMS:
        return _bad_request(f"program must be one of {PROGRAMS}")
    execution = ctx.state.data(program)["executions"].get(request.match_info["executionId"])
    if execution is None or execution["reportId"] != request.match_info["reportId"]:
        return web.json_response({"error": "no such execution"}, status=404)
    key = f"{program}/{execution['executionId']}"
    if key not in ctx.sha_cache:
        content = content_of(execution)
        ctx.sha_cache[key] = await asyncio.to_thread(content.sha256)
    content = content_of(execution)
    return web.json_response({"sha256": ctx.sha_cache[key], "bytes": content.total_size, "rows": content.rows})


async def connection(request: web.Request) -> web.Response:
    """``GET /_sandbox/connection?program=&auth_type=``: the Airflow connection dict."""
    ctx = context_of(request)
    try:
        conn = cred.build_connection(
            url=base_url(request),
            ca_path=ctx.tls.ca_path,
            state_dir=ctx.state_dir,
            program=request.query.get("program", "mpn"),
            auth_type=request.query.get("auth_type", "client_credentials"),
        )
    except ValueError as err:
        return _bad_request(str(err))
    return web.json_response(conn)


def add_routes(app: web.Application) -> None:
    """Register the admin routes.

    :param app: the application.
    """
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/_sandbox/health", health),
        ("GET", "/_sandbox/faults", get_faults),
        ("PUT", "/_sandbox/faults", set_faults),
        ("POST", "/_sandbox/faults", set_faults),
        ("DELETE", "/_sandbox/faults", clear_faults),
        ("GET", "/_sandbox/stats", get_stats),
        ("DELETE", "/_sandbox/stats", reset_stats),
        ("GET", "/_sandbox/config", get_config),
        ("POST", "/_sandbox/config", configure),
        ("DELETE", "/_sandbox/config", reset_config),
        ("GET", "/_sandbox/profile", get_profile),
        ("POST", "/_sandbox/profile", set_profile),
        ("DELETE", "/_sandbox/profile", reset_profile),
        ("GET", "/_sandbox/clock", get_clock),
        ("POST", "/_sandbox/clock", advance_clock),
        ("GET", "/_sandbox/state/{program}/{table}", raw_table),
        ("POST", "/_sandbox/reset", wipe),
        ("GET", "/_sandbox/sha256/{program}/{reportId}/{executionId}", expected_sha256),
        ("GET", "/_sandbox/connection", connection),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
