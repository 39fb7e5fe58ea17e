"""The sensor's own decisions, server-free (scripted hook): failing fast, timeouts that say what was seen."""

from __future__ import annotations

import pytest

from airflow_provider_insights._compat import AirflowSensorTimeout
from airflow_provider_insights.exceptions import PartnerInsightsExecutionFailedError, PartnerInsightsValidationError
from airflow_provider_insights.models import ExecutionState, WaitDecision
from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor
from tests.operators.helpers import task_context
from tests.operators.scripted import ScriptedHook, done, failed_inactive, waiting


def scripted_sensor(hook, **kwargs):
    kwargs.setdefault("poke_interval", 0.01)
    kwargs.setdefault("timeout", 30)
    sensor = PartnerInsightsReportExecutionSensor(task_id="wait", report_id="r", deferrable=False, **kwargs)
    sensor.__dict__["hook"] = hook  # instead of a connection: see tests/operators/scripted.py
    return sensor


def test_an_inactive_report_without_a_completed_run_fails_at_the_first_poke():
    hook = ScriptedHook(decisions=[failed_inactive()])

    with pytest.raises(PartnerInsightsExecutionFailedError, match="Inactive"):
        scripted_sensor(hook).execute(task_context())

    assert len(hook.called("poll_execution")) == 1


def test_an_execution_id_the_report_does_not_have_fails_at_once():
    foreign = WaitDecision(ExecutionState.FAILED, "report r has no execution x (report status Active)", None, "Active")
    hook = ScriptedHook(decisions=[foreign])

    with pytest.raises(PartnerInsightsExecutionFailedError, match="has no execution x") as raised:
        scripted_sensor(hook, execution_id="x").execute(task_context())

    assert raised.value.execution_id == "x"
    assert hook.called("poll_execution") == [(("r",), {"execution_id": "x", "generated_after": None})]


def test_a_poke_mode_timeout_names_the_last_report_and_execution_status():
    hook = ScriptedHook(decisions=[waiting()])

    with pytest.raises(AirflowSensorTimeout) as raised:
        scripted_sensor(hook, timeout=0.05).execute(task_context())

    assert "report status Active" in str(raised.value)
    assert "execution e Pending" in str(raised.value)


def test_done_returns_the_execution_id():
    hook = ScriptedHook(decisions=[waiting(), done("e-1")])

    assert scripted_sensor(hook).execute(task_context()) == "e-1"


@pytest.mark.parametrize("interval", [0, 0.001])
def test_a_poke_interval_below_the_floor_is_refused(interval):
    with pytest.raises(PartnerInsightsValidationError) as raised:
        PartnerInsightsReportExecutionSensor(task_id="wait", report_id="r", poke_interval=interval)

    assert raised.value.field == "poke_interval"


def test_a_failed_event_without_an_execution_says_what_was_seen():
    event = {
        "status": "failed",
        "report_id": "r",
        "execution_id": None,
        "execution_status": None,
        "report_status": "Inactive",
        "message": "report r has no execution yet, and the report is Inactive",
    }

    with pytest.raises(PartnerInsightsExecutionFailedError, match="Inactive") as raised:
        scripted_sensor(ScriptedHook()).execute_complete(task_context(), event)

    assert raised.value.status == "none (report Inactive)"


def test_a_deferral_that_airflow_timed_out_says_what_the_service_shows():
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

    hook = ScriptedHook(decisions=[waiting()])

    with pytest.raises(AirflowSensorTimeout) as raised:
        scripted_sensor(hook).resume_execution(
            TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, task_context()
        )

    assert "report status Active" in str(raised.value)
    assert "execution e Pending" in str(raised.value)


def test_the_trigger_timeout_event_is_not_polled_again():
    hook = ScriptedHook()
    event = {"status": "timeout", "report_id": "r", "execution_id": None, "message": "last seen: report status Active"}

    with pytest.raises(AirflowSensorTimeout, match="last seen: report status Active"):
        scripted_sensor(hook).resume_execution("execute_complete", {"event": event}, task_context())

    assert hook.calls == []
