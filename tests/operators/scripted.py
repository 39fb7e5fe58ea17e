"""A server-free stand-in for PartnerInsightsHook: scripted answers, every call recorded.

For the operators', sensor's and trigger's own logic (what they ask, in which order, what they do
with the answer), in the style of tests/hooks/test_http.py. The real hook against the sandbox is
exercised by the integration tests next to these.
"""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from airflow_provider_insights.models import Execution, ExecutionState, Report, WaitDecision


def waiting(reason: str = "execution e of report r is Pending (report status Active)", **kwargs: Any) -> WaitDecision:
    """A "keep waiting" verdict."""
    kwargs.setdefault("report_status", "Active")
    kwargs.setdefault("execution", Execution("e", "r", "Pending"))
    return WaitDecision(ExecutionState.WAITING, reason, **kwargs)


def done(execution_id: str = "e") -> WaitDecision:
    """A "done" verdict."""
    return WaitDecision(
        ExecutionState.DONE,
        f"execution {execution_id} of report r is Completed",
        Execution(execution_id, "r", "Completed"),
    )


def failed_inactive() -> WaitDecision:
    """What a failed one-off run may look like: no Completed execution, and the report Inactive."""
    return WaitDecision(
        ExecutionState.FAILED,
        "report r has no execution yet, and the report is Inactive: its run failed or it will run no more",
        None,
        "Inactive",
    )


class ScriptedHook:
    """Answers from a script; ``calls`` lists ``(method, args, kwargs)`` in order.

    :param decisions: the verdicts ``poll_execution``/``apoll_execution`` return, in turn (the last repeats).
    :param reports: the reports the service holds.
    :param program: the connection's program.
    """

    def __init__(
        self, *, decisions: list[WaitDecision] | None = None, reports: list[Report] | None = None, program: str = "mpn"
    ):
        self.decisions = list(decisions or [waiting()])
        self.reports = list(reports or [])
        self.settings = SimpleNamespace(program=program)
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def _record(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((name, args, kwargs))

    def called(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        """The arguments of every call to ``name``."""
        return [(args, kwargs) for method, args, kwargs in self.calls if method == name]

    def _next_decision(self) -> WaitDecision:
        return self.decisions.pop(0) if len(self.decisions) > 1 else self.decisions[0]

    def poll_execution(self, report_id: str, **kwargs: Any) -> WaitDecision:
        self._record("poll_execution", report_id, **kwargs)
        return self._next_decision()

    async def apoll_execution(self, report_id: str, **kwargs: Any) -> WaitDecision:
        self._record("apoll_execution", report_id, **kwargs)
        return self._next_decision()

    async def aclose(self) -> None:
        self._record("aclose")

    def list_reports(self, **filters: Any) -> list[Report]:
        self._record("list_reports", **filters)
        return [
            report
            for report in self.reports
            if filters.get("report_id") in (None, report.report_id)
            and filters.get("report_name") in (None, report.report_name)
        ]

    def list_queries(self, **filters: Any) -> list[Any]:
        self._record("list_queries", **filters)
        return [SimpleNamespace(query_id=filters.get("query_id"), query="SELECT A FROM CustomersAndTenants")]

    def get_dataset(self, name: str) -> Any:
        self._record("get_dataset", name)
        return SimpleNamespace(name=name, minimum_recurrence_interval=24)

    def create_report(self, **fields: Any) -> Report:
        self._record("create_report", **fields)
        report = Report(f"new-{len(self.reports)}", fields["report_name"], fields["query_id"], report_status="Active")
        self.reports.append(report)
        return report

    def update_report(self, report_id: str, **changes: Any) -> Report:
        self._record("update_report", report_id, **changes)
        [report] = [r for r in self.reports if r.report_id == report_id]
        return replace(report, **{k: v for k, v in changes.items() if k in ("recurrence_interval", "format")})

    def delete_report(self, report_id: str) -> Report | None:
        self._record("delete_report", report_id)
        self.reports = [r for r in self.reports if r.report_id != report_id]
        return None

    def pause_report(self, report_id: str) -> Report:
        self._record("pause_report", report_id)
        return Report(report_id, "n", "q", report_status="Paused")

    def resume_report(self, report_id: str) -> Report:
        self._record("resume_report", report_id)
        return Report(report_id, "n", "q", report_status="Active")

    def delete_query(self, query_id: str) -> None:
        self._record("delete_query", query_id)
