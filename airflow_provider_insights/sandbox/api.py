"""The Insights API (MPN and CMP): the 12 endpoints, with the service's messages and rules."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from airflow_provider_insights.sandbox import catalog
from airflow_provider_insights.sandbox.blobs import make_secure_link
from airflow_provider_insights.sandbox.context import SandboxContext, base_url, context_of
from airflow_provider_insights.sandbox.csvgen import ReportContent
from airflow_provider_insights.sandbox.envelope import (
    INVALID_QUERY_ID,
    MISSING_VALUE,
    NO_EXECUTIONS,
    NO_ITEM,
    ApiError,
    api_base,
    api_error,
    api_response,
)
from airflow_provider_insights.sandbox.query_grammar import QueryError, parse_query
from airflow_provider_insights.sandbox.reports import (
    create_execution,
    execution_status,
    generated_time,
    lower_keys,
    new_report,
    public,
    run_schedules,
    update_report,
)
from airflow_provider_insights.sandbox.state import format_time
from airflow_provider_insights.sandbox.tokens import TokenError, verify_access_token

RESOURCE = "https://api.partnercenter.microsoft.com"
EXECUTION_STATUSES = ("Pending", "Running", "Paused", "Completed", "Failed")
APP_ONLY_REFUSED = (
    "Forbidden: the access token is app-only (client_credentials). Partner Insights APIs need App+User "
    "authentication: sign in as a user who holds the Executive Report Viewer role and use that user's token."
)
MPN_ONLY_PARAMETER = "Invalid parameters - {name} is not a supported parameter for this API"
LIST_REFUSED = "Bad Request - {name} accepts a single value"
Handler = Callable[[web.Request, SandboxContext, str, dict[str, Any]], Awaitable[web.StreamResponse]]


def _unauthorized(request: web.Request, program: str, reason: str, code: str | None = None) -> web.Response:
    response = api_response(
        request,
        program,
        [],
        message="Unauthorized",
        status=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )
    body = json.loads(response.text or "{}")
    body["reason"] = reason
    if code:
        body["code"] = code
    response.text = json.dumps(body)
    return response


def _authorize(request: web.Request, ctx: SandboxContext, program: str) -> dict[str, Any] | web.Response:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized(request, program, "no bearer token")
    try:
        claims = verify_access_token(ctx.state.signing_key, token.strip(), now=ctx.state.now(), resource=RESOURCE)
    except TokenError as err:
        return _unauthorized(request, program, err.reason, err.code)
    if ctx.faults.take("expire_token", request.path, request.method):
        ctx.stats.faults_fired["expire_token"] += 1
        return _unauthorized(request, program, "the access token has expired")
    if (
        program == "mpn"
        and claims.get("grant") == "client_credentials"
        and ctx.behaviours["mpn_app_only_token"] == "refuse"
    ):
        return api_error(request, program, 403, APP_ONLY_REFUSED)
    return claims


def api_route(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap an API handler: program from the path, bearer check, schedules run, ApiError answered.

    :param handler: ``handler(request, ctx, program, claims)``.
    """

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        ctx = context_of(request)
        found = api_base(request.path)
        program = found[1] if found else "mpn"
        claims = _authorize(request, ctx, program)
        if isinstance(claims, web.Response):
            return claims
        run_schedules(ctx, program, request.path, request.method)
        try:
            return await handler(request, ctx, program, claims)
        except ApiError as err:
            return api_error(request, program, err.status, err.message)

    return wrapper


