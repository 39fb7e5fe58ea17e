"""Sensor waiting for an execution of a Partner Center Insights report to complete."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_insights._compat import AirflowException, AirflowSensorTimeout, conf
from airflow_provider_insights.connection import DEFAULT_CONN_ID
from airflow_provider_insights.datetimes import parse_datetime
from airflow_provider_insights.exceptions import PartnerInsightsExecutionFailedError, is_transient_error
from airflow_provider_insights.models import ExecutionState, WaitDecision
from airflow_provider_insights.operators._base import PartnerInsightsHookMixin
from airflow_provider_insights.triggers.report_execution import (
    STATUS_ERROR,
    STATUS_FAILED,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
    PartnerInsightsReportExecutionTrigger,
    check_poll_interval,
    last_seen,
)
from airflow_provider_insights.validation import require_text

if TYPE_CHECKING:
    from airflow.sdk import Context

#: ``next_method`` of a task that Airflow resumes only to fail it (e.g. its deferral timed out).
TRIGGER_FAIL_REPR = "__fail__"


def execution_failed(report_id: str, decision: WaitDecision, execution_id: str | None = None) -> Exception:
    """The error for a wait that ended in failure, saying what was seen.

    :param report_id: the report waited on.
    :param decision: the failing poll's verdict.
    :param execution_id: the execution asked for, if any.
    """
    execution = decision.execution
    status = decision.execution_status or (
        f"none (report {decision.report_status})" if decision.report_status else "none"
    )
    message = decision.reason + (f": {execution.message}" if execution is not None and execution.message else "")
    return PartnerInsightsExecutionFailedError(
        report_id, execution.execution_id if execution is not None else execution_id, status, message
    )


class PartnerInsightsReportExecutionSensor(PartnerInsightsHookMixin, BaseSensorOperator):
    """Wait until an execution of a report is ``Completed``; return its execution id.

    Which execution: ``execution_id`` if given, else the report's newest one (for a one-off report,
    its only one). For a recurring report set ``generated_after`` (e.g. ``"{{ data_interval_start }}"``):
    only an execution generated after it counts, so if today's run has not happened yet the sensor
    waits instead of returning yesterday's execution. Before the first execution the API answers
    404: that means "not yet". ``Pending``, ``Running`` and ``Paused`` mean "not yet" too.

    The wait fails at once, raising
    :class:`~airflow_provider_insights.exceptions.PartnerInsightsExecutionFailedError` with what was
    seen, when the execution ends in another status (``Failed``...), when the report turned
    ``Inactive`` without a new Completed execution (how a failed one-off run may show: the docs list
    no failed status), and when the report has no execution ``execution_id`` (another report's id).
    A poll that fails for a transient reason (network, throttling, 5xx after the hook's retries;
    :func:`~airflow_provider_insights.exceptions.is_transient_error`) is not a report failure: the
    sensor keeps waiting until ``timeout``. Any other error (a deleted report, another 4xx, refused
    credentials) fails the task at once, in every mode. A timeout names the last report status and
    execution status seen.

    Deferrable mode checks once on the worker, then hands the wait to
    :class:`~airflow_provider_insights.triggers.report_execution.PartnerInsightsReportExecutionTrigger`;
    ``timeout`` is enforced both by the deferral and by the trigger and surfaces as
    ``AirflowSensorTimeout``. Otherwise the sensor pokes or reschedules (``mode``).

    :param report_id: the report to watch (templated).
    :param execution_id: a given execution of it; ``None`` for the newest (templated).
    :param generated_after: only an execution whose ``reportGeneratedTime`` (or ``createdTime``) is
        after this counts; a datetime or an ISO 8601 string; ``None`` for any (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection (templated).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poke_interval: seconds between two checks, in every mode; at least 0.01 (zero would
        be a tight loop), 60 or more in production.
    :param timeout: seconds before giving up (``AirflowSensorTimeout``).
    """

    template_fields: Sequence[str] = ("report_id", "execution_id", "generated_after", "partner_insights_conn_id")

    def __init__(
        self,
        *,
        report_id: str,
        execution_id: str | None = None,
        generated_after: datetime | str | None = None,
        partner_insights_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_poll_interval("poke_interval", self.poke_interval)
        self.report_id = report_id
        self.execution_id = execution_id
        self.generated_after = generated_after
        self.partner_insights_conn_id = partner_insights_conn_id
        self.deferrable = deferrable
        self._last_decision: WaitDecision | None = None

    def execute(self, context: Context) -> Any:
        """Poke/reschedule, or check once and defer to the trigger."""
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as timeout:
                raise AirflowSensorTimeout(f"{timeout}; {self._seen_now()}") from timeout
        done = self.poke(context)
        if done:
            return done.xcom_value if isinstance(done, PokeReturnValue) else None
        self.log.info("Deferring: waiting for an execution of report %s", self.report_id)
        self.defer(
            trigger=PartnerInsightsReportExecutionTrigger(
                report_id=self.report_id,
                execution_id=self.execution_id,
                generated_after=self._generated_after(),
                partner_insights_conn_id=self.partner_insights_conn_id,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Resume after the deferral; a deferral that timed out says what the service shows now.

        The trigger's own timeout event names what it saw last. When Airflow ends the deferral
        first (the triggerer was down, say), the worker polls once more to say the same.
        """
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSensorTimeout as timeout:
            if next_method != TRIGGER_FAIL_REPR:
                raise
            raise AirflowSensorTimeout(f"{timeout}; {self._seen_now()}") from timeout

    def _seen_now(self) -> str:
        try:
            decision = self.hook.poll_execution(
                require_text("report_id", self.report_id),
                execution_id=self.execution_id or None,
                generated_after=self._generated_after(),
                read_report_status=True,
            )
        except Exception as err:  # the timeout is the error to raise: this poll only describes it
            return f"{last_seen(self._last_decision)}; the report's status could not be read now ({type(err).__name__})"
        return last_seen(decision)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check the execution once: done (its id), not yet (False), or raise if the wait failed."""
        report_id = require_text("report_id", self.report_id)
        execution_id = require_text("execution_id", self.execution_id) if self.execution_id is not None else None
        generated_after = self._generated_after()
        try:
            decision = self.hook.poll_execution(report_id, execution_id=execution_id, generated_after=generated_after)
        except Exception as err:
            if not is_transient_error(err):
                raise
            self.log.warning("Polling report %s failed, will retry: %s", report_id, err)
            return False
        self._last_decision = decision
        if decision.state is ExecutionState.DONE and decision.execution is not None:
            self.log.info("Done: %s", decision.reason)
            return PokeReturnValue(is_done=True, xcom_value=decision.execution.execution_id)
        if decision.state is ExecutionState.FAILED:
            raise execution_failed(report_id, decision, execution_id)
        self.log.info("Waiting: %s", decision.reason)
        return False

    def _generated_after(self) -> datetime | None:
        return parse_datetime("generated_after", self.generated_after)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Resume after the trigger: return the execution id or raise what the event says."""
        status = event.get("status")
        message = event.get("message") or ""
        if status == STATUS_SUCCESS:
            self.log.info("Execution %s of report %s completed", event["execution_id"], self.report_id)
            return event["execution_id"]
        if status == STATUS_FAILED:
            raise PartnerInsightsExecutionFailedError(
                self.report_id,
                event.get("execution_id"),
                event.get("execution_status") or f"none (report {event.get('report_status') or '?'})",
                message or None,
            )
        if status == STATUS_TIMEOUT:
            raise AirflowSensorTimeout(message)
        if status == STATUS_ERROR:
            raise AirflowException(f"Could not poll report {self.report_id}: {message}")
        raise AirflowException(f"Unexpected event from the trigger: status={status!r}")
