"""The connection side of the Insights hook: the connection form, settings, tokens, transports and runners.

:class:`~airflow_provider_insights.hooks.insights.PartnerInsightsHook` adds the API operations on top.
Settings are read once per hook (and, on the async path, once per connection and
:data:`ASYNC_SETTINGS_TTL_S` per process); the requests sessions belong to the hook, the aiohttp
session is the event loop's shared one (one reference per hook, given back by :meth:`aclose`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import BaseHook

from airflow_provider_insights.connection import DEFAULT_CONN_ID, ConnectionSettings
from airflow_provider_insights.hooks._api_flows import ApiContext, list_flow
from airflow_provider_insights.hooks.async_sessions import (
    AsyncTransportSettings,
    SharedAsyncSession,
    acquire_shared_session,
    release_shared_session,
)
from airflow_provider_insights.hooks.flow import Flow
from airflow_provider_insights.hooks.pagination import DEFAULT_MAX_PAGES
from airflow_provider_insights.hooks.redaction import amask_all, mask_all
from airflow_provider_insights.hooks.retry import DEFAULT_BACKOFF_BASE_S, DEFAULT_BACKOFF_CAP_S, RetryPolicy
from airflow_provider_insights.hooks.transports import AsyncTransport, SyncTransport, run_flow_async, run_flow_sync

if TYPE_CHECKING:
    import requests

    from airflow_provider_insights.hooks.auth import TokenProvider

T = TypeVar("T")

#: How long the async path reuses a connection that another hook of the process has just read. A
#: triggerer starting a thousand triggers on one connection then reads it once, not a thousand times
#: on its event loop (each read is a secrets-backend or API-server round trip); a changed connection
#: reaches new triggers within this delay.
ASYNC_SETTINGS_TTL_S = 60.0

_recent_settings: dict[str, tuple[float, ConnectionSettings]] = {}


def _recently_read_settings(conn_id: str) -> ConnectionSettings | None:
    remembered = _recent_settings.get(conn_id)
    if remembered is None or time.monotonic() - remembered[0] > ASYNC_SETTINGS_TTL_S:
        return None
    return remembered[1]


def _remember_settings(conn_id: str, settings: ConnectionSettings) -> None:
    _recent_settings[conn_id] = (time.monotonic(), settings)


def forget_connection_settings() -> None:
    """Make the next async use of every connection read it again (tests, or after changing one)."""
    _recent_settings.clear()


class InsightsHookBase(BaseHook):
    """The connection side of :class:`~airflow_provider_insights.hooks.insights.PartnerInsightsHook`.

    Nothing is read or fetched in the constructor: the connection is read on first use.

    :param partner_insights_conn_id: the ``partner_insights`` connection to use.
    :param backoff_base: ceiling of the first retry's backoff, in seconds (doubles per retry).
    :param backoff_cap: the largest backoff ceiling, in seconds.
    :param max_pages: the most ``nextLink`` pages read by one listing.
    :param kwargs: passed to :class:`~airflow.sdk.BaseHook` (``logger_name``).
    """

    conn_name_attr = "partner_insights_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "partner_insights"
    hook_name = "Microsoft Partner Center Insights"

    def __init__(
        self,
        partner_insights_conn_id: str = default_conn_name,
        *,
        backoff_base: float = DEFAULT_BACKOFF_BASE_S,
        backoff_cap: float = DEFAULT_BACKOFF_CAP_S,
        max_pages: int = DEFAULT_MAX_PAGES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.partner_insights_conn_id = partner_insights_conn_id
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_pages = max_pages
        self._settings: ConnectionSettings | None = None
        self._api_session: requests.Session | None = None
        self._download_session: requests.Session | None = None
        self._aio_shared: SharedAsyncSession | None = None

    # ----------------------------------------------------------------------------------------
    # Connection UI
    # ----------------------------------------------------------------------------------------

    # Airflow 3.2+ reads the form from get_provider_info()'s "conn-fields" without importing the hook;
    # older versions call these two, which are derived from the same data so the forms cannot differ.

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Airflow 3.1 builds the form only from methods the registered hook class defines itself
        # (its ProvidersManager reads cls.__dict__): give each subclass its own copy of the two.
        for name in ("get_ui_field_behaviour", "get_connection_form_widgets"):
            if name not in cls.__dict__:
                setattr(cls, name, InsightsHookBase.__dict__[name])

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """How the connection form shows the standard fields (Airflow < 3.2; see ``UI_FIELD_BEHAVIOUR``)."""
        from airflow_provider_insights import legacy_field_behaviour

        return legacy_field_behaviour()

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Form fields for the connection's extras (Airflow < 3.2; see ``CONNECTION_FIELDS``).

        Imported lazily: only the web UI has wtforms.
        """
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import PasswordField, StringField

        from airflow_provider_insights import connection_form_fields

        return {
            name: PasswordField(lazy_gettext(label), widget=BS3PasswordFieldWidget())
            if secret
            else StringField(lazy_gettext(label), widget=BS3TextFieldWidget())
            for name, label, secret in connection_form_fields()
        }

    # ----------------------------------------------------------------------------------------
    # Settings, tokens, transports
    # ----------------------------------------------------------------------------------------

    @property
    def settings(self) -> ConnectionSettings:
        """The connection's settings, read once (sync lookup: workers only; triggers use :meth:`aget_settings`)."""
        if self._settings is None:
            conn = self.get_connection(self.partner_insights_conn_id)
            settings = ConnectionSettings.from_parts(login=conn.login, password=conn.password, extra=conn.extra)
            mask_all(settings.secrets)
            self._settings = settings
        return self._settings

    async def aget_settings(self) -> ConnectionSettings:
        """The connection's settings through Airflow's async connection API (never ``extra_dejson``)."""
        if self._settings is not None:
            return self._settings
        settings = _recently_read_settings(self.partner_insights_conn_id)
        if settings is None:
            conn = await self.aget_connection(self.partner_insights_conn_id)
            settings = ConnectionSettings.from_parts(login=conn.login, password=conn.password, extra=conn.extra)
            await amask_all(settings.secrets)
            _remember_settings(self.partner_insights_conn_id, settings)
        self._settings = settings
        return settings

    def get_conn(self) -> ConnectionSettings:
        """The connection's settings (Airflow's generic hook entry point)."""
        return self.settings

    def token_provider(self, settings: ConnectionSettings | None = None) -> TokenProvider:
        """The process-wide token provider of this connection's identity.

        :param settings: the settings to use; defaults to :attr:`settings`.
        """
        from airflow_provider_insights.hooks.auth import get_token_provider

        return get_token_provider(settings or self.settings)

    def retry_policy(self, settings: ConnectionSettings) -> RetryPolicy:
        """The retry policy: ``max_retries`` from the connection, timings from the hook.

        :param settings: the connection settings.
        """
        return RetryPolicy.from_settings(settings, backoff_base=self.backoff_base, backoff_cap=self.backoff_cap)

    def _sync_transport(self, settings: ConnectionSettings) -> SyncTransport:
        if self._api_session is None:
            self._api_session = self._new_requests_session()
        return SyncTransport(
            self._api_session, verify=settings.verify, proxies=settings.proxies, timeout=settings.timeout
        )

    @staticmethod
    def _new_requests_session() -> requests.Session:
        import requests

        session = requests.Session()
        # No .netrc, no REQUESTS_CA_BUNDLE: verify and proxies come from the connection only.
        session.trust_env = False
        return session

    async def _async_transport(self, settings: ConnectionSettings) -> AsyncTransport:
        return AsyncTransport(await self._shared_session(settings))

    async def _shared_session(self, settings: ConnectionSettings) -> SharedAsyncSession:
        """The loop's shared session for this connection's transport settings; one reference per hook."""
        key = AsyncTransportSettings.from_settings(settings)
        if self._holds_session_for(key):
            return self._aio_shared  # type: ignore[return-value]
        await self.aclose()  # a reference taken for other settings or in another loop
        shared = await acquire_shared_session(key)
        if self._holds_session_for(key):
            # Another call of this hook took a reference meanwhile: keep one per hook, so one aclose() frees it.
            await release_shared_session(shared)
            return self._aio_shared  # type: ignore[return-value]
        self._aio_shared = shared
        return shared

    def _holds_session_for(self, key: AsyncTransportSettings) -> bool:
        shared = self._aio_shared
        return shared is not None and shared.key == key and shared.loop is asyncio.get_running_loop()

    async def aclose(self) -> None:
        """Give back this hook's reference to the loop's shared aiohttp session.

        The session (one connection pool per event loop and transport settings, shared by every
        hook) closes when its last user gives it back. Call it once the hook's async work is done;
        the hook can be used again afterwards.
        """
        shared, self._aio_shared = self._aio_shared, None
        # A reference from a loop that has since finished cannot be given back there: just dropped.
        if shared is not None and shared.loop is asyncio.get_running_loop():
            await release_shared_session(shared)

    def close(self) -> None:
        """Close the requests sessions this hook opened."""
        for session in (self._api_session, self._download_session):
            if session is not None:
                session.close()
        self._api_session = self._download_session = None

    def _run(self, flow: Flow[T]) -> T:
        settings = self.settings
        return run_flow_sync(flow, tokens=self.token_provider(settings), transport=self._sync_transport(settings))

    async def _arun(self, settings: ConnectionSettings, flow: Flow[T]) -> T:
        transport = await self._async_transport(settings)
        return await run_flow_async(flow, tokens=self.token_provider(settings), transport=transport)

    def _context(self, settings: ConnectionSettings) -> ApiContext:
        return ApiContext(settings.api_base_url, self.retry_policy(settings), self.max_pages, settings.program)

    def _call(self, make_flow: Callable[[ApiContext], Flow[T]]) -> T:
        """Run the flow ``make_flow`` builds for this connection, with requests."""
        return self._run(make_flow(self._context(self.settings)))

    async def _acall(self, make_flow: Callable[[ApiContext], Flow[T]]) -> T:
        """Run the flow ``make_flow`` builds for this connection, with aiohttp."""
        settings = await self.aget_settings()
        return await self._arun(settings, make_flow(self._context(settings)))

    def _listed(
        self, path: str, params: dict[str, Any] | None = None, *, filtered: bool = False
    ) -> list[dict[str, Any]]:
        """Every item of a listing; a filtered one answered "nothing matches" (404) is empty."""
        return self._call(lambda context: list_flow(context, path, params, empty_on_404=filtered)).items
