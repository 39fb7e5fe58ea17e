"""PartnerInsightsReportExecutionTrigger run in an event loop against the sandbox."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime, timezone

import pytest

from airflow_provider_insights.hooks import async_sessions as http
from airflow_provider_insights.hooks.insights import PartnerInsightsHook
from airflow_provider_insights.triggers.report_execution import PartnerInsightsReportExecutionTrigger
from tests.fixtures.airflow_compat import import_string
from tests.operators.helpers import (
    create_one_off_report,
    create_recurring_report,
    fast_executions,
    request_counts,
    set_connection,
    slow_executions,
)

pytestmark = pytest.mark.integration


def make_trigger(conn_id, report_id, *, timeout=30.0, poll_interval=0.05, execution_id=None, generated_after=None):
    return PartnerInsightsReportExecutionTrigger(
        report_id=report_id,
        execution_id=execution_id,
        generated_after=generated_after,
        partner_insights_conn_id=conn_id,
        poll_interval=poll_interval,
        end_time=time.time() + timeout,
    )


async def run_to_end(trigger):
    """Every event the trigger yields until its generator ends."""
    return [event.payload async for event in trigger.run()]


def assert_secret_free(sb, *payloads):
    text = json.dumps(payloads, default=str)
    for secret in sb.connection(program="mpn")["password"], "sig=", "Bearer", "_blob":
        assert secret not in text


async def test_runs_to_completion_with_one_event(sb, insights_conn):
    fast_executions(sb)
    report_id = create_one_off_report(insights_conn)

    events = await run_to_end(make_trigger(insights_conn, report_id))

    assert len(events) == 1
    assert events[0]["status"] == "success"
    assert events[0]["execution_status"] == "Completed"
    assert events[0]["execution_id"]
    assert_secret_free(sb, events)


async def test_waits_for_a_given_execution(sb, insights_conn):
    fast_executions(sb)
    report_id = create_one_off_report(insights_conn)
    execution = PartnerInsightsHook(partner_insights_conn_id=insights_conn).get_latest_execution(report_id)
    assert execution is not None

    [event] = await run_to_end(make_trigger(insights_conn, report_id, execution_id=execution.execution_id))

    assert (event["status"], event["execution_id"]) == ("success", execution.execution_id)


async def test_serialize_recreate_run(sb, insights_conn):
    fast_executions(sb)
    report_id = create_one_off_report(insights_conn)
    original = make_trigger(insights_conn, report_id)

    classpath, kwargs = original.serialize()
    recreated = import_string(classpath)(**kwargs)

    assert recreated.serialize() == (classpath, kwargs)
    assert set(kwargs) == {
        "report_id",
        "execution_id",
        "generated_after",
        "partner_insights_conn_id",
        "poll_interval",
        "end_time",
    }
    assert_secret_free(sb, kwargs)
    [event] = await run_to_end(recreated)
    assert event["status"] == "success"


async def test_404_before_the_first_execution_then_completes(sb, insights_conn):
    fast_executions(sb)
    report_id = create_recurring_report(sb, insights_conn, start_in_hours=5)
    trigger_task = asyncio.create_task(run_to_end(make_trigger(insights_conn, report_id)))

    await wait_for_requests_to(sb, "execution", at_least=2)  # polled, and got the documented 404s
    assert not trigger_task.done()
    sb.admin.advance_clock(6 * 3600)  # the first scheduled run happens

    [event] = await asyncio.wait_for(trigger_task, 30)
    assert event["status"] == "success"


async def test_failed_execution_is_a_failure_with_the_service_message(sb, insights_conn):
    fast_executions(sb)
    sb.admin.set_faults([{"kind": "fail_execution"}])
    report_id = create_one_off_report(insights_conn)

    [event] = await run_to_end(make_trigger(insights_conn, report_id))

    assert event["status"] == "failed"
    assert event["execution_status"] == "Failed"
    assert event["message"]
    assert_secret_free(sb, event)


async def test_stalled_execution_times_out(sb, insights_conn):
    fast_executions(sb)
    sb.admin.set_faults([{"kind": "stall_execution"}])
    report_id = create_one_off_report(insights_conn)

    [event] = await run_to_end(make_trigger(insights_conn, report_id, timeout=0.5))

    assert event["status"] == "timeout"


async def test_poll_errors_do_not_end_the_wait(sb, monkeypatch):
    # No retries inside the hook, so each 503 reaches the trigger as a failed poll.
    conn_id = set_connection(monkeypatch, sb, "insights_no_retries", max_retries=0)
    fast_executions(sb)
    report_id = create_one_off_report(conn_id)
    sb.admin.reset_stats()
    sb.admin.set_faults([{"kind": "status", "status": 503, "path": "execution", "count": 3}])

    [event] = await run_to_end(make_trigger(conn_id, report_id, poll_interval=0.01))

    assert event["status"] == "success"
    assert sum(n for (_, route), n in request_counts(sb.admin.stats()).items() if "execution" in route) >= 4


async def test_bad_credentials_end_with_an_error_event_not_a_hang(sb, monkeypatch):
    conn_id = set_connection(monkeypatch, sb, "insights_bad_secret")
    connection = json.loads(__import__("os").environ["AIRFLOW_CONN_INSIGHTS_BAD_SECRET"])
    monkeypatch.setenv("AIRFLOW_CONN_INSIGHTS_BAD_SECRET", json.dumps({**connection, "password": "wrong"}))

    [event] = await run_to_end(make_trigger(conn_id, "any-report", timeout=30))

    assert event["status"] == "error"
    assert "wrong" not in json.dumps(event)


async def test_uses_the_async_connection_api_only(sb, insights_conn, monkeypatch):
    from airflow.sdk.definitions.connection import Connection

    def forbidden(*_args, **_kwargs):
        raise AssertionError("sync connection access in the triggerer")

    extra_dejson = Connection.extra_dejson

    def extra_dejson_outside_the_provider(connection):
        # Airflow itself may read it (3.2 masks a connection's extras with it): only ours is refused.
        if sys._getframe(1).f_globals.get("__name__", "").startswith("airflow_provider_insights"):
            forbidden()
        return extra_dejson.fget(connection)

    fast_executions(sb)
    report_id = create_one_off_report(insights_conn)
    monkeypatch.setattr(Connection, "extra_dejson", property(extra_dejson_outside_the_provider))
    monkeypatch.setattr(PartnerInsightsHook, "get_connection", classmethod(forbidden))

    [event] = await run_to_end(make_trigger(insights_conn, report_id))

    assert event["status"] == "success"


async def test_many_triggers_share_one_token_and_close_their_sessions(sb, insights_conn, monkeypatch):
    hooks = []
    original = PartnerInsightsReportExecutionTrigger._make_hook

    def spy(self):
        hooks.append(original(self))
        return hooks[-1]

    monkeypatch.setattr(PartnerInsightsReportExecutionTrigger, "_make_hook", spy)
    slow_executions(sb)
    report_ids = [create_one_off_report(insights_conn, name=f"many {i}") for i in range(20)]
    sb.admin.configure(token_lifetime_s=3599)
    sb.admin.reset_stats()
    tasks = [asyncio.create_task(run_to_end(make_trigger(insights_conn, r))) for r in report_ids]
    await wait_for_requests_to(sb, "execution", at_least=20)
    sb.admin.advance_clock(3 * 3600)  # every execution completes

    results = await asyncio.wait_for(asyncio.gather(*tasks), 60)

    assert [events[0]["status"] for events in results] == ["success"] * 20
    assert sb.admin.stats()["token_requests"] <= 1
    assert all(hook._aio_shared is None for hook in hooks)  # every trigger gave its reference back...
    assert not http._sessions_of(asyncio.get_running_loop()).open  # ...so the shared pool is closed


async def wait_for_requests_to(sb, route_part, *, at_least):
    """Await (without blocking the loop) until the sandbox has seen ``at_least`` requests to a route."""
    for _ in range(600):
        stats = await asyncio.to_thread(sb.admin.stats)
        if sum(n for (_, route), n in request_counts(stats).items() if route_part in route) >= at_least:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} requests to {route_part}")


def test_generated_after_serializes_as_an_iso_string():
    trigger = make_trigger("c", "r", generated_after="2024-05-01 12:00:00+02:00")

    _, kwargs = trigger.serialize()

    assert kwargs["generated_after"] == "2024-05-01T10:00:00+00:00"
    recreated = PartnerInsightsReportExecutionTrigger(**kwargs)
    assert recreated.generated_after == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    assert json.loads(json.dumps(kwargs)) == kwargs


async def test_a_deleted_report_ends_with_an_error_event_at_once(sb, insights_conn):
    # Before: every error but config/auth/validation was retried until the end time.
    [event] = await run_to_end(make_trigger(insights_conn, "00000000-0000-0000-0000-000000000000", timeout=20))

    assert event["status"] == "error"
    assert "PartnerInsightsNotFoundError" in event["message"]


async def test_another_4xx_ends_with_an_error_event(sb, insights_conn):
    fast_executions(sb)
    report_id = create_one_off_report(insights_conn)
    sb.admin.set_faults([{"kind": "status", "status": 400, "path": "execution", "count": 50}])

    [event] = await run_to_end(make_trigger(insights_conn, report_id, timeout=20))

    assert event["status"] == "error"
    assert "400" in event["message"]


async def test_generated_after_waits_for_a_newer_execution(sb, insights_conn):
    fast_executions(sb)
    report_id = create_recurring_report(sb, insights_conn, start_in_hours=5)
    sb.admin.advance_clock(6 * 3600)  # the first run happens and completes
    hook = PartnerInsightsHook(partner_insights_conn_id=insights_conn)
    old = hook.get_latest_execution(report_id)
    assert old is not None and old.is_completed
    after_old = datetime.fromtimestamp(sb.admin.now(), tz=timezone.utc)
    sb.admin.reset_stats()

    trigger_task = asyncio.create_task(run_to_end(make_trigger(insights_conn, report_id, generated_after=after_old)))
    await wait_for_requests_to(sb, "execution", at_least=2)  # saw the old execution, twice
    assert not trigger_task.done()
    sb.admin.advance_clock(24 * 3600)  # the next run happens

    [event] = await asyncio.wait_for(trigger_task, 30)
    assert event["status"] == "success"
    assert event["execution_id"] != old.execution_id


async def test_an_execution_id_of_another_report_ends_with_a_failed_event(sb, insights_conn):
    fast_executions(sb)
    report_id = create_one_off_report(insights_conn, name="mine")
    other_id = create_one_off_report(insights_conn, name="theirs")
    sb.admin.advance_clock(60)
    foreign = PartnerInsightsHook(partner_insights_conn_id=insights_conn).get_latest_execution(other_id)
    assert foreign is not None

    [event] = await run_to_end(make_trigger(insights_conn, report_id, execution_id=foreign.execution_id, timeout=60))

    assert event["status"] == "failed"
    assert foreign.execution_id in event["message"]
