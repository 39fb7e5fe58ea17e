"""Test DAG: get-or-create a query, create a one-off report over the run's data interval, wait for it.

Run by tests/operators/test_dag_run.py through ``dag.test()``; the sensor defers, so Airflow runs the
trigger in-process. The connection ``partner_insights_default`` comes from the environment.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_insights.operators.queries import PartnerInsightsCreateQueryOperator
from airflow_provider_insights.operators.reports import PartnerInsightsCreateReportOperator
from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor

with DAG(
    dag_id="insights_one_off_test",
    schedule="@daily",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
) as dag:
    create_query = PartnerInsightsCreateQueryOperator(
        task_id="create_query",
        name="dag test revenue",
        query="SELECT CustomerName, Product, BilledRevenueUSD FROM CustomersAndTenants TIMESPAN LAST_MONTH",
    )
    create_report = PartnerInsightsCreateReportOperator(
        task_id="create_report",
        report_name="dag test revenue",
        query_id="{{ ti.xcom_pull(task_ids='create_query') }}",
        # No window: the run's data interval is empty (start == end, Airflow 3's "@daily"), so the
        # operator covers the day before the run, 00:00:00 to 23:59:59.
    )
    wait = PartnerInsightsReportExecutionSensor(
        task_id="wait",
        report_id="{{ ti.xcom_pull(task_ids='create_report') }}",
        deferrable=True,
        poke_interval=0.1,
        timeout=120,
    )
    create_query >> create_report >> wait
