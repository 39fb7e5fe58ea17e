"""Helpers for the trigger tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def fresh_connection_settings() -> Iterator[None]:
    """Each test reads its connections anew (the async path remembers them for a minute)."""
    from airflow_provider_insights.hooks.insights import forget_connection_settings

    forget_connection_settings()
    yield
    forget_connection_settings()
