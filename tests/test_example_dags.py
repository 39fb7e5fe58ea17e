"""The example DAGs parse, have the expected shape, and ``make demo`` really works end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT

DAGS_DIR = REPO_ROOT / "dags_examples"
EXPECTED_DAGS = {
    "partner_insights_daily_extract": {
        "create_query": {"create_report"},
        "create_report": {"wait_for_execution", "transfer_to_storage", "delete_report"},
        "wait_for_execution": {"transfer_to_storage"},
        "transfer_to_storage": {"delete_report"},
        "delete_report": set(),
    },
    "partner_insights_downstream_transform": {"summarise_products": set()},
    "partner_insights_recurring_report_setup": {
        "first_run_time": {"create_recurring_report"},
        "create_query": {"create_recurring_report"},
        "create_recurring_report": set(),
    },
    "partner_insights_recurring_report_control": {
        "find_report_id": {"choose_action", "pause_report", "resume_report"},
        "choose_action": {"pause_report", "resume_report"},
        "pause_report": set(),
        "resume_report": set(),
    },
    "partner_insights_event_driven_setup": {
        "first_run_time": {"create_recurring_report"},
        "create_query": {"create_recurring_report"},
        "create_recurring_report": {"report_id_to_watch"},
        "report_id_to_watch": set(),
    },
    "partner_insights_event_driven_landing": {
        "plan_landing": {"land_execution"},
        "land_execution": {"announce_landed"},
        "announce_landed": set(),
    },
    "partner_insights_recurring_report_daily": {
        "find_report_id": {"wait_for_newest_execution", "transfer_to_storage"},
        "wait_for_newest_execution": {"transfer_to_storage"},
        "transfer_to_storage": set(),
    },
}


@pytest.fixture(scope="module")
def dagbag():
    from tests.fixtures.airflow_compat import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_every_example_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == set(EXPECTED_DAGS)


def test_the_demo_runner_and_package_marker_are_not_parsed_as_dag_files(dagbag):
    parsed = {Path(path).name for path in dagbag.file_last_changed}
    assert parsed == {
        "partner_insights_daily_extract.py",
        "partner_insights_downstream_transform.py",
        "partner_insights_event_driven.py",
        "partner_insights_recurring_report.py",
    }


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_tasks_and_dependencies(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    actual = {task.task_id: set(task.downstream_task_ids) for task in dag.tasks}
    assert actual == EXPECTED_DAGS[dag_id]


def test_daily_extract_waits_in_the_triggerer_and_always_cleans_up(dagbag):
    dag = dagbag.dags["partner_insights_daily_extract"]
    assert dag.get_task("wait_for_execution").deferrable is True
    create_report = dag.get_task("create_report")
    assert create_report.execute_now is True
    # No window given: the operator covers the run's data interval itself (RUN_PERIOD).
    from airflow_provider_insights.operators.reports import RUN_PERIOD

    assert create_report.query_start_time is RUN_PERIOD
    assert create_report.query_end_time is RUN_PERIOD
    delete_report = dag.get_task("delete_report")
    # A teardown of create_report: runs whatever happened after it, never masks a failed run.
    assert delete_report.is_teardown
    assert dag.get_task("create_report").is_setup
    assert delete_report.trigger_rule == "all_done_setup_success"


def test_daily_extract_declares_its_destination_as_the_asset_the_transform_waits_for(dagbag):
    extract = dagbag.dags["partner_insights_daily_extract"]
    transfer = extract.get_task("transfer_to_storage")
    (asset,) = transfer.outlets
    assert asset.name == "partner_insights_customers_and_tenants"
    assert transfer.destination.startswith(asset.uri + "/date=")
    transform = dagbag.dags["partner_insights_downstream_transform"]
    # The very Asset (name and URI), not Asset.ref(name=...): with a reference, a deployment's
    # scheduler starts the transform without triggering_asset_events (make e2e shows it).
    assert transform.timetable.asset_condition == asset


def test_daily_extract_covers_the_previous_day(dagbag):
    import pendulum

    from tests.fixtures.airflow_compat import core_timetable

    dag = dagbag.dags["partner_insights_daily_extract"]
    timetable = core_timetable(dag.timetable)  # what dag.test() and the scheduler use
    interval = timetable.infer_manual_data_interval(run_after=pendulum.datetime(2024, 5, 2, tz="UTC"))
    assert (interval.start, interval.end) == (
        pendulum.datetime(2024, 5, 1, tz="UTC"),
        pendulum.datetime(2024, 5, 2, tz="UTC"),
    )


def test_recurring_daily_takes_only_an_execution_of_its_own_interval(dagbag):
    sensor = dagbag.dags["partner_insights_recurring_report_daily"].get_task("wait_for_newest_execution")
    assert "generated_after" in sensor.template_fields
    assert sensor.generated_after == "{{ data_interval_start }}"


def test_find_report_id_takes_the_exact_name_only(monkeypatch):
    # Mocked list_reports: the sandbox's name filter is exact, so it cannot play a service whose
    # (undocumented) filter also returns reports whose name merely starts with the one asked for.
    from airflow_provider_insights.exceptions import PartnerInsightsConfigError
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook
    from airflow_provider_insights.models import Report
    from dags_examples.partner_insights_recurring_report import REPORT_NAME, find_report_id

    answers = {
        "prefix": [Report("id-prefix", REPORT_NAME + "_old", "q"), Report("id-exact", REPORT_NAME.upper(), "q")],
        "none": [Report("id-prefix", REPORT_NAME + "_old", "q")],
        "two": [Report("id-1", REPORT_NAME, "q"), Report("id-2", REPORT_NAME.upper(), "q")],
    }
    case = {"now": "prefix"}
    monkeypatch.setattr(PartnerInsightsHook, "list_reports", lambda self, **_: answers[case["now"]])

    assert find_report_id.function() == "id-exact"
    case["now"] = "none"
    with pytest.raises(PartnerInsightsConfigError, match="no report named"):
        find_report_id.function()
    case["now"] = "two"
    with pytest.raises(PartnerInsightsConfigError, match="id-1, id-2"):
        find_report_id.function()


def parse_fresh(dag_file: str, expression: str, env: dict[str, str]) -> Any:
    """Parse a DAG file in a fresh interpreter with ``env`` added, and return ``expression`` (JSON) on its module.

    :param dag_file: the file's name in ``dags_examples/``.
    :param expression: a Python expression over ``module``.
    :param env: environment variables to set (an empty value unsets one, as the DAG files read it).
    """
    probe = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('probe', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        f"print(json.dumps({expression}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(DAGS_DIR / dag_file)],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_event_driven_asset_is_watched_once_a_report_id_is_set():
    """Without a report id the asset has no watcher; with one, the watcher's arguments come from the environment."""

    def watchers(report_id: str = "", ignore_before: str = "", poll_seconds: str = "") -> Any:
        return parse_fresh(
            "partner_insights_event_driven.py",
            "[[w.name, *w.trigger.serialize()] for w in module.NEW_EXECUTION.watchers]",
            {
                "PARTNER_INSIGHTS_EVENT_REPORT_ID": report_id,
                "PARTNER_INSIGHTS_EVENT_IGNORE_BEFORE": ignore_before,
                "PARTNER_INSIGHTS_POLL_SECONDS": poll_seconds,
            },
        )

    assert watchers() == []
    [[name, classpath, kwargs]] = watchers("r-1", "2024-05-01T00:00:00Z", "600")
    assert name == "partner_insights_dynamics_usage_new_execution"
    assert classpath.endswith("report_execution.PartnerInsightsNewExecutionTrigger")
    assert kwargs == {
        "report_id": "r-1",
        "partner_insights_conn_id": "partner_insights_default",
        "poll_interval": 600.0,
        "ignore_before": "2024-05-01T00:00:00+00:00",
    }


