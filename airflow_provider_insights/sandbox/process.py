"""Run the sandbox in a subprocess and drive it through its admin API (tests, benches, the demo)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from airflow_provider_insights.sandbox import credentials as cred

START_TIMEOUT_S = 60.0


class SandboxAdminClient:
    """Talks to ``/_sandbox/...`` of a running sandbox.

    :param url: the sandbox URL, ``https://127.0.0.1:PORT``.
    :param ca_path: the CA bundle to verify it with.
    """

    def __init__(self, url: str, ca_path: str | Path) -> None:
        self.url = url
        self.ca_path = str(ca_path)
        self._session = requests.Session()

    def _call(self, method: str, path: str, payload: Any = None, params: dict[str, str] | None = None) -> Any:
        # verify= on every call: REQUESTS_CA_BUNDLE would otherwise override Session.verify.
        response = self._session.request(
            method, f"{self.url}/_sandbox/{path}", json=payload, params=params, verify=self.ca_path, timeout=120
        )
        if response.status_code >= 400:
            raise RuntimeError(f"sandbox admin {method} {path} failed: {response.status_code} {response.text}")
        return response.json()

    def health(self) -> dict[str, Any]:
        """The server's health document."""
        return self._call("GET", "health")

    def set_faults(self, faults: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the fault rules.

        :param faults: rules, e.g. ``[{"kind": "status", "status": 429, "retry_after": 1, "path": "ScheduledReport"}]``.
        """
        return self._call("PUT", "faults", list(faults))

    def add_faults(self, faults: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Append fault rules.

        :param faults: rules.
        """
        return self._call("POST", "faults", list(faults))

    def faults(self) -> list[dict[str, Any]]:
        """The rules not yet used up."""
        return self._call("GET", "faults")

    def clear_faults(self) -> None:
        """Drop every fault rule."""
        self._call("DELETE", "faults")

    def stats(self) -> dict[str, Any]:
        """Counters: ``requests`` by ``"METHOD /route/{template}"``, ``tokens`` by grant, ``tokens_by_client``
        by ``"client_id/grant"``, ``token_requests``, ``token_errors``, ``faults_fired``, ``bytes_served``."""
        return self._call("GET", "stats")

    def request_count(self, method: str, route_suffix: str) -> int:
        """How many requests hit routes ending with ``route_suffix``, e.g. ``("POST", "/ScheduledReport")``.

        :param method: HTTP method.
        :param route_suffix: end of the route template.
        """
        return sum(
            count
            for key, count in self.stats()["requests"].items()
            if key.split(" ", 1)[0] == method.upper() and key.endswith(route_suffix)
        )

    def reset_stats(self) -> None:
        """Zero every counter."""
        self._call("DELETE", "stats")

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Override settings: token_lifetime_s, link_lifetime_s, pending_s, running_s, report_rows, report_bytes,
        page_size, next_link_style, device_code_interval_s, test_query_rows, empty_list_status.

        :param settings: name=value.
        """
        return self._call("POST", "config", settings)

    def config(self) -> dict[str, Any]:
        """The settings in force."""
        return self._call("GET", "config")

    def reset_config(self) -> dict[str, Any]:
        """Back to the settings the server started with."""
        return self._call("DELETE", "config")

    def profile(self) -> dict[str, Any]:
        """``{"profile", "switches", "overrides"}``: the reading of the API being played."""
        return self._call("GET", "profile")

    def set_profile(self, profile: str | None = None, **switches: Any) -> dict[str, Any]:
        """Play ``profile`` (``documented`` or ``field``; every switch takes its value), then override
        single switches, e.g. ``set_profile(blob_name="report_name")`` (on top of the current values).

        :param profile: the profile, or ``None`` to keep the current one.
        :param switches: switch=value overrides (see ``airflow_provider_insights.sandbox.behaviours``).
        """
        payload: dict[str, Any] = {"switches": switches}
        if profile is not None:
            payload["profile"] = profile
        return self._call("POST", "profile", payload)

    def reset_profile(self) -> dict[str, Any]:
        """Back to the profile and switches the server started with."""
        return self._call("DELETE", "profile")

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox clock forward; returns the new sandbox time (POSIX seconds).

        :param seconds: how far.
        """
        return float(self._call("POST", "clock", {"advance": seconds})["now"])

    def now(self) -> float:
        """The sandbox clock (POSIX seconds)."""
        return float(self._call("GET", "clock")["now"])

    def queries(self, program: str = "mpn") -> list[dict[str, Any]]:
        """User-defined queries stored for ``program``.

        :param program: ``mpn`` or ``cmp``.
        """
        return self._call("GET", f"state/{program}/queries")

    def reports(self, program: str = "mpn") -> list[dict[str, Any]]:
        """Reports stored for ``program`` (raw, with internal ``_`` fields).

        :param program: ``mpn`` or ``cmp``.
        """
        return self._call("GET", f"state/{program}/reports")

    def executions(self, program: str = "mpn") -> list[dict[str, Any]]:
        """Executions stored for ``program``, with their current ``executionStatus``.

        :param program: ``mpn`` or ``cmp``.
        """
        return self._call("GET", f"state/{program}/executions")

    def expected_sha256(self, program: str, report_id: str, execution_id: str) -> str:
        """SHA-256 (hex) of the file an execution serves, after any gzip is decoded.

        :param program: ``mpn`` or ``cmp``.
        :param report_id: the report.
        :param execution_id: the execution.
        """
        return str(self._call("GET", f"sha256/{program}/{report_id}/{execution_id}")["sha256"])

    def expected_file(self, program: str, report_id: str, execution_id: str) -> dict[str, Any]:
        """``{"sha256", "bytes", "rows"}`` of the file an execution serves.

        :param program: ``mpn`` or ``cmp``.
        :param report_id: the report.
        :param execution_id: the execution.
        """
        return self._call("GET", f"sha256/{program}/{report_id}/{execution_id}")

    def wipe(self) -> None:
        """Forget every query, report and execution of both programs."""
        self._call("POST", "reset")

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()


class SandboxProcess:
    """``python -m airflow_provider_insights.sandbox`` in a subprocess; a context manager.

    :param state_dir: state directory (a temporary one, removed at exit, when ``None``).
    :param port: port to listen on (0 picks a free one; kept across :meth:`restart`).
    :param env: extra environment variables for the subprocess.
    :param host: address to bind.
    :param config: settings overrides applied at start.
    :param profile: reading of the API to start in (``documented`` or ``field``; default: the
        server's, ``$INSIGHTS_SANDBOX_PROFILE`` or ``documented``).
    :param switches: single-behaviour overrides applied at start.
    """

    def __init__(
        self,
        *,
        state_dir: str | Path | None = None,
        port: int = 0,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        config: dict[str, Any] | None = None,
        profile: str | None = None,
        switches: dict[str, Any] | None = None,
    ) -> None:
        self._owns_state_dir = state_dir is None
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.port = port
        self.host = host
        self.env = dict(env or {})
        self.config = dict(config or {})
        self.profile = profile
        self.switches = dict(switches or {})
        self._process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.ca_path = ""
        self._admin: SandboxAdminClient | None = None

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> SandboxProcess:
        """Start the server and wait until it listens."""
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="insights-sandbox-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ready = self.state_dir / f"ready-{uuid.uuid4().hex}.json"
        command = [
            sys.executable,
            "-m",
            "airflow_provider_insights.sandbox",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state_dir),
            "--ready-file",
            str(ready),
        ]
        if self.config:
            command += ["--config", json.dumps(self.config)]
        if self.profile:
            command += ["--profile", self.profile]
        if self.switches:
            command += ["--switches", json.dumps(self.switches)]
        log = (self.state_dir / "sandbox.log").open("ab")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        log.close()
        info = self._wait_ready(ready)
        ready.unlink(missing_ok=True)
        self.url, self.port, self.ca_path = info["url"], int(info["port"]), info["ca_path"]
        self._admin = SandboxAdminClient(self.url, self.ca_path)
        return self

    def _wait_ready(self, ready: Path) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self._process is not None
        while time.monotonic() < deadline:
            if ready.exists():
                return json.loads(ready.read_text())
            if self._process.poll() is not None:
                raise RuntimeError(f"the sandbox exited with {self._process.returncode}; see {self.log_path}")
            time.sleep(0.05)  # a subprocess gives no event to await; the ready file is the signal
        self.stop()
        raise RuntimeError(f"the sandbox did not start within {START_TIMEOUT_S}s; see {self.log_path}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self._admin is not None:
            self._admin.close()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None

    def restart(self) -> SandboxProcess:
        """Stop and start again on the same port and state dir (state survives)."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop, and remove the state dir if this object created it."""
        self.stop()
        if self._owns_state_dir and self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- information ------------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The server process id."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path:
        """Where the server's output goes."""
        assert self.state_dir is not None
        return self.state_dir / "sandbox.log"

    @property
    def admin(self) -> SandboxAdminClient:
        """The admin client."""
        if self._admin is None:
            raise RuntimeError("the sandbox is not running")
        return self._admin

    @property
    def authority_host(self) -> str:
        """The Entra ID host to use (tenant goes in the path)."""
        return self.url

    def api_base_url(self, program: str = "mpn") -> str:
        """Base URL of the Insights API for ``program``.

        :param program: ``mpn`` or ``cmp``.
        """
        return f"{self.url}{cred.PROGRAM_PATHS[program]}"

    def token_url(self, version: str = "v2.0") -> str:
        """The token endpoint (``v2.0`` or ``v1``).

        :param version: ``v2.0`` or ``v1``.
        """
        suffix = "oauth2/v2.0/token" if version == "v2.0" else "oauth2/token"
        return f"{self.url}/{cred.TENANT_ID}/{suffix}"

    def connection(self, program: str = "mpn", auth_type: str = "client_credentials") -> dict[str, Any]:
        """The Airflow connection (dict) that points at this sandbox.

        :param program: ``mpn`` or ``cmp``.
        :param auth_type: ``client_credentials``, ``certificate``, ``password`` or ``refresh_token``.
        """
        assert self.state_dir is not None
        return cred.build_connection(
            url=self.url, ca_path=self.ca_path, state_dir=self.state_dir, program=program, auth_type=auth_type
        )

    def connection_uri_env(self, program: str = "mpn", auth_type: str = "client_credentials") -> str:
        """The connection as JSON, for an ``AIRFLOW_CONN_<ID>`` variable.

        :param program: ``mpn`` or ``cmp``.
        :param auth_type: as for :meth:`connection`.
        """
        return cred.connection_json(self.connection(program, auth_type))