def _bool_param(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ApiError(400, f"The value '{raw}' is not valid for {name}.")


def _page(request: web.Request, ctx: SandboxContext, items: list[Any]) -> tuple[list[Any], str | None]:
    """Cut one page out of ``items`` and build the nextLink (absolute or relative to the base URL)."""
    size = max(1, int(ctx.state.config["page_size"]))
    try:
        skip = max(0, int(request.query.get("skipToken", "0") or 0))
    except ValueError as err:
        raise ApiError(400, "The value of skipToken is not valid.") from err
    page = items[skip : skip + size]
    if skip + size >= len(items):
        return page, None
    params = [(k, v) for k, v in request.query.items() if k != "skipToken"] + [("skipToken", str(skip + size))]
    found = api_base(request.path)
    base = found[0] if found else ""
    relative = f"{request.path[len(base) + 1 :]}?{urlencode(params)}"
    style = ctx.state.config["next_link_style"]
    next_page_number = (skip + size) // size
    absolute = style == "absolute" or (style == "alternate" and next_page_number % 2 == 1)
    return page, (f"{base_url(request)}{base}/{relative}" if absolute else relative)


def _listing(
    request: web.Request, ctx: SandboxContext, program: str, items: list[Any], message: str | None
) -> web.Response:
    if not items and int(ctx.state.config["empty_list_status"]) == 404:
        return api_error(request, program, 404, NO_ITEM)
    page, next_link = _page(request, ctx, items)
    return api_response(request, program, page, message=message, next_link=next_link)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, "Invalid request body: not valid JSON") from err
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid request body: expected a JSON object")
    return lower_keys(body)


# ---- datasets ------------------------------------------------------------------------------------------


@api_route
async def list_datasets(
    request: web.Request, ctx: SandboxContext, program: str, claims: dict[str, Any]
) -> web.StreamResponse:
    """``GET ScheduledDataset?datasetName=``."""
    wanted = request.query.get("datasetName")
    specs = catalog.DATASETS[program]
    if wanted:
        specs = tuple(spec for spec in specs if spec.name.lower() == wanted.lower())
    return _listing(request, ctx, program, [spec.to_api(program) for spec in specs], "Dataset fetched successfully")


# ---- queries -------------------------------------------------------------------------------------------


