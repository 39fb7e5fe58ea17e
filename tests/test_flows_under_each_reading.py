"""The one-off and the recurring flows, run through Airflow (``dag.test()``), under each reading of the API.

Each flow runs once per sandbox profile (``documented`` and ``field``, see docs/content/sandbox.md):
single-status execution filters, failed runs that only show as an Inactive report, App+User
tokens for ``mpn``, report names in blob names, an inclusive ``QueryEndTime`` and an executions
list in no useful order. Real parts throughout: the sandbox over HTTPS, Airflow's metadata database,
the deferred sensor's trigger (run in-process by ``dag.test()``) and the local filesystem.
"""

from __future__ import annotations

import contextlib
import csv
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.airflow_env import TEST_DAGS_FOLDER, DagRunResult, run_dag_file
from tests.operators.helpers import PROGRAM, future_start, items_of, request_counts

pytestmark = pytest.mark.integration

DAG_FILE = TEST_DAGS_FOLDER / "flows_dags.py"
ROWS = 7
ONE_OFF_COLUMNS = ["CustomerName", "Product", "Month", "BilledRevenueUSD"]
#: A distinct run date per test: a one-off report's name carries it, so runs never find each other's.
RUN_DATES = {
    ("flow", "documented"): datetime(2024, 6, 11, tzinfo=timezone.utc),
    ("flow", "field"): datetime(2024, 6, 12, tzinfo=timezone.utc),
    ("failed", "documented"): datetime(2024, 6, 21, tzinfo=timezone.utc),
    ("failed", "field"): datetime(2024, 6, 22, tzinfo=timezone.utc),
    ("app_only", "field"): datetime(2024, 6, 30, tzinfo=timezone.utc),
}
#: The connection each profile needs for ``mpn``: the field reading refuses app-only tokens.
BLOB_NAMES = {"documented": "execution_id", "field": "report_name"}
USER_GRANT = {"documented": "client_credentials", "field": "refresh_token"}


@pytest.fixture
def reading(profiled_sb: Any, make_insights_conn: Callable[..., str]) -> str:
    """The profile in force, with ``partner_insights_default`` set to a grant it accepts."""
    profile = profiled_sb.admin.profile()["profile"]
    make_insights_conn(auth_type=USER_GRANT[profile])
    profiled_sb.admin.configure(report_rows=ROWS)
    return profile


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def report_ids(sb: Any) -> set[str]:
    return {str(report["reportId"]) for report in items_of(sb.admin.reports(PROGRAM))}


def blob_downloads(sb: Any) -> dict[str, int]:
    """How many secure-link downloads the sandbox served since its stats were reset, by route."""
    return {route: count for (_, route), count in request_counts(sb.admin.stats()).items() if "_blob" in route}


def run_one_off(sb: Any, case: str, profile: str, destination: Path) -> tuple[DagRunResult, float]:
    started = time.monotonic()
    result = run_dag_file(
        DAG_FILE,
        dag_id="flows_one_off",
        logical_date=RUN_DATES[(case, profile)],
        run_conf={"destination": destination.as_uri()},
    )
    return result, time.monotonic() - started


DAY_S = 24 * 3600


def execution_reads(sb: Any) -> int:
    """How many execution lookups the sandbox answered since its stats were reset."""
    return sum(
        count
        for (method, route), count in request_counts(sb.admin.stats()).items()
        if method == "GET" and "execution" in route.lower()
    )


#: Execution lookups that only the trigger can have made: the worker's single check makes at most
#: one per documented status and a second round (9), whichever reading is played.
TRIGGER_READS = 20


def await_reads(sb: Any, reads: int, stop: threading.Event) -> bool:
    """Wait until the sandbox answered ``reads`` more execution lookups; ``False`` if told to stop first."""
    target = execution_reads(sb) + reads
    while not stop.is_set():
        if execution_reads(sb) >= target:
            return True
        stop.wait(0.02)
    return False


@contextlib.contextmanager
def clock_driven_by_the_trigger(sb: Any, steps: list[tuple[int, Callable[[], float]]]) -> Iterator[list[float]]:
    """While the body runs a DAG, advance the sandbox clock once the deferred sensor has polled.

    :param steps: ``(reads, seconds)``: after ``reads`` more execution lookups, move the clock
        ``seconds()`` on. Holding the service back until the trigger has looked proves it did the waiting.
    Yields the wall-clock times of the moves.
    """
    moved: list[float] = []
    stop = threading.Event()

    def drive() -> None:
        for reads, seconds in steps:
            if not await_reads(sb, reads, stop):
                return
            sb.admin.advance_clock(seconds())
            moved.append(time.time())

    sb.admin.reset_stats()
    helper = threading.Thread(target=drive, daemon=True)
    helper.start()
    try:
        yield moved
    finally:
        stop.set()
        helper.join()


