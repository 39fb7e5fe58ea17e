"""HTTP behaviour shared by the sync (requests) and async (aiohttp) paths of the Insights hook.

Every decision lives here as a pure function: which answers are retried, how long to wait,
how the envelope is read, how errors and headers are built, how URLs are redacted. A request
(and a paginated listing) is written once, as a generator that *yields commands* (get a token,
send this request, sleep) and receives their results; :func:`run_flow_sync` and
:func:`run_flow_async` execute those commands with requests or aiohttp. The two transports
therefore only move bytes, and cannot drift apart in behaviour.

Nothing here imports aiohttp at module import time: operator modules import the hook, and DAG
files must stay cheap to parse.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import functools
import json
import logging
import os
import platform
import random
import re
import ssl
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import requests

from airflow_provider_insights import __version__
from airflow_provider_insights.exceptions import (
    PartnerInsightsApiError,
    PartnerInsightsAuthError,
    PartnerInsightsNotFoundError,
    PartnerInsightsValidationError,
)
from airflow_provider_insights.models import lookup

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_insights.connection import ConnectionSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: ``error_code`` of the auth error raised when Entra ID could not be reached (no answer came).
TOKEN_ENDPOINT_UNREACHABLE = "token_endpoint_unreachable"
#: Statuses worth another attempt: throttling and the transient server errors.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_BACKOFF_BASE_S = 0.5
DEFAULT_BACKOFF_CAP_S = 30.0
#: A Retry-After further away than this is clamped: a task must not hang for hours on one header.
DEFAULT_MAX_RETRY_AFTER_S = 300.0
#: The community client stops after 100 pages; a service loop must not make us loop forever.
DEFAULT_MAX_PAGES = 100
#: How much of a non-JSON error body goes into an exception message.
MAX_ERROR_TEXT = 300

# Query parameters whose values are credentials (SAS signatures, OAuth codes, tokens).
_SECRET_PARAM = re.compile(
    r"(?i)\b(sig|signature|token|access_token|refresh_token|id_token|code|client_secret|password|"
    r"client_assertion|assertion|sv|se|sp|skoid|sktid)=([^&\s\"'<>]+)"
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*")
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s#\"'<>]*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")


# --------------------------------------------------------------------------------------------
# Pure decisions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    :param max_retries: retries after the first attempt (so ``max_retries + 1`` attempts in all).
    :param backoff_base: the first backoff ceiling, in seconds; it doubles on each retry.
    :param backoff_cap: the largest backoff ceiling, in seconds.
    :param max_retry_after: the longest ``Retry-After`` honoured, in seconds.
    """

    max_retries: int = 5
    backoff_base: float = DEFAULT_BACKOFF_BASE_S
    backoff_cap: float = DEFAULT_BACKOFF_CAP_S
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER_S

    @classmethod
    def from_settings(cls, settings: ConnectionSettings, **overrides: float) -> RetryPolicy:
        """Build the policy of a connection (``max_retries``), with optional timing overrides.

        :param settings: the connection settings.
        :param overrides: ``backoff_base``, ``backoff_cap`` or ``max_retry_after`` to replace.
        """
        return cls(max_retries=max(0, int(settings.max_retries)), **overrides)  # type: ignore[arg-type]


