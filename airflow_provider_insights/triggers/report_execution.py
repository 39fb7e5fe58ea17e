"""Trigger that waits, in the triggerer's event loop, for a report execution to complete.

The trigger only reads: it never creates, updates or deletes anything (triggers may run twice or
move between triggerers), and what it serializes or emits carries ids and statuses only, never a
token, a secret or a secure link.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_insights.exceptions import PartnerInsightsValidationError, is_transient_error
from airflow_provider_insights.operators._base import as_utc_datetime

if TYPE_CHECKING:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook
    from airflow_provider_insights.models import Execution

#: Event statuses: the execution completed / the service says it ended otherwise / the end time
#: passed first / polling cannot succeed whatever the wait (bad connection or credentials, a
#: deleted report, any error that is not transient by ``is_transient_error``).
STATUS_SUCCESS = "success"
STATUS_FAILED = "failed"
STATUS_TIMEOUT = "timeout"
STATUS_ERROR = "error"

#: Upper bound of the delay between two failed polls, however many failed in a row.
MAX_ERROR_BACKOFF_SECONDS = 300.0


class PartnerInsightsReportExecutionTrigger(BaseTrigger):
    """Poll a report's execution until it completes, fails or ``end_time`` passes; emit one event.

    Which execution: ``execution_id`` if given, else the report's newest one; with
    ``generated_after``, only an execution generated after that moment counts (see
    :func:`counts_as_new`), so a recurring report's previous run never passes for today's. Until
    the report has an execution the API answers 404, which counts as "not yet". A poll that fails
    for a transient reason (network error, throttling, 5xx after the hook's own retries; see
    :func:`~airflow_provider_insights.exceptions.is_transient_error`) is retried with a growing
    delay and never ends the wait early; any other error (a deleted report, a refused credential,
    another 4xx) ends it at once with an ``error`` event.

    Events (one per run): ``{"status": "success", "report_id", "execution_id", "execution_status"}``,
    ``{"status": "failed", ..., "message"}`` when the service reports another terminal status,
    ``{"status": "timeout", "report_id", "execution_id", "message"}`` and
    ``{"status": "error", "report_id", "execution_id", "message"}`` when polling cannot succeed.

    :param report_id: the report whose execution to wait for.
    :param end_time: when to give up, as a UNIX timestamp (seconds).
    :param execution_id: a given execution of the report; ``None`` for the newest one.
    :param generated_after: only an execution generated after this moment counts (datetime or ISO
        8601 string; serialized as an ISO string); ``None`` for any.
    :param partner_insights_conn_id: the ``partner_insights`` connection to poll with.
    :param poll_interval: seconds between two polls.
    """

    def __init__(
        self,
        *,
        report_id: str,
        end_time: float,
        execution_id: str | None = None,
        generated_after: datetime | str | None = None,
        partner_insights_conn_id: str = "partner_insights_default",
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self.report_id = report_id
        self.end_time = float(end_time)
        self.execution_id = execution_id
        self.generated_after = as_utc_datetime("generated_after", generated_after)
        self.partner_insights_conn_id = partner_insights_conn_id
        self.poll_interval = float(poll_interval)

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
        while True:
            try:
                # Read once per run and cached by the hook: the async connection API, never
                # ``extra_dejson`` or a sync lookup, which would block or crash the event loop.
                await hook.aget_settings()
                execution = await self._fetch_execution(hook)
            except Exception as err:
                if not is_transient_error(err):
                    # Waiting cannot cure it (deleted report, refused credential, 4xx, a bug): say so now.
                    return self._event(STATUS_ERROR, message=f"{type(err).__name__}: {err}")
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
                outcome = self._outcome_of(execution)
                if outcome is not None:
                    return outcome
                delay = self.poll_interval
            remaining = self.end_time - time.time()
            if remaining <= 0:
                return self._timeout_event()
            await asyncio.sleep(min(delay, remaining))

    async def _fetch_execution(self, hook: PartnerInsightsHook) -> Execution | None:
        if self.execution_id:
            return await hook.aget_execution(self.report_id, self.execution_id)
        return await hook.aget_latest_execution(self.report_id)

    def _outcome_of(self, execution: Execution | None) -> dict[str, Any] | None:
        """The event to emit for this poll's execution, or ``None`` to keep waiting."""
        if execution is None:
            self.log.debug("Report %s has no execution yet", self.report_id)
            return None
        if not counts_as_new(execution, self.generated_after):
            self.log.debug(
                "Execution %s of report %s is not newer than %s",
                execution.execution_id,
                self.report_id,
                self.generated_after,
            )
            return None
        if execution.is_completed:
            return self._event(STATUS_SUCCESS, execution=execution)
        if execution.is_waiting:
            # Debug: a triggerer may run thousands of these; one line per poll each would flood it.
            self.log.debug(
                "Execution %s of report %s is %s",
                execution.execution_id,
                self.report_id,
                execution.execution_status,
            )
            return None
        return self._event(STATUS_FAILED, execution=execution, message=execution.message)

    def _error_backoff(self, failed_polls: int) -> float:
        # Exponential with jitter so that many triggers recovering at once do not poll in lockstep.
        base = min(self.poll_interval * 2 ** (failed_polls - 1), MAX_ERROR_BACKOFF_SECONDS)
        return base * random.uniform(0.5, 1.0)

    def _timeout_event(self) -> dict[str, Any]:
        return self._event(
            STATUS_TIMEOUT,
            message=f"Timed out waiting for an execution of report {self.report_id} to complete",
        )

    def _event(self, status: str, *, execution: Execution | None = None, message: str | None = None) -> dict[str, Any]:
        """A JSON-only payload built from ids and statuses: never the secure link."""
        payload: dict[str, Any] = {
            "status": status,
            "report_id": self.report_id,
            "execution_id": execution.execution_id if execution else self.execution_id,
        }
        if execution is not None:
            payload["execution_status"] = execution.execution_status
        if message:
            payload["message"] = message
        return payload


def generated_time_of(execution: Execution) -> datetime | None:
    """When the service generated (else created) the execution, as aware UTC; ``None`` if unknown.

    :param execution: the execution.
    """
    raw = execution.report_generated_time or execution.raw.get("createdTime")
    try:
        return as_utc_datetime("reportGeneratedTime", raw)
    except PartnerInsightsValidationError:
        return None  # a format we cannot read is as good as no time at all


def counts_as_new(execution: Execution, generated_after: datetime | None) -> bool:
    """Whether ``execution`` may answer a wait for one generated after ``generated_after``.

    Without a bound every execution counts. With one: an execution still Pending/Running/Paused
    counts (it is a run later than any finished one, and the wait goes on anyway); a finished one
    counts only if its time is known and after the bound, so an older run's file is never taken
    for a newer run's. A failed execution without a time counts (it fails the wait): the newest
    run failing is not to be waited out silently.

    :param execution: the newest execution, or the one asked for.
    :param generated_after: the bound, aware UTC, or ``None``.
    """
    if generated_after is None or execution.is_waiting:
        return True
    generated = generated_time_of(execution)
    if generated is None:
        return not execution.is_completed
    return generated > generated_after
