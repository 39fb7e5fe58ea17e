"""The request flow: one API request (token, send, retries, errors), written once for sync and async.

The generator-of-commands protocol
----------------------------------

A *flow* is a generator that performs an operation without doing any I/O itself. Where it needs
the outside world it **yields a command** and **receives the command's result** back as the value
of the ``yield`` expression; when it is done it **returns** its result (``StopIteration.value``):

==========================  ===================================================================
the flow yields             and receives
==========================  ===================================================================
:class:`GetToken`           the bearer token (``str``), or a :class:`TokenFailure` when Entra ID
                            could not be reached (the flow may retry); a refusal is raised
:class:`Send`               an :class:`HttpResponse` (any status), or a :class:`TransportFailure`
                            when no answer came
:class:`InvalidateToken`    ``None`` (the refused token is dropped from the cache)
:class:`Sleep`              ``None``, once the delay has passed
==========================  ===================================================================

A *runner* drives a flow: :func:`~airflow_provider_insights.hooks.transports.run_flow_sync` with
``requests`` and ``time.sleep`` on workers, :func:`~airflow_provider_insights.hooks.transports.run_flow_async`
with aiohttp and ``asyncio.sleep`` in the triggerer. Flows compose with ``yield from``: a hook
operation yields from :func:`~airflow_provider_insights.hooks.pagination.paginated_flow` or
:func:`request_flow`, which yields from :func:`token_flow` (never deeper); the runner sees only
the commands. An error a flow raises (``PartnerInsightsApiError``...) leaves the runner as is;
transports raise only :class:`~airflow_provider_insights.exceptions.PartnerInsightsConfigError`
(settings that cannot work, which no retry could cure).

Why: every decision (retry or not, how long to wait, when to renew the token, which error to
raise) is taken once, here, as plain code that tests drive by hand with scripted answers (see
``tests/hooks/test_http.py``); the sync and async paths only move bytes, so they cannot behave
differently.

Adding an API operation: build an :class:`ApiRequest` (URL from
:func:`~airflow_provider_insights.hooks.request_parts.build_url`), ``yield from request_flow(...)``
(or ``paginated_flow``) in a generator of the hook, and read the returned envelope; the hook runs
that generator with either runner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from airflow_provider_insights.exceptions import PartnerInsightsAuthError
from airflow_provider_insights.hooks.envelope import (
    Envelope,
    build_api_error,
    decode_json,
    effective_status,
    error_message,
    parse_envelope,
)
from airflow_provider_insights.hooks.redaction import describe_exception, redact_secret_params, scrub_text
from airflow_provider_insights.hooks.request_parts import build_headers, new_request_id
from airflow_provider_insights.hooks.retry import (
    Decision,
    RetryPolicy,
    decide,
    failed_before_sending,
    is_idempotent,
    retry_delay,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: ``error_code`` of the auth error raised when Entra ID could not be reached (no answer came).
TOKEN_ENDPOINT_UNREACHABLE = "token_endpoint_unreachable"


# --------------------------------------------------------------------------------------------
# Commands and their results
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

# --------------------------------------------------------------------------------------------
# One API request
# --------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Attempt:
    """What one attempt came back with, read once: what the decision and the error message need.

    :param request_id: the attempt's ``MS-RequestId``.
    :param status: the effective status (see :func:`~airflow_provider_insights.hooks.envelope.effective_status`);
        ``None`` when no answer came.
    :param error: the transport exception, when no answer came.
    :param envelope: the parsed envelope, if the body was JSON.
    :param body: the decoded JSON body, if any.
    :param content: the raw body.
    :param retry_after: the answer's ``Retry-After`` header, if any.
    """

    request_id: str
    status: int | None = None
    error: BaseException | None = None
    envelope: Envelope | None = None
    body: Any = None
    content: bytes = field(default=b"", repr=False)
    retry_after: str | None = None

    @classmethod
    def read(cls, outcome: HttpResponse | TransportFailure, request_id: str) -> Attempt:
        """Read a transport's result.

        :param outcome: what the runner sent back for the :class:`Send`.
        :param request_id: the attempt's ``MS-RequestId``.
        """
        if isinstance(outcome, TransportFailure):
            return cls(request_id, error=outcome.error)
        body = decode_json(outcome.content)
        envelope = parse_envelope(body) if body is not None else None
        return cls(
            request_id,
            status=effective_status(outcome.status, envelope),
            envelope=envelope,
            body=body,
            content=outcome.content,
            retry_after=outcome.headers.get("retry-after"),
        )

    def reason(self) -> str:
        """Why the attempt failed, in a few words: the status, or the transport error."""
        return str(self.status) if self.error is None else describe_exception(self.error)

    def service_message(self) -> str:
        """The service's explanation of a failed answer, credential-free."""
        if self.envelope is not None and self.envelope.message:
            return scrub_text(self.envelope.message)
        return scrub_text(error_message(self.body, self.content))