def _all_queries(ctx: SandboxContext, program: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system = [catalog.system_query_item(query) for query in catalog.SYSTEM_QUERIES[program]]
    user = sorted(ctx.state.data(program)["queries"].values(), key=lambda q: (q["createdTime"], q["queryId"]))
    return system, list(user)


def find_query(ctx: SandboxContext, program: str, query_id: str) -> dict[str, Any] | None:
    """A user or system query by id (case-insensitive).

    :param ctx: the sandbox.
    :param program: ``mpn`` or ``cmp``.
    :param query_id: the id.
    """
    stored = ctx.state.data(program)["queries"]
    for key, value in stored.items():
        if key.lower() == query_id.lower():
            return dict(value)
    system = catalog.find_system_query(program, query_id)
    return catalog.system_query_item(system) if system else None


@api_route
async def list_queries(
    request: web.Request, ctx: SandboxContext, program: str, claims: dict[str, Any]
) -> web.StreamResponse:
    """``GET ScheduledQueries?queryId=&queryName=&includeSystemQueries=&includeOnlySystemQueries=``."""
    include_system = _bool_param(request, "includeSystemQueries", True)
    only_system = _bool_param(request, "includeOnlySystemQueries", False)
    system, user = _all_queries(ctx, program)
    items = system if only_system else (system if include_system else []) + user
    query_id = request.query.get("queryId")
    if query_id:
        items = [q for q in items if q["queryId"].lower() == query_id.lower()]
    name = request.query.get("queryName")
    if name:
        items = [q for q in items if q["name"].lower() == name.lower()]
    return _listing(request, ctx, program, items, "Queries fetched successfully")


@api_route
async def create_query(
    request: web.Request, ctx: SandboxContext, program: str, claims: dict[str, Any]
) -> web.StreamResponse:
    """``POST ScheduledQueries`` with ``Name``, ``Description``, ``Query``."""
    body = await _json_body(request)
    name, text = body.get("name"), body.get("query")
    if not name or not text or not str(name).strip() or not str(text).strip():
        raise ApiError(400, MISSING_VALUE)
    try:
        parse_query(program, str(text))
    except QueryError as err:
        raise ApiError(400, str(err)) from err
    now = format_time(ctx.state.now())
    item = {
        "queryId": str(uuid.uuid4()),
        "name": str(name).strip(),
        "description": body.get("description"),
        "query": str(text).strip(),
        "type": "userDefined",
        "user": claims["sub"],
        "createdTime": now,
        "modifiedTime": None,
    }
    ctx.state.data(program)["queries"][item["queryId"]] = item
    ctx.state.save()
    return api_response(request, program, [item], message="Query created successfully")


@api_route
async def delete_query(
    request: web.Request, ctx: SandboxContext, program: str, claims: dict[str, Any]
) -> web.StreamResponse:
    """``DELETE ScheduledQueries/{queryId}`` (user-defined queries only)."""
    query_id = request.match_info["queryId"]
    stored = ctx.state.data(program)["queries"]
    key = next((k for k in stored if k.lower() == query_id.lower()), None)
    if key is None:
        if catalog.find_system_query(program, query_id):
            raise ApiError(400, "System queries cannot be deleted")
        raise ApiError(404, NO_ITEM)
    item = stored.pop(key)
    ctx.state.save()
    return api_response(request, program, [{**item, "modifiedTime": None}], message="Query deleted successfully")


@api_route
async def test_query(
    request: web.Request, ctx: SandboxContext, program: str, claims: dict[str, Any]
) -> web.StreamResponse:
    """``GET ScheduledQueries/testQueryResult?exportQuery=`` or ``?queryId=`` (+ startTime/endTime)."""
    text, query_id = request.query.get("exportQuery"), request.query.get("queryId")
    if program == "cmp" and ctx.behaviours["cmp_test_query_window"] == "reject":
        for name in ("startTime", "endTime"):
            if name in request.query:
                raise ApiError(400, MPN_ONLY_PARAMETER.format(name=name))
    if text and query_id:
        raise ApiError(400, "Invalid parameters - provide either exportQuery or queryId, not both")
    if query_id:
        query = find_query(ctx, program, query_id)
        if query is None:
            raise ApiError(400, INVALID_QUERY_ID)
        text = query["query"]
    if not text:
        raise ApiError(400, MISSING_VALUE)
    try:
        parsed = parse_query(program, text)
    except QueryError as err:
        raise ApiError(400, str(err)) from err
    limit = min(int(ctx.state.config["test_query_rows"]), parsed.limit or 100, 100)
    content = ReportContent(parsed.columns, "csv", limit, seed=text.lower(), metrics=parsed.dataset.metrics)
    return api_response(request, program, content.sample_rows(limit), message=None)


# ---- reports -------------------------------------------------------------------------------------------


def _report_item(report: dict[str, Any]) -> dict[str, Any]:
    return public(report)


def _stored_report(ctx: SandboxContext, program: str, report_id: str) -> dict[str, Any]:
    reports = ctx.state.data(program)["reports"]
    for key, value in reports.items():
        if key.lower() == report_id.lower():
            return value
    raise ApiError(404, NO_ITEM)


def _check_mpn_only_fields(ctx: SandboxContext, program: str, body: dict[str, Any]) -> None:
    """Refuse ``CallbackMethod`` on cmp (documented for mpn only) when the switch says so."""
    if program == "cmp" and "callbackmethod" in body and ctx.behaviours["cmp_callback_method"] == "reject":
        raise ApiError(400, MPN_ONLY_PARAMETER.format(name="CallbackMethod"))


@api_route
async def create_report(
    request: web.Request, ctx: SandboxContext, program: str, claims: dict[str, Any]
) -> web.StreamResponse:
    """``POST ScheduledReport``."""
    body = await _json_body(request)
    _check_mpn_only_fields(ctx, program, body)
    if not body.get("reportname") or not body.get("queryid"):
        raise ApiError(400, MISSING_VALUE)
    query = find_query(ctx, program, str(body["queryid"]))
    if query is None:
        raise ApiError(400, INVALID_QUERY_ID)
    now = ctx.state.now()
    report = new_report(body, query=query, user=claims["sub"], now=now, program=program)
    ctx.state.data(program)["reports"][report["reportId"]] = report
    if report["executeNow"]:
        create_execution(ctx, program, report, now, request.path, request.method)
        report["_created"] = 1
    ctx.state.save()
    return api_response(request, program, [_report_item(report)], message="Report created successfully")


@api_route
async def list_reports(
    request: web.Request, ctx: SandboxContext, program: str, claims: dict[str, Any]
) -> web.StreamResponse:
    """``GET ScheduledReport?reportId=&reportName=&queryId=``."""
    items = sorted(ctx.state.data(program)["reports"].values(), key=lambda r: (r["createdTime"], r["reportId"]))
    for param, field in (("reportId", "reportId"), ("reportName", "reportName"), ("queryId", "queryId")):
        wanted = request.query.get(param)
        if wanted:
            items = [r for r in items if str(r.get(field) or "").lower() == wanted.lower()]
    return _listing(request, ctx, program, [_report_item(r) for r in items], "Reports fetched successfully")


@api_route
async def update_report_route(
    request: web.Request, ctx: SandboxContext, program: str, claims: dict[str, Any]
) -> web.StreamResponse:
    """``PUT ScheduledReport/{reportId}``."""
    report = _stored_report(ctx, program, request.match_info["reportId"])
    body = await _json_body(request)
    _check_mpn_only_fields(ctx, program, body)
    update_report(report, body, now=ctx.state.now(), program=program)
    ctx.state.save()
    return api_response(request, program, [_report_item(report)], message="Report updated successfully")


@api_route
async def delete_report(
    request: web.Request, ctx: SandboxContext, program: str, claims: dict[str, Any]
) -> web.StreamResponse:
    """``DELETE ScheduledReport/{reportId}``: the report and all of its executions."""
    report = _stored_report(ctx, program, request.match_info["reportId"])
    data = ctx.state.data(program)
    del data["reports"][report["reportId"]]
    for execution_id in [k for k, e in data["executions"].items() if e["reportId"] == report["reportId"]]:
        del data["executions"][execution_id]
    ctx.state.save()
    return api_response(request, program, [_report_item(report)], message="Report deleted successfully")


def _set_status(status: str, message: str) -> Handler:
    async def handler(
        request: web.Request, ctx: SandboxContext, program: str, claims: dict[str, Any]
    ) -> web.StreamResponse:
        report = _stored_report(ctx, program, request.match_info["reportId"])
        if report["reportStatus"] != "Inactive":
            report["reportStatus"] = status
        report["modifiedTime"] = format_time(ctx.state.now())
        ctx.state.save()
        return api_response(request, program, [_report_item(report)], message=message)

    handler.__name__ = f"set_{status.lower()}"
    return handler


pause_report = api_route(_set_status("Paused", "Report paused successfully"))
resume_report = api_route(_set_status("Active", "Report resumed successfully"))


# ---- executions ----------------------------------------------------------------------------------------


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]


