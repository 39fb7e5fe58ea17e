"""Fault rules switched on through the admin API, and the request/token counters.

A rule has a ``kind``, optional ``path`` (regex searched in the request path) and ``method``, and a
``count`` (how many times it fires; default 1; ``null`` means every time until cleared).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = frozenset(
    {
        "status",
        "error_envelope",
        "reset",
        "expire_link",
        "expire_token",
        "fail_execution",
        "stall_execution",
        "schema_drift",
        "gzip",
        "delay",
    }
)
# Kinds the middleware applies to any (non-admin) request; the others fire at one specific place.
REQUEST_KINDS = ("delay", "status", "error_envelope")


@dataclass
class FaultRule:
    """One fault.

    :param kind: one of :data:`FAULT_KINDS`.
    :param path: regex searched in the request path, or ``None`` for any.
    :param method: HTTP method, or ``None`` for any.
    :param count: remaining firings, ``None`` for unlimited.
    :param params: kind-specific settings (status, retry_after, message, after_bytes, seconds).
    """

    kind: str
    path: str | None = None
    method: str | None = None
    count: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> FaultRule:
        """Build a rule from its JSON form, refusing unknown kinds.

        :param spec: e.g. ``{"kind": "status", "status": 429, "retry_after": 1, "path": "ScheduledReport"}``.
        """
        spec = dict(spec)
        kind = spec.pop("kind", None)
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
        path = spec.pop("path", None)
        if path is not None:
            re.compile(path)
        method = spec.pop("method", None)
        count = spec.pop("count", 1)
        return cls(
            kind=kind,
            path=path,
            method=method.upper() if method else None,
            count=None if count is None else int(count),
            params=spec,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"kind": self.kind, "path": self.path, "method": self.method, "count": self.count, **self.params}

    def matches(self, kind: str, path: str, method: str) -> bool:
        """Whether this rule applies.

        :param kind: the fault kind being looked for.
        :param path: the request path.
        :param method: the request method.
        """
        if self.kind != kind or (self.count is not None and self.count <= 0):
            return False
        if self.method and self.method != method.upper():
            return False
        return self.path is None or re.search(self.path, path) is not None


class FaultBook:
    """The active fault rules."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def set(self, specs: list[dict[str, Any]]) -> None:
        """Replace every rule.

        :param specs: rule dicts.
        """
        self.rules = [FaultRule.from_dict(spec) for spec in specs]

    def add(self, specs: list[dict[str, Any]]) -> None:
        """Append rules.

        :param specs: rule dicts.
        """
        self.rules.extend(FaultRule.from_dict(spec) for spec in specs)

    def clear(self) -> None:
        """Drop every rule."""
        self.rules = []

    def take(self, kind: str, path: str = "", method: str = "GET") -> FaultRule | None:
        """Return the first matching rule and consume one firing of it.

        :param kind: the fault kind.
        :param path: the request path.
        :param method: the request method.
        """
        for rule in self.rules:
            if rule.matches(kind, path, method):
                if rule.count is not None:
                    rule.count -= 1
                if rule.count == 0:
                    self.rules.remove(rule)
                return rule
        return None

    def to_list(self) -> list[dict[str, Any]]:
        """Every remaining rule, as JSON."""
        return [rule.to_dict() for rule in self.rules]


class Stats:
    """Counters that tests assert on."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.tokens: Counter[str] = Counter()
        self.tokens_by_client: Counter[str] = Counter()
        self.token_errors: Counter[str] = Counter()
        self.faults_fired: Counter[str] = Counter()
        self.bytes_served = 0

    def reset(self) -> None:
        """Zero every counter."""
        self.__init__()  # type: ignore[misc]

    def count_request(self, method: str, route: str) -> None:
        """Count one request.

        :param method: HTTP method.
        :param route: the route template, e.g. ``/insights/v1/mpn/ScheduledReport/execution/{reportId}``.
        """
        self.requests[f"{method} {route}"] += 1

    def count_token(self, client_id: str, grant: str) -> None:
        """Count one granted token.

        :param client_id: the application.
        :param grant: the grant type (``client_credentials``, ``password``, ``refresh_token``, ``device_code``).
        """
        self.tokens[grant] += 1
        self.tokens_by_client[f"{client_id}/{grant}"] += 1

    def to_dict(self) -> dict[str, Any]:
        """The JSON form returned by ``GET /_sandbox/stats``."""
        return {
            "requests": dict(self.requests),
            "tokens": dict(self.tokens),
            "tokens_by_client": dict(self.tokens_by_client),
            "token_requests": sum(self.tokens.values()) + sum(self.token_errors.values()),
            "token_errors": dict(self.token_errors),
            "faults_fired": dict(self.faults_fired),
            "bytes_served": self.bytes_served,
        }
