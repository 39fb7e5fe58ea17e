"""PartnerInsightsNewExecutionTrigger (an AssetWatcher's trigger) run in an event loop against the sandbox.

The sandbox's clock is advanced over a recurring report's slots: each slot creates an execution
that completes at once (``fast_executions``), as Partner Center's scheduler would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from airflow.triggers.base import BaseEventTrigger

from airflow_provider_insights.hooks.insights import PartnerInsightsHook
from airflow_provider_insights.models import ExecutionStatus
from airflow_provider_insights.triggers import report_execution
from airflow_provider_insights.triggers.report_execution import WATERMARK_KEY, PartnerInsightsNewExecutionTrigger
from tests.fixtures.airflow_compat import import_string
from tests.operators.helpers import create_recurring_report, fast_executions, set_connection
from tests.triggers.test_report_execution import wait_for_requests_to

pytestmark = pytest.mark.integration

DAY = 24 * 3600
PAYLOAD_KEYS = {"report_id", "execution_id", "generated_time", "execution_status"}


class MemoryAssetStateStore:
    """Stands in for the triggerer's ``AssetStateStoreAccessors`` (same ``aget``/``aset``), in memory.

    The real one sends each call to the triggerer's supervisor process, which only a running
    triggerer has; what the trigger stores and when is the same.
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))  # JSON only, as the real store keeps it


class Watch:
    """Runs a trigger in the background, as the triggerer does, and collects its event payloads."""

    def __init__(self, trigger: PartnerInsightsNewExecutionTrigger) -> None:
        self.trigger = trigger
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self.task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for event in self.trigger.run():
            async with self._changed:
                self.events.append(event.payload)
                self._changed.notify_all()

    async def until(self, count: int, timeout: float = 30) -> list[dict[str, Any]]:
        """Await ``count`` events in all; return them."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.events) >= count), timeout)
        return list(self.events)

    async def stop(self) -> None:
        """Cancel the trigger, as a triggerer shutting down does."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def watcher(conn_id: str, report_id: str, **kwargs: Any) -> PartnerInsightsNewExecutionTrigger:
    return PartnerInsightsNewExecutionTrigger(
        report_id=report_id, partner_insights_conn_id=conn_id, poll_interval=kwargs.pop("poll_interval", 0.02), **kwargs
    )


def completed_ids(conn_id: str, report_id: str) -> list[str]:
    """The report's Completed executions as the service lists them, oldest first."""
    hook = PartnerInsightsHook(partner_insights_conn_id=conn_id)
    executions = hook.list_executions(report_id, statuses=ExecutionStatus.COMPLETED, latest=False)
    return [e.execution_id for e in sorted(executions, key=lambda e: e.generated_at or datetime.min)]


def assert_one_each_in_order(events: list[dict[str, Any]]) -> None:
    ids = [event["execution_id"] for event in events]
    assert len(ids) == len(set(ids)), f"an execution was yielded twice: {ids}"
    times = [event["generated_time"] for event in events]
    assert times == sorted(times)


def assert_secret_free(sb: Any, events: list[dict[str, Any]]) -> None:
    text = json.dumps(events)
    for secret in sb.connection(program="mpn")["password"], "sig=", "Bearer", "https://", "_blob":
        assert secret not in text
    assert all(set(event) == PAYLOAD_KEYS for event in events)


async def polls_more(sb: Any, count: int) -> None:
    """Await ``count`` more requests to the executions endpoint: the watcher polled that often again."""
    stats = await asyncio.to_thread(sb.admin.stats)
    seen = sum(n for (_, route), n in _counts(stats).items() if "execution" in route)
    await wait_for_requests_to(sb, "execution", at_least=seen + count)


def _counts(stats: Any) -> dict[tuple[str, str], int]:
    from tests.operators.helpers import request_counts

    return request_counts(stats)


#: The connection each profile needs for ``mpn``: the field reading refuses app-only tokens.
USER_GRANT = {"documented": "client_credentials", "field": "refresh_token"}


async def test_one_event_per_new_completed_execution_none_twice(profiled_sb, make_insights_conn):
    sb = profiled_sb
    insights_conn = make_insights_conn(auth_type=USER_GRANT[sb.admin.profile()["profile"]])
    fast_executions(sb)
    report_id = create_recurring_report(sb, insights_conn, start_in_hours=5)
    watch = Watch(watcher(insights_conn, report_id))
    try:
        await polls_more(sb, 2)  # started: the report has no execution yet
        sb.admin.advance_clock(6 * 3600)  # the first slot
        first = await watch.until(1)
        sb.admin.advance_clock(3 * DAY)  # three slots between two polls
        events = await watch.until(4)
        await polls_more(sb, 6)  # and nothing more, however often it polls
        assert watch.events == events
    finally:
        await watch.stop()

    assert [event["execution_id"] for event in events] == completed_ids(insights_conn, report_id)
    assert events[0] == first[0]
    assert_one_each_in_order(events)
    assert_secret_free(sb, events)
    assert {(event["report_id"], event["execution_status"]) for event in events} == {(report_id, "Completed")}


async def test_a_first_start_begins_at_the_newest_completed_execution(sb, insights_conn):
    fast_executions(sb)
    report_id = create_recurring_report(sb, insights_conn, start_in_hours=5)
    sb.admin.advance_clock(5 * 3600 + 3 * DAY)  # four executions before the watch starts
    before = completed_ids(insights_conn, report_id)
    assert len(before) == 4
    watch = Watch(watcher(insights_conn, report_id))
    try:
        assert [e["execution_id"] for e in await watch.until(1)] == before[-1:]
        await polls_more(sb, 3)
        sb.admin.advance_clock(DAY)
        events = await watch.until(2)
    finally:
        await watch.stop()

    assert [event["execution_id"] for event in events] == completed_ids(insights_conn, report_id)[-2:]


