"""Downloading from a report's secure link: a pre-authorised (SAS) URL that must never carry our token.

The link is checked (https, host in ``allowed_download_hosts``) before any connection is made,
and again at every redirect. Bytes are handed out exactly as served (no gzip decoding), so
that a ``Range`` offset given to resume a download counts the same bytes the caller counted.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from airflow_provider_insights.exceptions import (
    PartnerInsightsApiError,
    PartnerInsightsLinkExpiredError,
    PartnerInsightsValidationError,
)
from airflow_provider_insights.hooks.redaction import (
    describe_exception,
    install_url_redaction,
    mask_secure_link,
    redact_url,
)
from airflow_provider_insights.hooks.request_parts import new_request_id, proxies_for, user_agent
from airflow_provider_insights.hooks.transport_config import config_error_for

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


def check_secure_link(link: str, allowed_hosts: Sequence[str]) -> str:
    """Refuse a link that is not https or whose host matches none of ``allowed_hosts`` (fnmatch, any case).

    :param link: the secure link (or a redirect target).
    :param allowed_hosts: host patterns such as ``*.blob.core.windows.net``.
    :return: the link's lower-cased host.
    :raises PartnerInsightsValidationError: naming only the redacted link.
    """
    try:
        parts = urlsplit(link)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise PartnerInsightsValidationError("secure_link", "is not a valid URL") from None
    if parts.scheme.lower() != "https":
        raise PartnerInsightsValidationError(
            "secure_link", f"{redact_url(link)} is not an https:// URL; refusing to download", allowed="https"
        )
    if parts.username or parts.password:
        raise PartnerInsightsValidationError("secure_link", f"{redact_url(link)} carries user credentials")
    patterns = [pattern.strip().lower() for pattern in allowed_hosts if pattern.strip()]
    if not host or not any(fnmatch.fnmatchcase(host, pattern) for pattern in patterns):
        raise PartnerInsightsValidationError(
            "secure_link",
            f"host {host or '?'} of {redact_url(link)} is not in the connection's allowed_download_hosts",
            allowed=patterns,
        )
    return host


def total_length_of(status: int, headers: Mapping[str, str]) -> int | None:
    """The whole object's size: from ``Content-Range`` for a 206, else ``Content-Length`` of a 200.

    :param status: the HTTP status.
    :param headers: response headers (any casing).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    match = _CONTENT_RANGE.match(lowered.get("content-range", "").strip())
    if match and match.group(3) != "*":
        return int(match.group(3))
    if status == 200 and lowered.get("content-length", "").isdigit():
        return int(lowered["content-length"])
    return None


