"""Which Completed executions come after a watch's position, and in what order (server-free)."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_provider_insights.models import Execution
from airflow_provider_insights.triggers.report_execution import Watermark, completed_in_order


def execution(execution_id: str, generated: str | None, status: str = "Completed") -> Execution:
    return Execution(execution_id, "r", status, report_generated_time=generated)


A = execution("A", "2024-05-01T00:00:00Z")
B = execution("B", "2024-05-02T00:00:00Z")
B_TOO = execution("b", "2024-05-02T00:00:00Z")  # the same execution, listed in another casing
C = execution("C", "2024-05-03T00:00:00Z")


def ids(executions: list[Execution]) -> list[str]:
    return [e.execution_id for e in executions]


def test_oldest_first_each_once_whatever_the_listing_order():
    assert ids(completed_in_order([C, B, A, B_TOO, None, C], after=None)) == ["A", "B", "C"]


def test_only_past_the_position_and_at_it_when_inclusive():
    after = Watermark.of(B)
    assert ids(completed_in_order([A, B, C], after=after)) == ["C"]
    assert ids(completed_in_order([A, B, C], after=after, inclusive=True)) == ["B", "C"]


def test_waiting_failed_and_unplaceable_executions_are_left_out():
    running = execution("R", None, "Running")
    failed = execution("F", "2024-05-04T00:00:00Z", "Failed")
    timeless = execution("T", None)
    assert ids(completed_in_order([running, failed, timeless, A], after=None)) == ["A"]


def test_ignore_before_is_the_generated_after_rule():
    bound = datetime(2024, 5, 2, tzinfo=timezone.utc)
    assert ids(completed_in_order([A, B, C], after=None, ignore_before=bound)) == ["C"]


def test_the_stored_position_reads_back_and_anything_else_reads_as_none():
    mark = Watermark.of(B)
    assert mark is not None and Watermark.from_json(mark.to_json()) == mark
    for junk in (None, "x", {}, {"execution_id": "b"}, {"execution_id": "b", "generated": "not a time"}):
        assert Watermark.from_json(junk) is None
