"""``make demo``: run the daily extract and the downstream transform against the local sandbox.

What it does, from a fresh clone once the virtualenv exists:

1. points Airflow at a throwaway but persistent home (``.airflow/``) whose DAGs folder is this
   package, and migrates its SQLite database;
2. starts the sandbox (the local HTTPS emulator of Entra ID and the Insights API; state in
   ``.sandbox/``) and exports ``AIRFLOW_CONN_PARTNER_INSIGHTS_DEFAULT`` for it;
3. runs ``partner_insights_daily_extract`` for yesterday with ``dag.test()`` (the deferrable sensor's
   trigger runs in-process), then ``partner_insights_downstream_transform`` on the file it wrote;
4. prints what was written and exits non-zero if anything failed.

Environment overrides (for tests, or to keep the repository clean):

- ``INSIGHTS_DEMO_DIR``: where ``.airflow/`` (home, database, data) and ``.sandbox/`` live
  (default: the repository).
- ``INSIGHTS_DEMO_VERBOSE=1`` or ``--verbose``: show Airflow's task logs.

Airflow reads its configuration when first imported, so :func:`main` sets the environment before
anything imports Airflow; keep Airflow imports inside functions here.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun

    from airflow_provider_insights.sandbox import SandboxProcess

DAGS_DIR = Path(__file__).resolve().parent
REPO_ROOT = DAGS_DIR.parent
EXTRACT_DAG_ID = "partner_insights_daily_extract"
TRANSFORM_DAG_ID = "partner_insights_downstream_transform"
TRANSFER_TASK_ID = "transfer_to_storage"
TRANSFORM_TASK_ID = "summarise_products"
CONN_ENV = "AIRFLOW_CONN_PARTNER_INSIGHTS_DEFAULT"
# Small sandbox timings: the execution goes Pending -> Running -> Completed in a couple of seconds,
# so the sensor really defers and its trigger polls a few times.
SANDBOX_TIMINGS = {"pending_s": 0.5, "running_s": 1.0}
POLL_SECONDS = "1"


class DemoError(Exception):
    """The demo could not complete; the message says what failed and where to look."""


@dataclass(frozen=True)
class DemoPaths:
    """Where the demo keeps its state.

    :param base: the demo directory (``INSIGHTS_DEMO_DIR``, default: the repository).
    """

    base: Path

    @property
    def airflow_home(self) -> Path:
        """The throwaway Airflow home: config, SQLite database, logs."""
        return self.base / ".airflow"

    @property
    def sandbox_state(self) -> Path:
        """The sandbox's persistent state (queries, reports, TLS material)."""
        return self.base / ".sandbox"

    @property
    def data_root(self) -> Path:
        """The local folder the example DAGs write to (the default ``PARTNER_INSIGHTS_DESTINATION_ROOT``)."""
        return self.airflow_home / "data" / "partner_insights"

    @classmethod
    def from_env(cls) -> DemoPaths:
        """Read ``INSIGHTS_DEMO_DIR``, defaulting to the repository."""
        return cls(base=Path(os.environ.get("INSIGHTS_DEMO_DIR") or REPO_ROOT).resolve())


def airflow_environment(paths: DemoPaths, *, verbose: bool) -> dict[str, str]:
    """The variables that make Airflow (and the example DAGs) use the demo's own places.

    Set explicitly rather than defaulted, so that a developer's own ``AIRFLOW_HOME`` or database is
    never touched by the demo.

    :param paths: the demo's directories.
    :param verbose: whether Airflow logs at INFO (task logs) or only warnings.
    """
    home = paths.airflow_home
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO" if verbose else "WARNING",
        "INSIGHTS_DEMO_DIR": str(paths.base),
        "PARTNER_INSIGHTS_DESTINATION_ROOT": paths.data_root.as_uri(),
        "PARTNER_INSIGHTS_DESTINATION_CONN_ID": "",
        "PARTNER_INSIGHTS_POLL_SECONDS": POLL_SECONDS,
    }


def migration_stamp(paths: DemoPaths) -> Path:
    """A file recording that the demo database was migrated by this version of Airflow.

    :param paths: the demo's directories.
    """
    from importlib.metadata import version

    return paths.airflow_home / f".migrated-apache-airflow-{version('apache-airflow')}"


def database_is_current(paths: DemoPaths) -> bool:
    """Whether this Airflow version already migrated the demo database (saves seconds on every rerun).

    :param paths: the demo's directories.
    """
    return (paths.airflow_home / "airflow.db").is_file() and migration_stamp(paths).is_file()


