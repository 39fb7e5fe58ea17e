"""The Insights API's response envelope and the program a request is for."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from airflow_provider_insights.sandbox.context import context_of, request_ids

# Longest first, so that /insights/v1.1/cmp is not mistaken for something shorter.
API_BASES = (("/insights/v1.1/cmp", "cmp"), ("/insights/v1/cmp", "cmp"), ("/insights/v1/mpn", "mpn"))
NO_ITEM = "No item found with given filters."
NO_EXECUTIONS = (
    "There are no executions that have occurred for the given filter conditions. Please recheck the reportId or "
    "executionId and retry the API after the report's scheduled execution time"
)
MISSING_VALUE = "Null or missing value"
INVALID_QUERY_ID = "Invalid QueryId"


def api_base(path: str) -> tuple[str, str] | None:
    """Return ``(base path, program)`` for an API path, or ``None`` if it is not an API path.

    :param path: the request path.
    """
    lowered = path.lower()
    for base, program in API_BASES:
        if lowered.startswith(base + "/") or lowered == base:
            return base, program
    return None


def envelope(
    program: str,
    value: list[Any],
    *,
    message: str | None = None,
    status: int = 200,
    next_link: str | None = None,
    data_redacted: bool = False,
) -> dict[str, Any]:
    """Build the envelope every API answer is wrapped in.

    :param program: ``mpn`` (adds ``dataRedacted``) or ``cmp``.
    :param value: the items.
    :param message: status text.
    :param status: the ``statusCode`` echoed in the body.
    :param next_link: link to the next page, if any.
    :param data_redacted: the ``dataRedacted`` flag (mpn only).
    """
    body: dict[str, Any] = {
        "value": value,
        "nextLink": next_link,
        "totalCount": len(value),
        "message": message,
        "statusCode": status,
    }
    if program == "mpn":
        body["dataRedacted"] = data_redacted
    return body


def api_response(
    request: web.Request,
    program: str,
    value: list[Any],
    *,
    message: str | None = None,
    status: int = 200,
    next_link: str | None = None,
    http_status: int | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An API answer with the envelope and the Partner Center id headers.

    :param request: the request answered.
    :param program: ``mpn`` or ``cmp``.
    :param value: the items.
    :param message: status text.
    :param status: the body's ``statusCode``.
    :param next_link: link to the next page.
    :param http_status: the HTTP status, when it differs from ``status``.
    :param headers: extra headers.
    """
    redacted = bool(context_of(request).behaviours["data_redacted"])
    return web.json_response(
        envelope(program, value, message=message, status=status, next_link=next_link, data_redacted=redacted),
        status=http_status or status,
        headers={**request_ids(request), **(headers or {})},
    )


def api_error(request: web.Request, program: str, status: int, message: str) -> web.Response:
    """An API refusal: empty ``value``, ``statusCode`` and HTTP status both ``status``.

    :param request: the request answered.
    :param program: ``mpn`` or ``cmp``.
    :param status: the HTTP status.
    :param message: the service's message.
    """
    return api_response(request, program, [], message=message, status=status)


class ApiError(Exception):
    """Raised inside handlers; turned into :func:`api_error` by the route wrapper.

    :param status: HTTP status.
    :param message: the service's message.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
