"""The data window of a one-off report: given by the user, or taken from the DAG run.

Owns three rules:

- **Which window.** ``query_start_time``/``query_end_time`` left unset mean "this run's period":
  the run's data interval, or, when that interval has no width (Airflow 3's ``schedule="@daily"``
  is a ``CronTriggerTimetable`` whose ``data_interval_start == data_interval_end``), the period
  from the schedule's previous fire time to this run's. A run of an unscheduled DAG (``schedule=None``,
  assets, ``@once``) has no period: the query's ``TIMESPAN`` applies. ``None`` given explicitly
  always means the query's ``TIMESPAN``.
- **Where a period ends.** Whether ``QueryEndTime`` is inclusive is undocumented. A window taken
  from the run ends one second before the next period starts: consecutive runs do not overlap if
  it is inclusive, and leave no gap at day granularity (the datasets' finest) if it is exclusive.
- **An empty window** is refused with both values, the likely cause and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_insights.datetimes import API_DATETIME_FORMAT, parse_datetime
from airflow_provider_insights.exceptions import PartnerInsightsValidationError

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Taken off the end of a period so that consecutive periods never share a second.
PERIOD_END_MARGIN = timedelta(seconds=1)
#: The schedule to use when a DAG's periods cannot be worked out (said in the errors).
DAILY_SCHEDULE_HINT = (
    'schedule=CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1)), '
    "which gives each run the day before it as its data interval"
)


class _RunPeriod:
    """The type of :data:`RUN_PERIOD`."""

    def __repr__(self) -> str:
        return "RUN_PERIOD"

    def __str__(self) -> str:
        return "RUN_PERIOD"

    # One sentinel, compared by identity, even in a copied or pickled task.
    def __deepcopy__(self, memo: Any) -> _RunPeriod:
        return self

    def __copy__(self) -> _RunPeriod:
        return self

    def __reduce__(self) -> str:
        return "RUN_PERIOD"


#: Default of ``query_start_time``/``query_end_time``: "the period of the DAG run" (see the module).
RUN_PERIOD: Any = _RunPeriod()


@dataclass(frozen=True)
class QueryWindow:
    """The window sent as ``QueryStartTime``/``QueryEndTime``, and where it came from (for the log).

    :param start: the first moment, aware UTC.
    :param end: the last moment sent, aware UTC.
    :param source: a few words for the log: "given", "the run's data interval"...
    """

    start: datetime | None
    end: datetime | None
    source: str

    def describe(self) -> str:
        """``start .. end (source)`` for the log."""
        if self.start is None and self.end is None:
            return f"the query's TIMESPAN ({self.source})"
        return f"{_text(self.start)} .. {_text(self.end)} ({self.source})"


def _text(moment: datetime | None) -> str:
    return moment.strftime(API_DATETIME_FORMAT) if moment is not None else "unset"


def resolve_query_window(start: Any, end: Any, context: Context | None) -> QueryWindow:
    """The window of a one-off report, checked.

    :param start: ``query_start_time`` as rendered: a moment, ``None`` or :data:`RUN_PERIOD`.
    :param end: ``query_end_time`` likewise.
    :param context: the task's context, for the run's period.
    :raises PartnerInsightsValidationError: for a window that is not a moment, empty or inverted.
    """
    if start is RUN_PERIOD and end is RUN_PERIOD:
        window = run_period_window(context)
    else:
        window = QueryWindow(
            parse_datetime("query_start_time", None if start is RUN_PERIOD else start),
            parse_datetime("query_end_time", None if end is RUN_PERIOD else end),
            "given",
        )
    check_window(window)
    return window


def check_window(window: QueryWindow) -> None:
    """Refuse an empty or inverted window, showing both ends, the likely cause and the fix.

    :param window: the window.
    """
    if window.start is None or window.end is None or window.start < window.end:
        return
    shape = "empty (start == end)" if window.start == window.end else "inverted (end before start)"
    raise PartnerInsightsValidationError(
        "query_end_time",
        f"the window {_text(window.start)} .. {_text(window.end)} ({window.source}) is {shape}. "
        "Likely cause: the times come from data_interval_start/data_interval_end, which are equal "
        'under Airflow 3\'s schedule="@daily" (a CronTriggerTimetable without interval). Fix: leave '
        "query_start_time and query_end_time unset (the operator then covers the period since the "
        f"previous scheduled run), or use {DAILY_SCHEDULE_HINT}",
    )


def run_period_window(context: Context | None) -> QueryWindow:
    """This run's period (see the module), or no window when the run has none.

    :param context: the task's context.
    """
    context = context or {}  # type: ignore[assignment]
    start = _plain(parse_datetime("data_interval_start", context.get("data_interval_start")))
    end = _plain(parse_datetime("data_interval_end", context.get("data_interval_end")))
    timetable = getattr(context.get("dag"), "timetable", None)
    if start is None or end is None or not _is_periodic(timetable):
        return QueryWindow(None, None, "the run has no scheduled period")
    if end > start:
        return QueryWindow(start, end - PERIOD_END_MARGIN, "the run's data interval, less one second")
    previous, current = last_complete_period(timetable, end)
    return QueryWindow(previous, current - PERIOD_END_MARGIN, "the schedule's previous fire time to this run's")


def _core_timetable(timetable: Any) -> Any:
    try:
        from airflow.serialization.encoders import coerce_to_core_timetable
    except ImportError:  # an Airflow whose DAGs hold core timetables already
        return timetable
    return coerce_to_core_timetable(timetable)


def _is_periodic(timetable: Any) -> bool:
    return timetable is not None and bool(getattr(_core_timetable(timetable), "periodic", False))


def last_complete_period(timetable: Any, moment: datetime) -> tuple[datetime, datetime]:
    """The schedule's last fire time at or before ``moment``, and the fire time before that.

    Uses Airflow's own cron and delta arithmetic (time zones and DST included). For a scheduled run
    ``moment`` is a fire time, so the period is the one that just ended; a manual run at 14:37 of a
    daily DAG gets the last whole day.

    :param timetable: the DAG's timetable.
    :param moment: the run's (zero-width) data interval.
    :raises PartnerInsightsValidationError: when the schedule has no single period to take.
    """
    import pendulum

    core = _core_timetable(timetable)
    align_to_prev = getattr(core, "_align_to_prev", None)
    get_prev = getattr(core, "_get_prev", None)
    if align_to_prev is None or get_prev is None:
        raise PartnerInsightsValidationError(
            "query_start_time",
            f"this run's data interval is empty ({_text(moment)} .. {_text(moment)}) and its schedule "
            f"({type(core).__name__}) has no single period to cover instead; pass query_start_time and "
            f"query_end_time, or use {DAILY_SCHEDULE_HINT}",
        )
    current = align_to_prev(pendulum.instance(moment))
    previous = get_prev(current)
    return _plain(previous), _plain(current)  # type: ignore[return-value]


def _plain(moment: datetime | None) -> datetime | None:
    """A standard-library aware UTC datetime: pendulum's arithmetic drops a ``datetime.timezone``."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment.timestamp(), tz=timezone.utc)
