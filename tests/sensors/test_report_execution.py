"""PartnerInsightsReportExecutionSensor in poke, reschedule and deferrable modes, against the sandbox."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_insights._compat import AirflowException, AirflowSensorTimeout
from airflow_provider_insights.exceptions import (
    PartnerInsightsApiError,
    PartnerInsightsAuthError,
    PartnerInsightsConfigError,
    PartnerInsightsExecutionFailedError,
    PartnerInsightsLinkExpiredError,
    PartnerInsightsNotFoundError,
    PartnerInsightsValidationError,
    is_transient_error,
)
from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor
from airflow_provider_insights.triggers.report_execution import PartnerInsightsReportExecutionTrigger
from tests.fixtures.airflow_compat import AirflowRescheduleException, TaskDeferred
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
        ({"status": "error", "report_id": "r", "execution_id": None, "message": "gone"}, AirflowException),
    ],
)
def test_execute_complete_raises_what_the_event_says(event, error):
    with pytest.raises(error):
        sensor("unused", "r").execute_complete(task_context(), event)


def PartnerInsightsHookFor(conn_id):
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    return PartnerInsightsHook(partner_insights_conn_id=conn_id)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (PartnerInsightsApiError(0, "connection lost"), True),
        (PartnerInsightsApiError(408, "timeout"), True),
        (PartnerInsightsApiError(429, "throttled"), True),
        (PartnerInsightsApiError(500, "oops"), True),
        (PartnerInsightsApiError(503, "busy"), True),
        (ConnectionResetError(), True),
        (asyncio.TimeoutError(), True),
        (PartnerInsightsApiError(400, "bad"), False),
        (PartnerInsightsApiError(401, "token"), False),
        (PartnerInsightsLinkExpiredError(403, "expired"), False),
        (PartnerInsightsNotFoundError(404, "no such report"), False),
        (PartnerInsightsAuthError("refused"), False),
        (PartnerInsightsConfigError("no tenant"), False),
        (PartnerInsightsValidationError("report_id", "empty"), False),
        (KeyError("bug"), False),
    ],
)
def test_one_classification_of_poll_errors(error, transient):
    assert is_transient_error(error) is transient


def test_a_deleted_report_fails_the_poke_at_once(sb, insights_conn):
    with pytest.raises(PartnerInsightsNotFoundError):
        sensor(insights_conn, "00000000-0000-0000-0000-000000000000").poke(task_context())


def test_generated_after_ignores_an_older_execution_until_a_newer_one_exists(sb, insights_conn):
    fast_executions(sb)
    report_id = create_recurring_report(sb, insights_conn, start_in_hours=5)
    sb.admin.advance_clock(6 * 3600)  # the first run happens and completes
    old = PartnerInsightsHookFor(insights_conn).get_latest_execution(report_id)
    assert old is not None and old.is_completed
    after_old = datetime.fromtimestamp(sb.admin.now(), tz=timezone.utc)

    assert sensor(insights_conn, report_id).poke(task_context()).xcom_value == old.execution_id  # without the bound
    waiting = sensor(insights_conn, report_id, generated_after=after_old.isoformat())
    assert waiting.poke(task_context()) is False
    sb.admin.advance_clock(24 * 3600)  # the next run happens

    done = waiting.poke(task_context())
    assert done and done.xcom_value != old.execution_id


def test_generated_after_is_templated_and_passed_to_the_trigger(sb, insights_conn):
    slow_executions(sb)
    report_id = create_one_off_report(insights_conn)
    waiting = sensor(insights_conn, report_id, deferrable=True, generated_after="{{ bound }}")
    assert "generated_after" in waiting.template_fields
    waiting.generated_after = "2024-05-01T00:00:00Z"  # as rendered

    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute(task_context())

    assert deferred.value.trigger.generated_after == datetime(2024, 5, 1, tzinfo=timezone.utc)


def test_a_bad_generated_after_names_the_field(sb, insights_conn):
    with pytest.raises(PartnerInsightsValidationError) as raised:
        sensor(insights_conn, "r", generated_after="yesterday").poke(task_context())

    assert raised.value.field == "generated_after"


def test_an_execution_id_of_another_report_fails_at_once(sb, insights_conn):
    fast_executions(sb)
    report_id = create_one_off_report(insights_conn, name="mine")
    other_id = create_one_off_report(insights_conn, name="theirs")
    sb.admin.advance_clock(60)
    foreign = PartnerInsightsHookFor(insights_conn).get_latest_execution(other_id)
    assert foreign is not None

    with pytest.raises(PartnerInsightsExecutionFailedError, match=foreign.execution_id):
        sensor(insights_conn, report_id, execution_id=foreign.execution_id, timeout=60).execute(task_context())
