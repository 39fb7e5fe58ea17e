"""The shared lazy hook: one mixin for every task class, no hook (nor connection lookup) before use."""

from __future__ import annotations

import pytest

from airflow_provider_insights.operators._base import PartnerInsightsHookMixin
from airflow_provider_insights.operators.queries import (
    PartnerInsightsCreateQueryOperator,
    PartnerInsightsDeleteQueryOperator,
)
from airflow_provider_insights.operators.reports import (
    PartnerInsightsCreateReportOperator,
    PartnerInsightsDeleteReportOperator,
    PartnerInsightsPauseReportOperator,
    PartnerInsightsResumeReportOperator,
)
from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor

TASKS = {
    PartnerInsightsCreateQueryOperator: {"name": "n", "query": "SELECT a FROM B"},
    PartnerInsightsDeleteQueryOperator: {"query_id": "q"},
    PartnerInsightsCreateReportOperator: {"report_name": "r", "query_id": "q"},
    PartnerInsightsDeleteReportOperator: {"report_id": "r"},
    PartnerInsightsPauseReportOperator: {"report_id": "r"},
    PartnerInsightsResumeReportOperator: {"report_id": "r"},
    PartnerInsightsReportExecutionSensor: {"report_id": "r"},
}


@pytest.mark.parametrize("task_class", list(TASKS), ids=lambda cls: cls.__name__)
def test_every_task_gets_its_hook_from_the_one_mixin(task_class):
    assert issubclass(task_class, PartnerInsightsHookMixin)
    assert all("hook" not in vars(cls) for cls in task_class.__mro__ if cls is not PartnerInsightsHookMixin)

    task = task_class(task_id="t", partner_insights_conn_id="no_such_connection", **TASKS[task_class])

    assert "hook" not in vars(task)  # nothing built, nothing looked up, at construction
    assert task.hook.partner_insights_conn_id == "no_such_connection"
    assert task.hook is task.hook


def test_pause_and_resume_share_one_body():
    assert PartnerInsightsPauseReportOperator.__bases__ == PartnerInsightsResumeReportOperator.__bases__
    assert "execute" not in vars(PartnerInsightsPauseReportOperator)
    assert "execute" not in vars(PartnerInsightsResumeReportOperator)