async def test_nothing_generated_before_ignore_before_is_yielded(sb, insights_conn):
    fast_executions(sb)
    report_id = create_recurring_report(sb, insights_conn, start_in_hours=5)
    sb.admin.advance_clock(6 * 3600)
    old = completed_ids(insights_conn, report_id)
    now = datetime.fromtimestamp(sb.admin.now(), tz=timezone.utc)
    watch = Watch(watcher(insights_conn, report_id, ignore_before=now))
    try:
        await polls_more(sb, 4)
        assert watch.events == []
        sb.admin.advance_clock(DAY)
        [event] = await watch.until(1)
    finally:
        await watch.stop()

    assert event["execution_id"] not in old
    assert datetime.fromisoformat(event["generated_time"]) > now


async def test_a_restart_without_a_store_re_yields_at_most_the_newest(sb, insights_conn):
    fast_executions(sb)
    report_id = create_recurring_report(sb, insights_conn, start_in_hours=5)
    first_run = Watch(watcher(insights_conn, report_id))
    await polls_more(sb, 2)
    sb.admin.advance_clock(5 * 3600 + 2 * DAY)
    yielded = await first_run.until(3)
    await first_run.stop()

    classpath, kwargs = first_run.trigger.serialize()  # what the triggerer keeps
    second_run = Watch(import_string(classpath)(**kwargs))
    try:
        again = await second_run.until(1)
        await polls_more(sb, 3)
        sb.admin.advance_clock(DAY)
        after = await second_run.until(2)
    finally:
        await second_run.stop()

    assert again == yielded[-1:]  # the one duplicate: the newest already yielded
    assert after[1]["execution_id"] not in {event["execution_id"] for event in yielded}


async def test_a_restart_with_the_asset_state_store_loses_nothing(sb, insights_conn):
    fast_executions(sb)
    report_id = create_recurring_report(sb, insights_conn, start_in_hours=5)
    store = MemoryAssetStateStore()
    first = watcher(insights_conn, report_id)
    first.asset_state_store = store
    first_run = Watch(first)
    await polls_more(sb, 2)
    sb.admin.advance_clock(5 * 3600 + DAY)
    yielded = await first_run.until(2)
    await first_run.stop()
    assert store.values == {
        f"{WATERMARK_KEY}:{report_id}": {
            "execution_id": yielded[-1]["execution_id"].lower(),
            "generated": yielded[-1]["generated_time"],
        }
    }
    sb.admin.advance_clock(2 * DAY)  # two executions complete while the triggerer is down

    second = PartnerInsightsNewExecutionTrigger(**first.serialize()[1])
    second.asset_state_store = store
    second_run = Watch(second)
    try:
        resumed = await second_run.until(3)
        await polls_more(sb, 3)
    finally:
        await second_run.stop()

    assert second_run.events == resumed
    assert resumed[0] == yielded[-1]  # re-yielded: its event may not have reached the database
    every = [event["execution_id"] for event in yielded[:-1] + resumed]
    assert every == completed_ids(insights_conn, report_id)  # none lost, one duplicate in all


async def test_transient_errors_are_waited_through(sb, monkeypatch):
    conn_id = set_connection(monkeypatch, sb, "insights_no_retries", max_retries=0)
    fast_executions(sb)
    report_id = create_recurring_report(sb, conn_id, start_in_hours=5)
    watch = Watch(watcher(conn_id, report_id))
    try:
        await polls_more(sb, 2)
        sb.admin.set_faults([{"kind": "status", "status": 503, "path": "execution", "count": 3}])
        sb.admin.advance_clock(6 * 3600)
        [event] = await watch.until(1)
    finally:
        await watch.stop()

    assert event["execution_id"] == completed_ids(conn_id, report_id)[0]


async def test_an_error_waiting_cannot_cure_does_not_end_the_watch(sb, insights_conn, monkeypatch):
    # The triggerer restarts an ended watcher at once: ending would poll in a hot loop instead.
    monkeypatch.setattr(report_execution, "MAX_ERROR_BACKOFF_SECONDS", 0.05)
    fast_executions(sb)
    report_id = create_recurring_report(sb, insights_conn, start_in_hours=5)
    sb.admin.set_faults([{"kind": "status", "status": 400, "path": "execution", "count": 4}])
    watch = Watch(watcher(insights_conn, report_id))
    try:
        await polls_more(sb, 5)  # four refused polls, then one that works
        assert not watch.task.done()
        sb.admin.advance_clock(6 * 3600)
        [event] = await watch.until(1)
    finally:
        await watch.stop()

    assert event["report_id"] == report_id


def test_serializes_to_json_kwargs_that_recreate_it_and_hash_stably():
    trigger = PartnerInsightsNewExecutionTrigger(
        report_id="r-1", partner_insights_conn_id="c", poll_interval=600, ignore_before="2024-05-01 12:00:00+02:00"
    )

    classpath, kwargs = trigger.serialize()

    assert isinstance(trigger, BaseEventTrigger)
    assert kwargs == {
        "report_id": "r-1",
        "partner_insights_conn_id": "c",
        "poll_interval": 600.0,
        "ignore_before": "2024-05-01T10:00:00+00:00",
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    recreated = import_string(classpath)(**kwargs)
    assert recreated.serialize() == (classpath, kwargs)
    assert BaseEventTrigger.hash(classpath, kwargs) == BaseEventTrigger.hash(*recreated.serialize())
