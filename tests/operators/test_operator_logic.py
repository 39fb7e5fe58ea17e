"""The operators' own decisions, server-free (scripted hook): reuse rules, names, ids, callbacks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.models import Report
from airflow_provider_insights.operators import queries, reports
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
    operator = reports.PartnerInsightsCreateReportOperator(
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


@pytest.mark.parametrize(
    ("status", "decision", "reused"),
    [("Inactive", failed_inactive(), False), ("Active", waiting(), True)],
    ids=["inactive without a completed run: replaced", "still running: reused"],
)
def test_a_one_off_report_is_reused_unless_its_run_failed(status, decision, reused):
    context = task_context()
    name = reports.run_scoped_name("daily", context)
    hook = ScriptedHook(reports=[Report("old", name, "q", report_status=status)], decisions=[decision])
    operator = scripted(
        reports.PartnerInsightsCreateReportOperator(task_id="create_report", report_name="daily", query_id="q"), hook
    )

    report_id = operator.execute(context)

    assert (report_id == "old") is reused
    assert hook.called("delete_report") == ([] if reused else [(("old",), {})])
    assert bool(hook.called("create_report")) is not reused


# -- names ----------------------------------------------------------------------------------------


def test_run_scoped_names_join_their_parts_with_a_dash():
    name = reports.run_scoped_name("customers_and_tenants", task_context())

    assert " " not in name
    base, digest = name.rsplit("-", 1)
    assert base == "customers_and_tenants" and len(digest) == 12


# -- callbacks by program --------------------------------------------------------------------------


def test_callback_method_is_refused_on_a_cmp_connection_before_any_call():
    hook = ScriptedHook(program="cmp")
    operator = reports.PartnerInsightsCreateReportOperator(
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
        reports.PartnerInsightsCreateReportOperator(
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
    (reports.PartnerInsightsDeleteReportOperator, "report_id"),
    (reports.PartnerInsightsPauseReportOperator, "report_id"),
    (reports.PartnerInsightsResumeReportOperator, "report_id"),
    (queries.PartnerInsightsDeleteQueryOperator, "query_id"),
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
    operator = scripted(
        queries.PartnerInsightsCreateQueryOperator(task_id="q", name="n", query=None, validate=False), hook
    )

    with pytest.raises(PartnerInsightsValidationError) as raised:
        operator.execute(task_context())

    assert raised.value.field == "query" and hook.calls == []
