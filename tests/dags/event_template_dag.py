"""A DAG scheduled on a watched asset whose transfer takes the execution from the triggering event by template.

The template form suits a run that carries one event (or a DAG that wants only one: ``| last`` for
the newest); the example ``partner_insights_event_driven_landing`` lands every event of a run.
Parse-time settings come from the environment (set by the test before the DAG is parsed).
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, Asset, AssetWatcher

from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator
from airflow_provider_insights.triggers.report_execution import PartnerInsightsNewExecutionTrigger

REPORT_ID = os.environ.get("EVENT_TEMPLATE_REPORT_ID") or "unset"
DESTINATION_ROOT = os.environ.get("EVENT_TEMPLATE_DESTINATION_ROOT") or "file:///tmp/event_template"

#: The first event of the run: the watcher's payload sits under ``extra["payload"]``.
EVENT = "(triggering_asset_events.values() | first | first).extra['payload']"

WATCHED = Asset(
    name="event_template_new_execution",
    watchers=[
        AssetWatcher(
            name="event_template_watcher",
            trigger=PartnerInsightsNewExecutionTrigger(report_id=REPORT_ID, poll_interval=60),
        )
    ],
)

with DAG(dag_id="event_template", schedule=[WATCHED], catchup=False) as dag:
    PartnerInsightsReportToStorageOperator(
        task_id="land",
        report_id="{{ " + EVENT + "['report_id'] }}",
        execution_id="{{ " + EVENT + "['execution_id'] }}",
        destination=DESTINATION_ROOT
        + "/date={{ "
        + EVENT
        + "['generated_time'][:10] }}/{{ "
        + EVENT
        + "['execution_id'] }}.csv",
    )
