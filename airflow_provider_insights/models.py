"""Typed views of the Insights API's objects: datasets, queries, reports and executions.

The service's casing is inconsistent (``value``/``Value``, ``CallbackMethod``/``callbackMethod``),
so every object is read through :func:`lookup`, which ignores case. Each model keeps the raw
item in ``raw`` for fields this module does not name.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_insights.datetimes import parse_service_datetime


def lookup(item: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """Return ``item[key]`` ignoring the key's case, or ``default``."""
    if key in item:
        return item[key]
    wanted = key.lower()
    for name, value in item.items():
        if name.lower() == wanted:
            return value
    return default


class ExecutionStatus(str, enum.Enum):
    """Statuses of a report execution. The first four are documented; ``Failed`` is seen in practice."""

    PENDING = "Pending"
    RUNNING = "Running"
    PAUSED = "Paused"
    COMPLETED = "Completed"
    FAILED = "Failed"

    @classmethod
    def documented(cls) -> tuple[ExecutionStatus, ...]:
        """The statuses the executions endpoint documents as filter values."""
        return (cls.PENDING, cls.RUNNING, cls.PAUSED, cls.COMPLETED)

    @classmethod
    def waiting(cls) -> frozenset[str]:
        """Statuses after which the execution may still complete."""
        return frozenset({cls.PENDING.value, cls.RUNNING.value, cls.PAUSED.value})


@dataclass(frozen=True)
class Dataset:
    """A dataset of the catalog (``GET ScheduledDataset``).

    :param name: the dataset name, as the catalog spells it.
    :param selectable_columns: raw columns.
    :param available_metrics: aggregated columns.
    :param available_date_ranges: the ``TIMESPAN`` values this dataset accepts.
    :param minimum_recurrence_interval: the smallest ``RecurrenceInterval`` in hours (MPN only).
    """

    name: str
    selectable_columns: tuple[str, ...] = ()
    available_metrics: tuple[str, ...] = ()
    available_date_ranges: tuple[str, ...] = ()
    minimum_recurrence_interval: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Dataset:
        """Build from one item of the envelope's ``value``."""
        minimum = lookup(item, "minimumRecurrenceInterval")
        return cls(
            name=lookup(item, "datasetName", ""),
            selectable_columns=tuple(lookup(item, "selectableColumns") or ()),
            available_metrics=tuple(lookup(item, "availableMetrics") or ()),
            available_date_ranges=tuple(lookup(item, "availableDateRanges") or ()),
            minimum_recurrence_interval=int(minimum) if minimum is not None else None,
            raw=dict(item),
        )

    @property
    def fields(self) -> tuple[str, ...]:
        """Every name a query may select: columns then metrics."""
        return self.selectable_columns + self.available_metrics


@dataclass(frozen=True)
class Query:
    """A report query (``ScheduledQueries``).

    :param query_id: the query's id.
    :param name: its name.
    :param query: its text.
    :param description: its description.
    :param type: ``userDefined`` or ``system``.
    """

    query_id: str
    name: str
    query: str
    description: str | None = None
    type: str | None = None
    created_time: str | None = None
    modified_time: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Query:
        """Build from one item of the envelope's ``value``."""
        return cls(
            query_id=lookup(item, "queryId", ""),
            name=lookup(item, "name", ""),
            query=lookup(item, "query", ""),
            description=lookup(item, "description"),
            type=lookup(item, "type"),
            created_time=lookup(item, "createdTime"),
            modified_time=lookup(item, "modifiedTime"),
            raw=dict(item),
        )

    @property
    def is_system(self) -> bool:
        """Whether this is one of Microsoft's system queries (which cannot be deleted)."""
        return (self.type or "").lower() == "system"


@dataclass(frozen=True)
class Report:
    """A scheduled or one-off report (``ScheduledReport``)."""

    report_id: str
    report_name: str
    query_id: str
    description: str | None = None
    query: str | None = None
    start_time: str | None = None
    report_status: str | None = None
    recurrence_interval: int | None = None
    recurrence_count: int | None = None
    format: str | None = None
    callback_url: str | None = None
    callback_method: str | None = None
    execute_now: bool | None = None
    created_time: str | None = None
    modified_time: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Report:
        """Build from one item of the envelope's ``value``."""
        return cls(
            report_id=lookup(item, "reportId", ""),
            report_name=lookup(item, "reportName", ""),
            query_id=lookup(item, "queryId", ""),
            description=lookup(item, "description"),
            query=lookup(item, "query"),
            start_time=lookup(item, "startTime"),
            report_status=lookup(item, "reportStatus"),
            recurrence_interval=lookup(item, "recurrenceInterval"),
            recurrence_count=lookup(item, "recurrenceCount"),
            format=lookup(item, "format"),
            callback_url=lookup(item, "callbackUrl"),
            callback_method=lookup(item, "callbackMethod"),
            execute_now=lookup(item, "executeNow"),
            created_time=lookup(item, "createdTime"),
            modified_time=lookup(item, "modifiedTime"),
            raw=dict(item),
        )


