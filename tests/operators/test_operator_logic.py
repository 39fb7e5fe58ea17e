"""The operators' own decisions, server-free (scripted hook): reuse rules, names, ids, callbacks, connection id."""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_insights.connection import DEFAULT_CONN_ID
from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.models import Report
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
    run_scoped_name,
)
from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor
from tests.operators.helpers import task_context
from tests.operators.scripted import ScriptedHook, failed_inactive, waiting

NAME = "weekly-revenue"


# Task logs go through structlog to stdout: the tests read them with capsys.


def scripted(operator, hook):
    operator.__dict__["hook"] = hook  # instead of a connection: see tests/operators/scripted.py
    return operator


def recurring(hook, **kwargs):
    kwargs.setdefault("start_time", datetime.now(timezone.utc) + timedelta(hours=5))
    kwargs.setdefault("recurrence_interval", 24)
    operator = PartnerInsightsCreateReportOperator(
        task_id="create_report", report_name=NAME, query_id="q", execute_now=False, **kwargs
    )
    return scripted(operator, hook)


def existing(status="Active", **fields):
    fields.setdefault("recurrence_interval", 24)
    fields.setdefault("format", "csv")
    return Report("old", NAME, "q", report_status=status, **fields)


# -- reusing a recurring report -------------------------------------------------------------------


def test_an_active_report_with_the_same_settings_is_reused_unchanged(capsys):
    hook = ScriptedHook(reports=[existing()])

    assert recurring(hook).execute(task_context()) == "old"

    assert not hook.called("create_report") and not hook.called("update_report")
    assert "Reusing report old" in capsys.readouterr().out


def test_an_active_report_with_other_settings_is_updated(capsys):
    hook = ScriptedHook(reports=[existing(recurrence_interval=24, format="csv")])
    start = datetime.now(timezone.utc) + timedelta(hours=6)

    report_id = recurring(hook, recurrence_interval=48, format="tsv", start_time=start).execute(task_context())

    assert report_id == "old"
    [((updated_id,), changes)] = hook.called("update_report")
    assert updated_id == "old"
    assert changes == {"recurrence_interval": 48, "format": "TSV", "start_time": start}
    assert not hook.called("create_report")
    logged = capsys.readouterr().out
    assert "Updating report old" in logged and "format, recurrence_interval, start_time changed" in logged


def test_a_changed_callback_is_updated():
    hook = ScriptedHook(reports=[existing(callback_url="https://old.example/cb")])

    recurring(hook, callback_url="https://new.example/cb").execute(task_context())

    [(_, changes)] = hook.called("update_report")
    assert changes["callback_url"] == "https://new.example/cb"


@pytest.mark.parametrize("status", ["Paused", "Inactive"])
def test_a_report_that_is_not_active_is_left_and_a_new_one_made(status, capsys):
    hook = ScriptedHook(reports=[existing(status=status)])

    report_id = recurring(hook).execute(task_context())

    assert report_id != "old"
    assert [kwargs["report_name"] for _, kwargs in hook.called("create_report")] == [NAME]
    assert not hook.called("update_report") and not hook.called("delete_report")
    assert f"Not reusing report old named {NAME!r}: it is {status}" in capsys.readouterr().out


def test_an_active_report_of_another_query_is_refused_not_deleted():
    hook = ScriptedHook(reports=[Report("old", NAME, "another", report_status="Active", recurrence_interval=24)])

    with pytest.raises(PartnerInsightsValidationError, match="runs another query"):
        recurring(hook).execute(task_context())

    assert not hook.called("delete_report") and not hook.called("create_report")


def test_a_one_off_report_whose_report_turned_inactive_without_a_completed_run_is_replaced():
    context = task_context()
    name = run_scoped_name("daily", context)
    hook = ScriptedHook(reports=[Report("old", name, "q", report_status="Inactive")], decisions=[failed_inactive()])
    operator = scripted(
        PartnerInsightsCreateReportOperator(task_id="create_report", report_name="daily", query_id="q"), hook
    )

    report_id = operator.execute(context)

    assert report_id != "old"
    assert hook.called("delete_report") == [(("old",), {})]


def test_a_one_off_report_still_running_is_reused():
    context = task_context()
    name = run_scoped_name("daily", context)
    hook = ScriptedHook(reports=[Report("old", name, "q", report_status="Active")], decisions=[waiting()])
    operator = scripted(
        PartnerInsightsCreateReportOperator(task_id="create_report", report_name="daily", query_id="q"), hook
    )

    assert operator.execute(context) == "old"
    assert not hook.called("create_report")


# -- names ----------------------------------------------------------------------------------------