def backoff_delay(retry_number: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with full jitter: uniform in ``[0, min(cap, base * 2**retry_number)]``.

    Full jitter spreads the retries of many workers hit by the same throttle.

    :param retry_number: 0 for the first retry, 1 for the second...
    :param base: the ceiling of the first retry, in seconds.
    :param cap: the largest ceiling, in seconds.
    :param rand: a source of floats in ``[0, 1)`` (tests pass a fixed one).
    """
    ceiling = min(cap, base * (2 ** max(0, retry_number)))
    return max(0.0, ceiling * rand())


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a ``Retry-After`` header: delay-seconds or an HTTP-date. ``None`` if absent or unreadable.

    :param value: the header's value.
    :param now: the current time (UTC) for an HTTP-date; defaults to now.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now or datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())


def retry_delay(
    retry_number: int,
    policy: RetryPolicy,
    retry_after: str | None = None,
    *,
    rand: Callable[[], float] = random.random,
    now: datetime | None = None,
) -> float:
    """How long to wait before retry ``retry_number``: the server's ``Retry-After`` if it gave one.

    :param retry_number: 0 for the first retry.
    :param policy: the retry policy.
    :param retry_after: the ``Retry-After`` header of the failed answer, if any.
    :param rand: a source of floats in ``[0, 1)``.
    :param now: the current time, for an HTTP-date ``Retry-After``.
    """
    asked = parse_retry_after(retry_after, now=now)
    if asked is not None:
        return min(asked, policy.max_retry_after)
    return backoff_delay(retry_number, base=policy.backoff_base, cap=policy.backoff_cap, rand=rand)


#: Statuses after which even a non-idempotent request is retried: the service says it did not act on it.
NON_IDEMPOTENT_RETRYABLE_STATUSES = frozenset({429, 503})
#: Methods that may be sent twice with the effect of once (RFC 9110 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def is_idempotent(method: str) -> bool:
    """Whether sending ``method`` twice has the effect of sending it once (POST does not).

    :param method: the HTTP method.
    """
    return method.upper() in IDEMPOTENT_METHODS


def is_retryable_status(status: int, *, idempotent: bool = True) -> bool:
    """Whether an HTTP status is worth another attempt (429 and transient 5xx; never other 4xx).

    A 500, 502 or 504 may come after the service acted (created the report), so a non-idempotent
    request is retried only on 429 and 503, which mean it was turned away.

    :param status: the HTTP status.
    :param idempotent: whether the request may safely be sent again.
    """
    return status in (RETRYABLE_STATUSES if idempotent else NON_IDEMPOTENT_RETRYABLE_STATUSES)


def is_retryable_exception(error: BaseException, *, idempotent: bool = True) -> bool:
    """Whether a transport exception is transient: connection failures and timeouts, not TLS errors.

    A certificate problem will not go away by retrying, so it fails at once. For a non-idempotent
    request only failures known to come before anything was sent count (connection refused, DNS,
    connect timeout): after a read timeout or a reset the service may have acted.

    :param error: what the transport raised.
    :param idempotent: whether the request may safely be sent again.
    """
    if isinstance(error, ssl.SSLError | requests.exceptions.SSLError):
        return False
    if not idempotent:
        return failed_before_sending(error)
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None:
        if isinstance(error, aiohttp.ClientSSLError | aiohttp.ServerFingerprintMismatch):
            return False
        if isinstance(error, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
            return True
    return isinstance(
        error,
        requests.ConnectionError
        | requests.Timeout
        | requests.exceptions.ChunkedEncodingError
        | ConnectionError
        | TimeoutError
        | asyncio.TimeoutError,
    )


def failed_before_sending(error: BaseException) -> bool:
    """Whether a transport failure certainly happened before the request reached the server.

    Only failures to open the connection qualify (refused, unresolvable, connect timeout); anything
    later (read timeout, reset, broken body) is ambiguous.

    :param error: what the transport raised.
    """
    import urllib3.exceptions

    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.ConnectionError) and not isinstance(error, requests.exceptions.SSLError):
        reason = error.args[0] if error.args else None
        reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
        return isinstance(reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError)
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is None:
        return False
    if isinstance(error, aiohttp.ClientSSLError):
        return False
    return isinstance(error, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError)


class Decision(enum.Enum):
    """What to do with the outcome of one attempt."""

    DONE = "done"
    REFRESH_TOKEN = "refresh_token"
    RETRY = "retry"
    FAIL = "fail"


def decide(
    *,
    status: int | None,
    error: BaseException | None,
    retries_done: int,
    max_retries: int,
    token_refreshed: bool,
    idempotent: bool = True,
) -> Decision:
    """Decide the next step after one attempt.

    A non-idempotent request (POST) is retried only when the service surely did not act on it (see
    :func:`is_retryable_status` and :func:`is_retryable_exception`); otherwise the error goes to the
    caller, which can look up what exists before creating again.

    :param status: the effective status (HTTP status, or the envelope's for a 200-with-error);
        ``None`` when the transport failed.
    :param error: the transport exception, if the request did not complete.
    :param retries_done: retries already made for this request.
    :param max_retries: retries allowed.
    :param token_refreshed: whether the token was already renewed after a 401 for this request.
    :param idempotent: whether the request may safely be sent again.
    """
    if error is not None:
        retryable = is_retryable_exception(error, idempotent=idempotent)
        return Decision.RETRY if retryable and retries_done < max_retries else Decision.FAIL
    if status is None or status < 400:
        return Decision.DONE
    if status == 401:
        return Decision.FAIL if token_refreshed else Decision.REFRESH_TOKEN
    if is_retryable_status(status, idempotent=idempotent) and retries_done < max_retries:
        return Decision.RETRY
    return Decision.FAIL


# --------------------------------------------------------------------------------------------
# Redaction, headers, URLs
# --------------------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """Keep ``scheme://host[:port]/path`` of a URL: the query string (a SAS signature...) is dropped.

    :param url: any URL.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    if not parts.scheme:
        return parts.path
    return f"{parts.scheme}://{netloc}{parts.path}"


def scrub_text(text: str) -> str:
    """Remove anything that looks like a credential from free text (an error body, an exception).

    Query strings of URLs go entirely, then named credential parameters, bearer tokens and JWTs.

    :param text: the text to clean.
    """
    text = _URL_QUERY.sub(r"\1?<redacted>", text)
    text = _SECRET_PARAM.sub(r"\1=<redacted>", text)
    text = _BEARER.sub("Bearer <redacted>", text)
    return _JWT.sub("<redacted-jwt>", text)


def describe_exception(error: BaseException) -> str:
    """A one-line, credential-free description of a transport exception.

    :param error: the exception.
    """
    detail = scrub_text(str(error)).strip()
    if len(detail) > MAX_ERROR_TEXT:
        detail = detail[:MAX_ERROR_TEXT] + "..."
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def _airflow_version() -> str:
    try:
        from airflow import __version__ as airflow_version
    except ImportError:  # pragma: no cover - Airflow is a dependency
        return "unknown"
    return str(airflow_version)


@functools.cache
def user_agent() -> str:
    """``airflow-provider-insights/<version> (apache-airflow/<v>; python/<v>)``: who calls, for Microsoft support."""
    return (
        f"airflow-provider-insights/{__version__} "
        f"(apache-airflow/{_airflow_version()}; python/{platform.python_version()})"
    )


def new_request_id() -> str:
    """A fresh ``MS-RequestId`` (one per attempt)."""
    return str(uuid.uuid4())


def new_correlation_id() -> str:
    """A fresh ``MS-CorrelationId`` (one per hook operation)."""
    return str(uuid.uuid4())


def build_headers(*, token: str | None, correlation_id: str, request_id: str, has_body: bool = False) -> dict[str, str]:
    """Headers of one API attempt.

    :param token: the bearer token (``None`` for requests that must not carry one).
    :param correlation_id: the operation's ``MS-CorrelationId``.
    :param request_id: this attempt's ``MS-RequestId``.
    :param has_body: whether a JSON body is sent.
    """
    headers = {
        "Accept": "application/json",
        "User-Agent": user_agent(),
        "MS-CorrelationId": correlation_id,
        "MS-RequestId": request_id,
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if has_body:
        headers["Content-Type"] = "application/json"
    return headers


def format_query_value(value: Any) -> str:
    """Render one query-string value the way the API documents it.

    Booleans are ``true``/``false``; sequences are ``;``-separated; enums give their value.

    :param value: the value.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return format_query_value(value.value)
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(format_query_value(item) for item in value)
    return str(value)


def encode_query(params: Mapping[str, Any] | None) -> str:
    """Encode query parameters, leaving ``;`` (the API's list separator) unescaped; ``None`` values are left out.

    Built here rather than by requests or aiohttp so that both send the very same bytes.

    :param params: parameter names and values.
    """
    if not params:
        return ""
    pairs = []
    for name, value in params.items():
        if value is None:
            continue
        pairs.append(f"{quote(str(name), safe='')}={quote(format_query_value(value), safe=';')}")
    return "&".join(pairs)


def build_url(base_url: str, path: str, params: Mapping[str, Any] | None = None) -> str:
    """Join the API base URL, a path relative to it and encoded query parameters.

    :param base_url: the API base URL (``https://.../insights/v1/mpn``).
    :param path: the endpoint path relative to the base, e.g. ``ScheduledReport/pause/<id>``.
    :param params: query parameters.
    """
    url = f"{base_url.rstrip('/')}/{path.lstrip('/')}"
    query = encode_query(params)
    return f"{url}?{query}" if query else url


def proxies_for(url: str, configured: Mapping[str, str]) -> dict[str, str]:
    """The proxies to use for ``url``: the connection's, else the environment's (honouring ``NO_PROXY``).

    Sessions run with ``trust_env=False`` so that no ``.netrc`` entry can replace the bearer token
    or add credentials to a secure link; the environment's proxies are applied here instead.

    :param url: the request URL.
    :param configured: proxies from the connection's extra, by scheme.
    """
    if configured:
        return dict(configured)
    return dict(requests.utils.get_environ_proxies(url))


def path_segment(value: str) -> str:
    """Quote one path segment (an id), so that ``/``, ``?`` or ``#`` in it cannot change the route.

    :param value: the raw segment.
    """
    return quote(str(value), safe="")


def _origin(parts: Any) -> tuple[str, str, int | None]:
    default_port = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default_port


def resolve_next_link(base_url: str, next_link: str) -> str:
    """Turn a ``nextLink`` (absolute, host-relative or base-relative) into an absolute URL on the API host.

    A link to any other origin is refused: the bearer token is sent with every page.

    :param base_url: the API base URL.
    :param next_link: the envelope's ``nextLink``.
    :raises PartnerInsightsValidationError: if the link leaves the API's origin.
    """
    link = next_link.strip()
    base_parts = urlsplit(base_url)
    base_path = base_parts.path.strip("/")
    if urlsplit(link).scheme or link.startswith("//") or link.startswith("/"):
        url = urljoin(base_url, link)
    elif base_path and (link == base_path or link.startswith(base_path + "/")):
        # "insights/v1/mpn/ScheduledQueries?..." is host-relative despite the missing slash.
        url = urljoin(base_url, "/" + link)
    else:
        url = urljoin(base_url.rstrip("/") + "/", link)
    if _origin(urlsplit(url)) != _origin(base_parts):
        raise PartnerInsightsValidationError(
            "nextLink",
            f"the service returned a next page link to {redact_url(url)}, outside the API host; "
            "refusing to send the bearer token there",
            allowed=redact_url(base_url),
        )
    return url


# --------------------------------------------------------------------------------------------
# Envelope and errors
# --------------------------------------------------------------------------------------------


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
    text = scrub_text(str(message)).strip()
    if len(text) > MAX_ERROR_TEXT:
        text = text[:MAX_ERROR_TEXT] + "..."
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
    :param url: the request URL; redacted here.
    :param request_id: the attempt's ``MS-RequestId``.
    :param correlation_id: the operation's ``MS-CorrelationId``.
    """
    error_class = PartnerInsightsNotFoundError if status == 404 else PartnerInsightsApiError
    return error_class(
        status,
        message,
        method=method,
        url=redact_url(url),
        request_id=request_id,
        correlation_id=correlation_id,
    )


# --------------------------------------------------------------------------------------------
# Commands and flows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GetToken:
    """Command: give me a bearer token."""


@dataclass(frozen=True)
class InvalidateToken:
    """Command: this token was refused (401); drop it from the cache.

    :param token: the refused token.
    """

    token: str = field(repr=False)


@dataclass(frozen=True)
class Sleep:
    """Command: wait before the next attempt.

    :param seconds: how long.
    """

    seconds: float


@dataclass(frozen=True)
class Send:
    """Command: send one HTTP request.

    :param method: the HTTP method.
    :param url: the absolute URL, query string encoded.
    :param headers: the request headers.
    :param json_body: the JSON body, if any.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(repr=False)
    json_body: Any = None


@dataclass(frozen=True)
class HttpResponse:
    """What a transport returns for a completed request.

    :param status: the HTTP status.
    :param headers: response headers, names lower-cased.
    :param content: the whole body.
    """

    status: int
    headers: Mapping[str, str]
    content: bytes


@dataclass(frozen=True)
class TransportFailure:
    """What a transport returns when no response came (connection refused or reset, timeout...).

    :param error: the exception raised by the HTTP library.
    """

    error: BaseException


@dataclass(frozen=True)
class TokenFailure:
    """What a runner returns for :class:`GetToken` when Entra ID could not be reached (worth a retry).

    :param error: the provider's error (an ``PartnerInsightsAuthError`` without secrets).
    """

    error: PartnerInsightsAuthError


def is_transient_token_error(error: BaseException) -> bool:
    """Whether a token fetch failed for want of a network answer, rather than by a refusal.

    :param error: what the token provider raised.
    """
    return isinstance(error, PartnerInsightsAuthError) and error.error_code == TOKEN_ENDPOINT_UNREACHABLE


Command = GetToken | InvalidateToken | Sleep | Send
Flow = Generator[Command, Any, T]


@dataclass(frozen=True)
class ApiRequest:
    """One API operation's request, and how to treat a 404.

    :param method: the HTTP method.
    :param url: the absolute URL with its query string.
    :param json_body: the JSON body, if any.
    :param not_found_ok: given the 404's message, whether it means "nothing" rather than an error.
    """

    method: str
    url: str
    json_body: Any = None
    not_found_ok: Callable[[str], bool] | None = None


def effective_status(status: int, envelope: Envelope | None) -> int:
    """The status that counts: the HTTP one, unless a 2xx carries an error ``statusCode`` in its body.

    :param status: the HTTP status.
    :param envelope: the parsed envelope, if the body was JSON.
    """
    if status < 400 and envelope is not None and envelope.status_code is not None and envelope.status_code >= 400:
        return envelope.status_code
    return status


def request_flow(request: ApiRequest, *, correlation_id: str, policy: RetryPolicy) -> Flow[Envelope | None]:
    """Send one API request with token renewal and retries; return its envelope.

    Returns ``None`` for a 404 that ``request.not_found_ok`` accepts.

    :param request: what to send.
    :param correlation_id: the operation's ``MS-CorrelationId``.
    :param policy: the retry policy.
    :raises PartnerInsightsApiError: when the request finally fails.
    """
    redacted = redact_url(request.url)
    retries_done = 0
    token_refreshed = False
    token, retries_done = yield from token_flow(policy, retries_done=retries_done, correlation_id=correlation_id)
    while True:
        request_id = new_request_id()
        headers = build_headers(
            token=token,
            correlation_id=correlation_id,
            request_id=request_id,
            has_body=request.json_body is not None,
        )
        outcome = yield Send(request.method, request.url, headers, request.json_body)
        if isinstance(outcome, TransportFailure):
            status: int | None = None
            error: BaseException | None = outcome.error
            body: Any = None
            envelope: Envelope | None = None
            retry_after = None
        else:
            error = None
            body = decode_json(outcome.content)
            envelope = parse_envelope(body) if body is not None else None
            status = effective_status(outcome.status, envelope)
            retry_after = outcome.headers.get("retry-after")
        decision = decide(
            status=status,
            error=error,
            retries_done=retries_done,
            max_retries=policy.max_retries,
            token_refreshed=token_refreshed,
            idempotent=is_idempotent(request.method),
        )
        if decision is Decision.DONE:
            log.debug(
                "%s %s -> %s [MS-RequestId=%s, MS-CorrelationId=%s]",
                request.method,
                redacted,
                status,
                request_id,
                correlation_id,
            )
            return envelope if envelope is not None else Envelope(value=[])
        if decision is Decision.REFRESH_TOKEN:
            log.info(
                "%s %s was refused with 401; renewing the token once [MS-RequestId=%s, MS-CorrelationId=%s]",
                request.method,
                redacted,
                request_id,
                correlation_id,
            )
            yield InvalidateToken(token)
            token, retries_done = yield from token_flow(
                policy, retries_done=retries_done, correlation_id=correlation_id
            )
            token_refreshed = True
            continue
        if decision is Decision.RETRY:
            delay = retry_delay(retries_done, policy, retry_after)
            retries_done += 1
            log.warning(
                "%s %s failed (%s); retry %d/%d in %.2fs [MS-RequestId=%s, MS-CorrelationId=%s]",
                request.method,
                redacted,
                status if error is None else describe_exception(error),
                retries_done,
                policy.max_retries,
                delay,
                request_id,
                correlation_id,
            )
            yield Sleep(delay)
            continue
        if error is not None:
            raise build_api_error(
                0,
                _no_answer_message(request.method, error),
                method=request.method,
                url=request.url,
                request_id=request_id,
                correlation_id=correlation_id,
            ) from None
        assert status is not None
        message = (
            envelope.message
            if envelope is not None and envelope.message
            else error_message(body, b"" if isinstance(outcome, TransportFailure) else outcome.content)
        )
        message = scrub_text(message)
        if status == 404 and request.not_found_ok is not None and request.not_found_ok(message):
            log.debug("%s %s -> 404 (%s), read as an empty result", request.method, redacted, message)
            return None
        raise build_api_error(
            status,
            message,
            method=request.method,
            url=request.url,
            request_id=request_id,
            correlation_id=correlation_id,
        )


def _no_answer_message(method: str, error: BaseException) -> str:
    message = f"no answer ({describe_exception(error)})"
    if not is_idempotent(method) and not failed_before_sending(error):
        message += "; the request may have reached the service, so it was not sent again"
    return message


def token_flow(policy: RetryPolicy, *, retries_done: int, correlation_id: str) -> Flow[tuple[str, int]]:
    """Get a bearer token, retrying when Entra ID could not be reached; return it with the retries made so far.

    The token fetch is part of the request, so it shares the request's retry budget.

    :param policy: the retry policy.
    :param retries_done: retries the request already made.
    :param correlation_id: the operation's ``MS-CorrelationId``, for the log.
    :raises PartnerInsightsAuthError: when Entra ID stays unreachable, or refuses.
    """
    while True:
        reply = yield GetToken()
        if not isinstance(reply, TokenFailure):
            return str(reply), retries_done
        if retries_done >= policy.max_retries:
            raise reply.error
        delay = retry_delay(retries_done, policy)
        retries_done += 1
        log.warning(
            "Getting a token failed (%s); retry %d/%d in %.2fs [MS-CorrelationId=%s]",
            reply.error,
            retries_done,
            policy.max_retries,
            delay,
            correlation_id,
        )
        yield Sleep(delay)


def paginated_flow(
    request: ApiRequest,
    *,
    base_url: str,
    correlation_id: str,
    policy: RetryPolicy,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Flow[list[Any] | None]:
    """Collect ``value`` over every page, following ``nextLink`` on the API host only.

    Returns ``None`` when the first page is a 404 that ``request.not_found_ok`` accepts.

    :param request: the first page's request.
    :param base_url: the API base URL (relative links resolve against it; other hosts are refused).
    :param correlation_id: the operation's ``MS-CorrelationId``, shared by every page.
    :param policy: the retry policy.
    :param max_pages: the most pages read.
    """
    items: list[Any] = []
    seen = {request.url}
    page_request = request
    for page in range(max_pages):
        envelope = yield from request_flow(page_request, correlation_id=correlation_id, policy=policy)
        if envelope is None:
            return None if page == 0 else items
        items.extend(envelope.value)
        if not envelope.next_link:
            return items
        url = resolve_next_link(base_url, envelope.next_link)
        if url in seen:
            log.warning(
                "The service returned a nextLink already read (%s); stopping [MS-CorrelationId=%s]",
                redact_url(url),
                correlation_id,
            )
            return items
        seen.add(url)
        # The next link carries its own query string; a later 404 just ends the listing.
        page_request = ApiRequest("GET", url, not_found_ok=lambda _message: True)
    log.warning(
        "Stopped after %d pages of %s; more pages were announced [MS-CorrelationId=%s]",
        max_pages,
        redact_url(request.url),
        correlation_id,
    )
    return items


# --------------------------------------------------------------------------------------------
# Runners and transports
# --------------------------------------------------------------------------------------------


class SyncTokenSource(Protocol):
    """The sync half of the token provider (CONTRACTS §2)."""

    def get_token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


class AsyncTokenSource(Protocol):
    """The async half of the token provider (CONTRACTS §2)."""

    async def aget_token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


class SyncTransport:
    """Sends :class:`Send` commands with a ``requests.Session``.

    ``verify`` and ``proxies`` go on every call because ``REQUESTS_CA_BUNDLE`` overrides
    ``Session.verify``.

    :param session: the session (connection pool) to use.
    :param verify: TLS verification: True, False or a CA bundle path.
    :param proxies: proxies by scheme.
    :param timeout: seconds for connect and for each read.
    """

    def __init__(
        self, session: requests.Session, *, verify: bool | str, proxies: Mapping[str, str], timeout: float
    ) -> None:
        self.session = session
        self.verify = verify
        self.proxies = dict(proxies)
        self.timeout = timeout

    def send(self, command: Send) -> HttpResponse | TransportFailure:
        """Send one request and read its whole body.

        :param command: the request.
        """
        try:
            response = self.session.request(
                command.method,
                command.url,
                headers=dict(command.headers),
                json=command.json_body,
                verify=self.verify,
                proxies=proxies_for(command.url, self.proxies),
                timeout=self.timeout,
            )
            content = response.content
        except requests.RequestException as error:
            return TransportFailure(error)
        except (OSError, TimeoutError) as error:
            return TransportFailure(error)
        return HttpResponse(
            status=response.status_code,
            headers={name.lower(): value for name, value in response.headers.items()},
            content=content,
        )


def run_flow_sync(flow: Flow[T], *, tokens: SyncTokenSource, transport: SyncTransport) -> T:
    """Execute a flow's commands with blocking calls; return the flow's result.

    :param flow: the generator made by :func:`request_flow`, :func:`paginated_flow` or a hook operation.
    :param tokens: the token provider.
    :param transport: the requests transport.
    """
    reply: Any = None
    while True:
        try:
            command = flow.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if isinstance(command, Send):
            reply = transport.send(command)
        elif isinstance(command, GetToken):
            # The provider registered the token with the masker when it acquired it.
            try:
                reply = tokens.get_token()
            except PartnerInsightsAuthError as error:
                if not is_transient_token_error(error):
                    raise
                reply = TokenFailure(error)
        elif isinstance(command, InvalidateToken):
            tokens.invalidate(command.token)
            reply = None
        elif isinstance(command, Sleep):
            time.sleep(command.seconds)
            reply = None
        else:  # pragma: no cover - a programming error
            raise TypeError(f"unknown command {type(command).__name__}")


def ssl_context_for(verify: bool | str) -> ssl.SSLContext:
    """The TLS context that matches a ``verify`` setting: default trust, none, or a CA bundle.

    Loading certificates reads files: call it off the event loop.

    :param verify: True, False or a path to a PEM bundle (file or directory).
    """
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True:
        return ssl.create_default_context()
    path = str(verify)
    if os.path.isdir(path):
        return ssl.create_default_context(capath=path)
    return ssl.create_default_context(cafile=path)


#: The most connections one shared session keeps open at once; further requests wait for a free one.
#: A triggerer (re)starting a thousand waiting triggers thus queues their polls on a few dozen
#: kept-alive connections instead of opening a thousand TLS connections in one burst.
ASYNC_CONNECTION_LIMIT = 32


@dataclass(frozen=True)
class AsyncTransportSettings:
    """The settings that make two hooks' async traffic interchangeable, so that they share one pool.

    :param verify: TLS verification: True, False or a CA bundle path.
    :param proxies: the connection's proxies as sorted ``(scheme, url)`` pairs (kept out of ``repr``:
        a proxy URL may carry a password).
    :param timeout: seconds allowed to connect and for each read.
    """

    verify: bool | str = True
    proxies: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: ConnectionSettings) -> AsyncTransportSettings:
        """The transport part of a connection's settings.

        :param settings: the connection settings.
        """
        return cls(
            verify=settings.verify,
            proxies=tuple(sorted((str(k), str(v)) for k, v in settings.proxies.items())),
            timeout=float(settings.timeout),
        )


class SharedAsyncSession:
    """One aiohttp session (connection pool, TLS context) shared by the hooks of one event loop.

    Every hook whose connection has the same :class:`AsyncTransportSettings` uses it, so a thousand
    triggers polling from one triggerer reuse a few kept-alive connections instead of opening a TLS
    connection (and building a TLS context) each. Hooks hold references, taken with
    :func:`acquire_shared_session` and given back with :func:`release_shared_session`; the last one
    given back closes the session, so that a triggerer running for days keeps nothing once its
    triggers are gone, and no trigger ever finds the session closed under it by a sibling.

    :param key: the transport settings it serves.
    :param session: the aiohttp session (its connector holds the pool).
    :param ssl_context: the TLS context built from ``key.verify``.
    :param loop: the event loop the session belongs to.
    """

    def __init__(
        self,
        key: AsyncTransportSettings,
        session: aiohttp.ClientSession,
        ssl_context: ssl.SSLContext,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.key = key
        self.session = session
        self.ssl_context = ssl_context
        self.loop = loop
        self.references = 0
        self._proxies: dict[tuple[str, str], str | None] = {}

    def __repr__(self) -> str:
        return f"SharedAsyncSession({self.key!r}, references={self.references}, closed={self.session.closed})"

    def proxy_for(self, url: str) -> str | None:
        """The proxy for ``url``, worked out once per scheme and host rather than on every request.

        :param url: the request URL.
        """
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        if origin not in self._proxies:
            proxies = proxies_for(url, dict(self.key.proxies))
            self._proxies[origin] = proxies.get(parts.scheme) or proxies.get("all")
        return self._proxies[origin]


class _LoopSessions:
    """The shared sessions of one event loop."""

    def __init__(self) -> None:
        self.open: dict[AsyncTransportSettings, SharedAsyncSession] = {}
        # Held while a session opens. Callers that arrived meanwhile then resume one per loop
        # iteration (that is how an asyncio lock hands over), not all in one long iteration.
        self.opening = asyncio.Lock()


# aiohttp sessions belong to one loop; keyed weakly so that a finished loop leaves nothing behind.
_sessions_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopSessions] = weakref.WeakKeyDictionary()
_sessions_guard = threading.Lock()


def _sessions_of(loop: asyncio.AbstractEventLoop) -> _LoopSessions:
    with _sessions_guard:
        sessions = _sessions_by_loop.get(loop)
        if sessions is None:
            sessions = _sessions_by_loop[loop] = _LoopSessions()
        return sessions


def _take_open_session(sessions: _LoopSessions, key: AsyncTransportSettings) -> SharedAsyncSession | None:
    shared = sessions.open.get(key)
    if shared is None or shared.session.closed:
        return None
    shared.references += 1
    return shared


async def acquire_shared_session(key: AsyncTransportSettings) -> SharedAsyncSession:
    """A reference to the running loop's session for ``key``, opened on first use.

    Concurrent first callers wait for a single opening. Give each reference back with
    :func:`release_shared_session`, in the same loop.

    :param key: the transport settings.
    """
    sessions = _sessions_of(asyncio.get_running_loop())
    shared = _take_open_session(sessions, key)
    if shared is not None:
        return shared
    async with sessions.opening:
        shared = _take_open_session(sessions, key)
        if shared is None:
            shared = sessions.open[key] = await _open_shared_session(key)
            shared.references += 1
        return shared


async def release_shared_session(shared: SharedAsyncSession) -> None:
    """Give back one reference taken with :func:`acquire_shared_session`; the last one closes the session.

    :param shared: the shared session; its loop must be the running one.
    """
    shared.references -= 1
    if shared.references > 0:
        return
    sessions = _sessions_of(shared.loop)
    # Forgotten before awaiting the close, so that a hook arriving meanwhile opens a new one.
    if sessions.open.get(shared.key) is shared:
        del sessions.open[shared.key]
    await shared.session.close()


async def _open_shared_session(key: AsyncTransportSettings) -> SharedAsyncSession:
    ssl_context = await asyncio.to_thread(_prepare_async_transport, key.verify)
    import aiohttp

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=ASYNC_CONNECTION_LIMIT, ssl=ssl_context),
        # No .netrc, no environment: verify and proxies come from the connection only.
        trust_env=False,
        # Per connect and per read, as requests counts; no total, which would also count the wait
        # for a free connection of the pool.
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=key.timeout, sock_read=key.timeout),
    )
    return SharedAsyncSession(key, session, ssl_context, asyncio.get_running_loop())


def _prepare_async_transport(verify: bool | str) -> ssl.SSLContext:
    """Blocking preparations of a shared session, run in a thread: importing aiohttp, loading CA files."""
    import aiohttp  # noqa: F401 - its first import takes a fifth of a second

    return ssl_context_for(verify)


class AsyncTransport:
    """Sends :class:`Send` commands through a :class:`SharedAsyncSession`.

    :param shared: the shared session (held by the hook).
    """

    def __init__(self, shared: SharedAsyncSession) -> None:
        self.shared = shared

    async def send(self, command: Send) -> HttpResponse | TransportFailure:
        """Send one request and read its whole body.

        :param command: the request.
        """
        import aiohttp
        from yarl import URL

        try:
            async with self.shared.session.request(
                command.method,
                URL(command.url, encoded=True),  # already encoded: keep ';' as the API documents
                headers=dict(command.headers),
                json=command.json_body,
                proxy=self.shared.proxy_for(command.url),
            ) as response:
                content = await response.read()
                return HttpResponse(
                    status=response.status,
                    headers={name.lower(): value for name, value in response.headers.items()},
                    content=content,
                )
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:
            return TransportFailure(error)


async def run_flow_async(flow: Flow[T], *, tokens: AsyncTokenSource, transport: AsyncTransport) -> T:
    """Execute a flow's commands without blocking the event loop; return the flow's result.

    :param flow: the generator made by :func:`request_flow`, :func:`paginated_flow` or a hook operation.
    :param tokens: the token provider.
    :param transport: the aiohttp transport.
    """
    reply: Any = None
    while True:
        try:
            command = flow.send(reply)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if isinstance(command, Send):
            reply = await transport.send(command)
        elif isinstance(command, GetToken):
            # The provider registered the token with the masker when it acquired it.
            try:
                reply = await tokens.aget_token()
            except PartnerInsightsAuthError as error:
                if not is_transient_token_error(error):
                    raise
                reply = TokenFailure(error)
        elif isinstance(command, InvalidateToken):
            tokens.invalidate(command.token)
            reply = None
        elif isinstance(command, Sleep):
            await asyncio.sleep(command.seconds)
            reply = None
        else:  # pragma: no cover - a programming error
            raise TypeError(f"unknown command {type(command).__name__}")
