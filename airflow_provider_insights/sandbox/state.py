"""The sandbox's state: its clock, settings, and per-program queries, reports and executions.

State persists to ``state.json`` in the state dir after every change, so it survives a restart.
Execution statuses are derived from the sandbox clock, never from timers: advancing the clock
is enough to move executions along and to fire recurring schedules.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROGRAMS = ("mpn", "cmp")
STATE_FILE = "state.json"
SECRETS_FILE = "secrets.json"
DEFAULT_CONFIG: dict[str, Any] = {
    "token_lifetime_s": 3599,
    "link_lifetime_s": 3600,
    "pending_s": 1.0,
    "running_s": 2.0,
    "report_rows": 1000,
    "report_bytes": None,
    "page_size": 50,
    "next_link_style": "alternate",
    "device_code_interval_s": 1,
    "test_query_rows": 100,
    "empty_list_status": 200,
}
NEXT_LINK_STYLES = ("absolute", "relative", "alternate")
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_time(timestamp: float) -> str:
    """Format a POSIX timestamp the way the service does (``yyyy-MM-ddTHH:mm:ssZ``).

    :param timestamp: seconds since the epoch.
    """
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime(TIME_FORMAT)


def parse_time(text: str) -> float:
    """Parse ``yyyy-MM-ddTHH:mm:ssZ`` into a POSIX timestamp.

    :param text: the time string.
    :raises ValueError: if the text does not follow the format.
    """
    return dt.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=dt.timezone.utc).timestamp()


def _empty_program() -> dict[str, dict[str, Any]]:
    return {"queries": {}, "reports": {}, "executions": {}}


@dataclass
class SandboxState:
    """Everything the server remembers.

    :param state_dir: where ``state.json`` and ``secrets.json`` live.
    """

    state_dir: Path
    clock_offset: float = 0.0
    programs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    issued_refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_CONFIG))
    signing_key: bytes = b""

    @classmethod
    def load(cls, state_dir: str | Path, config_overrides: dict[str, Any] | None = None) -> SandboxState:
        """Load state from ``state_dir`` (or start empty), and the signing key (or make one).

        :param state_dir: the state directory.
        :param config_overrides: settings that replace the defaults at start.
        """
        state = cls(state_dir=Path(state_dir))
        state.config.update(config_overrides or {})
        state.signing_key = state._load_signing_key()
        path = state.state_dir / STATE_FILE
        if path.exists():
            saved = json.loads(path.read_text())
            state.clock_offset = float(saved.get("clock_offset", 0.0))
            state.programs = saved.get("programs", {})
            state.issued_refresh_tokens = saved.get("issued_refresh_tokens", {})
        for program in PROGRAMS:
            state.programs.setdefault(program, _empty_program())
        state.base_config = dict(state.config)
        return state

    def _load_signing_key(self) -> bytes:
        # One key for tokens and link signatures, kept across restarts so issued ones stay valid.
        path = self.state_dir / SECRETS_FILE
        if path.exists():
            return bytes.fromhex(json.loads(path.read_text())["signing_key"])
        key = secrets.token_bytes(32)
        path.write_text(json.dumps({"signing_key": key.hex()}))
        path.chmod(0o600)
        return key

    def save(self) -> None:
        """Write the state atomically (temp file + rename)."""
        payload = {
            "clock_offset": self.clock_offset,
            "programs": self.programs,
            "issued_refresh_tokens": self.issued_refresh_tokens,
        }
        path = self.state_dir / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(payload))
        os.replace(temporary, path)

    def now(self) -> float:
        """The sandbox clock: real time plus the offset moved by ``advance_clock``."""
        return time.time() + self.clock_offset

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox clock forward.

        :param seconds: how far.
        """
        self.clock_offset += float(seconds)
        self.save()
        return self.now()

    def configure(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Override settings; unknown names are refused so that typos do not pass silently.

        :param settings: name -> value.
        """
        unknown = sorted(set(settings) - set(DEFAULT_CONFIG))
        if unknown:
            raise KeyError(f"unknown sandbox settings: {', '.join(unknown)}; known: {', '.join(DEFAULT_CONFIG)}")
        style = settings.get("next_link_style")
        if style is not None and style not in NEXT_LINK_STYLES:
            raise KeyError(f"next_link_style must be one of {', '.join(NEXT_LINK_STYLES)}")
        self.config.update(settings)
        return dict(self.config)

    def reset_config(self) -> dict[str, Any]:
        """Drop every override made through :meth:`configure`."""
        self.config = dict(self.base_config)
        return dict(self.config)

    def wipe(self) -> None:
        """Forget every query, report and execution (not the clock)."""
        self.programs = {program: _empty_program() for program in PROGRAMS}
        self.save()

    def data(self, program: str) -> dict[str, dict[str, Any]]:
        """The queries/reports/executions tables of ``program``.

        :param program: ``mpn`` or ``cmp``.
        """
        return self.programs[program]

    base_config: dict[str, Any] = field(default_factory=dict)