@dataclass(frozen=True)
class Execution:
    """One execution of a report (``ScheduledReport/execution/{reportId}``).

    ``report_access_secure_link`` is a pre-authorised URL: never log it, return it from a task,
    or put it in a trigger event. ``repr()`` leaves it out, and ``report_location`` too (it may be a URL).
    """

    execution_id: str
    report_id: str
    execution_status: str
    format: str | None = None
    report_location: str | None = field(default=None, repr=False)  # may be a storage URL
    report_access_secure_link: str | None = field(default=None, repr=False)
    report_expiry_time: str | None = None
    report_generated_time: str | None = None
    message: str | None = None
    data_redacted: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, item: Mapping[str, Any], *, data_redacted: bool = False) -> Execution:
        """Build from one item of the envelope's ``value``.

        :param item: the item.
        :param data_redacted: the envelope's ``dataRedacted`` flag (MPN: some values were withheld).
        """
        return cls(
            execution_id=lookup(item, "executionId", ""),
            report_id=lookup(item, "reportId", ""),
            execution_status=lookup(item, "executionStatus", ""),
            format=lookup(item, "format"),
            report_location=lookup(item, "reportLocation"),
            report_access_secure_link=lookup(item, "reportAccessSecureLink"),
            report_expiry_time=lookup(item, "reportExpiryTime"),
            report_generated_time=lookup(item, "reportGeneratedTime"),
            message=lookup(item, "message") or lookup(item, "failureReason"),
            data_redacted=bool(data_redacted),
            raw=dict(item),
        )

    @property
    def is_completed(self) -> bool:
        """Whether the report file is ready."""
        return self.execution_status.lower() == ExecutionStatus.COMPLETED.value.lower()

    @property
    def is_waiting(self) -> bool:
        """Whether the execution may still complete (Pending, Running or Paused)."""
        return self.execution_status.capitalize() in ExecutionStatus.waiting()

    @property
    def state(self) -> ExecutionState:
        """Done, still waiting, or failed: the one reading of ``executionStatus``."""
        if self.is_completed:
            return ExecutionState.DONE
        if self.is_waiting:
            return ExecutionState.WAITING
        return ExecutionState.FAILED

    @property
    def generated_at(self) -> datetime | None:
        """When the service generated (else created) it, aware UTC; ``None`` if unknown or unreadable."""
        return parse_service_datetime(
            self.report_generated_time or lookup(self.raw, "createdTime") or lookup(self.raw, "executionCreatedTime")
        )


class ExecutionState(enum.Enum):
    """What an execution's status means for someone waiting on it."""

    DONE = "done"
    WAITING = "waiting"
    FAILED = "failed"


#: ``reportStatus`` of a report that will run no more (a one-off that ran, or recurrences exhausted).
REPORT_INACTIVE = "Inactive"


@dataclass(frozen=True)
class WaitDecision:
    """The verdict of one poll: done (with the execution), keep waiting, or failed; and why.

    :param state: DONE, WAITING or FAILED.
    :param reason: one sentence for the log or the error, naming what was seen.
    :param execution: the execution the verdict is about, if there was one.
    :param report_status: the report's status, when it was read.
    """

    state: ExecutionState
    reason: str
    execution: Execution | None = None
    report_status: str | None = None

    @property
    def execution_status(self) -> str | None:
        """The status of the execution seen, if any."""
        return self.execution.execution_status if self.execution else None


def counts_as_new(execution: Execution, generated_after: datetime | None) -> bool:
    """Whether ``execution`` may answer a wait for one generated after ``generated_after``.

    Without a bound every execution counts. With one: an execution still waiting counts (it is a
    run later than any finished one); a finished one counts only if its time is known and after
    the bound, so an older run's file is never taken for a newer run's. A failed execution without
    a time counts (it fails the wait): the newest run failing is not to be waited out silently.

    :param execution: the newest execution, or the one asked for.
    :param generated_after: the bound, aware UTC, or ``None``.
    """
    if generated_after is None or execution.is_waiting:
        return True
    generated = execution.generated_at
    if generated is None:
        return not execution.is_completed
    return generated > generated_after


def decide_wait(
    execution: Execution | None,
    *,
    report_id: str,
    execution_id: str | None = None,
    generated_after: datetime | None = None,
    report_status: str | None = None,
) -> WaitDecision:
    """Decide, from what one poll saw, whether a wait for an execution is over.

    Callers read the report's status *before* its executions (when they read it at all): a report
    found ``Inactive`` and then no new Completed execution means the run will never complete. The
    docs list no ``Failed`` status, and a failed one-off run may show only that way.

    :param execution: the execution asked for, or the newest; ``None`` if the service listed none.
    :param report_id: the report waited on, for the reason.
    :param execution_id: the execution asked for by id, or ``None`` for the newest.
    :param generated_after: only an execution generated after this counts (aware UTC), or ``None``.
    :param report_status: the report's ``reportStatus`` if it was read, else ``None``.
    """
    seen = f" (report status {report_status})" if report_status else ""
    if execution is not None and counts_as_new(execution, generated_after):
        what = f"execution {execution.execution_id} of report {report_id} is {execution.execution_status or '?'}"
        return WaitDecision(execution.state, f"{what}{seen}", execution, report_status)
    if execution is None and execution_id:
        reason = f"report {report_id} has no execution {execution_id}{seen}"
        return WaitDecision(ExecutionState.FAILED, reason, None, report_status)
    newer = f" generated after {generated_after:%Y-%m-%dT%H:%M:%SZ}" if generated_after else ""
    if execution is None:
        what = f"report {report_id} has no execution{newer} yet"
    else:
        newest = f"the newest execution of report {report_id} ({execution.execution_id}, {execution.execution_status})"
        what = f"{newest} is not{newer or ' new'}"
    if (report_status or "").lower() == REPORT_INACTIVE.lower():
        reason = f"{what}, and the report is Inactive: its run failed or it will run no more"
        return WaitDecision(ExecutionState.FAILED, reason, execution, report_status)
    return WaitDecision(ExecutionState.WAITING, f"{what}{seen}", execution, report_status)
