"""Event-driven landing: a DAG runs when Partner Center has completed a recurring report's execution.

Not at a guessed hour, and not twice. Three pieces:

- ``partner_insights_event_driven_setup`` (manual): creates, or finds again by name, the query and a
  recurring report that Partner Center runs every 24 hours, and logs the report's id. Put that id
  in ``PARTNER_INSIGHTS_EVENT_REPORT_ID`` where the DAG processor and the triggerer run.
- The asset ``partner_insights_dynamics_usage_execution`` and its watcher: the triggerer polls the
  report (``PartnerInsightsNewExecutionTrigger``) and records one asset event per newly Completed
  execution, whose ``extra["payload"]`` names it (``report_id``, ``execution_id``,
  ``generated_time``, ``execution_status``; never a link).
- ``partner_insights_event_driven_landing``, scheduled on that asset: lands each execution at
  ``<root>/dynamics_usage_events/date=<generated date>/<execution id>.csv``, then updates the
  asset ``partner_insights_dynamics_usage_landed`` for whatever runs downstream.

The landing path depends only on the execution, and an execution already landed is left alone:
after a triggerer restart the watcher may announce the newest execution once more, and the run it
starts then changes nothing. One run may carry several executions (the scheduler gathers every event
queued since the previous run into one run): each of them is landed, in the order they completed.

The watcher's arguments are its identity (Airflow recreates the trigger when they change): they
are read from the environment, never computed (no ``datetime.now()``):

- ``PARTNER_INSIGHTS_EVENT_REPORT_ID``: the report to watch. Unset: the asset has no watcher yet.
- ``PARTNER_INSIGHTS_EVENT_IGNORE_BEFORE``: optional ISO 8601 moment; earlier executions are never landed.
- ``PARTNER_INSIGHTS_POLL_SECONDS``: seconds between two polls (default 300).
- ``PARTNER_INSIGHTS_DESTINATION_ROOT`` / ``PARTNER_INSIGHTS_DESTINATION_CONN_ID``: where files land,
  as for the other examples.
"""

# Operators are given task outputs (XComArg) where their annotations name the str it resolves to at
# run time; that is how Airflow is written, so this check is off for the DAG files only.
# mypy: disable-error-code="arg-type"

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_insights.operators.queries import PartnerInsightsCreateQueryOperator
from airflow_provider_insights.operators.reports import PartnerInsightsCreateReportOperator
from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator
from airflow_provider_insights.triggers.report_execution import PartnerInsightsNewExecutionTrigger

REPORT_NAME = "airflow_dynamics_usage_event_driven"
QUERY_NAME = "airflow_dynamics_usage_event_driven"
QUERY = "SELECT SKU, SalesModel, AvailableSeats, AssignedSeats, ActiveSeats FROM DynamicsUsage TIMESPAN LAST_MONTH"


def _default_destination_root() -> str:
    """A local folder under the demo directory, as a ``file://`` URI (no credentials needed)."""
    demo_dir = Path(os.environ.get("INSIGHTS_DEMO_DIR") or Path(__file__).resolve().parents[1])
    return (demo_dir.resolve() / ".airflow" / "data" / "partner_insights").as_uri()


DESTINATION_ROOT = (os.environ.get("PARTNER_INSIGHTS_DESTINATION_ROOT") or _default_destination_root()).rstrip("/")
DESTINATION_CONN_ID = os.environ.get("PARTNER_INSIGHTS_DESTINATION_CONN_ID") or None
LANDING_ROOT = f"{DESTINATION_ROOT}/dynamics_usage_events"
REPORT_ID = os.environ.get("PARTNER_INSIGHTS_EVENT_REPORT_ID") or None
IGNORE_BEFORE = os.environ.get("PARTNER_INSIGHTS_EVENT_IGNORE_BEFORE") or None
POLL_SECONDS = float(os.environ.get("PARTNER_INSIGHTS_POLL_SECONDS") or 300)

log = logging.getLogger(__name__)

# --8<-- [start:assets]
NEW_EXECUTION = Asset(
    name="partner_insights_dynamics_usage_execution",
    watchers=[
        AssetWatcher(
            name="partner_insights_dynamics_usage_new_execution",
            trigger=PartnerInsightsNewExecutionTrigger(
                report_id=REPORT_ID,
                poll_interval=POLL_SECONDS,
                ignore_before=IGNORE_BEFORE,
            ),
        )
    ]
    if REPORT_ID
    else [],
)
LANDED = Asset(name="partner_insights_dynamics_usage_landed", uri=LANDING_ROOT)
# --8<-- [end:assets]


