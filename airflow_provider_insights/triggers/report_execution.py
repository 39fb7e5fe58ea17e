"""Triggers polling a report's executions in the triggerer's event loop.

- :class:`PartnerInsightsReportExecutionTrigger` waits for one execution to complete (the deferrable
  sensor's trigger): one event.
- :class:`PartnerInsightsNewExecutionTrigger` watches a recurring report for an ``AssetWatcher``:
  one event per newly Completed execution, for as long as the watcher lives.

Both follow the same polling rules (``triggers/_polling.py``). A trigger only reads: it never
creates, updates or deletes anything (triggers may run twice or move between triggerers), and what
it serializes or emits carries ids and statuses only, never a token, a secret or a secure link.
Whether a poll means done, failed or "keep waiting" is decided by the hook
(:meth:`~airflow_provider_insights.hooks.insights.PartnerInsightsHook.apoll_execution`,
:func:`~airflow_provider_insights.models.decide_wait`), the same rule as the sensor's.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

from airflow_provider_insights.connection import DEFAULT_CONN_ID
from airflow_provider_insights.datetimes import parse_datetime
from airflow_provider_insights.models import Execution, ExecutionState, ExecutionStatus, WaitDecision, decide_wait
from airflow_provider_insights.triggers._polling import (
    HEARTBEAT_SECONDS,
    MAX_ERROR_BACKOFF_SECONDS,
    MIN_POLL_INTERVAL_SECONDS,
    FailedPolls,
    WaitProgress,
    check_poll_interval,
    last_seen,
    make_hook_off_the_loop,
    new_hook,
)
from airflow_provider_insights.triggers._watermark import WATERMARK_KEY, Watermark, completed_in_order
from airflow_provider_insights.validation import require_text

if TYPE_CHECKING:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

__all__ = [
    "HEARTBEAT_SECONDS",
    "MAX_ERROR_BACKOFF_SECONDS",
    "MIN_POLL_INTERVAL_SECONDS",
    "WATERMARK_KEY",
    "PartnerInsightsNewExecutionTrigger",
    "PartnerInsightsReportExecutionTrigger",
    "WaitProgress",
    "Watermark",
    "check_poll_interval",
    "completed_in_order",
    "last_seen",
]

#: Event statuses: the execution completed / the service says it ended otherwise / the end time
#: passed first / polling cannot succeed whatever the wait (bad connection or credentials, a
#: deleted report, any error that is not transient by ``is_transient_error``).
STATUS_SUCCESS = "success"
STATUS_FAILED = "failed"
STATUS_TIMEOUT = "timeout"
STATUS_ERROR = "error"


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
        return new_hook(self.partner_insights_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until there is something to report, then yield exactly one event."""
        await self._sleep_before_first_poll()
        # In a thread: the first call imports the hook's modules (requests...), a tenth of a second or more.
        hook = await make_hook_off_the_loop(self._make_hook)
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
        failures = FailedPolls(self.poll_interval, self.report_id, self.log)
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
                retry_in = failures.delay_after(err)
                if retry_in is None:
                    # Waiting cannot cure it (deleted report, refused credential, 4xx, a bug): say so now.
                    return self._event(STATUS_ERROR, decision, message=f"{type(err).__name__}: {err}")
                delay = retry_in
            else:
                failures.succeeded()
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


# ---------------------------------------------------------------------------------------------
# The event trigger of an AssetWatcher: one event per newly Completed execution
# ---------------------------------------------------------------------------------------------