class SecureLinkResponse:
    """An open download from a secure link; use it as a context manager.

    :param response: the streamed ``requests`` response (status < 400).
    :param url: the final URL (after redirects); only its redacted form is ever shown.
    :param request_id: the id sent in ``x-ms-client-request-id``.
    :param correlation_id: the operation's correlation id.
    """

    def __init__(self, response: requests.Response, *, url: str, request_id: str, correlation_id: str) -> None:
        self._response = response
        self._redacted_url = redact_url(url)
        self.request_id = request_id
        self.correlation_id = correlation_id
        self.status: int = response.status_code
        headers = response.headers
        length = headers.get("Content-Length")
        self.content_length: int | None = int(length) if length and length.isdigit() else None
        self.total_length: int | None = total_length_of(self.status, dict(headers))
        self.content_encoding: str | None = headers.get("Content-Encoding") or None
        self.content_type: str | None = headers.get("Content-Type") or None
        self.bytes_read = 0

    @property
    def url(self) -> str:
        """The redacted URL (``scheme://host/path``)."""
        return self._redacted_url

    def iter_raw(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Yield the body's bytes as served (still gzip-encoded if ``content_encoding`` says so).

        :param chunk_size: the most bytes per chunk.
        :raises PartnerInsightsApiError: status 0 when the connection is lost mid-body.
        """
        try:
            for chunk in self._response.raw.stream(chunk_size, decode_content=False):
                if chunk:
                    self.bytes_read += len(chunk)
                    yield chunk
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
            raise download_error(
                0,
                f"connection lost after {self.bytes_read} bytes of the body ({describe_exception(error)})",
                url=self._redacted_url,
                request_id=self.request_id,
                correlation_id=self.correlation_id,
            ) from None

    def close(self) -> None:
        """Release the connection."""
        self._response.close()

    def __enter__(self) -> SecureLinkResponse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SecureLinkResponse(status={self.status}, url={self._redacted_url!r})"


def download_error(
    status: int,
    message: str,
    *,
    url: str,
    request_id: str,
    correlation_id: str,
    error_class: type[PartnerInsightsApiError] = PartnerInsightsApiError,
) -> PartnerInsightsApiError:
    """The error of a secure-link download: a GET whose link is only ever shown redacted (no query).

    :param status: the HTTP status; 0 when no answer came.
    :param message: what went wrong, credential-free.
    :param url: the link (or redirect target) requested.
    :param request_id: the attempt's ``x-ms-client-request-id``.
    :param correlation_id: the operation's correlation id.
    :param error_class: the exception class to build.
    """
    return error_class(
        status, message, method="GET", url=redact_url(url), request_id=request_id, correlation_id=correlation_id
    )


def _link_error(
    response: requests.Response, *, url: str, request_id: str, correlation_id: str
) -> PartnerInsightsApiError:
    # The storage service's error body can echo parts of the signed request: keep only its code.
    code = response.headers.get("x-ms-error-code") or response.reason or ""
    if response.status_code == 403:
        return download_error(
            403,
            f"the secure link was refused ({code or 'forbidden'}): it expired or was revoked; "
            "read the execution again for a fresh link",
            url=url,
            request_id=request_id,
            correlation_id=correlation_id,
            error_class=PartnerInsightsLinkExpiredError,
        )
    return download_error(
        response.status_code,
        f"download failed ({code or 'error'})",
        url=url,
        request_id=request_id,
        correlation_id=correlation_id,
    )


def open_secure_link(
    session: requests.Session,
    link: str,
    *,
    offset: int,
    allowed_hosts: Sequence[str],
    verify: bool | str,
    proxies: Mapping[str, str],
    timeout: float,
    correlation_id: str,
) -> SecureLinkResponse:
    """Start a download from a secure link, without any Authorization header: one attempt, no retry.

    Retrying belongs to the caller, which knows how many bytes it already has and resumes from
    there (a retry here would multiply with the caller's).

    :param session: a plain session that never carries the API token.
    :param link: the secure link.
    :param offset: byte offset to resume from (sends ``Range: bytes=<offset>-`` when > 0).
    :param allowed_hosts: host patterns the link (and each redirect) must match.
    :param verify: TLS verification.
    :param proxies: proxies from the connection.
    :param timeout: connect/read timeout in seconds.
    :param correlation_id: the operation's correlation id.
    :raises PartnerInsightsValidationError: for a link or redirect that is not https on an allowed host.
    :raises PartnerInsightsLinkExpiredError: on 403.
    :raises PartnerInsightsApiError: status 0 when no answer came, else the answer's status.
    """
    check_secure_link(link, allowed_hosts)
    mask_secure_link(link)
    install_url_redaction()
    if offset < 0:
        raise PartnerInsightsValidationError("offset", f"{offset} is negative", allowed=">= 0")
    url = link
    for _redirect in range(MAX_REDIRECTS + 1):
        request_id = new_request_id()
        response = _send_download_request(
            session,
            url,
            offset=offset,
            verify=verify,
            proxies=proxies,
            timeout=timeout,
            request_id=request_id,
            correlation_id=correlation_id,
        )
        if response.status_code in REDIRECT_STATUSES and response.headers.get("Location"):
            target = urljoin(url, response.headers["Location"])
            response.close()
            # Checked before connecting to it: a redirect must not lead the download off the allowed hosts.
            check_secure_link(target, allowed_hosts)
            mask_secure_link(target)
            url = target
            continue
        if response.status_code < 400:
            log.debug("GET %s -> %s (offset %d)", redact_url(url), response.status_code, offset)
            return SecureLinkResponse(response, url=url, request_id=request_id, correlation_id=correlation_id)
        failure = _link_error(response, url=url, request_id=request_id, correlation_id=correlation_id)
        response.close()
        raise failure
    raise download_error(
        0, f"more than {MAX_REDIRECTS} redirects", url=url, request_id=request_id, correlation_id=correlation_id
    )


def _send_download_request(
    session: requests.Session,
    url: str,
    *,
    offset: int,
    verify: bool | str,
    proxies: Mapping[str, str],
    timeout: float,
    request_id: str,
    correlation_id: str,
) -> requests.Response:
    headers = {
        "User-Agent": user_agent(),
        "Accept-Encoding": "gzip, deflate",
        "x-ms-client-request-id": request_id,
    }
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    try:
        return session.get(
            url,
            headers=headers,
            stream=True,
            allow_redirects=False,
            verify=verify,
            proxies=proxies_for(url, proxies),
            timeout=timeout,
        )
    except (requests.RequestException, OSError) as error:
        problem = config_error_for(url, url_field="secure_link", verify=verify, proxies=proxies)
        if problem is not None:
            raise problem from None
        # "from None": requests' exception text holds the whole link, signature included.
        raise download_error(
            0, f"no answer ({describe_exception(error)})", url=url, request_id=request_id, correlation_id=correlation_id
        ) from None