# ---------------------------------------------------------------------------------------------
# The one-off flow
# ---------------------------------------------------------------------------------------------


def test_the_one_off_flow_lands_the_days_rows_and_leaves_nothing(airflow_db, reading, profiled_sb, tmp_path):
    sb = profiled_sb
    reports_before = report_ids(sb)
    destination = tmp_path / "extract.csv"

    result, _ = run_one_off(sb, "flow", reading, destination)

    assert result.state == "success", result.task_states
    assert set(result.task_states.values()) == {"success"}
    rows = read_csv(destination)
    assert len(rows) == ROWS
    assert list(rows[0]) == ONE_OFF_COLUMNS
    # The default window is the day before the run, [D 00:00:00, D 23:59:59]: day D only, whether
    # QueryEndTime is exclusive (documented) or inclusive (field).
    day_before = (RUN_DATES[("flow", reading)] - timedelta(days=1)).strftime("%Y-%m-%d")
    assert {row["Month"] for row in rows} == {day_before}
    assert report_ids(sb) == reports_before  # the one-off report was deleted
    assert list(tmp_path.iterdir()) == [destination]  # no partial or temporary file beside it
    report_id = result.xcoms["create_report"]
    # One download, no retry: under the field reading its secure link is "<report name>_<execution id>.csv".
    assert blob_downloads(sb) == {"/_blob/{program}/{name}": 1}
    assert sb.admin.profile()["switches"]["blob_name"] == BLOB_NAMES[reading]
    assert report_id not in report_ids(sb)


def app_only_connection(sb: Any, monkeypatch: pytest.MonkeyPatch, auth_type: str | None) -> None:
    """``partner_insights_default``: mpn with a client secret, ``auth_type`` explicit or (``None``) inferred."""
    connection = sb.connection(program=PROGRAM, auth_type="client_credentials")
    extra = {key: value for key, value in connection["extra"].items() if key != "auth_type"}
    if auth_type is not None:
        extra["auth_type"] = auth_type
    monkeypatch.setenv("AIRFLOW_CONN_PARTNER_INSIGHTS_DEFAULT", json.dumps({**connection, "extra": extra}))


@pytest.mark.parametrize(
    ("auth_type", "says"),
    [
        # Explicit: the provider lets it through (the user asked for it) and the service's 403 ends the run.
        ("client_credentials", ["PartnerInsightsApiError", "403", "App+User", "Executive Report Viewer"]),
        # Inferred from a bare client secret: refused before any request, pointing at the fix.
        (None, ["refresh_token", "bootstrap"]),
    ],
    ids=["explicit", "inferred"],
)
@pytest.mark.parametrize("profiled_sb", ["field"], indirect=True)
def test_an_app_only_mpn_connection_fails_fast_under_the_field_reading(
    airflow_db, profiled_sb, monkeypatch, tmp_path, capfd, auth_type, says
):
    from airflow_provider_insights.sandbox import credentials

    sb = profiled_sb
    app_only_connection(sb, monkeypatch, auth_type)
    reports_before, queries_before = report_ids(sb), len(items_of(sb.admin.queries(PROGRAM)))

    result, elapsed = run_one_off(sb, "app_only", "field", tmp_path / "extract.csv")

    assert result.state == "failed"
    assert result.task_states["create_query"] == "failed", result.task_states
    assert elapsed < 60  # no retries, no waiting: the sensor's 120 s timeout never comes into it
    assert (report_ids(sb), len(items_of(sb.admin.queries(PROGRAM)))) == (reports_before, queries_before)
    assert list(tmp_path.iterdir()) == []
    output = capfd.readouterr()
    text = output.out + output.err
    for words in says:
        assert words in text, text[-3000:]
    assert credentials.CLIENT_SECRET not in text


# ---------------------------------------------------------------------------------------------
# A failed one-off run
# ---------------------------------------------------------------------------------------------