def test_run_scoped_names_join_their_parts_with_a_dash():
    name = run_scoped_name("customers_and_tenants", task_context())

    assert " " not in name
    base, digest = name.rsplit("-", 1)
    assert base == "customers_and_tenants" and len(digest) == 12


# -- callbacks by program --------------------------------------------------------------------------


def test_callback_method_is_refused_on_a_cmp_connection_before_any_call():
    hook = ScriptedHook(program="cmp")
    operator = PartnerInsightsCreateReportOperator(
        task_id="r", report_name="n", query_id="q", callback_url="https://x.example/cb", callback_method="POST"
    )

    with pytest.raises(PartnerInsightsValidationError) as raised:
        scripted(operator, hook).execute(task_context())

    assert raised.value.field == "callback_method"
    assert hook.calls == []


@pytest.mark.parametrize(("program", "accepted"), [("cmp", False), ("mpn", True)])
def test_a_plain_http_callback_is_accepted_for_mpn_only(program, accepted):
    hook = ScriptedHook(program=program)
    operator = scripted(
        PartnerInsightsCreateReportOperator(
            task_id="r", report_name="n", query_id="q", callback_url="http://x.example/cb"
        ),
        hook,
    )

    if accepted:
        operator.execute(task_context())
        assert hook.called("create_report")
    else:
        with pytest.raises(PartnerInsightsValidationError, match="https") as raised:
            operator.execute(task_context())
        assert raised.value.field == "callback_url" and hook.calls == []


# -- ids ------------------------------------------------------------------------------------------

ID_TASKS = [
    (PartnerInsightsDeleteReportOperator, "report_id"),
    (PartnerInsightsPauseReportOperator, "report_id"),
    (PartnerInsightsResumeReportOperator, "report_id"),
    (PartnerInsightsDeleteQueryOperator, "query_id"),
    (PartnerInsightsReportExecutionSensor, "report_id"),
]


@pytest.mark.parametrize("value", [None, "", "  "])
@pytest.mark.parametrize(("task_class", "field"), ID_TASKS, ids=[cls.__name__ for cls, _ in ID_TASKS])
def test_a_missing_id_is_refused_naming_it_before_any_call(task_class, field, value):
    hook = ScriptedHook()
    task = scripted(task_class(task_id="t", **{field: value}), hook)

    with pytest.raises(PartnerInsightsValidationError) as raised:
        task.execute(task_context())

    assert raised.value.field == field
    assert hook.calls == []


def test_an_empty_execution_id_is_refused_by_the_sensor():
    hook = ScriptedHook()
    sensor = scripted(PartnerInsightsReportExecutionSensor(task_id="s", report_id="r", execution_id=""), hook)

    with pytest.raises(PartnerInsightsValidationError) as raised:
        sensor.poke(task_context())

    assert raised.value.field == "execution_id" and hook.calls == []


def test_a_missing_query_is_refused_naming_it():
    hook = ScriptedHook()
    operator = scripted(PartnerInsightsCreateQueryOperator(task_id="q", name="n", query=None, validate=False), hook)

    with pytest.raises(PartnerInsightsValidationError) as raised:
        operator.execute(task_context())

    assert raised.value.field == "query" and hook.calls == []


# -- connection id, colour, shared constructor -------------------------------------------------------

TASK_CLASSES = {
    PartnerInsightsCreateQueryOperator: {"name": "n", "query": "SELECT a FROM B"},
    PartnerInsightsDeleteQueryOperator: {"query_id": "q"},
    PartnerInsightsCreateReportOperator: {"report_name": "r", "query_id": "q"},
    PartnerInsightsDeleteReportOperator: {"report_id": "r"},
    PartnerInsightsPauseReportOperator: {"report_id": "r"},
    PartnerInsightsResumeReportOperator: {"report_id": "r"},
    PartnerInsightsReportExecutionSensor: {"report_id": "r"},
}


@pytest.mark.parametrize("task_class", list(TASK_CLASSES), ids=lambda cls: cls.__name__)
def test_the_connection_id_defaults_to_the_one_constant_and_is_templated(task_class):
    default = inspect.signature(task_class.__init__).parameters["partner_insights_conn_id"].default
    assert default == DEFAULT_CONN_ID
    task = task_class(task_id="t", partner_insights_conn_id="{{ params.conn }}", **TASK_CLASSES[task_class])

    task.render_template_fields({"params": {"conn": "insights_eu"}})

    assert task.partner_insights_conn_id == "insights_eu"
    assert task.hook.partner_insights_conn_id == "insights_eu"


@pytest.mark.parametrize("task_class", list(TASK_CLASSES), ids=lambda cls: cls.__name__)
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