def test_event_driven_landing_path_depends_only_on_the_execution():
    from dags_examples.partner_insights_event_driven import LANDING_ROOT, landing_uri

    payload = {"execution_id": "e-1", "generated_time": "2024-05-01T23:30:00-02:00", "report_id": "r"}
    assert landing_uri(payload) == f"{LANDING_ROOT}/date=2024-05-02/e-1.csv"  # the UTC date


def test_destination_follows_the_environment(tmp_path):
    """PARTNER_INSIGHTS_DESTINATION_ROOT moves both the files and the Asset (checked in a fresh parse)."""
    uri, destination, conn_id = parse_fresh(
        "partner_insights_daily_extract.py",
        "[module.CUSTOMERS_AND_TENANTS.uri, module.dag.get_task('transfer_to_storage').destination, "
        "module.dag.get_task('transfer_to_storage').destination_conn_id]",
        {
            "PARTNER_INSIGHTS_DESTINATION_ROOT": "s3://bucket/insights/",
            "PARTNER_INSIGHTS_DESTINATION_CONN_ID": "aws_default",
        },
    )
    assert uri == "s3://bucket/insights/customers_and_tenants"
    assert destination.startswith("s3://bucket/insights/customers_and_tenants/date={{")
    assert conn_id == "aws_default"


