"""What goes on the wire for one API request, besides its body: URL, query string, headers, ids.

It owns how URLs are built (base URL, quoted path segments, the API's query encoding with ``;``
lists), how a ``nextLink`` is resolved (and kept on the API host), which proxies a request uses,
and the headers every attempt carries (``User-Agent``, ``MS-RequestId``, ``MS-CorrelationId``).
Shared by the request flow, the secure-link download and msal's HTTP client.
"""

from __future__ import annotations

import enum
import functools
import platform
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from airflow_provider_insights import __version__
from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.hooks.redaction import redact_url


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