class PartnerInsightsNewExecutionTrigger(BaseEventTrigger):
    """Watch a recurring report and yield one event per newly Completed execution, oldest first.

    For ``Asset(..., watchers=[AssetWatcher(name=..., trigger=PartnerInsightsNewExecutionTrigger(...))])``:
    each event becomes an asset event whose ``extra`` is ``{"from_trigger": True, "payload": <the
    event>}``. The payload is ``{"report_id", "execution_id", "generated_time" (ISO 8601),
    "execution_status"}``: ids, a time and a status, never the secure link or any token (the
    transfer reads the execution afresh).

    **Polling.** Each poll asks for the newest Completed execution (one request); only when it is new
    is the report's history (90 days) read, so that every execution completed since the last poll is
    yielded, in the order they were generated, even when several completed between two polls. (The
    newest is chosen by creation time: were two runs to overlap and the older one complete last, it
    would be yielded with the next execution, at the next history read.) Failed polls follow the
    execution trigger's rules (:class:`~._polling.FailedPolls`): transient ones are waited through
    with backoff. A watcher has no task to fail and the triggerer restarts an ended watcher at once,
    so an error waiting cannot cure (a deleted report, a refused credential) is logged at ERROR and
    polled again every :data:`MAX_ERROR_BACKOFF_SECONDS`, instead of ending.

    **Never twice, restarts.** Within one run, an execution is yielded only if its (generation time,
    id) is past the newest already yielded: never twice. The serialized arguments cannot carry that
    position (they are the watcher's identity), so a (re)started trigger begins:

    - from the position kept in the watched asset's state store (Airflow 3.3+, written *before* each
      event): the execution there is yielded again, then every later one. The one re-yielded is the
      newest already yielded, which may not have reached the database before the restart;
    - with nothing stored (a first start, several assets watched by one trigger, no store): from the
      newest Completed execution generated after ``ignore_before``, yielded once. After a restart
      that is again at most the newest execution already yielded, unless newer ones completed while
      the triggerer was down: then only the newest of those is yielded.

    Either way the consuming DAG must land an execution idempotently (a path keyed by execution id).

    :param report_id: the recurring report to watch.
    :param partner_insights_conn_id: the ``partner_insights`` connection to poll with.
    :param poll_interval: seconds between two polls (at least :data:`MIN_POLL_INTERVAL_SECONDS`;
        Partner Center's recurrences are hours apart: 300 or more in production).
    :param ignore_before: executions generated before this moment are never yielded (datetime or
        ISO 8601 string; serialized as an ISO string); ``None`` for no bound.
    """

    def __init__(
        self,
        *,
        report_id: str,
        partner_insights_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 300.0,
        ignore_before: datetime | str | None = None,
    ) -> None:
        super().__init__()
        self.report_id = require_text("report_id", report_id)
        self.partner_insights_conn_id = partner_insights_conn_id
        self.poll_interval = check_poll_interval("poll_interval", poll_interval)
        self.ignore_before = parse_datetime("ignore_before", ignore_before)
        self._yielded: Watermark | None = None
        self._resume_from: Watermark | None = None
        self._started = False

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and exactly the keyword arguments that re-create this trigger."""
        return (
            f"{self.__class__.__module__}.{self.__class__.__name__}",
            {
                "report_id": self.report_id,
                "partner_insights_conn_id": self.partner_insights_conn_id,
                "poll_interval": self.poll_interval,
                "ignore_before": self.ignore_before.isoformat() if self.ignore_before else None,
            },
        )

    def _make_hook(self) -> PartnerInsightsHook:
        return new_hook(self.partner_insights_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll forever; yield one event per newly Completed execution."""
        hook = await make_hook_off_the_loop(self._make_hook)
        failures = FailedPolls(self.poll_interval, self.report_id, self.log)
        progress = WaitProgress()
        try:
            self._resume_from = await self._stored_position()
            while True:
                try:
                    executions = await self._new_executions(hook, progress)
                except Exception as err:
                    delay = failures.delay_after(err)
                    if delay is None:
                        self.log.error(
                            "Watching report %s: %s: %s; polling again in %.0f s",
                            self.report_id,
                            type(err).__name__,
                            err,
                            MAX_ERROR_BACKOFF_SECONDS,
                        )
                        delay = MAX_ERROR_BACKOFF_SECONDS
                else:
                    failures.succeeded()
                    self._started, delay = True, self.poll_interval
                    for execution in executions:
                        yield await self._event_for(execution)
                await asyncio.sleep(delay)
        finally:
            await hook.aclose()

    async def _new_executions(self, hook: PartnerInsightsHook, progress: WaitProgress) -> list[Execution]:
        completed = (ExecutionStatus.COMPLETED,)
        newest = await hook.aget_latest_execution(self.report_id, statuses=completed)
        if not self._started and self._resume_from is None:
            # Nothing stored: the watch begins at the newest Completed execution (see the class docs).
            return completed_in_order([newest], after=None, ignore_before=self.ignore_before)
        if self._started:
            decision = decide_wait(newest, report_id=self.report_id, generated_after=self._quick_bound())
            line = progress.line_for(decision)
            if line is not None:
                self.log.info("Report %s: %s", self.report_id, line)
            if decision.state is not ExecutionState.DONE:
                return []
        # Something new: read the history, so that executions completed between two polls are not missed.
        history = await hook.alist_executions(self.report_id, statuses=completed, latest=False)
        after, inclusive = (self._yielded, False) if self._yielded else (self._resume_from, True)
        return completed_in_order(
            [*history, newest], after=after, inclusive=inclusive, ignore_before=self.ignore_before
        )

    def _quick_bound(self) -> datetime | None:
        """The moment the newest Completed execution must pass to be worth reading the history for."""
        marks = [mark.generated for mark in (self._yielded, self._resume_from) if mark is not None]
        moments = [*marks, *([self.ignore_before] if self.ignore_before else [])]
        return max(moments) if moments else None

    async def _event_for(self, execution: Execution) -> TriggerEvent:
        mark = Watermark.of(execution)
        assert mark is not None  # completed_in_order keeps placed executions only
        # Stored before the event is yielded: a restart then re-yields this one rather than lose it.
        await self._store_position(mark)
        self._yielded = mark
        self.log.info(
            "Report %s: execution %s completed (generated %s)", self.report_id, execution.execution_id, mark.generated
        )
        return TriggerEvent(
            {
                "report_id": self.report_id,
                "execution_id": execution.execution_id,
                "generated_time": mark.generated.isoformat(),
                "execution_status": execution.execution_status,
            }
        )

    # -- the position kept across restarts (the watched asset's state store, Airflow 3.3+) ---------

    @property
    def _store_key(self) -> str:
        return f"{WATERMARK_KEY}:{self.report_id}"

    @property
    def _state_store(self) -> Any:
        # Airflow before 3.3 has no asset state store: its triggers lack the attribute entirely.
        return getattr(self, "asset_state_store", None)

    async def _stored_position(self) -> Watermark | None:
        store = self._state_store
        if store is None:
            return None
        try:
            value = await store.aget(self._store_key)
        except Exception as err:  # several watched assets, or the store unreachable: start without it
            self._give_up_store(err)
            return None
        position = Watermark.from_json(value)
        if position is not None:
            self.log.info("Report %s: resuming after execution %s", self.report_id, position.execution_id)
        return position

    async def _store_position(self, mark: Watermark) -> None:
        store = self._state_store
        if store is None:
            return
        try:
            await store.aset(self._store_key, mark.to_json())
        except Exception as err:  # the events matter more than the position: keep watching
            self._give_up_store(err)

    def _give_up_store(self, err: Exception) -> None:
        self.log.warning(
            "Report %s: the asset state store is not usable (%s: %s); a restart resumes from the newest execution",
            self.report_id,
            type(err).__name__,
            err,
        )
        self.asset_state_store = None
