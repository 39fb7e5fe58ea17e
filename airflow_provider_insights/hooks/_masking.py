"""Registering runtime secrets with Airflow's log masker: the one place the provider does it.

Secrets are registered once, where they are first known: connection secrets when the settings
are read, tokens when the provider acquires them, secure links when they are opened. Airflow's
masker recompiles its pattern on every new value, so each value is registered once per process.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

#: Airflow's masker ignores shorter values (and warns in the task log): they would hide ordinary words.
MIN_MASKED_LENGTH = 5

_masked_digests: set[str] = set()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _load_masker() -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    """Airflow's ``mask_secret`` and ``amask_secret``, whichever this task SDK has."""
    try:
        from airflow.sdk.log import amask_secret, mask_secret
    except ImportError:  # pragma: no cover - older task SDKs
        try:
            from airflow.sdk.execution_time.secrets_masker import mask_secret  # type: ignore[no-redef]
        except ImportError:
            log.debug("Airflow's mask_secret is not available: secrets are not registered for masking")
            return None, None
        return mask_secret, None
    return mask_secret, amask_secret


def _needs_masking(secret: str | None) -> bool:
    return secret is not None and len(secret) >= MIN_MASKED_LENGTH and _digest(secret) not in _masked_digests


def mask(secret: str | None) -> None:
    """Register a runtime secret with Airflow's log masker (once per value per process).

    :param secret: the token, link or other value to hide from logs.
    """
    if not _needs_masking(secret):
        return
    assert secret is not None
    mask_secret, _ = _load_masker()
    if mask_secret is not None:
        mask_secret(secret)
    _masked_digests.add(_digest(secret))


async def amask(secret: str | None) -> None:
    """Async :func:`mask`: in an event loop Airflow wants the async variant (the sync one may block on
    the supervisor channel).

    :param secret: the value to hide from logs.
    """
    if not _needs_masking(secret):
        return
    assert secret is not None
    mask_secret, amask_secret = _load_masker()
    if amask_secret is not None:
        await amask_secret(secret)
    elif mask_secret is not None:
        mask_secret(secret)
    _masked_digests.add(_digest(secret))


def mask_all(secrets: Iterable[str]) -> None:
    """:func:`mask` each of ``secrets``.

    :param secrets: the values to hide from logs.
    """
    for secret in secrets:
        mask(secret)


async def amask_all(secrets: Iterable[str]) -> None:
    """:func:`amask` each of ``secrets``.

    :param secrets: the values to hide from logs.
    """
    for secret in secrets:
        await amask(secret)


def forget_masked() -> None:
    """Forget which values were registered (tests reset Airflow's masker between them)."""
    _masked_digests.clear()
