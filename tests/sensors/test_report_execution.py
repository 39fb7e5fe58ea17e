"""PartnerInsightsReportExecutionSensor in poke, reschedule and deferrable modes, against the sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_insights.exceptions import PartnerInsightsExecutionFailedError
from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor
from airflow_provider_insights.triggers.report_execution import PartnerInsightsReportExecutionTrigger
from tests.operators.helpers import (
    create_one_off_report,
    create_recurring_report,
    fast_executions,
    set_connection,
    slow_executions,
    task_context,
)

pytestmark = pytest.mark.integration


def sensor(conn_id, report_id, **kwargs):
    kwargs.setdefault("poke_interval", 0.05)
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("deferrable", False)
    return PartnerInsightsReportExecutionSensor(
        task_id="wait", report_id=report_id, partner_insights_conn_id=conn_id, **kwargs
    )


def test_deferrable_defaults_to_the_config(monkeypatch):
    import importlib

    import airflow_provider_insights.sensors.report_execution as module

    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    reloaded = importlib.reload(module)
    try:
        assert reloaded.PartnerInsightsReportExecutionSensor(task_id="s", report_id="r").deferrable is True
    finally:
        monkeypatch.delenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE")
        importlib.reload(module)


def test_poke_mode_returns_the_execution_id(sb, insights_conn):
    fast_executions(sb)
    report_id = create_one_off_report(insights_conn)

    execution_id = sensor(insights_conn, report_id, mode="poke").execute(task_context())

    assert execution_id
    assert execution_id == PartnerInsightsHookFor(insights_conn).get_latest_execution(report_id).execution_id


def test_reschedule_mode(sb, insights_conn):
    slow_executions(sb)
    report_id = create_one_off_report(insights_conn)
    waiting = sensor(insights_conn, report_id, mode="reschedule", poke_interval=60)

    with pytest.raises(AirflowRescheduleException):
        waiting.execute(task_context())
    sb.admin.advance_clock(3 * 3600)

    assert waiting.execute(task_context())


def test_404_before_the_first_execution_is_not_done_yet(sb, insights_conn):
    report_id = create_recurring_report(sb, insights_conn, start_in_hours=5)

    assert sensor(insights_conn, report_id).poke(task_context()) is False


def test_failed_execution_raises_with_the_service_message(sb, insights_conn):
    fast_executions(sb)
    sb.admin.set_faults([{"kind": "fail_execution"}])
    report_id = create_one_off_report(insights_conn)

    with pytest.raises(PartnerInsightsExecutionFailedError) as raised:
        sensor(insights_conn, report_id).execute(task_context())

    assert raised.value.status == "Failed"
    assert raised.value.report_id == report_id


def test_stalled_execution_hits_the_sensor_timeout(sb, insights_conn):
    fast_executions(sb)
    sb.admin.set_faults([{"kind": "stall_execution"}])
    report_id = create_one_off_report(insights_conn)

    with pytest.raises(AirflowSensorTimeout):
        sensor(insights_conn, report_id, timeout=0.3).execute(task_context())


def test_a_failed_poll_is_not_a_failure(sb, monkeypatch):
    conn_id = set_connection(monkeypatch, sb, "insights_sensor_no_retries", max_retries=0)
    fast_executions(sb)
    report_id = create_one_off_report(conn_id)
    sb.admin.set_faults([{"kind": "status", "status": 503, "path": "execution", "count": 2}])

    assert sensor(conn_id, report_id).execute(task_context())


def test_deferrable_checks_first_then_defers_with_both_timeouts(sb, insights_conn):
    slow_executions(sb)
    report_id = create_one_off_report(insights_conn)
    waiting = sensor(insights_conn, report_id, deferrable=True, timeout=600, poke_interval=5)

    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute(task_context())

    trigger = deferred.value.trigger
    assert isinstance(trigger, PartnerInsightsReportExecutionTrigger)
    assert deferred.value.timeout == timedelta(seconds=600)
    assert trigger.end_time > 0 and trigger.poll_interval == 5
    assert trigger.report_id == report_id
    assert deferred.value.method_name == "execute_complete"


def test_deferrable_finishes_without_deferring_when_already_complete(sb, insights_conn):
    fast_executions(sb)
    report_id = create_one_off_report(insights_conn)
    sb.admin.advance_clock(60)

    assert sensor(insights_conn, report_id, deferrable=True).execute(task_context())


async def test_deferrable_round_trip_through_the_trigger(sb, insights_conn):
    slow_executions(sb)
    report_id = create_one_off_report(insights_conn)
    waiting = sensor(insights_conn, report_id, deferrable=True, poke_interval=0.05)
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute(task_context())
    sb.admin.advance_clock(3 * 3600)

    event = await anext(deferred.value.trigger.run())

    assert waiting.execute_complete(task_context(), event.payload) == event.payload["execution_id"]


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (
            {
                "status": "failed",
                "report_id": "r",
                "execution_id": "e",
                "execution_status": "Failed",
                "message": "boom",
            },
            PartnerInsightsExecutionFailedError,
        ),
        ({"status": "timeout", "report_id": "r", "execution_id": None, "message": "late"}, AirflowSensorTimeout),
    ],
)
def test_execute_complete_raises_what_the_event_says(event, error):
    with pytest.raises(error):
        sensor("unused", "r").execute_complete(task_context(), event)


def PartnerInsightsHookFor(conn_id):
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    return PartnerInsightsHook(partner_insights_conn_id=conn_id)
