"""Entra ID access tokens for the Partner Center API, through msal, with one cache per identity per process.

Every hook instance (sync on a worker, async in the triggerer) asks :func:`get_token_provider`
for the provider of its connection's identity; the provider keeps the token in memory, renews
it shortly before it expires and makes sure that many concurrent callers cause one request to
Entra ID. Grants: client credentials (client secret or certificate), ROPC ``password`` and
``refresh_token`` (the Secure Application Model; Entra ID's rotated refresh token replaces the
configured one in memory).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_insights.hooks import _auth_msal
from airflow_provider_insights.hooks.redaction import amask_all, mask_all

if TYPE_CHECKING:
    import msal

    from airflow_provider_insights.connection import ConnectionSettings

log = logging.getLogger(__name__)

# Renew when less than this remains, or half the lifetime for short-lived tokens.
RENEWAL_MARGIN_S = 300.0

_providers: dict[str, TokenProvider] = {}
_providers_lock = threading.Lock()


def get_token_provider(settings: ConnectionSettings) -> TokenProvider:
    """The process-wide token provider for the identity of ``settings``.

    All hooks using the same identity (same authority, client, grant, user, scopes and secrets)
    share one provider, hence one cached token.

    :param settings: the connection settings.
    """
    key = settings.identity_key
    provider = _providers.get(key)
    if provider is None:
        with _providers_lock:
            provider = _providers.get(key)
            if provider is None:
                provider = _providers[key] = TokenProvider(settings=settings)
    return provider


def reset_token_providers() -> None:
    """Forget every provider and its cached token (tests, or after rotating credentials in process)."""
    with _providers_lock:
        providers = list(_providers.values())
        _providers.clear()
    for provider in providers:
        provider.close()


@dataclass(frozen=True)
class _CachedToken:
    value: str = field(repr=False)
    renew_at: float


class TokenProvider:
    """Access tokens for one identity: cached, renewed before expiry, one acquisition at a time.

    Build it through :func:`get_token_provider` so that the cache is shared; construct it directly
    only to get a private cache (tests do, to step a fake clock).

    :param settings: the connection settings of the identity.
    :param clock: a monotonic clock in seconds; replaceable to test renewal without waiting.
    """

    def __init__(self, *, settings: ConnectionSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._cached: _CachedToken | None = None
        self._refresh_token = settings.refresh_token
        self._app: msal.ConfidentialClientApplication | None = None
        # Held for a whole acquisition (network I/O): serialises acquisitions across threads and loops.
        self._acquire_lock = threading.Lock()
        # Held only to swap the cached token, so invalidate() never waits for an acquisition.
        self._state_lock = threading.Lock()
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._async_locks_guard = threading.Lock()
        self.acquisitions = 0

    def __repr__(self) -> str:
        settings = self._settings
        return (
            f"{type(self).__name__}(client_id={settings.client_id!r}, tenant_id={settings.tenant_id!r}, "
            f"auth_type={settings.auth_type!r}, acquisitions={self.acquisitions})"
        )

    def get_token(self) -> str:
        """An access token valid for a while yet, from the cache or freshly acquired. Thread-safe."""
        token = self._fresh_token()
        if token is not None:
            return token
        return self._get_or_acquire(mask=mask_all)[0]

    async def aget_token(self) -> str:
        """As :meth:`get_token`, without blocking the event loop.

        A valid cached token is returned at once; otherwise one caller per event loop acquires
        (msal runs in a worker thread) while the others wait and then read the cache.
        """
        token = self._fresh_token()
        if token is not None:
            return token
        async with self._async_lock():
            token = self._fresh_token()
            if token is not None:
                return token
            acquired, new_secrets = await asyncio.to_thread(self._get_or_acquire)
            # Masked before the waiting callers can read the token from the cache.
            await amask_all(new_secrets)
        return acquired

    def invalidate(self, token: str) -> None:
        """Drop ``token`` from the cache if it is the cached one (the API answered 401 with it).

        A token that was already replaced is left alone, so that many callers failing with the
        same old token cause one renewal, not one each.

        :param token: the token the API refused.
        """
        with self._state_lock:
            dropped = self._cached is not None and self._cached.value == token
            if dropped:
                self._cached = None
        if dropped:
            log.info(
                "Dropped the cached Entra ID token of client %s after the API refused it", self._settings.client_id
            )

    def close(self) -> None:
        """Release msal's HTTP connections. The provider stays usable."""
        with self._acquire_lock:
            app, self._app = self._app, None
        if app is not None:
            app.http_client.close()

    def _fresh_token(self) -> str | None:
        cached = self._cached
        if cached is not None and self._clock() < cached.renew_at:
            return cached.value
        return None

    def _async_lock(self) -> asyncio.Lock:
        # asyncio locks belong to one event loop; each loop using this provider gets its own.
        loop = asyncio.get_running_loop()
        with self._async_locks_guard:
            lock = self._async_locks.get(loop)
            if lock is None:
                lock = self._async_locks[loop] = asyncio.Lock()
            return lock

    def _get_or_acquire(self, mask: Callable[[Iterable[str]], None] | None = None) -> tuple[str, tuple[str, ...]]:
        with self._acquire_lock:
            token = self._fresh_token()
            if token is not None:
                return token, ()
            acquired, new_secrets = self._acquire()
            if mask is not None:
                mask(new_secrets)
            return acquired, new_secrets

    def _acquire(self) -> tuple[str, tuple[str, ...]]:
        settings = self._settings
        started = self._clock()
        result = self._request_token()
        _auth_msal.raise_for_msal_error(
            result, refused=_auth_msal.grant_description(settings), secrets=self._known_secrets()
        )
        self.acquisitions += 1
        token = str(result["access_token"])
        lifetime = max(float(result.get("expires_in") or 0), 0.0)
        cached = _CachedToken(
            value=token,
            renew_at=started + lifetime - min(RENEWAL_MARGIN_S, lifetime / 2),
        )
        with self._state_lock:
            self._cached = cached
        rotated = result.get("refresh_token")
        if settings.auth_type == "refresh_token" and rotated:
            self._refresh_token = str(rotated)
        log.info(
            "Acquired an Entra ID token (%s) for client %s in tenant %s, valid for %d s",
            settings.auth_type,
            settings.client_id,
            settings.tenant_id,
            lifetime,
        )
        # The connection's own secrets were masked when the hook read them; only what Entra ID just
        # handed out is new here.
        return token, tuple(secret for secret in (token, self._refresh_token) if secret)

    def _request_token(self) -> dict[str, Any]:
        import requests
        from msal.exceptions import MsalServiceError

        try:
            return self._call_msal(self._get_app())
        except MsalServiceError as err:
            # msal raises (rather than answers) when Entra ID fails with a 5xx: the text is "HTTP Error: <status>".
            raise _auth_msal.server_error(self._settings, err) from None
        except requests.RequestException as err:
            # No answer came (refused, reset, timeout): the request flow retries on this error code.
            # "from None": requests' text names the URL, which for user-realm discovery holds the user name.
            raise _auth_msal.unreachable_error(self._settings, err) from None

    def _call_msal(self, app: msal.ConfidentialClientApplication) -> dict[str, Any]:
        settings = self._settings
        if settings.auth_type == "password":
            return app.acquire_token_by_username_password(
                settings.username, settings.user_password, scopes=_auth_msal.user_scopes(settings.scopes)
            )
        if settings.auth_type == "refresh_token":
            return app.acquire_token_by_refresh_token(
                self._refresh_token, scopes=_auth_msal.user_scopes(settings.scopes)
            )
        # msal answers client-credential calls from its own cache first; this provider is the
        # cache, so when it asks, msal must ask Entra ID.
        app.remove_tokens_for_client()
        return app.acquire_token_for_client(scopes=list(settings.scopes))

    def _get_app(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            self._app = _auth_msal.build_confidential_app(self._settings)
        return self._app

    def _known_secrets(self) -> tuple[str, ...]:
        return tuple(secret for secret in (*self._settings.secrets, self._refresh_token) if secret)
