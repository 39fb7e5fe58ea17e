"""Runners and transports: executing a flow's commands with requests (workers) or aiohttp (triggerer).

It owns the two runners of the command protocol documented in :mod:`airflow_provider_insights.hooks.flow`
(:func:`run_flow_sync`, :func:`run_flow_async`) and the transports that send one :class:`Send`
each and read its whole body (:class:`SyncTransport`, :class:`AsyncTransport`). They decide
nothing: a failed request is handed back to the flow as a :class:`TransportFailure`, except when
the connection's settings (CA bundle, proxy, URL) are at fault, which raises
:class:`~airflow_provider_insights.exceptions.PartnerInsightsConfigError` at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import requests

from airflow_provider_insights.exceptions import PartnerInsightsAuthError
from airflow_provider_insights.hooks.async_sessions import SharedAsyncSession
from airflow_provider_insights.hooks.flow import (
    Flow,
    GetToken,
    HttpResponse,
    InvalidateToken,
    Send,
    Sleep,
    TokenFailure,
    TransportFailure,
    is_transient_token_error,
)
from airflow_provider_insights.hooks.request_parts import proxies_for
from airflow_provider_insights.hooks.transport_config import config_error_for

T = TypeVar("T")


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
        except (requests.RequestException, OSError) as error:
            return failure_of(error, command.url, verify=self.verify, proxies=self.proxies)
        return HttpResponse(
            status=response.status_code,
            headers={name.lower(): value for name, value in response.headers.items()},
            content=content,
        )


def run_flow_sync(flow: Flow[T], *, tokens: SyncTokenSource, transport: SyncTransport) -> T:
    """Execute a flow's commands with blocking calls; return the flow's result.

    :param flow: the generator made by :func:`~airflow_provider_insights.hooks.flow.request_flow`,
        :func:`~airflow_provider_insights.hooks.pagination.paginated_flow` or a hook operation.
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
            reply = _token_or_failure(tokens.get_token)
        elif isinstance(command, InvalidateToken):
            tokens.invalidate(command.token)
            reply = None
        elif isinstance(command, Sleep):
            time.sleep(command.seconds)
            reply = None
        else:  # pragma: no cover - a programming error
            raise TypeError(f"unknown command {type(command).__name__}")


def _token_or_failure(get_token: Callable[[], str]) -> str | TokenFailure:
    # The provider registered the token with the masker when it acquired it.
    try:
        return get_token()
    except PartnerInsightsAuthError as error:
        if not is_transient_token_error(error):
            raise
        return TokenFailure(error)


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
            async with (
                self.shared.slots,  # a free connection first: see SharedAsyncSession.slots
                self.shared.session.request(
                    command.method,
                    URL(command.url, encoded=True),  # already encoded: keep ';' as the API documents
                    headers=dict(command.headers),
                    json=command.json_body,
                    proxy=self.shared.proxy_for(command.url),
                ) as response,
            ):
                content = await response.read()
                return HttpResponse(
                    status=response.status,
                    headers={name.lower(): value for name, value in response.headers.items()},
                    content=content,
                )
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as error:
            # The CA bundle was checked when the shared session opened (ssl_context_for).
            return failure_of(error, command.url, verify=True, proxies=dict(self.shared.key.proxies))


def failure_of(error: BaseException, url: str, *, verify: bool | str, proxies: Mapping[str, str]) -> TransportFailure:
    """The flow's view of a request that got no answer, unless the connection's settings are at fault.

    :param error: what the HTTP library raised.
    :param url: the request URL.
    :param verify: the ``verify`` setting used.
    :param proxies: the connection's proxies.
    :raises PartnerInsightsConfigError: when a setting (CA bundle, proxy, URL) cannot work: retrying
        would not help, and the library's error would not say which setting is wrong.
    """
    problem = config_error_for(url, url_field="api_base_url", verify=verify, proxies=proxies)
    if problem is not None:
        raise problem from None
    return TransportFailure(error)


async def run_flow_async(flow: Flow[T], *, tokens: AsyncTokenSource, transport: AsyncTransport) -> T:
    """Execute a flow's commands without blocking the event loop; return the flow's result.

    :param flow: the generator made by :func:`~airflow_provider_insights.hooks.flow.request_flow`,
        :func:`~airflow_provider_insights.hooks.pagination.paginated_flow` or a hook operation.
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
            reply = await _atoken_or_failure(tokens)
        elif isinstance(command, InvalidateToken):
            tokens.invalidate(command.token)
            reply = None
        elif isinstance(command, Sleep):
            await asyncio.sleep(command.seconds)
            reply = None
        else:  # pragma: no cover - a programming error
            raise TypeError(f"unknown command {type(command).__name__}")


async def _atoken_or_failure(tokens: AsyncTokenSource) -> str | TokenFailure:
    try:
        return await tokens.aget_token()
    except PartnerInsightsAuthError as error:
        if not is_transient_token_error(error):
            raise
        return TokenFailure(error)
