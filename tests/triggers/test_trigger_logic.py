"""The trigger's own decisions, server-free (scripted hook): outcomes, timeouts, what it logs, its imports."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.triggers.report_execution import (
    HEARTBEAT_SECONDS,
    PartnerInsightsReportExecutionTrigger,
    WaitProgress,
)
from tests.operators.scripted import ScriptedHook, done, failed_inactive, waiting


class RecordingLog:
    """Stands in for the trigger's logger: keeps (level, message) pairs."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def _record(self, level: str, message: str, *args: object) -> None:
        self.lines.append((level, message % args if args else message))

    def info(self, message: str, *args: object) -> None:
        self._record("info", message, *args)

    def warning(self, message: str, *args: object) -> None:
        self._record("warning", message, *args)

    def debug(self, message: str, *args: object) -> None:
        self._record("debug", message, *args)


def scripted_trigger(monkeypatch, hook, *, timeout=30.0, poll_interval=0.01):
    trigger = PartnerInsightsReportExecutionTrigger(
        report_id="r", end_time=time.time() + timeout, poll_interval=poll_interval
    )
    monkeypatch.setattr(trigger, "_make_hook", lambda: hook)
    trigger._log = RecordingLog()
    return trigger


async def only_event(trigger):
    [event] = [event.payload async for event in trigger.run()]
    return event


async def test_an_inactive_report_without_a_completed_run_fails_at_the_first_poll(monkeypatch):
    hook = ScriptedHook(decisions=[failed_inactive()])

    event = await only_event(scripted_trigger(monkeypatch, hook))

    assert event["status"] == "failed"
    assert event["report_status"] == "Inactive"
    assert "Inactive" in event["message"]
    assert len(hook.called("apoll_execution")) == 1


async def test_a_timeout_names_the_last_report_and_execution_status(monkeypatch):
    hook = ScriptedHook(decisions=[waiting()])

    event = await only_event(scripted_trigger(monkeypatch, hook, timeout=0.1))

    assert event["status"] == "timeout"
    assert "report status Active" in event["message"]
    assert "execution e Pending" in event["message"]


async def test_status_changes_are_logged_at_info_and_repeats_are_not(monkeypatch):
    hook = ScriptedHook(decisions=[waiting()] * 20 + [waiting("e is Running", execution=None)] * 20 + [done()])
    trigger = scripted_trigger(monkeypatch, hook)

    event = await only_event(trigger)

    assert event["status"] == "success"
    info = [message for level, message in trigger._log.lines if level == "info"]
    assert len(hook.called("apoll_execution")) == 41
    assert len(info) == 3  # Pending, Running, Completed: one line each, not one per poll
    assert all(message.startswith("Report r: Now: ") for message in info)


def test_a_long_unchanged_wait_gets_a_heartbeat_at_a_bounded_rate():
    now = [0.0]
    progress = WaitProgress(clock=lambda: now[0])
    lines = []
    for _ in range(3 * 60 * 60):  # three hours of polls, one a second
        lines.append(progress.line_for(waiting()))
        now[0] += 1.0

    said = [line for line in lines if line]
    assert said[0].startswith("Now: ")
    assert all(line.startswith("Still waiting after ") for line in said[1:])
    # The first poll, then one line per heartbeat period (at 600 s, 1200 s... up to 10,200 s).
    assert len(said) == 1 + (3 * 60 * 60 - 1) // int(HEARTBEAT_SECONDS)


@pytest.mark.parametrize("interval", [0, 0.0, -1, 0.001])
def test_a_poll_interval_below_the_floor_is_refused(interval):
    with pytest.raises(PartnerInsightsValidationError) as raised:
        PartnerInsightsReportExecutionTrigger(report_id="r", end_time=0, poll_interval=interval)

    assert raised.value.field == "poll_interval"


def test_the_trigger_imports_nothing_from_operators():
    code = (
        "import sys, airflow_provider_insights.triggers.report_execution;"
        "print(sorted(m for m in sys.modules if m.startswith('airflow_provider_insights.operators')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
