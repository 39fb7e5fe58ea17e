"""Reading a report's executions under every reading of the API, and deciding a wait from them.

Owns three rules:

- **Value lists.** The docs let one request filter on several statuses, execution ids or report ids
  (``executionStatus=Pending;Running``); field notes say the service answers such a list with 400.
  A list is sent as documented until a service refuses one; then that API base URL is remembered
  (process-wide) and each value goes in its own request, the answers merged.
- **The newest execution** is chosen by its time fields, never by the order of the list.
- **A wait's poll** reads executions, then the report's status when needed (see :func:`poll_flow`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from airflow_provider_insights.datetimes import parse_service_datetime
from airflow_provider_insights.exceptions import PartnerInsightsApiError, PartnerInsightsNotFoundError
from airflow_provider_insights.hooks._api_flows import NO_ITEM_MESSAGE, ApiContext, list_flow
from airflow_provider_insights.hooks.flow import Flow
from airflow_provider_insights.hooks.redaction import redact_url
from airflow_provider_insights.hooks.request_parts import build_url, new_correlation_id, path_segment
from airflow_provider_insights.models import (
    REPORT_INACTIVE,
    Execution,
    ExecutionState,
    ExecutionStatus,
    Report,
    WaitDecision,
    decide_wait,
    lookup,
)

log = logging.getLogger(__name__)

DOCUMENTED_STATUSES: tuple[ExecutionStatus, ...] = ExecutionStatus.documented()
#: The order in which statuses are asked for one at a time: the answer a waiter hopes for first.
STATUS_ORDER = ("completed", "running", "pending", "paused")

# ---------------------------------------------------------------------------------------------
# Which services refuse value lists
# ---------------------------------------------------------------------------------------------

_refusing_lists: set[str] = set()
_refusing_lock = threading.Lock()  # held only for a set operation: never across an await


def refuses_value_lists(base_url: str) -> bool:
    """Whether the service at ``base_url`` has answered a ``;`` list with 400 in this process.

    :param base_url: the API base URL.
    """
    with _refusing_lock:
        return base_url.rstrip("/").lower() in _refusing_lists


def remember_value_lists_refused(base_url: str) -> None:
    """Send one value per request to ``base_url`` from now on.

    :param base_url: the API base URL.
    """
    with _refusing_lock:
        _refusing_lists.add(base_url.rstrip("/").lower())


def reset_value_list_refusals() -> None:
    """Forget every refusal (tests, or after the service changed)."""
    with _refusing_lock:
        _refusing_lists.clear()


# ---------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------


def split_values(values: Iterable[Any] | str | None) -> tuple[str, ...]:
    """Values given as an iterable or as one ``;``-joined string, as a tuple of non-empty texts.

    :param values: the values, or ``None``.
    """
    if values is None:
        return ()
    if isinstance(values, ExecutionStatus):  # before str: the enum is a str
        parts: Iterable[Any] = [values]
    elif isinstance(values, str):
        parts = values.split(";")
    else:
        parts = values
    texts = (part.value if isinstance(part, ExecutionStatus) else str(part) for part in parts)
    return tuple(text.strip() for text in texts if text.strip())


@dataclass(frozen=True)
class ExecutionFilter:
    """One question to the executions endpoint.

    :param report_ids: the reports (the path; several joined with ``;``).
    :param execution_ids: only these executions; empty for any.
    :param statuses: only these statuses; empty for the service's default (``Completed``).
    :param latest: ``getLatestExecution``; ``None`` for the service's default (true).
    """

    report_ids: tuple[str, ...]
    execution_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    latest: bool | None = None

    @property
    def has_value_list(self) -> bool:
        """Whether any parameter carries more than one value."""
        return max(len(self.report_ids), len(self.execution_ids), len(self.statuses)) > 1

    def one_value_each(self) -> Iterator[ExecutionFilter]:
        """The same question as filters of one value each: statuses in :data:`STATUS_ORDER`."""
        statuses: list[tuple[str, ...]] = [(status,) for status in sorted(self.statuses, key=_status_rank)] or [()]
        execution_ids: list[tuple[str, ...]] = [(execution_id,) for execution_id in self.execution_ids] or [()]
        for report_id in self.report_ids:
            for status in statuses:
                for execution_id in execution_ids:
                    yield replace(self, report_ids=(report_id,), execution_ids=execution_id, statuses=status)


#: Words of a 400 that is about the filter values: a bare "bad request", .NET's enum binding error,
#: or one naming the list parameters.
LIST_REFUSAL_WORDS = (
    "bad request",
    "invalid request",
    "request is invalid",
    "requested value",
    "executionstatus",
    "executionid",
    "status",
)


def is_list_refusal(error: PartnerInsightsApiError, question: ExecutionFilter) -> bool:
    """Whether ``error`` is the service refusing a value list, rather than another 400.

    A 400 to a question with a value list is taken as a refusal of the list when its message names
    nothing (a bare "Bad Request"), names the filters, or quotes the list (.NET's "Requested value
    'Pending;Running' not found"). A 400 that names something else ("Invalid report id") is the
    service's real answer, and is raised.

    :param error: the error the question got.
    :param question: the question.
    """
    if error.status_code != 400 or not question.has_value_list:
        return False
    message = (error.message or "").lower()
    if not message.strip() or any(word in message for word in LIST_REFUSAL_WORDS) or ";" in message:
        return True
    listed = [values for values in (question.report_ids, question.execution_ids, question.statuses) if len(values) > 1]
    return any(value.lower() in message for values in listed for value in values)


def _status_rank(status: str) -> int:
    lowered = status.lower()
    return STATUS_ORDER.index(lowered) if lowered in STATUS_ORDER else len(STATUS_ORDER)


@dataclass(frozen=True)
class _Answer:
    executions: list[Execution]
    no_item_found: bool


def _ask_flow(context: ApiContext, question: ExecutionFilter, correlation_id: str) -> Flow[_Answer]:
    path = f"ScheduledReport/execution/{';'.join(path_segment(report_id) for report_id in question.report_ids)}"
    params = {
        "executionId": list(question.execution_ids) or None,
        "executionStatus": list(question.statuses) or None,
        "getLatestExecution": question.latest,
    }
    listing = yield from list_flow(context, path, params, empty_on_404=True, correlation_id=correlation_id)
    if listing.data_redacted:
        log.warning(
            "The service marked the executions of report %s dataRedacted: some values were withheld",
            ";".join(question.report_ids),
        )
    executions = [Execution.from_api(item, data_redacted=listing.data_redacted) for item in listing.items]
    no_item = NO_ITEM_MESSAGE in (listing.empty_answer or "").lower()
    return _Answer(executions, no_item)


def _answers_flow(context: ApiContext, question: ExecutionFilter, correlation_id: str) -> Flow[list[_Answer]]:
    """Ask as documented; after a refusal of a value list, one value per request."""
    if not (question.has_value_list and refuses_value_lists(context.base_url)):
        try:
            return [(yield from _ask_flow(context, question, correlation_id))]
        except PartnerInsightsApiError as error:
            if not is_list_refusal(error, question):
                raise
            log.warning(
                "The service refused a list of values (%s); asking one value per request from now on", error.message
            )
            remember_value_lists_refused(context.base_url)
    answers: list[_Answer] = []
    wanted = {execution_id.lower() for execution_id in question.execution_ids}
    for single in question.one_value_each():
        answers.append((yield from _ask_flow(context, single, correlation_id)))
        found = {execution.execution_id.lower() for answer in answers for execution in answer.executions}
        if wanted and wanted <= found:
            break  # an execution has one status: the others need not be asked
    return answers


def executions_flow(context: ApiContext, question: ExecutionFilter) -> Flow[list[Execution]]:
    """The executions that match, each once; only those of the reports asked about.

    :param context: the API context.
    :param question: the filter.
    :raises PartnerInsightsNotFoundError: if a report does not exist (deleted, or a wrong id).
    """
    correlation_id = new_correlation_id()
    answers = yield from _answers_flow(context, question, correlation_id)
    asked = {report_id.lower() for report_id in question.report_ids}
    merged: dict[str, Execution] = {}
    for answer in answers:
        for execution in answer.executions:
            # An execution of another report is not an answer to this question (a foreign execution id).
            if execution.report_id and execution.report_id.lower() not in asked:
                continue
            merged.setdefault(execution.execution_id.lower() or str(len(merged)), execution)
    if not merged and any(answer.no_item_found for answer in answers):
        # "No item found" may also mean a wrong or deleted report: that must not read as "not run yet".
        for report_id in question.report_ids:
            yield from report_flow(context, report_id, correlation_id=correlation_id)
    return list(merged.values())


# ---------------------------------------------------------------------------------------------
# Reports, one execution, the newest execution
# ---------------------------------------------------------------------------------------------


def report_flow(context: ApiContext, report_id: str, *, correlation_id: str | None = None) -> Flow[Report]:
    """One report, by id.

    :param context: the API context.
    :param report_id: the report id.
    :raises PartnerInsightsNotFoundError: if the service does not know it.
    """
    listing = yield from list_flow(
        context, "ScheduledReport", {"reportId": report_id}, empty_on_404=True, correlation_id=correlation_id
    )
    for item in listing.items:
        if str(lookup(item, "reportId", "")).lower() == report_id.lower():
            return Report.from_api(item)
    raise PartnerInsightsNotFoundError(
        404,
        f"report {report_id} does not exist (deleted, or a wrong id)",
        method="GET",
        url=redact_url(build_url(context.base_url, "ScheduledReport", {"reportId": report_id})),
        correlation_id=correlation_id,
    )


def execution_flow(context: ApiContext, report_id: str, execution_id: str) -> Flow[Execution | None]:
    """One execution of a report, whatever its documented status; ``None`` if the report has no such one.

    :param context: the API context.
    :param report_id: the report id.
    :param execution_id: the execution id.
    """
    question = ExecutionFilter((report_id,), (execution_id,), tuple(s.value for s in DOCUMENTED_STATUSES), False)
    executions = yield from executions_flow(context, question)
    wanted = execution_id.lower()
    return next((execution for execution in executions if execution.execution_id.lower() == wanted), None)


def latest_execution_flow(context: ApiContext, report_id: str, statuses: tuple[str, ...]) -> Flow[Execution | None]:
    """The newest execution of a report in one of ``statuses``; ``None`` if there is none.

    :param context: the API context.
    :param report_id: the report id.
    :param statuses: the statuses to consider; empty for the service's default.
    """
    executions = yield from executions_flow(context, ExecutionFilter((report_id,), (), statuses, True))
    if not executions:
        # If the service picks the latest run *before* filtering by status, a newer run in another
        # status hides the one asked for: look through the history (90 days) instead.
        executions = yield from executions_flow(context, ExecutionFilter((report_id,), (), statuses, False))
    return newest(executions)


def _moment(execution: Execution) -> datetime | None:
    raw = execution.raw
    created = lookup(raw, "createdTime") or lookup(raw, "executionCreatedTime")
    return parse_service_datetime(created) or parse_service_datetime(execution.report_generated_time)


def _newness(execution: Execution) -> tuple[int, datetime | None, int, str]:
    moment = _moment(execution)
    state_rank = {ExecutionState.DONE: 0, ExecutionState.FAILED: 1, ExecutionState.WAITING: 2}[execution.state]
    if moment is None:
        # No time known: a run still waiting has not been generated yet, so it is the newest one;
        # a finished run without a time cannot be placed, so it is taken as the oldest.
        band = 2 if execution.is_waiting else 0
        return band, None, state_rank, execution.execution_id
    return 1, moment, state_rank, execution.execution_id


def newest(executions: Iterable[Execution]) -> Execution | None:
    """The most recent execution, by its creation time (else its generation time); never by list order.

    Without any time, a waiting execution is newer than every timed one and a finished one older;
    equal times prefer a waiting execution, then a failed one; the execution id breaks what is left,
    so the answer never depends on the order the service listed them in.

    :param executions: the executions.
    """
    candidates = list(executions)
    if not candidates:
        return None
    return max(candidates, key=lambda execution: _sortable(_newness(execution)))


def _sortable(newness: tuple[int, datetime | None, int, str]) -> tuple[int, float, int, str]:
    band, moment, state_rank, execution_id = newness
    return band, moment.timestamp() if moment else 0.0, state_rank, execution_id


# ---------------------------------------------------------------------------------------------
# A wait's poll
# ---------------------------------------------------------------------------------------------


def _wanted_execution_flow(context: ApiContext, report_id: str, execution_id: str | None) -> Flow[Execution | None]:
    if execution_id:
        return (yield from execution_flow(context, report_id, execution_id))
    statuses = tuple(status.value for status in DOCUMENTED_STATUSES)
    return (yield from latest_execution_flow(context, report_id, statuses))


def poll_flow(
    context: ApiContext,
    report_id: str,
    *,
    execution_id: str | None,
    generated_after: datetime | None,
    read_report_status: bool = False,
) -> Flow[WaitDecision]:
    """One poll of a wait for an execution: done, failed, or keep waiting, and why.

    Reads the execution asked for (or the newest); unless that settles it, reads the report's status,
    and if the report is Inactive reads the executions once more, as a run may have completed between
    the two reads. Only then does an Inactive report with no new Completed execution fail the wait.
    While a new execution is Pending or Running the report is not read (one request per poll, as a
    triggerer may hold thousands of waits), unless ``read_report_status`` asks for it.

    :param context: the API context.
    :param report_id: the report waited on.
    :param execution_id: the execution waited on, or ``None`` for the newest.
    :param generated_after: only an execution generated after this counts (aware UTC), or ``None``.
    :param read_report_status: read the report's status even while a new execution is waiting.
    :raises PartnerInsightsNotFoundError: if the report does not exist.
    """
    bounds: dict[str, Any] = {"report_id": report_id, "execution_id": execution_id, "generated_after": generated_after}
    execution = yield from _wanted_execution_flow(context, report_id, execution_id)
    decision = decide_wait(execution, **bounds)
    if decision.state is not ExecutionState.WAITING:
        return decision
    running = decision.execution is not None and decision.execution.is_waiting
    if running and not read_report_status:
        return decision
    report = yield from report_flow(context, report_id)
    status = report.report_status
    if (status or "").lower() == REPORT_INACTIVE.lower():
        execution = yield from _wanted_execution_flow(context, report_id, execution_id)
    return decide_wait(execution, report_status=status, **bounds)
