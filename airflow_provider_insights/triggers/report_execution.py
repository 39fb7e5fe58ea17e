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
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_insights.exceptions import (
    PartnerInsightsAuthError,
    PartnerInsightsConfigError,
    PartnerInsightsValidationError,
)

if TYPE_CHECKING:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook
    from airflow_provider_insights.models import Execution

#: Event statuses: the execution completed / the service says it ended otherwise / the end time
#: passed first / polling cannot succeed whatever the wait (bad connection or credentials).
STATUS_SUCCESS = "success"
STATUS_FAILED = "failed"
STATUS_TIMEOUT = "timeout"
STATUS_ERROR = "error"

#: Errors that waiting cannot cure: polling stops with an ``error`` event instead of retrying.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (
    PartnerInsightsConfigError,
    PartnerInsightsAuthError,
    PartnerInsightsValidationError,
)

#: Upper bound of the delay between two failed polls, however many failed in a row.
MAX_ERROR_BACKOFF_SECONDS = 300.0


class PartnerInsightsReportExecutionTrigger(BaseTrigger):
    """Poll a report's execution until it completes, fails or ``end_time`` passes; emit one event.

    Which execution: ``execution_id`` if given, else the report's newest one. Until the report has
    an execution the API answers 404, which counts as "not yet". A poll that fails (network error,
    throttling, 5xx after the hook's own retries) is retried with a growing delay and never ends the
    wait early: only the end time does.

    Events (one per run): ``{"status": "success", "report_id", "execution_id", "execution_status"}``,
    ``{"status": "failed", ..., "message"}`` when the service reports another terminal status,
    ``{"status": "timeout", "report_id", "execution_id", "message"}`` and
    ``{"status": "error", "report_id", "execution_id", "message"}`` when the connection or the
    credentials are unusable.

    :param report_id: the report whose execution to wait for.
    :param end_time: when to give up, as a UNIX timestamp (seconds).
    :param execution_id: a given execution of the report; ``None`` for the newest one.
    :param partner_insights_conn_id: the ``partner_insights`` connection to poll with.
    :param poll_interval: seconds between two polls.
    """

    def __init__(
        self,
        *,
        report_id: str,
        end_time: float,
        execution_id: str | None = None,
        partner_insights_conn_id: str = "partner_insights_default",
        poll_interval: float = 60.0,
    ) -> None:
        super().__init__()
        self.report_id = report_id
        self.end_time = float(end_time)
        self.execution_id = execution_id
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
            except PERMANENT_ERRORS as err:
                return self._event(STATUS_ERROR, message=f"{type(err).__name__}: {err}")
            except Exception as err:
                failed_polls += 1
                self.log.warning(
                    "Polling report %s failed (%d in a row), retrying: %s: %s",
                    self.report_id, failed_polls, type(err).__name__, err,
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
        if execution.is_completed:
            return self._event(STATUS_SUCCESS, execution=execution)
        if execution.is_waiting:
            # Debug: a triggerer may run thousands of these; one line per poll each would flood it.
            self.log.debug(
                "Execution %s of report %s is %s", execution.execution_id, self.report_id,
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
