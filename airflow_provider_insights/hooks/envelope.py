"""Reading the API's answers: the response envelope, JSON bodies, error messages and typed errors.

It owns how a body is decoded (UTF-8, optional BOM), how the envelope ``{value, nextLink,
statusCode, message, totalCount}`` is read in any casing, which status counts (a 200 may carry an
error ``statusCode``), and how a failed call becomes a :class:`PartnerInsightsApiError` (its URL
shown with the non-secret query parameters, its message scrubbed of credentials).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_insights.exceptions import PartnerInsightsApiError, PartnerInsightsNotFoundError
from airflow_provider_insights.hooks.redaction import redact_secret_params, scrub_text, shorten
from airflow_provider_insights.models import lookup


@dataclass(frozen=True)
class Envelope:
    """The API's response envelope, read case-insensitively.

    :param value: the result items (always a list).
    :param next_link: the link of the next page, if any.
    :param status_code: the body's ``statusCode``, if given.
    :param message: the body's ``message``, if given.
    :param total_count: the body's ``totalCount``, if given.
    """

    value: list[Any]
    next_link: str | None = None
    status_code: int | None = None
    message: str | None = None
    total_count: int | None = None
    raw: Any = field(default=None, repr=False, compare=False)


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def parse_envelope(body: Any) -> Envelope:
    """Read the envelope ``{"value", "nextLink", "statusCode", "message", "totalCount"}`` of any casing.

    A bare list is taken as the value, a single object ``value`` as a one-item list.

    :param body: the decoded JSON body.
    """
    if isinstance(body, list):
        return Envelope(value=body, raw=body)
    if not isinstance(body, Mapping):
        return Envelope(value=[], raw=body)
    value = lookup(body, "value")
    if value is None:
        items: list[Any] = []
    elif isinstance(value, list):
        items = value
    else:
        items = [value]
    next_link = lookup(body, "nextLink")
    message = lookup(body, "message")
    return Envelope(
        value=items,
        next_link=str(next_link) if next_link else None,
        status_code=_as_int(lookup(body, "statusCode")),
        message=str(message) if message is not None else None,
        total_count=_as_int(lookup(body, "totalCount")),
        raw=body,
    )


def decode_json(content: bytes) -> Any:
    """Decode a JSON body (UTF-8, optional BOM); ``None`` if it is empty or not JSON.

    :param content: the raw body.
    """
    if not content or not content.strip():
        return None
    try:
        return json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None


def error_message(body: Any, content: bytes = b"") -> str:
    """The service's explanation of an error, credential-free.

    :param body: the decoded JSON body, if any.
    :param content: the raw body, used when it is not JSON.
    """
    message: Any = None
    if isinstance(body, Mapping):
        message = lookup(body, "message") or lookup(body, "error_description")
        error = lookup(body, "error")
        if not message and isinstance(error, Mapping):
            message = lookup(error, "message") or lookup(error, "code")
        elif not message and error:
            message = error
    if not message:
        message = content.decode("utf-8", "replace").strip() if content else ""
    text = shorten(scrub_text(str(message)).strip())
    return text or "no details given"


def build_api_error(
    status: int,
    message: str,
    *,
    method: str,
    url: str,
    request_id: str | None,
    correlation_id: str | None,
) -> PartnerInsightsApiError:
    """The typed error for a failed call: :class:`PartnerInsightsNotFoundError` for 404.

    :param status: HTTP status (or the envelope's); 0 when no answer came.
    :param message: the (already scrubbed) explanation.
    :param method: the HTTP method.
    :param url: the request URL; shown with its non-secret query parameters only
        (see :func:`~airflow_provider_insights.hooks.redaction.redact_secret_params`).
    :param request_id: the attempt's ``MS-RequestId``.
    :param correlation_id: the operation's ``MS-CorrelationId``.
    """
    error_class = PartnerInsightsNotFoundError if status == 404 else PartnerInsightsApiError
    return error_class(
        status,
        message,
        method=method,
        url=redact_secret_params(url),
        request_id=request_id,
        correlation_id=correlation_id,
    )


def effective_status(status: int, envelope: Envelope | None) -> int:
    """The status that counts: the HTTP one, unless a 2xx carries an error ``statusCode`` in its body.

    :param status: the HTTP status.
    :param envelope: the parsed envelope, if the body was JSON.
    """
    if status < 400 and envelope is not None and envelope.status_code is not None and envelope.status_code >= 400:
        return envelope.status_code
    return status