def wait_ended(run_id: str) -> float:
    """When the ``wait`` task of a finished run ended (POSIX seconds)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.query(TaskInstance).filter_by(run_id=run_id, task_id="wait").one().end_date.timestamp()


def test_a_failed_one_off_run_fails_the_deferred_wait_within_a_poll_or_two(
    airflow_db, reading, profiled_sb, tmp_path, capfd
):
    sb = profiled_sb
    # The run stays Pending until the trigger has polled; then it fails at once: a Failed
    # execution (documented), or it vanishes and the report turns Inactive (field).
    sb.admin.configure(pending_s=3600, running_s=3600)
    sb.admin.set_faults([{"kind": "fail_execution"}])
    reports_before = report_ids(sb)

    with clock_driven_by_the_trigger(sb, [(TRIGGER_READS, lambda: 3 * 3600)]) as moved:
        result, elapsed = run_one_off(sb, "failed", reading, tmp_path / "extract.csv")

    assert result.state == "failed"
    assert result.task_states["wait"] == "failed", result.task_states
    assert result.task_states["transfer"] == "upstream_failed"
    assert result.task_states["delete_report"] == "success"
    [failed_at] = moved
    # Polls are 0.05 s apart: a poll or two after the run failed, not the sensor's 120 s timeout.
    # The bound leaves room for dag.test()'s own loop, which took 5.6 s once on Airflow 3.2.
    assert wait_ended(result.run_id) - failed_at < 15
    assert elapsed < 60  # the sensor would time out after 120 s
    assert report_ids(sb) == reports_before
    assert list(tmp_path.iterdir()) == []
    output = capfd.readouterr()
    text = output.out + output.err
    assert "Pausing task as DEFERRED" in text  # the worker saw it Pending and handed the wait to the trigger
    expected = "ended with status 'none (report Inactive)'" if reading == "field" else "ended with status 'Failed'"
    assert expected in text, text[-3000:]


# ---------------------------------------------------------------------------------------------
# The recurring flow
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def recurring_report_name(sb: Any) -> Iterator[str]:
    """A name of its own for this test's recurring report, deleted (with its executions) afterwards."""
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    name = f"flows recurring {uuid.uuid4().hex[:8]}"
    yield name
    hook = PartnerInsightsHook()
    for report in hook.list_reports(report_name=name):
        hook.delete_report(report.report_id)


def test_the_recurring_flow_takes_the_newest_execution_after_the_bound(
    airflow_db, reading, profiled_sb, recurring_report_name, tmp_path
):
    sb = profiled_sb
    sb.admin.set_profile(
        execution_order="scrambled"
    )  # the field reading's order; the documented one lists oldest first
    first_run = future_start(sb, 5).replace(microsecond=0)  # the service wants StartTime 4 hours ahead at least
    bound = first_run + timedelta(hours=12)  # after the first run, before the second
    destination = tmp_path / "recurring.csv"
    conf = {
        "report_name": recurring_report_name,
        "start_time": first_run.isoformat(),
        "generated_after": bound.isoformat(),
        "destination": destination.as_uri(),
    }
    # Once the sensor waits in the trigger, the report runs once, before the bound: the sensor must not
    # take that one. Once it has looked again, the report runs twice more.
    steps = [
        (TRIGGER_READS, lambda: first_run.timestamp() + 1 - sb.admin.now()),
        (TRIGGER_READS, lambda: first_run.timestamp() + 2 * DAY_S + 1 - sb.admin.now()),
    ]
    with clock_driven_by_the_trigger(sb, steps) as moved:
        result = run_dag_file(DAG_FILE, dag_id="flows_recurring", logical_date=None, run_conf=conf)

    assert len(moved) == 2
    assert result.state == "success", result.task_states
    report_id = result.xcoms["create_report"]
    executions = [e for e in items_of(sb.admin.executions(PROGRAM)) if e["reportId"] == report_id]
    assert len(executions) == 3
    newest = max(executions, key=lambda execution: execution["_createdAt"])
    assert result.xcoms["wait"] == newest["executionId"]
    # The trap was set: the service lists the newest execution neither first nor last.
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    listed = [e.execution_id for e in PartnerInsightsHook().list_executions(report_id, latest=False)]
    assert sorted(listed) == sorted(e["executionId"] for e in executions)
    assert newest["executionId"] not in (listed[0], listed[-1]), listed
    rows = read_csv(destination)
    assert len(rows) == ROWS
    assert list(rows[0]) == ["CustomerName", "Product", "BilledRevenueUSD"]