def landing_uri(payload: dict[str, Any]) -> str:
    """Where an execution lands: keyed by its generation date and id only, so a re-run lands in place.

    :param payload: the watcher's event payload (``execution_id``, ``generated_time``...).
    """
    day = datetime.fromisoformat(payload["generated_time"]).astimezone(timezone.utc).date().isoformat()
    return f"{LANDING_ROOT}/date={day}/{payload['execution_id']}.csv"


def is_landed(uri: str) -> bool:
    """Whether ``uri`` exists: the transfer publishes atomically, so an object there is a whole file.

    :param uri: the landing URI.
    """
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(uri, conn_id=DESTINATION_CONN_ID).exists()


def executions_to_land(events: Any) -> list[dict[str, Any]]:
    """The executions a run's watcher events name, each once, oldest first, minus those landed already.

    :param events: the run's asset events of :data:`NEW_EXECUTION`.
    """
    payloads = {}
    for event in events:
        payload = (event.extra or {}).get("payload") or {}
        if payload.get("execution_id"):
            payloads.setdefault(payload["execution_id"], payload)
    plan = []
    for payload in sorted(payloads.values(), key=lambda p: p["generated_time"]):
        uri = landing_uri(payload)
        if is_landed(uri):
            log.info("Execution %s is already at %s: left as it is", payload["execution_id"], uri)
            continue
        plan.append({"report_id": payload["report_id"], "execution_id": payload["execution_id"], "destination": uri})
    return plan


# --8<-- [start:setup]
with DAG(
    dag_id="partner_insights_event_driven_setup",
    schedule=None,
    catchup=False,
    tags=["partner-insights", "example"],
) as setup_dag:

    @task
    def first_run_time() -> str:
        """When Partner Center should run the report first: 4 h 5 min from now, as the API wants it."""
        return (datetime.now(timezone.utc) + timedelta(hours=4, minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")

    @task
    def report_id_to_watch(report_id: str) -> str:
        """Say which id the watcher needs.

        :param report_id: the created or reused report.
        """
        log.info("Set PARTNER_INSIGHTS_EVENT_REPORT_ID=%s for the DAG processor and the triggerer", report_id)
        return report_id

    create_query = PartnerInsightsCreateQueryOperator(task_id="create_query", name=QUERY_NAME, query=QUERY)
    # Run again, it finds the Active report of that name running that query, and reuses it.
    create_report = PartnerInsightsCreateReportOperator(
        task_id="create_recurring_report",
        report_name=REPORT_NAME,
        query_id=create_query.output,
        execute_now=False,
        start_time=first_run_time(),
        recurrence_interval=24,
        format="csv",
    )
    report_id_to_watch(create_report.output)
# --8<-- [end:setup]

# --8<-- [start:landing]
with DAG(
    dag_id="partner_insights_event_driven_landing",
    schedule=[NEW_EXECUTION],
    catchup=False,
    max_active_runs=1,  # two runs never land the same execution at once
    tags=["partner-insights", "example"],
) as landing_dag:

    @task
    def plan_landing(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Which executions this run lands, and where (see :func:`executions_to_land`).

        :param triggering_asset_events: the context's asset events that started this run.
        """
        return executions_to_land(triggering_asset_events[NEW_EXECUTION] if triggering_asset_events else [])

    land = PartnerInsightsReportToStorageOperator.partial(
        task_id="land_execution",
        destination_conn_id=DESTINATION_CONN_ID,
        output_format="csv",
    ).expand_kwargs(plan_landing())

    @task(outlets=[LANDED])
    def announce_landed(results: list[dict[str, Any]], outlet_events: Any = None) -> list[str]:
        """Update :data:`LANDED` with what was written (uri, bytes, SHA-256 of each file).

        :param results: the transfer's results, one per execution landed.
        :param outlet_events: the context's outlet event accessors.
        """
        written = [{key: result[key] for key in ("uri", "bytes", "sha256")} for result in results]
        outlet_events[LANDED].extra = {"files": written}
        return [item["uri"] for item in written]

    announce_landed(land.output)
# --8<-- [end:landing]
