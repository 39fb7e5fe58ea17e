"""Typed views of the Insights API's objects: datasets, queries, reports and executions.

The service's casing is inconsistent (``value``/``Value``, ``CallbackMethod``/``callbackMethod``),
so every object is read through :func:`lookup`, which ignores case. Each model keeps the raw
item in ``raw`` for fields this module does not name.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


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
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Execution:
        """Build from one item of the envelope's ``value``."""
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
