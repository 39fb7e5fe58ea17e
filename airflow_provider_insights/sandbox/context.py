"""What every handler shares: state, faults, stats, certificates, and helpers to answer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from airflow_provider_insights.sandbox.behaviours import Behaviours
from airflow_provider_insights.sandbox.faults import FaultBook, Stats
from airflow_provider_insights.sandbox.state import SandboxState
from airflow_provider_insights.sandbox.tls import TlsMaterial


@dataclass
class SandboxContext:
    """The server's shared objects.

    :param state: persistent state.
    :param tls: certificate paths.
    :param client_public_key: the client certificate's key (client assertions).
    :param client_sha256: the client certificate's SHA-256 thumbprint, hex.
    :param behaviours: the reading of the API played (profile and switches).
    """

    state: SandboxState
    tls: TlsMaterial
    client_public_key: rsa.RSAPublicKey
    client_sha256: str
    behaviours: Behaviours = field(default_factory=Behaviours)
    faults: FaultBook = field(default_factory=FaultBook)
    stats: Stats = field(default_factory=Stats)
    device_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    sha_cache: dict[str, str] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        """The state directory."""
        return self.state.state_dir


CONTEXT_KEY: web.AppKey[SandboxContext] = web.AppKey("sandbox_context", SandboxContext)


def context_of(request: web.Request) -> SandboxContext:
    """The shared context of the app serving ``request``.

    :param request: the request.
    """
    return request.app[CONTEXT_KEY]


def base_url(request: web.Request) -> str:
    """``https://host:port`` as the client addressed us (so links point where it connected).

    :param request: the request.
    """
    return f"https://{request.host}"


def request_ids(request: web.Request) -> dict[str, str]:
    """Response headers echoing (or inventing) the Partner Center request and correlation ids.

    :param request: the request.
    """
    return {
        "MS-RequestId": request.headers.get("MS-RequestId") or str(uuid.uuid4()),
        "MS-CorrelationId": request.headers.get("MS-CorrelationId") or str(uuid.uuid4()),
    }
