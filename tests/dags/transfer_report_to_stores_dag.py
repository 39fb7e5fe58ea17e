"""Test DAG: create a report, wait for its execution, copy the file to three stores.

Run by tests/transfers/test_dag_run.py through ``dag.test()``. The destinations come from
environment variables the test sets (the storage servers' buckets are made per session); the
connections (``partner_insights_default`` and the stores') come from ``AIRFLOW_CONN_*``.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_insights.operators.queries import PartnerInsightsCreateQueryOperator
from airflow_provider_insights.operators.reports import PartnerInsightsCreateReportOperator
from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor
from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

DESTINATIONS = {
    "local": os.environ.get("TRANSFER_TEST_LOCAL_URL", "file:///tmp/transfer-test/report.csv"),
    "s3": os.environ.get("TRANSFER_TEST_S3_URL", "s3://aws_default@bucket/report.csv"),
    "azure": os.environ.get("TRANSFER_TEST_AZURE_URL", "abfs://wasb_default@container/report.parquet"),
}
FORMATS = {"local": "csv", "s3": "csv", "azure": "parquet"}

with DAG(
    dag_id="transfer_report_to_stores_test",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
) as dag:
    create_query = PartnerInsightsCreateQueryOperator(
        task_id="create_query",
        name="transfer dag test",
        query="SELECT CustomerName,PartnerLocation,ActiveSeats,Month FROM DynamicsUsage TIMESPAN LAST_MONTH",
    )
    create_report = PartnerInsightsCreateReportOperator(
        task_id="create_report",
        report_name="transfer dag test",
        query_id="{{ ti.xcom_pull(task_ids='create_query') }}",
    )
    wait = PartnerInsightsReportExecutionSensor(
        task_id="wait",
        report_id="{{ ti.xcom_pull(task_ids='create_report') }}",
        deferrable=True,
        poke_interval=0.1,
        timeout=120,
    )
    for store, destination in DESTINATIONS.items():
        copy = PartnerInsightsReportToStorageOperator(
            task_id=f"to_{store}",
            report_id="{{ ti.xcom_pull(task_ids='create_report') }}",
            execution_id="{{ ti.xcom_pull(task_ids='wait') }}",
            destination=destination,
            output_format=FORMATS[store],
            overwrite=True,
        )
        wait >> copy
    create_query >> create_report >> wait
