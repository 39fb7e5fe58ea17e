"""A recurring report that Partner Center runs by itself, and a daily pick-up of its newest file.

Three DAGs share one report, found by its name:

- ``partner_insights_recurring_report_setup`` (manual): creates the query and a report that Partner
  Center runs every 24 hours from a first run at least 4 hours ahead (the API refuses an earlier
  ``StartTime``). Run it once; running it again finds the same query and report by name.
- ``partner_insights_recurring_report_control`` (manual): pauses or resumes that report
  (trigger with ``{"action": "pause"}`` or ``{"action": "resume"}``).
- ``partner_insights_recurring_report_daily`` (daily): waits for the report's newest completed
  execution and copies it to storage.

Prefer the one-off pattern of ``partner_insights_daily_extract`` when you want each Airflow run to
own exactly its data interval; use a recurring report when Partner Center's own schedule is enough.
"""

# Operators are given task outputs (XComArg) where their annotations name the str it resolves to at
# run time; that is how Airflow is written, so this check is off for the DAG files only.
# mypy: disable-error-code="arg-type"

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, Param, task

try:
    from airflow.sdk import CronTriggerTimetable
except ImportError:  # Airflow 3.1 keeps it in core only
    from airflow.timetables.trigger import CronTriggerTimetable  # type: ignore[assignment]

from airflow_provider_insights.connection import DEFAULT_CONN_ID
from airflow_provider_insights.operators.queries import PartnerInsightsCreateQueryOperator
from airflow_provider_insights.operators.reports import (
    PartnerInsightsCreateReportOperator,
    PartnerInsightsPauseReportOperator,
    PartnerInsightsResumeReportOperator,
)
from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor
from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

REPORT_NAME = "airflow_dynamics_usage_recurring"
QUERY_NAME = "airflow_dynamics_usage"
CONN_ID = DEFAULT_CONN_ID


# Where files land, shared with the other examples (insights_destination.py; copy it next to this file).
try:  # Airflow puts the DAGs folder on sys.path: the module sits next to this file
    from insights_destination import DESTINATION_CONN_ID, DESTINATION_ROOT
except ImportError:  # loaded from the repository (tests, ``make demo``): the folder is the dags_examples package
    from dags_examples.insights_destination import DESTINATION_CONN_ID, DESTINATION_ROOT
POLL_SECONDS = float(os.environ.get("PARTNER_INSIGHTS_POLL_SECONDS") or 300)


@task
def find_report_id(report_name: str = REPORT_NAME) -> str:
    """Look the recurring report up by name and return its id (the hook loads only when this runs).

    :param report_name: the name the setup DAG gave the report.
    """
    from airflow_provider_insights.exceptions import PartnerInsightsConfigError
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    found = PartnerInsightsHook(partner_insights_conn_id=CONN_ID).list_reports(report_name=report_name)
    # The service's name filter may match more than the name itself (a prefix, say): keep exact matches.
    named = [report for report in found if report.report_name.casefold() == report_name.casefold()]
    # The setup DAG leaves a Paused or Inactive report as it is and makes a new one: take the Active one.
    active = [report for report in named if (report.report_status or "").casefold() == "active"]
    named = active or named
    if not named:
        raise PartnerInsightsConfigError(
            f"report_name: no report named {report_name!r}; run partner_insights_recurring_report_setup first"
        )
    if len(named) > 1:
        raise PartnerInsightsConfigError(
            f"report_name: {len(named)} reports are named {report_name!r} "
            f"({', '.join(report.report_id for report in named)}); delete all but one"
        )
    return named[0].report_id


# --8<-- [start:setup]
with DAG(
    dag_id="partner_insights_recurring_report_setup",
    schedule=None,
    catchup=False,
    tags=["partner-insights", "example"],
) as setup_dag:

    @task
    def first_run_time() -> str:
        """When Partner Center should run the report first: 4 h 5 min from now, as the API wants it."""
        first = datetime.now(timezone.utc) + timedelta(hours=4, minutes=5)
        return first.strftime("%Y-%m-%dT%H:%M:%SZ")

    create_query = PartnerInsightsCreateQueryOperator(
        task_id="create_query",
        name=QUERY_NAME,
        query="SELECT SKU, SalesModel, AvailableSeats, AssignedSeats, ActiveSeats FROM DynamicsUsage "
        "TIMESPAN LAST_MONTH",
    )

    create_report = PartnerInsightsCreateReportOperator(
        task_id="create_recurring_report",
        report_name=REPORT_NAME,
        query_id=create_query.output,
        execute_now=False,
        start_time=first_run_time(),
        recurrence_interval=24,  # hours; at least the dataset's minimumRecurrenceInterval, at most 2160
        recurrence_count=None,  # None: until deleted
        format="csv",
    )
# --8<-- [end:setup]

# --8<-- [start:control]
with DAG(
    dag_id="partner_insights_recurring_report_control",
    schedule=None,
    catchup=False,
    params={"action": Param("pause", enum=["pause", "resume"], description="What to do with the report")},
    tags=["partner-insights", "example"],
) as control_dag:
    report_id = find_report_id()

    @task.branch
    def choose_action(params: dict[str, Any] | None = None) -> str:
        """Follow the ``action`` param to the pause or the resume task.

        :param params: the run's params.
        """
        return f"{(params or {}).get('action', 'pause')}_report"

    pause = PartnerInsightsPauseReportOperator(task_id="pause_report", report_id=report_id)
    resume = PartnerInsightsResumeReportOperator(task_id="resume_report", report_id=report_id)

    report_id >> choose_action() >> [pause, resume]
# --8<-- [end:control]

# --8<-- [start:daily]
with DAG(
    dag_id="partner_insights_recurring_report_daily",
    # Some hours after Partner Center's own daily run; the sensor waits if it is late.
    schedule=CronTriggerTimetable("0 12 * * *", timezone="UTC", interval=timedelta(days=1)),
    catchup=False,
    max_active_runs=1,
    tags=["partner-insights", "example"],
) as daily_dag:
    recurring_report_id = find_report_id()

    # No execution_id: wait for the newest execution of the report, but only one generated during
    # this run's interval (the last 24 hours): if Partner Center's run of today is late, yesterday's
    # execution, which the previous Airflow run copied already, must not pass for today's.
    wait_for_newest = PartnerInsightsReportExecutionSensor(
        task_id="wait_for_newest_execution",
        report_id=recurring_report_id,
        generated_after="{{ data_interval_start }}",
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=12 * 60 * 60,
    )

    PartnerInsightsReportToStorageOperator(
        task_id="transfer_to_storage",
        report_id=recurring_report_id,
        execution_id=wait_for_newest.output,
        destination=DESTINATION_ROOT + "/dynamics_usage/date={{ ds }}/dynamics_usage.parquet",
        destination_conn_id=DESTINATION_CONN_ID,
        output_format="parquet",  # converted while streaming; needs the [parquet] extra (pyarrow)
        overwrite=True,
    )
# --8<-- [end:daily]
