"""``python -m tests.e2e.run [--executors local,celery]``: the example DAGs in a real Airflow deployment.

Starts, on loopback and in a temporary folder: PostgreSQL, the sandbox, moto's S3 server, Azurite and
(for Celery) Redis; then, for each executor in turn, a fresh metadata database and the Airflow
processes, and runs that executor's steps (``tests/e2e/scenarios.py``). Everything is stopped at the
end, whatever happened. Exit status 0 only if every check held.

The LocalExecutor deployment writes to S3 (moto), the CeleryExecutor one to ADLS (Azurite).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from importlib.metadata import version
from pathlib import Path

import psycopg2

from airflow_provider_insights.sandbox import SandboxProcess
from tests.e2e.deployment import FERNET_KEY, Deployment, RestClient
from tests.e2e.metadb import MetadataDB
from tests.e2e.scenarios import SCENARIOS
from tests.e2e.scene import DESTINATION_PREFIX, Scene
from tests.e2e.services import E2EError, postgres, redis
from tests.fixtures.storage import (
    AZURE_CONN_ID,
    S3_CONN_ID,
    AzureStore,
    S3Store,
    azure_connection,
    conn_env_name,
    s3_connection,
    start_azurite,
    start_moto,
)

EXECUTORS = {"local": "LocalExecutor", "celery": "CeleryExecutor"}
TEMPLATE_DB = "airflow_template"


class Infrastructure:
    """The servers every deployment shares: PostgreSQL, Redis, the sandbox and the two stores.

    :param workdir: the run's temporary folder.
    :param stack: closes every server at the end.
    :param with_redis: whether to start Redis (only the CeleryExecutor needs it).
    """

    def __init__(self, workdir: Path, stack: contextlib.ExitStack, *, with_redis: bool) -> None:
        self.workdir = workdir
        self.pg_port = stack.enter_context(postgres(workdir / "postgres"))
        self.redis_port = stack.enter_context(redis(workdir / "redis")) if with_redis else None
        self.sandbox = stack.enter_context(SandboxProcess(state_dir=workdir / "sandbox"))
        self.s3 = S3Store(endpoint=stack.enter_context(start_moto()), bucket=f"e2e-{uuid.uuid4().hex[:8]}")
        self.s3.client().create_bucket(Bucket=self.s3.bucket)
        self.adls = AzureStore(
            blob_endpoint=stack.enter_context(start_azurite()), container=f"e2e-{uuid.uuid4().hex[:8]}"
        )
        self.adls.container_client().create_container()

    def database_url(self, name: str, driver: str = "+psycopg2") -> str:
        """An SQLAlchemy URL of one database of the cluster.

        :param name: the database.
        :param driver: the SQLAlchemy driver suffix (empty for a libpq URL).
        """
        return f"postgresql{driver}://postgres@127.0.0.1:{self.pg_port}/{name}"

    def create_database(self, name: str, template: str | None = None) -> None:
        """``CREATE DATABASE`` (a copy of ``template`` when given: migrated once, copied per deployment).

        :param name: the new database.
        :param template: the database to copy.
        """
        connection = psycopg2.connect(self.database_url("postgres", driver=""))
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        finally:
            connection.close()

    def store_for(self, label: str) -> S3Store | AzureStore:
        """Where a deployment's extract writes: S3 under the LocalExecutor, ADLS under the CeleryExecutor.

        :param label: ``local`` or ``celery``.
        """
        return self.s3 if label == "local" else self.adls

    def dag_environment(self, label: str) -> dict[str, str]:
        """Connections and the example DAGs' variables, for one deployment.

        :param label: ``local`` or ``celery``.
        """
        store = self.store_for(label)
        root = store.asset_uri(DESTINATION_PREFIX)
        return {
            "AIRFLOW_CONN_PARTNER_INSIGHTS_DEFAULT": self.sandbox.connection_uri_env(),
            conn_env_name(S3_CONN_ID): json.dumps(s3_connection(self.s3.endpoint)),
            conn_env_name(AZURE_CONN_ID): json.dumps(azure_connection(self.adls.blob_endpoint)),
            "PARTNER_INSIGHTS_DESTINATION_ROOT": root,
            "PARTNER_INSIGHTS_DESTINATION_CONN_ID": store.conn_id or "",
            "PARTNER_INSIGHTS_POLL_SECONDS": "1",
            "PARTNER_INSIGHTS_RETRY_DELAY_SECONDS": "1",
        }

    def deployment(self, label: str, database: str) -> Deployment:
        """A deployment of one executor on one database (not started).

        :param label: ``local`` or ``celery``.
        :param database: its metadata database.
        """
        broker = f"redis://127.0.0.1:{self.redis_port}/0" if label == "celery" else None
        return Deployment(
            executor=EXECUTORS[label],
            workdir=self.workdir / label,
            database_url=self.database_url(database),
            extra_env=self.dag_environment(label),
            broker_url=broker,
        )


def migrate_template(infra: Infrastructure) -> None:
    """Migrate the schema once, into a database the deployments are copied from."""
    infra.create_database(TEMPLATE_DB)
    infra.deployment("local", TEMPLATE_DB).migrate()


def run_executor(infra: Infrastructure, label: str, started: float) -> None:
    """Start one deployment on a fresh copy of the database, run its steps, stop it.

    :param infra: the shared servers.
    :param label: ``local`` or ``celery``.
    :param started: ``time.monotonic()`` at the start of the run.
    """
    database = f"airflow_{label}"
    infra.create_database(database, template=TEMPLATE_DB)
    deployment = infra.deployment(label, database)
    deployment.write_password_file()
    try:
        deployment.start_all()
        scene = Scene(
            label=label,
            deployment=deployment,
            api=RestClient(deployment),
            db=MetadataDB(infra.database_url(database, driver=""), FERNET_KEY),
            sandbox=infra.sandbox,
            store=infra.store_for(label),
            started=started,
        )
        components = ", ".join(f"{name} (pid {c.pid})" for name, c in deployment.components.items())
        scene.observe(f"{deployment.executor} on PostgreSQL: {components}")
        for step in SCENARIOS[label]:
            scene.observe(f"-- {step.__name__.replace('_', ' ')}")
            step(scene)
    finally:
        deployment.stop_all()


def main(argv: list[str] | None = None) -> int:
    """Entry point.

    :param argv: command-line arguments.
    """
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.run", description=__doc__.split("\n")[0])
    parser.add_argument("--executors", default="local,celery", help="comma-separated: local, celery")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs) and print it")
    args = parser.parse_args(argv)
    labels = [label.strip() for label in args.executors.split(",") if label.strip()]
    unknown = sorted(set(labels) - set(EXECUTORS))
    if unknown:
        parser.error(f"--executors: unknown {', '.join(unknown)}; allowed: {', '.join(EXECUTORS)}")
    started = time.monotonic()
    print(f"e2e: apache-airflow {version('apache-airflow')}, executors: {', '.join(labels)}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="insights-e2e-"))
    workdir.chmod(0o755)  # PostgreSQL runs as its own user and must reach its folder inside
    keep = args.keep
    try:
        with contextlib.ExitStack() as stack:
            infra = Infrastructure(workdir, stack, with_redis="celery" in labels)
            print(
                f"[{time.monotonic() - started:6.1f}s  setup] PostgreSQL on :{infra.pg_port}, sandbox, moto, Azurite"
                + (f", Redis on :{infra.redis_port}" if infra.redis_port else ""),
                flush=True,
            )
            migrate_template(infra)
            print(f"[{time.monotonic() - started:6.1f}s  setup] airflow db migrate (PostgreSQL): done", flush=True)
            for label in labels:
                run_executor(infra, label, started)
    except E2EError as err:
        keep = True
        print(f"\nFAILED: {err}\n(logs kept in {workdir})", file=sys.stderr)
        return 1
    except Exception:
        keep = True
        traceback.print_exc()
        print(f"(logs kept in {workdir})", file=sys.stderr)
        return 1
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ne2e passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