def test_transform_summarises_per_product():
    import pandas as pd

    from dags_examples.partner_insights_downstream_transform import summarise

    frame = pd.DataFrame(
        {
            "CustomerName": ["a", "b", "a", "c"],
            "Product": ["Teams", "Teams", "Teams", "Azure"],
            "BilledRevenueUSD": ["10.5", "2", "1", "100"],
        }
    )
    summary = summarise(frame).to_dict("records")
    assert summary == [
        {"Product": "Azure", "rows": 1, "customers": 1, "billed_revenue_usd": 100.0},
        {"Product": "Teams", "rows": 3, "customers": 2, "billed_revenue_usd": 13.5},
    ]


def test_transform_names_the_columns_it_misses():
    import pandas as pd

    from dags_examples.partner_insights_downstream_transform import summarise

    with pytest.raises(ValueError, match="BilledRevenueUSD"):
        summarise(pd.DataFrame({"CustomerName": ["a"], "Product": ["x"]}))


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_make_demo_runs_end_to_end(tmp_path):
    """``python -m dags_examples.run_demo`` in its own directories: exit 0, both files written, no secret shown.

    Real parts throughout: the sandbox over HTTPS, Airflow's own database and ``dag.test()`` (with the
    sensor's trigger run in-process), the local filesystem.
    """
    from airflow_provider_insights.sandbox import credentials

    env = {**os.environ, "INSIGHTS_DEMO_DIR": str(tmp_path), "INSIGHTS_DEMO_VERBOSE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "dags_examples.run_demo"], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Demo finished" in result.stdout

    data_root = tmp_path / ".airflow" / "data" / "partner_insights" / "customers_and_tenants"
    (extract,) = data_root.glob("date=*/customers_and_tenants.csv")
    with extract.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "the extract is empty"
    assert {"CustomerName", "Product", "BilledRevenueUSD"} <= set(rows[0])
    summary = extract.with_name("customers_and_tenants.summary.csv")
    with summary.open(newline="") as handle:
        summary_rows = list(csv.DictReader(handle))
    assert sum(int(row["rows"]) for row in summary_rows) == len(rows)
    assert str(extract) in result.stdout

    # The one-off report was cleaned up by the teardown; the saved query stays for the next day.
    from airflow_provider_insights.sandbox import SandboxProcess

    with SandboxProcess(state_dir=tmp_path / ".sandbox") as sandbox:
        assert sandbox.admin.reports("mpn") == []
        names = [query.get("name") for query in sandbox.admin.queries("mpn")]
        assert names.count("airflow_customers_and_tenants_daily") == 1

    # Secrets of the sandbox connection never reach the output, task logs included (verbose run).
    for secret in (credentials.CLIENT_SECRET, credentials.REFRESH_TOKEN, credentials.USER_PASSWORD):
        assert secret not in output
    assert "sig=" not in output
