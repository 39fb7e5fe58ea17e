"""Daily extract: yesterday's Partner Insights rows, as one CSV file per day in your storage.

Each run asks the API for exactly its own data interval (a one-off ``ExecuteNow`` report whose
``QueryStartTime``/``QueryEndTime`` are the run's interval, taken by the operator itself), waits for
the execution without holding a worker slot (deferrable sensor), streams the file from the secure
link to the destination, then deletes the one-off report whatever happened, so nothing piles up in
Partner Center.

Where the file goes is read from the environment when the DAG is parsed, so that the Asset the DAG
declares names the place it really writes to (see ``insights_destination.py``, shared with the
downstream transform: copy both files):

- ``PARTNER_INSIGHTS_DESTINATION_ROOT``: a folder URI. Default: a local ``file://`` folder under
  ``$INSIGHTS_DEMO_DIR/.airflow/data`` (the repository by default), which is what ``make demo`` uses.
- ``PARTNER_INSIGHTS_DESTINATION_CONN_ID``: the Airflow connection of that store, if it needs one.
- ``PARTNER_INSIGHTS_POLL_SECONDS``: how often to check the execution (default 300; the demo sets 1).
- ``PARTNER_INSIGHTS_RETRY_DELAY_SECONDS``: how long a failed task waits before its retry (default
  300; ``make e2e`` sets 1).

Every component that parses this file (DAG processor, workers, triggerer) must see the same values.
"""

# Operators are given task outputs (XComArg) where their annotations name the str it resolves to at
# run time; that is how Airflow is written, so this check is off for the DAG files only.
# mypy: disable-error-code="arg-type"

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG

try:
    from airflow.sdk import CronTriggerTimetable
except ImportError:  # Airflow 3.1 keeps it in core only
    from airflow.timetables.trigger import CronTriggerTimetable  # type: ignore[assignment]

from airflow_provider_insights.operators.queries import PartnerInsightsCreateQueryOperator
from airflow_provider_insights.operators.reports import (
    PartnerInsightsCreateReportOperator,
    PartnerInsightsDeleteReportOperator,
)
from airflow_provider_insights.query_builder import InsightsQuery
from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor
from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

# The destination and its Asset, shared with the downstream transform (insights_destination.py).
try:  # Airflow puts the DAGs folder on sys.path: the module sits next to this file
    from insights_destination import CUSTOMERS_AND_TENANTS, DESTINATION_CONN_ID
except ImportError:  # loaded from the repository (tests, ``make demo``): the folder is the dags_examples package
    from dags_examples.insights_destination import CUSTOMERS_AND_TENANTS, DESTINATION_CONN_ID

POLL_SECONDS = float(os.environ.get("PARTNER_INSIGHTS_POLL_SECONDS") or 300)
RETRY_DELAY = timedelta(seconds=float(os.environ.get("PARTNER_INSIGHTS_RETRY_DELAY_SECONDS") or 300))

# --8<-- [start:query]
# Built with the query builder: the dataset and columns are checked against the live dataset
# catalog before the query is created (validate=True), so a typo fails the task, not the report.
CUSTOMERS_QUERY = InsightsQuery(
    dataset="CustomersAndTenants",
    columns=("CustomerName", "CustomerTenantId", "Product", "SKU", "Month", "BilledRevenueUSD"),
    order_by=(("BilledRevenueUSD", "DESC"),),
)
# The same query as text works too:
#   "SELECT CustomerName, CustomerTenantId, Product, SKU, Month, BilledRevenueUSD "
#   "FROM CustomersAndTenants ORDER BY BilledRevenueUSD DESC"
# --8<-- [end:query]

# --8<-- [start:dag]
with DAG(
    dag_id="partner_insights_daily_extract",
    # Midnight UTC, covering the day that just ended: [yesterday 00:00, today 00:00).
    schedule=CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1)),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": RETRY_DELAY},
    tags=["partner-insights", "example"],
    doc_md=__doc__,
) as dag:
    # Get-or-create by name: the query is the same every day, so every run reuses one saved query.
    create_query = PartnerInsightsCreateQueryOperator(
        task_id="create_query",
        name="airflow_customers_and_tenants_daily",
        query=CUSTOMERS_QUERY,
        description="Created by the partner_insights_daily_extract example DAG",
        validate=True,
    )

    # One-off run of that query over exactly this run's data interval (no window given: the operator
    # takes it from the run, ending one second before the next run's starts). The operator suffixes
    # the name with a digest of dag, task and logical date: a retried task finds the report it
    # already created instead of making another.
    create_report = PartnerInsightsCreateReportOperator(
        task_id="create_report",
        report_name="airflow_customers_and_tenants_{{ data_interval_start | ds_nodash }}",
        query_id=create_query.output,
        execute_now=True,
        format="csv",
    )

    # Frees the worker while Partner Center works: the triggerer polls the execution.
    wait_for_execution = PartnerInsightsReportExecutionSensor(
        task_id="wait_for_execution",
        report_id=create_report.output,
        deferrable=True,
        poke_interval=POLL_SECONDS,
        timeout=6 * 60 * 60,
    )

    # Streams the secure link to the destination; the object appears only once complete.
    transfer = PartnerInsightsReportToStorageOperator(
        task_id="transfer_to_storage",
        report_id=create_report.output,
        execution_id=wait_for_execution.output,
        destination=CUSTOMERS_AND_TENANTS.uri + "/date={{ data_interval_start | ds }}/customers_and_tenants.csv",
        destination_conn_id=DESTINATION_CONN_ID,
        output_format="csv",
        overwrite=True,  # a re-run of the same day replaces that day's file
        outlets=[CUSTOMERS_AND_TENANTS],
    )

    # Always clean up the one-off report, even when waiting or the transfer failed. A teardown
    # runs once everything before it is done (like trigger_rule="all_done"), but only if the report
    # was created, and unlike a plain all_done leaf it cannot turn a failed run into a success.
    delete_report = PartnerInsightsDeleteReportOperator(
        task_id="delete_report",
        report_id=create_report.output,
    ).as_teardown(setups=create_report)

    create_query >> create_report >> wait_for_execution >> transfer >> delete_report
# --8<-- [end:dag]