def _statuses(request: web.Request) -> set[str]:
    wanted = _split(request.query.get("executionStatus")) or ["Completed"]
    known = {status.lower(): status for status in EXECUTION_STATUSES}
    result = set()
    for status in wanted:
        if status.lower() not in known:
            raise ApiError(400, f"Requested value '{status}' not found.")
        result.add(known[status.lower()])
    return result


def execution_item(
    ctx: SandboxContext, request: web.Request, program: str, execution: dict[str, Any], report: dict[str, Any] | None
) -> dict[str, Any]:
    """An execution as the executions endpoint returns it.

    :param ctx: the sandbox.
    :param request: the request (for the link's host).
    :param program: ``mpn`` or ``cmp``.
    :param execution: the stored execution.
    :param report: its report.
    """
    now = ctx.state.now()
    status = execution_status(execution, now)
    report = report or {}
    item: dict[str, Any] = {
        "executionId": execution["executionId"],
        "reportId": execution["reportId"],
        "recurrenceInterval": report.get("recurrenceInterval"),
        "recurrenceCount": report.get("recurrenceCount"),
        "callbackUrl": report.get("callbackUrl"),
        "format": execution["_format"],
        "executionStatus": status,
        "reportLocation": None,
        "reportAccessSecureLink": None,
        "reportExpiryTime": None,
        "reportGeneratedTime": None,
    }
    if program == "mpn":
        item["callbackMethod"] = report.get("callbackMethod")
    if status == "Completed":
        link, location, expiry = make_secure_link(ctx, base_url(request), program, execution)
        item.update(
            {
                "reportLocation": location,
                "reportAccessSecureLink": link,
                "reportExpiryTime": expiry,
                "reportGeneratedTime": format_time(generated_time(execution)),
            }
        )
    if status == "Failed":
        item["message"] = execution["_message"]
    return item