def start_db_migration(paths: DemoPaths) -> subprocess.Popen[bytes] | None:
    """Start ``airflow db migrate`` in the background (it overlaps with the sandbox's start-up).

    :param paths: the demo's directories.
    :return: the process, or ``None`` if the database is already current.
    """
    if database_is_current(paths):
        return None
    paths.airflow_home.mkdir(parents=True, exist_ok=True)
    log_path = paths.airflow_home / "db-migrate.log"
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "airflow", "db", "migrate"], stdout=log, stderr=subprocess.STDOUT, env=os.environ
        )


def finish_db_migration(process: subprocess.Popen[bytes] | None, paths: DemoPaths) -> None:
    """Wait for the migration, if one runs; fail with the path of its log if it failed.

    :param process: the ``airflow db migrate`` process, or ``None`` if none was needed.
    :param paths: the demo's directories.
    """
    if process is None:
        return
    if process.wait() != 0:
        raise DemoError(f"airflow db migrate failed; see {paths.airflow_home / 'db-migrate.log'}")
    migration_stamp(paths).touch()


def yesterday_logical_date() -> datetime:
    """Today 00:00 UTC: with the extract's timetable its data interval is the whole of yesterday."""
    now = datetime.now(timezone.utc)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def load_dag(dag_id: str) -> Any:
    """Parse the DAGs folder and return one DAG, failing on any import error.

    :param dag_id: the DAG to return.
    """
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    bag = DagBag(dag_folder=str(DAGS_DIR))
    if bag.import_errors:
        details = "\n".join(f"{path}: {error}" for path, error in bag.import_errors.items())
        raise DemoError(f"the example DAGs do not import:\n{details}")
    dag = bag.dags.get(dag_id)
    if dag is None:
        raise DemoError(f"no DAG {dag_id!r} in {DAGS_DIR}")
    return dag


def run_dag(dag_id: str, **test_kwargs: Any) -> DagRun:
    """Run one DAG with ``dag.test()``; fail naming the tasks that did not succeed.

    :param dag_id: the DAG to run.
    :param test_kwargs: passed to ``dag.test()`` (``logical_date``, ``run_conf``).
    """
    from airflow.utils.state import DagRunState, TaskInstanceState

    print(f"-> running {dag_id}", flush=True)
    with warnings.catch_warnings():
        # Airflow's own deprecation notices (e.g. about .airflowignore parsing) are noise in a demo.
        warnings.simplefilter("ignore", DeprecationWarning)
        dag = load_dag(dag_id)
        for task in dag.tasks:
            # Fail fast: dag.test() would otherwise sit out each retry_delay before exiting non-zero.
            task.retries = 0
        dag_run = dag.test(**test_kwargs)
    failed = sorted(
        f"{ti.task_id} ({ti.state})"
        for ti in dag_run.get_task_instances()
        if ti.state not in (TaskInstanceState.SUCCESS, TaskInstanceState.SKIPPED)
    )
    if dag_run.state != DagRunState.SUCCESS or failed:
        raise DemoError(
            f"{dag_id} ended {dag_run.state}; tasks not successful: {', '.join(failed) or 'none'} "
            f"(rerun with --verbose for the task logs)"
        )
    return dag_run


def task_result(dag_run: DagRun, task_id: str) -> Any:
    """The return value (XCom) of one task of a finished run.

    :param dag_run: the finished run.
    :param task_id: the task.
    """
    ti = dag_run.get_task_instance(task_id)
    if ti is None:
        raise DemoError(f"{dag_run.dag_id} has no task {task_id!r}")
    return ti.xcom_pull(task_ids=task_id)


