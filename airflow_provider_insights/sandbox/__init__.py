"""A local HTTPS emulator of Entra ID's token endpoints and of the Partner Center Insights API.

Run it with ``python -m airflow_provider_insights.sandbox``; drive it from tests with
:class:`SandboxProcess`. It never imports the provider's hook: it is an independent emulator.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SandboxAdminClient", "SandboxProcess"]


def __getattr__(name: str) -> Any:
    # Lazy, so that running the server does not import the client side and vice versa.
    if name in __all__:
        from airflow_provider_insights.sandbox import process

        return getattr(process, name)
    raise AttributeError(name)