def _refuse_lists(request: web.Request, ctx: SandboxContext) -> None:
    """Answer 400 to a ``;``-separated list where the switches say the service refuses one."""
    given = (
        ("execution_status_list", "executionStatus", request.query.get("executionStatus")),
        ("execution_id_list", "executionId", request.query.get("executionId")),
        ("report_id_list", "reportId", request.match_info["reportId"]),
    )
    for switch, name, value in given:
        if value and ";" in value and ctx.behaviours[switch] == "reject":
            raise ApiError(400, LIST_REFUSED.format(name=name))


def _in_listing_order(ctx: SandboxContext, executions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Order executions as the ``execution_order`` switch says.

    ``scrambled`` is oldest first with the newest moved to the middle: from three executions on,
    neither the first nor the last listed is the latest, so only the time fields tell.
    """
    ordered = sorted(executions, key=lambda e: (e["_createdAt"], e["executionId"]))
    order = ctx.behaviours["execution_order"]
    if order == "newest_first":
        return ordered[::-1]
    if order == "scrambled" and ordered:
        newest = ordered.pop()
        ordered.insert(len(ordered) // 2 + len(ordered) % 2, newest)
    return ordered


@api_route
async def list_executions(
    request: web.Request, ctx: SandboxContext, program: str, claims: dict[str, Any]
) -> web.StreamResponse:
    """``GET ScheduledReport/execution/{reportId}?executionId=&executionStatus=&getLatestExecution=``."""
    _refuse_lists(request, ctx)
    data = ctx.state.data(program)
    report_ids = {r.lower() for r in _split(request.match_info["reportId"])}
    reports = {k: v for k, v in data["reports"].items() if k.lower() in report_ids}
    if not reports:
        raise ApiError(404, NO_ITEM)
    execution_ids = {e.lower() for e in _split(request.query.get("executionId"))}
    statuses = _statuses(request)
    latest = _bool_param(request, "getLatestExecution", True)
    now = ctx.state.now()
    # A failed run is listed whatever the filter, or (field reading) never listed at all.
    failed_listed = ctx.behaviours["failed_run"] == "listed"
    matched = [
        e
        for e in data["executions"].values()
        if e["reportId"] in reports
        and (not execution_ids or e["executionId"].lower() in execution_ids)
        and (failed_listed if execution_status(e, now) == "Failed" else execution_status(e, now) in statuses)
    ]
    matched.sort(key=lambda e: (e["_createdAt"], e["executionId"]))
    if latest:
        newest: dict[str, dict[str, Any]] = {}
        for execution in matched:
            newest[execution["reportId"]] = execution
        matched = list(newest.values())
    if not matched:
        raise ApiError(404, NO_EXECUTIONS)
    items = [
        execution_item(ctx, request, program, e, reports.get(e["reportId"])) for e in _in_listing_order(ctx, matched)
    ]
    page, next_link = _page(request, ctx, items)
    return api_response(request, program, page, message=None, next_link=next_link)


def add_routes(app: web.Application) -> None:
    """Register the API routes under every base path.

    :param app: the application.
    """
    for base in ("/insights/v1/mpn", "/insights/v1.1/cmp", "/insights/v1/cmp"):
        router = app.router
        router.add_get(f"{base}/ScheduledDataset", list_datasets)
        router.add_get(f"{base}/ScheduledQueries", list_queries)
        router.add_post(f"{base}/ScheduledQueries", create_query)
        router.add_get(f"{base}/ScheduledQueries/testQueryResult", test_query)
        router.add_delete(f"{base}/ScheduledQueries/{{queryId}}", delete_query)
        router.add_post(f"{base}/ScheduledReport", create_report)
        router.add_get(f"{base}/ScheduledReport", list_reports)
        router.add_put(f"{base}/ScheduledReport/pause/{{reportId}}", pause_report)
        router.add_put(f"{base}/ScheduledReport/resume/{{reportId}}", resume_report)
        router.add_get(f"{base}/ScheduledReport/execution/{{reportId}}", list_executions)
        router.add_put(f"{base}/ScheduledReport/{{reportId}}", update_report_route)
        router.add_delete(f"{base}/ScheduledReport/{{reportId}}", delete_report)
