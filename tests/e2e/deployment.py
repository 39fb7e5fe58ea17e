"""One Airflow deployment: its configuration, its metadata database, its processes, and its REST API.

Every component gets the same environment (as every host of a real deployment gets the same
``airflow.cfg``): the PostgreSQL database, the executor, the api-server's URL for the task SDK, one JWT
secret, the connections (``AIRFLOW_CONN_*``) and the example DAGs' own variables. Timeouts that
decide how soon a dead process is noticed are shortened, so that the faults resolve in seconds.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from tests.e2e.services import Component, E2EError, wait_for_port
from tests.fixtures.storage import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags_examples"
AIRFLOW = [sys.executable, "-m", "airflow"]
ADMIN = "e2e"
WAIT_TIMEOUT_S = 240.0
POLL_S = 0.5

#: Seconds without a heartbeat after which a task (or a triggerer) counts as dead.
TASK_HEARTBEAT_TIMEOUT_S = 20
TRIGGERER_HEALTH_THRESHOLD_S = 15


def wait_until(what: str, probe: Callable[[], Any], timeout: float = WAIT_TIMEOUT_S) -> Any:
    """Poll ``probe`` until it returns something truthy, and return that.

    The deployment's processes give no event a client could await: the REST API and the metadata
    database are read, as a user's script would.

    :param what: what is awaited (for the error).
    :param probe: returns a falsy value until the condition holds.
    :param timeout: seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(POLL_S)
    raise E2EError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Deployment:
    """The configuration shared by every component of one deployment.

    :param executor: ``LocalExecutor`` or ``CeleryExecutor``.
    :param workdir: the deployment's folder (Airflow home, logs).
    :param database_url: the PostgreSQL database, as an SQLAlchemy URL (psycopg2).
    :param extra_env: connections and the example DAGs' variables.
    :param broker_url: the Celery broker (Redis), for the CeleryExecutor.
    """

    executor: str
    workdir: Path
    database_url: str
    extra_env: dict[str, str]
    broker_url: str | None = None
    api_port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    components: dict[str, Component] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        """``AIRFLOW_HOME``."""
        return self.workdir / "airflow-home"

    @property
    def api_url(self) -> str:
        """The api-server's base URL."""
        return f"http://127.0.0.1:{self.api_port}"

    def environment(self) -> dict[str, str]:
        """The environment of every component."""
        env = _base_environment()
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": self.executor,
                "AIRFLOW__CORE__FERNET_KEY": FERNET_KEY,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.home / "passwords.json"),
                "AIRFLOW__API_AUTH__JWT_SECRET": _JWT_SECRET,
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            }
        )
        if self.broker_url:
            env["AIRFLOW__CELERY__BROKER_URL"] = self.broker_url
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + self.database_url
        env.update(self.extra_env)
        return env

    def write_password_file(self) -> None:
        """The simple auth manager's passwords file: one admin, with this deployment's password."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "passwords.json").write_text(json.dumps({ADMIN: self.password}))

    def migrate(self) -> None:
        """``airflow db migrate`` into the (empty) database."""
        self.home.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "logs" / "db-migrate.log"
        migrate = Component("db-migrate", [*AIRFLOW, "db", "migrate"], self.environment(), log).start()
        assert migrate.process is not None
        if migrate.process.wait(600) != 0:
            raise E2EError(f"airflow db migrate failed; see {log}")

    def start(self, name: str, *args: str) -> Component:
        """Start one component (``airflow <args>``), logging to ``logs/<name>.log``.

        :param name: its name in this deployment, e.g. ``triggerer``.
        :param args: the ``airflow`` subcommand and its options.
        """
        log = self.workdir / "logs" / f"{name}.log"
        component = Component(name, [*AIRFLOW, *args], self.environment(), log).start()
        self.components[name] = component
        return component

    def start_all(self, celery_workers: int = 2) -> None:
        """Start the api-server, scheduler, dag-processor and triggerer (and the Celery workers).

        :param celery_workers: how many ``celery worker`` processes under the CeleryExecutor.
        """
        api = self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(self.api_port))
        self.start("scheduler", "scheduler")
        self.start("dag-processor", "dag-processor")
        self.start_triggerer()
        if self.executor == "CeleryExecutor":
            for number in range(1, celery_workers + 1):
                self.start_celery_worker(number)
        wait_for_port(self.api_port, "airflow api-server", api.process)

    def start_triggerer(self) -> Component:
        """Start (or restart) the triggerer."""
        return self.start("triggerer", "triggerer")

    def start_celery_worker(self, number: int) -> Component:
        """Start ``celery-worker-<number>`` (two concurrent tasks; logs read from files, not served).

        :param number: distinguishes the workers' Celery host names.
        """
        name = f"celery-worker-{number}"
        return self.start(
            name, "celery", "worker", "--concurrency", "2", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"
        )

    def stop_all(self) -> None:
        """Stop every component: all asked at once, then whatever is left killed."""
        for component in self.components.values():
            component.terminate()
        for component in self.components.values():
            component.stop()

    def log_files(self) -> list[Path]:
        """Every log file: the components' output and Airflow's task, trigger and processor logs."""
        roots = [self.workdir / "logs", self.home / "logs"]
        return sorted(path for root in roots if root.is_dir() for path in root.rglob("*") if path.is_file())


def _base_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT_S),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_THRESHOLD_S),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
        }
    )
    return env


# The deployments' secrets, shared by all their components (generated per run of the runner).
FERNET_KEY = Fernet.generate_key().decode()
_JWT_SECRET = secrets.token_hex(32)


class RestClient:
    """The api-server's public REST API (``/api/v2``), authenticated like a user's script.

    :param deployment: the deployment (its URL and the admin's password).
    """

    def __init__(self, deployment: Deployment) -> None:
        self.url = deployment.api_url
        self.session = requests.Session()
        answer = requests.post(
            f"{self.url}/auth/token", json={"username": ADMIN, "password": deployment.password}, timeout=30
        )
        if answer.status_code >= 400:
            raise E2EError(f"POST /auth/token answered {answer.status_code}: {answer.text[:200]}")
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call; a 4xx/5xx fails naming the route.

        :param method: HTTP method.
        :param path: under ``/api/v2``.
        :param kwargs: for ``requests`` (``json``, ``params``).
        """
        answer = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
        if answer.status_code >= 400:
            raise E2EError(f"{method} /api/v2{path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json() if answer.content else None

    def dag_is_parsed(self, dag_id: str) -> bool:
        """Whether the DAG processor has serialized the DAG yet.

        :param dag_id: the DAG.
        """
        return self.session.get(f"{self.url}/api/v2/dags/{dag_id}", timeout=30).status_code == 200

    def unpause(self, dag_id: str) -> None:
        """``PATCH /dags/{dag_id}`` with ``is_paused: false``.

        :param dag_id: the DAG.
        """
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, run_id: str, logical_date: str) -> dict[str, Any]:
        """``POST /dags/{dag_id}/dagRuns``.

        :param dag_id: the DAG.
        :param run_id: the run's id.
        :param logical_date: ISO 8601, UTC.
        """
        return self.call("POST", f"/dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": logical_date})

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """``GET /dags/{dag_id}/dagRuns/{run_id}``.

        :param dag_id: the DAG.
        :param run_id: the run.
        """
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of a DAG, oldest first.

        :param dag_id: the DAG.
        """
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "id", "limit": 100})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """The run's task instances by task id.

        :param dag_id: the DAG.
        :param run_id: the run.
        """
        answer = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in answer["task_instances"]}

    def return_value(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """A task's return value (XCom), deserialized.

        :param dag_id: the DAG.
        :param run_id: the run.
        :param task_id: the task.
        """
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.call("GET", path, params={"deserialize": "true", "stringify": "false"})["value"]

    def upstream_asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The asset events that triggered a run.

        :param dag_id: the DAG.
        :param run_id: the run.
        """
        return self.events_once_readable(f"/dags/{dag_id}/dagRuns/{run_id}/upstreamAssetEvents", {})

    def asset_events(self, asset_name: str) -> list[dict[str, Any]]:
        """Every event of one asset.

        :param asset_name: the asset's name.
        """
        assets = self.call("GET", "/assets", params={"name_pattern": asset_name})["assets"]
        if not assets:
            return []
        return self.events_once_readable("/assets/events", {"asset_id": assets[0]["id"], "limit": 100})

    def events_once_readable(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Asset events from ``path``, waiting out Airflow's 500 on a run that has not started.

        Airflow 3.3 answers 500 for any event whose created run is still queued: that run's
        ``start_date`` is NULL and the response model requires one (apache/airflow#71360). The
        run starts within a scheduler loop, and then the same call succeeds.

        :param path: under ``/api/v2``.
        :param params: the query.
        """

        def readable() -> tuple[list[dict[str, Any]]] | None:
            # A 1-tuple, because no events is an answer too.
            answer = self.session.get(f"{self.url}/api/v2{path}", params=params, timeout=30)
            if answer.status_code == 500:
                return None
            if answer.status_code >= 400:
                raise E2EError(f"GET /api/v2{path} answered {answer.status_code}: {answer.text[:300]}")
            return (answer.json()["asset_events"],)

        (events,) = wait_until(f"{path} to be readable (apache/airflow#71360)", readable)
        return events

    def wait_for_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """Wait until the run is finished; fail unless it succeeded.

        :param dag_id: the DAG.
        :param run_id: the run.
        """
        run = wait_until(
            f"{dag_id} {run_id} to finish", lambda: (r := self.dag_run(dag_id, run_id))["state"] in FINISHED and r
        )
        if run["state"] != "success":
            states = {task: ti["state"] for task, ti in self.task_instances(dag_id, run_id).items()}
            raise E2EError(f"{dag_id} {run_id} ended {run['state']}: {states}")
        return run


FINISHED = ("success", "failed")
