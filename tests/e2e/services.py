"""Processes the deployment is made of: PostgreSQL, Redis and the Airflow components, on loopback.

Every process is started in its own session (process group), so that ``kill -9`` of a component takes
its children with it, as a crashed host or an OOM-killed container would, and so that shutdown leaves
nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.fixtures.storage import free_port

#: Debian's PostgreSQL server binaries (the newest installed major version).
POSTGRES_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
START_TIMEOUT_S = 120.0


class E2EError(Exception):
    """A check of the end-to-end run failed, or the deployment could not be set up."""


def wait_for_port(port: int, name: str, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until something listens on ``127.0.0.1:port``.

    :param port: the port.
    :param name: what should listen (for the error).
    :param process: the process expected to listen; its early exit fails at once.
    """
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise E2EError(f"{name} exited with code {process.returncode} before listening on port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.2)  # a server gives no event to await; its port opening is the signal
    raise E2EError(f"{name} did not listen on port {port} within {START_TIMEOUT_S:.0f}s")


@dataclass
class Component:
    """One long-running process, its log file, and how to kill it.

    :param name: e.g. ``scheduler`` or ``celery-worker-1``.
    :param command: the command line.
    :param env: its environment.
    :param log_path: where its stdout and stderr go.
    :param cwd: its working directory (default: the log's folder, never the repository, so that
        nothing is importable from there that a real deployment would not have).
    """

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> Component:
        """Start the process in its own session, appending to its log."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd or self.log_path.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        """The process id (of the group leader)."""
        if self.process is None:
            raise E2EError(f"{self.name} is not running")
        return self.process.pid

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.process is not None and self.process.poll() is None

    def process_tree(self) -> list[psutil.Process]:
        """The process and all its descendants (a task may run in a session of its own)."""
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def kill_hard(self) -> int:
        """``kill -9`` the process and every descendant at once, and reap it; return how many were killed."""
        tree = self.process_tree()
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        assert self.process is not None
        self.process.wait(30)
        return len(tree)

    def terminate(self) -> None:
        """SIGTERM the process group (returns at once)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL what is left of the process tree after 20 s."""
        if self.process is None:
            return
        tree = self.process_tree()
        if self.process.poll() is None:
            self.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(20)
        for process in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


def _as_postgres_user() -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` user the package creates."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


@contextlib.contextmanager
def postgres(workdir: Path) -> Iterator[int]:
    """A PostgreSQL cluster (Debian's newest version) in ``workdir`` on a loopback port (trust auth); always stopped.

    :param workdir: an empty folder for the data directory and the socket.
    :return: the port.
    """
    if not POSTGRES_BINS:
        raise E2EError("PostgreSQL is not installed (/usr/lib/postgresql); `make e2e` installs Debian's postgresql")
    bin_dir = POSTGRES_BINS[-1].parent
    workdir.mkdir(parents=True, exist_ok=True)
    _chown_to_postgres(workdir)
    data, port, sudo = workdir / "data", free_port(), _as_postgres_user()
    subprocess.run(
        [*sudo, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300"
    ctl = [*sudo, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(workdir / "postgres.log")]
    subprocess.run([*ctl, "-o", options, "-w", "start"], check=True, capture_output=True)
    try:
        yield port
    finally:
        subprocess.run([*ctl, "-m", "immediate", "-w", "stop"], capture_output=True)


@contextlib.contextmanager
def redis(workdir: Path) -> Iterator[int]:
    """``redis-server`` on a loopback port, persisting nothing; always stopped.

    :param workdir: a folder for its working directory and log.
    :return: the port.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise E2EError("redis-server is not installed; `make e2e` installs Debian's redis-server")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = Component("redis", [*command, "--dir", str(workdir)], dict(os.environ), workdir / "redis.log").start()
    try:
        wait_for_port(port, "redis-server", server.process)
        yield port
    finally:
        server.stop()