def local_path(uri: str) -> Path:
    """The local file behind a ``file://`` URI.

    :param uri: a ``file://`` URI (the demo only writes locally).
    """
    parts = urlsplit(uri)
    if parts.scheme not in ("file", ""):
        raise DemoError(f"the demo expected a local file, got {uri}")
    return Path(url2pathname(parts.path))


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in chunks.

    :param path: the file.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def count_csv_rows(path: Path) -> int:
    """Data rows of a CSV file (the header excluded), counted as CSV so quoted newlines are right.

    :param path: the CSV file.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return max(0, sum(1 for _ in csv.reader(handle)) - 1)


def check_extract(result: Any) -> Path:
    """Check that the transfer's result describes the file really on disk; return its path.

    :param result: the transfer's XCom: ``{"uri", "bytes", "sha256", "rows", "format"}``.
    """
    if not isinstance(result, dict) or "uri" not in result:
        raise DemoError(f"{TRANSFER_TASK_ID} returned {result!r}, not a description of the file it wrote")
    path = local_path(result["uri"])
    if not path.is_file():
        raise DemoError(f"{TRANSFER_TASK_ID} reported {result['uri']} but there is no such file")
    actual = sha256_of(path)
    if result.get("sha256") and actual != result["sha256"]:
        raise DemoError(f"{path} has sha256 {actual}, the transfer reported {result['sha256']}")
    return path


def print_summary(
    extract: dict[str, Any], extract_path: Path, summaries: list[dict[str, Any]], paths: DemoPaths, started: float
) -> None:
    """Tell the user what happened and where to look.

    :param extract: the transfer's result.
    :param extract_path: the extracted file.
    :param summaries: the transform's result.
    :param paths: the demo's directories.
    :param started: ``time.monotonic()`` at the start.
    """
    rows = extract.get("rows")
    if rows is None and extract.get("format") == "csv":
        rows = count_csv_rows(extract_path)  # the transfer counts rows only when it converts
    print()
    print(f"Demo finished in {time.monotonic() - started:.0f} s.")
    print(f"  extract:   {extract_path}")
    print(
        f"             {extract.get('bytes')} bytes, {rows if rows is not None else '?'} rows, "
        f"format {extract.get('format')}"
    )
    print(f"             sha256 {extract.get('sha256')} (checked against the file)")
    for summary in summaries:
        print(f"  summary:   {local_path(summary['uri'])} ({summary['products']} products)")
    print(f"  Airflow:   AIRFLOW_HOME={paths.airflow_home} (SQLite database, logs)")
    print(f"  sandbox:   {paths.sandbox_state} (state kept between runs: the saved query is reused)")
    print("  next:      read docs/content/getting-started.md, or run `make test`")


def configure_sandbox(sandbox: SandboxProcess) -> None:
    """Make the sandbox fast and export the Airflow connection that points at it.

    :param sandbox: the running sandbox.
    """
    sandbox.admin.clear_faults()
    sandbox.admin.configure(**SANDBOX_TIMINGS)
    os.environ[CONN_ENV] = sandbox.connection_uri_env()


def run(paths: DemoPaths) -> int:
    """Everything after the environment is set: sandbox, database, the two DAG runs, the summary.

    :param paths: the demo's directories.
    """
    from airflow_provider_insights.sandbox import SandboxProcess

    started = time.monotonic()
    migration = start_db_migration(paths)
    try:
        print(f"-> starting the sandbox (state in {paths.sandbox_state})", flush=True)
        with SandboxProcess(state_dir=paths.sandbox_state) as sandbox:
            print(f"   sandbox at {sandbox.url}", flush=True)
            configure_sandbox(sandbox)
            print(f"-> {'migrating' if migration else 'reusing'} the Airflow database", flush=True)
            finish_db_migration(migration, paths)
            extract_run = run_dag(EXTRACT_DAG_ID, logical_date=yesterday_logical_date())
            extract = task_result(extract_run, TRANSFER_TASK_ID)
            extract_path = check_extract(extract)
            transform_run = run_dag(TRANSFORM_DAG_ID, run_conf={"source_uri": extract["uri"]})
            summaries = task_result(transform_run, TRANSFORM_TASK_ID) or []
    finally:
        if migration is not None and migration.poll() is None:
            migration.kill()
    print_summary(extract, extract_path, summaries, paths, started)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m dags_examples.run_demo``.

    :param argv: command-line arguments (``--verbose``).
    """
    parser = argparse.ArgumentParser(prog="python -m dags_examples.run_demo", description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="show Airflow's task logs")
    args = parser.parse_args(argv)
    verbose = args.verbose or os.environ.get("INSIGHTS_DEMO_VERBOSE") == "1"
    if "airflow" in sys.modules:
        # Too late to point Airflow elsewhere: its configuration is read on first import.
        print("run_demo must run before anything imports airflow", file=sys.stderr)
        return 2
    paths = DemoPaths.from_env()
    os.environ.update(airflow_environment(paths, verbose=verbose))
    try:
        return run(paths)
    except DemoError as err:
        print(f"\nDemo failed: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
