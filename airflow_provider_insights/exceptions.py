"""Typed exceptions raised by the Partner Center Insights provider.

No exception raised here ever carries an access token, a client secret, a password, a refresh
token or the query string of a secure link: messages are built from redacted parts only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


class PartnerInsightsError(Exception):
    """Base class of every error raised by this provider."""


class PartnerInsightsConfigError(PartnerInsightsError):
    """The Airflow connection is incomplete, contradictory or unusable (missing tenant, unknown auth type,
    a ``verify`` CA bundle that does not exist, a malformed proxy URL...).

    Never transient: waiting does not fix a setting, so pollers fail at once (see :func:`is_transient_error`).
    """


class PartnerInsightsAuthError(PartnerInsightsError):
    """Entra ID refused to issue a token (wrong secret, revoked refresh token, unknown tenant, ...).

    :param message: what went wrong, without any credential.
    :param error_code: the OAuth ``error`` value (``invalid_client``, ``invalid_grant``...), if any.
    :param correlation_id: the correlation id Entra ID returned, if any.
    """

    def __init__(self, message: str, *, error_code: str | None = None, correlation_id: str | None = None):
        self.error_code = error_code
        self.correlation_id = correlation_id
        details = [
            part
            for part in (error_code and f"error={error_code}", correlation_id and f"correlation_id={correlation_id}")
            if part
        ]
        super().__init__(f"{message} ({', '.join(details)})" if details else message)


class PartnerInsightsApiError(PartnerInsightsError):
    """The Insights API answered with an error (HTTP status >= 400, or a 200 whose envelope says so).

    :param status_code: the HTTP status, or the envelope's ``statusCode`` for a 200-with-error.
    :param message: the service's message.
    :param method: the HTTP method of the failed request.
    :param url: the request URL, already redacted: the query's non-secret parameters kept (they say what
        was asked), credential values hidden, a secure link's query dropped whole.
    :param request_id: the ``MS-RequestId`` sent with the request.
    :param correlation_id: the ``MS-CorrelationId`` sent with the request.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        method: str = "",
        url: str = "",
        request_id: str | None = None,
        correlation_id: str | None = None,
    ):
        self.status_code = status_code
        self.message = message
        self.method = method
        self.url = url
        self.request_id = request_id
        self.correlation_id = correlation_id
        where = f" {method} {url}".rstrip() if (method or url) else ""
        ids = f" [MS-RequestId={request_id}, MS-CorrelationId={correlation_id}]" if request_id else ""
        super().__init__(f"Partner Insights API error {status_code}{where}: {message}{ids}")


class PartnerInsightsNotFoundError(PartnerInsightsApiError):
    """The API answered 404 for something that should exist (an unknown report id, ...)."""


class PartnerInsightsLinkExpiredError(PartnerInsightsApiError):
    """The secure link was refused (403): it expired or was revoked. Re-read the execution for a fresh one."""


class PartnerInsightsValidationError(PartnerInsightsError, ValueError):
    """Bad input, caught before anything changes remotely.

    :param field: the name of the offending field (``query``, ``recurrence_interval``, ...).
    :param problem: what is wrong with it.
    :param allowed: the values (or the range) that would be accepted, if they can be listed.
    :param suggestions: close matches for a misspelt name.
    """

    def __init__(
        self,
        field: str,
        problem: str,
        *,
        allowed: Iterable[str] | str | None = None,
        suggestions: Iterable[str] | None = None,
    ):
        self.field = field
        self.problem = problem
        self.allowed = [allowed] if isinstance(allowed, str) else list(allowed or [])
        self.suggestions = list(suggestions or [])
        text = f"{field}: {problem}"
        if self.suggestions:
            text += f"; did you mean {', '.join(self.suggestions)}?"
        if self.allowed:
            text += f"; allowed: {', '.join(self.allowed)}"
        super().__init__(text)


class PartnerInsightsExecutionFailedError(PartnerInsightsError):
    """A report execution reached a terminal status other than ``Completed``.

    :param report_id: the report.
    :param execution_id: the execution, if known.
    :param status: the terminal status the service gave.
    :param message: the service's message, if any.
    """

    def __init__(self, report_id: str, execution_id: str | None, status: str, message: str | None = None):
        self.report_id = report_id
        self.execution_id = execution_id
        self.status = status
        super().__init__(
            f"Execution {execution_id or '?'} of report {report_id} ended with status {status!r}"
            + (f": {message}" if message else "")
        )


class PartnerInsightsTransferError(PartnerInsightsError):
    """A download could not be completed intact (length mismatch, truncated gzip, resumes exhausted).

    The destination is left as it was; the message names the report and execution, never the link.
    """


class PartnerInsightsSchemaChangeError(PartnerInsightsError):
    """A report file's header differs from its query's columns (``on_schema_change="fail"``).

    Nothing is published. ``change`` says which columns were added, removed or moved.
    """

    def __init__(self, message: str, change: Any = None) -> None:
        self.change = change
        super().__init__(message)


class PartnerInsightsEmptyReportError(PartnerInsightsError):
    """A report execution's file holds a header and no rows (``fail_on_empty=True``); nothing is published."""


#: HTTP statuses after which the same request may succeed later: connection lost before any answer
#: (0), request timeout, throttling. Every 5xx counts too.
TRANSIENT_STATUS_CODES = frozenset({0, 408, 429})


def is_transient_error(err: BaseException) -> bool:
    """Whether a failed read may succeed if simply tried again later.

    True for a lost connection, a timeout, throttling and a server error (``PartnerInsightsApiError``
    with status 0, 408, 429 or 5xx, or an ``OSError``/``TimeoutError``); false for everything else,
    e.g. a 404 for a deleted report, a 400, a refused credential or a bad connection setting
    (:class:`PartnerInsightsConfigError`, whatever the library error behind it): waiting
    cannot cure those, so pollers (sensor, trigger) must fail at once instead of waiting out their
    timeout.

    :param err: the error a poll raised.
    """
    if isinstance(err, PartnerInsightsApiError):
        return err.status_code in TRANSIENT_STATUS_CODES or err.status_code >= 500
    # On Python 3.10 asyncio.TimeoutError is its own class, neither TimeoutError nor an OSError.
    return isinstance(err, OSError | asyncio.TimeoutError)
