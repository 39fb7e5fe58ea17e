"""The retry policy of API requests: which outcomes are retried, and how long to wait first.

It owns the :class:`RetryPolicy` (how many retries, backoff timings), exponential backoff with
full jitter, ``Retry-After``, which statuses and transport exceptions are transient (and which are
safe to retry for a non-idempotent request), and :func:`decide`, the one decision taken after each
attempt. Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import random
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from airflow_provider_insights.connection import ConnectionSettings

#: Statuses worth another attempt: throttling and the transient server errors.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_BACKOFF_BASE_S = 0.5
DEFAULT_BACKOFF_CAP_S = 30.0
#: A Retry-After further away than this is clamped: a task must not hang for hours on one header.
DEFAULT_MAX_RETRY_AFTER_S = 300.0


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
