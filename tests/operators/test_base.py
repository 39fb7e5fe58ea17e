"""What every task class shares: the lazy hook (no connection lookup before use), the connection id, the colour."""

from __future__ import annotations

import inspect

import pytest

from airflow_provider_insights.connection import DEFAULT_CONN_ID
from airflow_provider_insights.operators._base import UI_COLOR, PartnerInsightsHookMixin
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


# -- connection id, colour, shared constructor -------------------------------------------------------


@pytest.mark.parametrize("task_class", list(TASKS), ids=lambda cls: cls.__name__)
def test_the_connection_id_defaults_to_the_one_constant_and_is_templated(task_class):
    default = inspect.signature(task_class.__init__).parameters["partner_insights_conn_id"].default
    assert default == DEFAULT_CONN_ID
    task = task_class(task_id="t", partner_insights_conn_id="{{ params.conn }}", **TASKS[task_class])

    task.render_template_fields({"params": {"conn": "insights_eu"}})

    assert task.partner_insights_conn_id == "insights_eu"
    assert task.hook.partner_insights_conn_id == "insights_eu"


@pytest.mark.parametrize("task_class", list(TASKS), ids=lambda cls: cls.__name__)
def test_the_colour_is_set_in_one_place(task_class):
    assert task_class.ui_color == UI_COLOR
    own = [cls for cls in task_class.__mro__ if cls.__module__.startswith("airflow_provider_insights")]
    assert [cls for cls in own if "ui_color" in vars(cls)] == [PartnerInsightsHookMixin]


def test_delete_pause_and_resume_share_one_constructor():
    constructors = {
        PartnerInsightsDeleteReportOperator.__init__,
        PartnerInsightsPauseReportOperator.__init__,
        PartnerInsightsResumeReportOperator.__init__,
    }
    assert len(constructors) == 1
