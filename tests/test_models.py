"""The typed models and the one decision on whether a wait for an execution is over."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_insights.models import Execution, ExecutionState, counts_as_new, decide_wait

UTC = timezone.utc
BOUND = datetime(2026, 11, 1, tzinfo=UTC)


def execution(status: str, generated: str | None = None, **raw: str) -> Execution:
    item = {"executionId": "e1", "reportId": "r1", "executionStatus": status, "reportGeneratedTime": generated}
    return Execution.from_api({**item, **raw})


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("Completed", ExecutionState.DONE),
        ("completed", ExecutionState.DONE),
        ("Pending", ExecutionState.WAITING),
        ("Running", ExecutionState.WAITING),
        ("Paused", ExecutionState.WAITING),
        ("Failed", ExecutionState.FAILED),
        ("", ExecutionState.FAILED),
    ],
)
def test_execution_state_reads_the_status(status, state):
    assert execution(status).state is state


def test_generated_at_reads_z_and_falls_back_to_created_time():
    assert execution("Completed", "2026-11-02T03:04:05Z").generated_at == datetime(2026, 11, 2, 3, 4, 5, tzinfo=UTC)
    assert execution("Pending", None, createdTime="2026-11-02T00:00:00Z").generated_at == datetime(
        2026, 11, 2, tzinfo=UTC
    )
    assert execution("Completed", "garbage").generated_at is None


def test_data_redacted_comes_from_the_envelope():
    assert Execution.from_api({"executionId": "e"}, data_redacted=True).data_redacted is True
    assert Execution.from_api({"executionId": "e"}).data_redacted is False


def test_counts_as_new_needs_a_known_later_time_for_a_finished_run():
    assert counts_as_new(execution("Completed", "2026-11-02T00:00:00Z"), BOUND)
    assert not counts_as_new(execution("Completed", "2026-10-31T00:00:00Z"), BOUND)
    assert not counts_as_new(execution("Completed"), BOUND)
    assert counts_as_new(execution("Pending"), BOUND)
    assert counts_as_new(execution("Failed"), BOUND)


def test_decide_done_waiting_and_failed_from_the_execution():
    assert decide_wait(execution("Completed"), report_id="r1").state is ExecutionState.DONE
    assert decide_wait(execution("Running"), report_id="r1").state is ExecutionState.WAITING
    failed = decide_wait(execution("Failed"), report_id="r1", report_status="Active")
    assert failed.state is ExecutionState.FAILED
    assert "Failed" in failed.reason
    assert "Active" in failed.reason


def test_decide_no_execution_yet_is_waiting_unless_the_report_is_inactive():
    waiting = decide_wait(None, report_id="r1", report_status="Active")
    assert waiting.state is ExecutionState.WAITING
    ended = decide_wait(None, report_id="r1", report_status="Inactive")
    assert ended.state is ExecutionState.FAILED
    assert "Inactive" in ended.reason


def test_decide_an_old_execution_of_an_inactive_report_fails_the_wait():
    old = execution("Completed", "2026-10-01T00:00:00Z")
    assert decide_wait(old, report_id="r1", generated_after=BOUND).state is ExecutionState.WAITING
    decision = decide_wait(old, report_id="r1", generated_after=BOUND, report_status="Inactive")
    assert decision.state is ExecutionState.FAILED
    assert decision.execution_status == "Completed"


def test_decide_an_execution_id_the_report_does_not_have_fails_at_once():
    decision = decide_wait(None, report_id="r1", execution_id="other-report-execution")
    assert decision.state is ExecutionState.FAILED
    assert "other-report-execution" in decision.reason
