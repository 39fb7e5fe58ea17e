"""Helpers for the hook tests: connections pointing at the sandbox, with per-test tweaks."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_insights.hooks.insights import PartnerInsightsHook


@pytest.fixture(autouse=True)
def wipe_sandbox_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """Leave the session sandbox as found: no queries, reports or executions made by these tests."""
    sandbox = request.getfixturevalue("sandbox") if "sb" in request.fixturenames else None
    yield
    if sandbox is not None:
        sandbox.admin.wipe()


@pytest.fixture
def sandbox_config(sb: Any) -> Callable[..., None]:
    """Change sandbox settings for one test (page size, next link style...); ``sb`` resets them per test."""

    def configure(**settings: Any) -> None:
        sb.admin.configure(**settings)

    return configure


@pytest.fixture
def conn_env(sb: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Define an Airflow connection to the sandbox (env var), with extra overrides; returns its id.

    ``conn_env(program="cmp", auth_type="password", conn_id="x", password="wrong", timeout=0.5)``:
    keyword arguments other than ``program``, ``auth_type``, ``conn_id``, ``login`` and ``password``
    go into the extra.
    """
    counter = iter(range(10_000))

    def make(
        *,
        program: str = "mpn",
        auth_type: str = "client_credentials",
        conn_id: str | None = None,
        login: str | None = None,
        password: str | None = None,
        **extra: Any,
    ) -> str:
        conn = sb.connection(program=program, auth_type=auth_type)
        conn = dict(conn)
        conn["extra"] = {**conn["extra"], **extra}
        if login is not None:
            conn["login"] = login
        if password is not None:
            conn["password"] = password
        conn_id = conn_id or f"insights_test_{program}_{auth_type}_{next(counter)}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return conn_id

    return make


@pytest.fixture
def make_hook(conn_env: Callable[..., str]) -> Callable[..., PartnerInsightsHook]:
    """A hook on a fresh sandbox connection with fast retries (the backoff is what slows tests)."""

    def make(**conn_options: Any) -> PartnerInsightsHook:
        return PartnerInsightsHook(conn_env(**conn_options), backoff_base=0.01, backoff_cap=0.05)

    return make


@pytest.fixture
def completed_execution(make_hook: Callable[..., PartnerInsightsHook], sb: Any) -> Callable[..., Any]:
    """Make a report whose execution has completed; returns ``(hook, execution)``."""
    import uuid

    def make(**conn_options: Any) -> Any:
        hook = make_hook(**conn_options)
        dataset = hook.list_datasets()[0]
        query = hook.create_query(
            name=f"hooklink{uuid.uuid4().hex[:8]}",
            query=f"SELECT {dataset.selectable_columns[0]} FROM {dataset.name}",
        )
        report = hook.create_report(
            report_name=f"hooklink{uuid.uuid4().hex[:8]}", query_id=query.query_id, execute_now=True
        )
        sb.admin.advance_clock(3600)
        execution = hook.get_latest_execution(report.report_id)
        assert execution is not None and execution.report_access_secure_link
        return hook, execution

    return make


class FlakyProxy:
    """A TCP relay to the sandbox that resets the first ``drops`` connections (a real connection fault).

    The sandbox's own ``reset`` fault only cuts downloads; API calls get their resets here. TLS goes
    through untouched, so the hook still verifies the sandbox's certificate.

    :param target_port: the sandbox's port on 127.0.0.1.
    :param drops: how many connections to reset before relaying.
    """

    def __init__(self, target_port: int, drops: int) -> None:
        import socket
        import threading

        self.target_port = target_port
        self.drops = drops
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import socket
        import struct
        import threading

        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.drops > 0:
                self.drops -= 1
                # SO_LINGER 0: close with a TCP RST, as a crashing peer or middlebox would.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: Any, sink: Any) -> None:
        import socket

        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        """Stop accepting connections."""
        self._closed.set()
        self._listener.close()


@pytest.fixture
def flaky_proxy(sb: Any) -> Iterator[Callable[[int], FlakyProxy]]:
    """Factory: ``flaky_proxy(drops)`` -> a :class:`FlakyProxy` in front of the sandbox, closed after the test."""
    proxies: list[FlakyProxy] = []

    def make(drops: int) -> FlakyProxy:
        proxy = FlakyProxy(int(sb.url.rsplit(":", 1)[1]), drops)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()
