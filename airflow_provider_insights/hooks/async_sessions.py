"""The shared aiohttp session pool of the async path: one session per event loop and transport settings.

It owns :class:`AsyncTransportSettings` (what makes two hooks' traffic interchangeable), the
reference-counted :class:`SharedAsyncSession` (connection pool, TLS context, proxy per origin),
and its lifecycle (:func:`acquire_shared_session`, :func:`release_shared_session`): a thousand
triggers in one triggerer share a few kept-alive connections, and the last hook to give its
reference back closes the session. aiohttp is imported only when a session opens.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_provider_insights.hooks.request_parts import proxies_for
from airflow_provider_insights.hooks.transport_config import ssl_context_for

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_insights.connection import ConnectionSettings


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
        # Requests beyond the pool's size wait here, each as one small waiter, rather than inside
        # aiohttp as a built request (URL, headers, timers, cookies: some sixty objects): with a
        # thousand triggers polling, hundreds wait at once, and the objects they hold are what
        # makes the interpreter run full garbage collections that stop the loop.
        self.slots = asyncio.Semaphore(ASYNC_CONNECTION_LIMIT)

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
