"""Test DAGs: the one-off and the recurring flows, run under each reading of the API.

Run by tests/test_flows_under_each_reading.py through ``dag.test()`` (``dag_id`` ``flows_one_off`` or
``flows_recurring``). The connection ``partner_insights_default`` comes from the environment; the
run's ``conf`` carries the rest:

- ``flows_one_off``: query -> one-off report over the day before the run -> deferred wait -> local
  file -> delete the report. ``conf``: ``destination`` (a ``file://`` URI).
- ``flows_recurring``: query -> recurring report -> deferred wait for an execution generated after a
  bound -> local file. ``conf``: ``report_name``, ``start_time`` (at least 4 hours ahead),
  ``generated_after`` and ``destination``.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_insights.operators.queries import PartnerInsightsCreateQueryOperator
from airflow_provider_insights.operators.reports import (
    PartnerInsightsCreateReportOperator,
    PartnerInsightsDeleteReportOperator,
)
from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor
from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

REPORT_ID = "{{ ti.xcom_pull(task_ids='create_report') }}"
QUERY_ID = "{{ ti.xcom_pull(task_ids='create_query') }}"
WAIT = {"task_id": "wait", "report_id": REPORT_ID, "deferrable": True, "poke_interval": 0.05, "timeout": 120}
TRANSFER = {
    "task_id": "transfer",
    "report_id": REPORT_ID,
    "execution_id": "{{ ti.xcom_pull(task_ids='wait') }}",
    "destination": "{{ dag_run.conf['destination'] }}",
    "overwrite": True,
}

with DAG(
    dag_id="flows_one_off",
    schedule="@daily",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
) as one_off_dag:
    create_query = PartnerInsightsCreateQueryOperator(
        task_id="create_query",
        name="flows one off",
        query="SELECT CustomerName, Product, Month, BilledRevenueUSD FROM CustomersAndTenants TIMESPAN LAST_MONTH",
    )
    # No window: the operator takes the day before the run (Airflow 3's "@daily" interval is empty).
    create_report = PartnerInsightsCreateReportOperator(
        task_id="create_report",
        report_name="flows one off",
        query_id=QUERY_ID,
    )
    wait = PartnerInsightsReportExecutionSensor(**WAIT)
    transfer = PartnerInsightsReportToStorageOperator(**TRANSFER)
    delete_report = PartnerInsightsDeleteReportOperator(task_id="delete_report", report_id=REPORT_ID).as_teardown(
        setups=create_report
    )
    create_query >> create_report >> wait >> transfer >> delete_report


with DAG(
    dag_id="flows_recurring",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
) as recurring_dag:
    create_query = PartnerInsightsCreateQueryOperator(
        task_id="create_query",
        name="flows recurring",
        query="SELECT CustomerName, Product, BilledRevenueUSD FROM CustomersAndTenants TIMESPAN LAST_MONTH",
    )
    create_report = PartnerInsightsCreateReportOperator(
        task_id="create_report",
        report_name="{{ dag_run.conf['report_name'] }}",
        query_id=QUERY_ID,
        execute_now=False,
        start_time="{{ dag_run.conf['start_time'] }}",
        recurrence_interval=24,
    )
    wait = PartnerInsightsReportExecutionSensor(**WAIT, generated_after="{{ dag_run.conf['generated_after'] }}")
    transfer = PartnerInsightsReportToStorageOperator(**TRANSFER)
    create_query >> create_report >> wait >> transfer
