"""Test DAG: a 10-day one-off report landed as day partitions, and an empty one landed as a file.

Run by tests/transfers/test_partitioned_dag_run.py through ``dag.test()``; the destinations come
from environment variables the test sets, read when the file is parsed so that both are declared
as outlet assets (the partitions' folder, and the file).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_insights.operators.queries import PartnerInsightsCreateQueryOperator
from airflow_provider_insights.operators.reports import PartnerInsightsCreateReportOperator
from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor
from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

FOLDER = os.environ.get("PARTITION_TEST_FOLDER_URL", "file:///tmp/partition-test/by_day/")
EMPTY_FILE = os.environ.get("PARTITION_TEST_EMPTY_URL", "file:///tmp/partition-test/empty.csv")
WINDOWS = {
    "ten_days": ("2026-08-01T00:00:00Z", "2026-08-11T00:00:00Z"),
    "no_day": ("2026-08-01T00:00:01Z", "2026-08-01T23:59:59Z"),  # the sandbox serves a header only
}

with DAG(
    dag_id="partitioned_transfer_test",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
) as dag:
    create_query = PartnerInsightsCreateQueryOperator(
        task_id="create_query",
        name="partitioned dag test",
        query="SELECT CustomerName,PartnerLocation,ActiveSeats,Month FROM DynamicsUsage TIMESPAN LAST_MONTH",
    )
    for name, (start, end) in WINDOWS.items():
        report = PartnerInsightsCreateReportOperator(
            task_id=f"report_{name}",
            report_name=f"partitioned dag test {name}",
            query_id="{{ ti.xcom_pull(task_ids='create_query') }}",
            query_start_time=start,
            query_end_time=end,
        )
        wait = PartnerInsightsReportExecutionSensor(
            task_id=f"wait_{name}",
            report_id=f"{{{{ ti.xcom_pull(task_ids='report_{name}') }}}}",
            poke_interval=0.1,
            timeout=120,
        )
        land = PartnerInsightsReportToStorageOperator(
            task_id=f"land_{name}",
            report_id=f"{{{{ ti.xcom_pull(task_ids='report_{name}') }}}}",
            execution_id=f"{{{{ ti.xcom_pull(task_ids='wait_{name}') }}}}",
            destination=FOLDER if name == "ten_days" else EMPTY_FILE,
            partition_by="Month" if name == "ten_days" else None,
            on_schema_change="fail",
        )
        create_query >> report >> wait >> land
