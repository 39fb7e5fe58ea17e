"""Trigger that waits, in the triggerer's event loop, for a report execution to complete.

The trigger only reads: it never creates, updates or deletes anything (triggers may run twice or
move between triggerers), and what it serializes or emits carries ids and statuses only, never a
token, a secret or a secure link. Whether a poll means done, failed or "keep waiting" is decided by
the hook (:meth:`~airflow_provider_insights.hooks.insights.PartnerInsightsHook.apoll_execution`,
:func:`~airflow_provider_insights.models.decide_wait`), the same rule as the sensor's.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_insights.connection import DEFAULT_CONN_ID
from airflow_provider_insights.datetimes import parse_datetime
from airflow_provider_insights.exceptions import PartnerInsightsValidationError, is_transient_error
from airflow_provider_insights.models import ExecutionState, WaitDecision
from airflow_provider_insights.validation import require_text

if TYPE_CHECKING:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

#: Event statuses: the execution completed / the service says it ended otherwise / the end time
#: passed first / polling cannot succeed whatever the wait (bad connection or credentials, a
#: deleted report, any error that is not transient by ``is_transient_error``).
STATUS_SUCCESS = "success"
STATUS_FAILED = "failed"
STATUS_TIMEOUT = "timeout"
STATUS_ERROR = "error"

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


class PartnerInsightsReportExecutionTrigger(BaseTrigger):
    """Poll a report's execution until it completes, fails or ``end_time`` passes; emit one event.

    Which execution: ``execution_id`` if given, else the report's newest one; with
    ``generated_after``, only an execution generated after that moment counts, so a recurring
    report's previous run never passes for today's. Until the report has an execution the API
    answers 404, which counts as "not yet". A report that turned ``Inactive`` without a new
    Completed execution (a failed one-off run, where the service lists no failed execution) and an
    ``execution_id`` the report does not have end the wait with a ``failed`` event. A poll that fails
    for a transient reason (network error, throttling, 5xx after the hook's own retries; see
    :func:`~airflow_provider_insights.exceptions.is_transient_error`) is retried with a growing
    delay and never ends the wait early; any other error (a deleted report, a refused credential,
    another 4xx) ends it at once with an ``error`` event.

    Logs each change of what it sees at INFO, and otherwise one heartbeat line every
    :data:`HEARTBEAT_SECONDS` at most, so that thousands of triggers do not flood the triggerer.

    Events (one per run): ``{"status": "success", "report_id", "execution_id", "execution_status",
    "report_status"}``, ``{"status": "failed", ..., "message"}``, ``{"status": "timeout", ...,
    "message"}`` (naming the last report and execution status seen) and ``{"status": "error", ...,
    "message"}``.

    :param report_id: the report whose execution to wait for.
    :param end_time: when to give up, as a UNIX timestamp (seconds).
    :param execution_id: a given execution of the report; ``None`` for the newest one.
    :param generated_after: only an execution generated after this moment counts (datetime or ISO
        8601 string; serialized as an ISO string); ``None`` for any.
    :param partner_insights_conn_id: the ``partner_insights`` connection to poll with.
    :param poll_interval: seconds between two polls (at least :data:`MIN_POLL_INTERVAL_SECONDS`).
    """

    def __init__(
        self,
        *,
        report_id: str,
        end_time: float,
        execution_id: str | None = None,
        generated_after: datetime | str | None = None,
        partner_insights_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self.report_id = require_text("report_id", report_id)
        self.end_time = float(end_time)
        self.execution_id = require_text("execution_id", execution_id) if execution_id is not None else None
        self.generated_after = parse_datetime("generated_after", generated_after)
        self.partner_insights_conn_id = partner_insights_conn_id
        self.poll_interval = check_poll_interval("poll_interval", poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and exactly the keyword arguments that re-create this trigger."""
        return (
            f"{self.__class__.__module__}.{self.__class__.__name__}",
            {
                "report_id": self.report_id,
                "end_time": self.end_time,
                "execution_id": self.execution_id,
                "generated_after": self.generated_after.isoformat() if self.generated_after else None,
                "partner_insights_conn_id": self.partner_insights_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    def _make_hook(self) -> PartnerInsightsHook:
        # Imported here so that loading the trigger class (e.g. in a DAG file) stays cheap.
        from airflow_provider_insights.hooks.insights import PartnerInsightsHook

        return PartnerInsightsHook(partner_insights_conn_id=self.partner_insights_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until there is something to report, then yield exactly one event."""
        await self._sleep_before_first_poll()
        # In a thread: the first call imports the hook's modules (requests...), a tenth of a second or more.
        hook = await asyncio.to_thread(self._make_hook)
        try:
            event = await self._wait_for_outcome(hook)
        finally:
            await hook.aclose()
        yield TriggerEvent(event)

    async def _sleep_before_first_poll(self) -> None:
        # The sensor checked just before deferring, so nothing is lost by waiting part of one interval;
        # it keeps triggers started together (a triggerer restart) from polling in step ever after.
        await asyncio.sleep(min(self.poll_interval * random.random(), max(self.end_time - time.time(), 0)))

    async def _wait_for_outcome(self, hook: PartnerInsightsHook) -> dict[str, Any]:
        failed_polls = 0
        progress = WaitProgress()
        decision: WaitDecision | None = None
        while True:
            try:
                # The hook reads the connection through the async API only, never ``extra_dejson``
                # or a sync lookup, which would block or crash the event loop.
                decision = await hook.apoll_execution(
                    self.report_id, execution_id=self.execution_id, generated_after=self.generated_after
                )
            except Exception as err:
                if not is_transient_error(err):
                    # Waiting cannot cure it (deleted report, refused credential, 4xx, a bug): say so now.
                    return self._event(STATUS_ERROR, decision, message=f"{type(err).__name__}: {err}")
                failed_polls += 1
                self.log.warning(
                    "Polling report %s failed (%d in a row), retrying: %s: %s",
                    self.report_id,
                    failed_polls,
                    type(err).__name__,
                    err,
                )
                delay = self._error_backoff(failed_polls)
            else:
                failed_polls = 0
                line = progress.line_for(decision)
                if line is not None:
                    self.log.info("Report %s: %s", self.report_id, line)
                if decision.state is not ExecutionState.WAITING:
                    return self._outcome_event(decision)
                delay = self.poll_interval
            remaining = self.end_time - time.time()
            if remaining <= 0:
                decision = await self._final_look(hook, decision)
                return self._event(STATUS_TIMEOUT, decision, message=self._timeout_message(progress, decision))
            await asyncio.sleep(min(delay, remaining))

    async def _final_look(self, hook: PartnerInsightsHook, decision: WaitDecision | None) -> WaitDecision | None:
        """One last poll that reads the report's status too, so that a timeout says what it was."""
        try:
            return await hook.apoll_execution(
                self.report_id,
                execution_id=self.execution_id,
                generated_after=self.generated_after,
                read_report_status=True,
            )
        except Exception:  # the timeout is what to report: this poll only describes it
            return decision

    def _outcome_event(self, decision: WaitDecision) -> dict[str, Any]:
        if decision.state is ExecutionState.DONE:
            return self._event(STATUS_SUCCESS, decision)
        service_message = decision.execution.message if decision.execution is not None else None
        message = f"{decision.reason}: {service_message}" if service_message else decision.reason
        return self._event(STATUS_FAILED, decision, message=message)

    def _timeout_message(self, progress: WaitProgress, decision: WaitDecision | None) -> str:
        waited = progress.clock() - progress.started
        return (
            f"Timed out after {waited:.0f} s waiting for an execution of report {self.report_id} "
            f"to complete; {last_seen(decision)}"
        )

    def _error_backoff(self, failed_polls: int) -> float:
        # Exponential with jitter so that many triggers recovering at once do not poll in lockstep.
        base = min(self.poll_interval * 2 ** (failed_polls - 1), MAX_ERROR_BACKOFF_SECONDS)
        return base * random.uniform(0.5, 1.0)

    def _event(self, status: str, decision: WaitDecision | None, *, message: str | None = None) -> dict[str, Any]:
        """A JSON-only payload built from ids and statuses: never the secure link."""
        execution = decision.execution if decision is not None else None
        payload: dict[str, Any] = {
            "status": status,
            "report_id": self.report_id,
            "execution_id": execution.execution_id if execution is not None else self.execution_id,
        }
        if decision is not None:
            payload["execution_status"] = decision.execution_status
            payload["report_status"] = decision.report_status
        if message:
            payload["message"] = message
        return payload
