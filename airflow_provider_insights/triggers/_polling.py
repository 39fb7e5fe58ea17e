"""The polling rules every Partner Center poller in the triggerer follows, in one place.

Shared by the execution trigger (one wait, one event) and the new-execution event trigger (an
AssetWatcher's endless watch): the shortest poll interval, which failed polls are waited through
and how long (:class:`FailedPolls`: ``is_transient_error``, exponential backoff with jitter, capped
at :data:`MAX_ERROR_BACKOFF_SECONDS`), the bounded progress log (:class:`WaitProgress`) and how a
hook is made (:func:`new_hook`). What counts as Completed is not
here: it is :attr:`~airflow_provider_insights.models.Execution.state` and
:func:`~airflow_provider_insights.models.decide_wait`, used by both triggers.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_insights.exceptions import PartnerInsightsValidationError, is_transient_error

if TYPE_CHECKING:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook
    from airflow_provider_insights.models import WaitDecision

#: Upper bound of the delay between two failed polls, however many failed in a row.
MAX_ERROR_BACKOFF_SECONDS = 300.0
#: The shortest wait between two polls. Zero would be a hot loop (about 1,400 requests a second);
#: the tests' 0.01 s is the floor. Partner Center takes minutes: production DAGs use 60 s or more.
MIN_POLL_INTERVAL_SECONDS = 0.01
#: At most one "still waiting" line per trigger in this long, besides one line per status change.
HEARTBEAT_SECONDS = 600.0


def check_poll_interval(field: str, seconds: Any) -> float:
    """``seconds`` as a float, refused below :data:`MIN_POLL_INTERVAL_SECONDS`.

    :param field: the argument's name (``poke_interval``, ``poll_interval``).
    :param seconds: the interval.
    """
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise PartnerInsightsValidationError(field, f"{seconds!r} is not a number of seconds") from None
    if not value >= MIN_POLL_INTERVAL_SECONDS:
        raise PartnerInsightsValidationError(
            field,
            f"{seconds!r} seconds would poll Partner Center in a tight loop",
            allowed=f"at least {MIN_POLL_INTERVAL_SECONDS:g} seconds (60 or more in production)",
        )
    return value


def new_hook(conn_id: str) -> PartnerInsightsHook:
    """A hook for ``conn_id``. Triggers call it through ``asyncio.to_thread``: the first call imports
    requests, msal... (a tenth of a second or more), which must not block the event loop.

    :param conn_id: the ``partner_insights`` connection.
    """
    # Imported here so that loading a trigger class (e.g. in a DAG file) stays cheap.
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    return PartnerInsightsHook(partner_insights_conn_id=conn_id)


class FailedPolls:
    """Counts a poller's failed polls in a row and says how long to wait before the next one.

    A transient failure (network error, throttling, 5xx after the hook's own retries: see
    :func:`~airflow_provider_insights.exceptions.is_transient_error`) is waited through with an
    exponential, jittered delay, so that many pollers recovering at once do not poll in step; any
    other failure cannot be cured by waiting and the caller decides what ending means for it.

    :param poll_interval: the poller's interval between two successful polls, in seconds.
    :param report_id: the report polled, for the log.
    :param log: the poller's logger.
    """

    def __init__(self, poll_interval: float, report_id: str, log: logging.Logger | Any) -> None:
        self.poll_interval = poll_interval
        self.report_id = report_id
        self.log = log
        self.in_a_row = 0

    def succeeded(self) -> None:
        """A poll succeeded: the next failure starts the backoff over."""
        self.in_a_row = 0

    def delay_after(self, err: BaseException) -> float | None:
        """Seconds to wait before polling again after ``err``; ``None`` if waiting cannot cure it.

        :param err: the error the poll raised.
        """
        if not is_transient_error(err):
            return None
        self.in_a_row += 1
        self.log.warning(
            "Polling report %s failed (%d in a row), retrying: %s: %s",
            self.report_id,
            self.in_a_row,
            type(err).__name__,
            err,
        )
        return self.backoff()

    def backoff(self) -> float:
        """The jittered, capped exponential delay for the current run of failures."""
        base = min(self.poll_interval * 2 ** (max(self.in_a_row, 1) - 1), MAX_ERROR_BACKOFF_SECONDS)
        return base * random.uniform(0.5, 1.0)


def last_seen(decision: WaitDecision | None) -> str:
    """The last report and execution status seen, for a timeout message.

    :param decision: the last poll's verdict, or ``None`` if no poll succeeded.
    """
    if decision is None:
        return "no poll succeeded (last report status and execution status unknown)"
    execution = (
        f"execution {decision.execution.execution_id} {decision.execution_status or '?'}"
        if decision.execution is not None
        else "no execution"
    )
    return f"last seen: report status {decision.report_status or 'not read'}, {execution} ({decision.reason})"


class WaitProgress:
    """Decides which polls a long wait logs: each change of what was seen, plus a bounded heartbeat.

    :param heartbeat_seconds: the longest silence between two lines.
    :param clock: monotonic seconds (replaceable in tests).
    """

    def __init__(self, heartbeat_seconds: float = HEARTBEAT_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.heartbeat_seconds = heartbeat_seconds
        self.clock = clock
        self.started = self.last_line = clock()
        self.last_seen: tuple[Any, ...] | None = None

    def line_for(self, decision: WaitDecision) -> str | None:
        """The line to log at INFO for this poll, or ``None`` to stay quiet.

        :param decision: the poll's verdict.
        """
        seen = (decision.state, decision.report_status, decision.execution_status, _execution_id(decision))
        now = self.clock()
        if seen != self.last_seen:
            self.last_seen, self.last_line = seen, now
            return f"Now: {decision.reason}"
        if now - self.last_line >= self.heartbeat_seconds:
            self.last_line = now
            return f"Still waiting after {now - self.started:.0f} s: {decision.reason}"
        return None


def _execution_id(decision: WaitDecision) -> str | None:
    return decision.execution.execution_id if decision.execution is not None else None