def request_flow(request: ApiRequest, *, correlation_id: str, policy: RetryPolicy) -> Flow[Envelope | None]:
    """Send one API request with token renewal and retries; return its envelope.

    Each attempt is read into an :class:`Attempt` and :func:`~airflow_provider_insights.hooks.retry.decide`
    says what comes next: done, renew the token once after a 401, wait and retry, or fail.

    :param request: what to send.
    :param correlation_id: the operation's ``MS-CorrelationId``.
    :param policy: the retry policy.
    :return: the envelope (empty for a body-less success), or ``None`` for a 404 that
        ``request.not_found_ok`` accepts.
    :raises PartnerInsightsApiError: when the request finally fails.
    """
    token, retries_done = yield from token_flow(policy, retries_done=0, correlation_id=correlation_id)
    token_refreshed = False
    while True:
        request_id = new_request_id()
        outcome = yield _send_command(request, token=token, correlation_id=correlation_id, request_id=request_id)
        attempt = Attempt.read(outcome, request_id)
        decision = decide(
            status=attempt.status,
            error=attempt.error,
            retries_done=retries_done,
            max_retries=policy.max_retries,
            token_refreshed=token_refreshed,
            idempotent=is_idempotent(request.method),
        )
        if decision is Decision.DONE:
            # Checked first: the redacted URL is worked out on every request, thousands per poll
            # round in a triggerer, for a line that is rarely shown.
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s -> %s", _where(request, attempt, correlation_id), attempt.status)
            return attempt.envelope if attempt.envelope is not None else Envelope(value=[])
        if decision is Decision.REFRESH_TOKEN:
            log.info("%s was refused with 401; renewing the token once", _where(request, attempt, correlation_id))
            yield InvalidateToken(token)
            token, retries_done = yield from token_flow(
                policy, retries_done=retries_done, correlation_id=correlation_id
            )
            token_refreshed = True
        elif decision is Decision.RETRY:
            delay = retry_delay(retries_done, policy, attempt.retry_after)
            retries_done += 1
            log.warning(
                "%s failed (%s); retry %d/%d in %.2fs",
                _where(request, attempt, correlation_id),
                attempt.reason(),
                retries_done,
                policy.max_retries,
                delay,
            )
            yield Sleep(delay)
        else:
            _raise_unless_accepted_404(request, attempt, correlation_id)
            return None


def _send_command(request: ApiRequest, *, token: str, correlation_id: str, request_id: str) -> Send:
    headers = build_headers(
        token=token, correlation_id=correlation_id, request_id=request_id, has_body=request.json_body is not None
    )
    return Send(request.method, request.url, headers, request.json_body)


def _where(request: ApiRequest, attempt: Attempt, correlation_id: str) -> str:
    """``GET <url> [MS-RequestId=..., MS-CorrelationId=...]`` for the log, no credential in the URL."""
    return (
        f"{request.method} {redact_secret_params(request.url)} "
        f"[MS-RequestId={attempt.request_id}, MS-CorrelationId={correlation_id}]"
    )


def _raise_unless_accepted_404(request: ApiRequest, attempt: Attempt, correlation_id: str) -> None:
    """Raise the error of a request that will not be tried again; return only for a 404 meaning "nothing"."""
    if attempt.error is not None:
        raise build_api_error(
            0,
            _no_answer_message(request.method, attempt.error),
            method=request.method,
            url=request.url,
            request_id=attempt.request_id,
            correlation_id=correlation_id,
        ) from None
    status = attempt.status or 0
    message = attempt.service_message()
    if status == 404 and request.not_found_ok is not None and request.not_found_ok(message):
        log.debug("%s -> 404 (%s), read as an empty result", _where(request, attempt, correlation_id), message)
        return
    raise build_api_error(
        status,
        message,
        method=request.method,
        url=request.url,
        request_id=attempt.request_id,
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
