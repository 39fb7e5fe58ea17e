"""Sensor waiting for an execution of a Partner Center Insights report to complete."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from airflow_provider_insights.exceptions import (
    PartnerInsightsApiError,
    PartnerInsightsError,
    PartnerInsightsExecutionFailedError,
)
from airflow_provider_insights.triggers.report_execution import (
    STATUS_ERROR,
    STATUS_FAILED,
    STATUS_SUCCESS,
    STATUS_TIMEOUT,
    PartnerInsightsReportExecutionTrigger,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_insights.hooks.insights import PartnerInsightsHook
    from airflow_provider_insights.models import Execution


def is_transient_poll_error(err: BaseException) -> bool:
    """Whether a failed poll may succeed later: a lost connection (status 0), throttling or a 5xx.

    Such failures say nothing about the report, so the sensor keeps waiting until its timeout.
    """
    if isinstance(err, PartnerInsightsApiError):
        return err.status_code in (0, 408, 429) or err.status_code >= 500
    return isinstance(err, (OSError, TimeoutError))


class PartnerInsightsReportExecutionSensor(BaseSensorOperator):
    """Wait until an execution of a report is ``Completed``; return its execution id.

    Which execution: ``execution_id`` if given, else the report's newest one (for a one-off report,
    its only one). Before the first execution the API answers 404: that means "not yet".
    ``Pending``, ``Running`` and ``Paused`` mean "not yet" too; any other status (``Failed``...)
    raises :class:`~airflow_provider_insights.exceptions.PartnerInsightsExecutionFailedError` with
    the service's message. A poll that fails for a transient reason (network, throttling, 5xx after
    the hook's retries) is not a report failure: the sensor keeps waiting until ``timeout``.

    Deferrable mode checks once on the worker, then hands the wait to
    :class:`~airflow_provider_insights.triggers.report_execution.PartnerInsightsReportExecutionTrigger`;
    ``timeout`` is enforced both by the deferral and by the trigger and surfaces as
    ``AirflowSensorTimeout``. Otherwise the sensor pokes or reschedules (``mode``).

    :param report_id: the report to watch (templated).
    :param execution_id: a given execution of it; ``None`` for the newest (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poke_interval: seconds between two checks, in every mode.
    :param timeout: seconds before giving up (``AirflowSensorTimeout``).
    """

    template_fields: Sequence[str] = ("report_id", "execution_id")
    ui_color = "#dbe9f6"

    def __init__(
        self,
        *,
        report_id: str,
        execution_id: str | None = None,
        partner_insights_conn_id: str = "partner_insights_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.execution_id = execution_id
        self.partner_insights_conn_id = partner_insights_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> PartnerInsightsHook:
        """The hook, created on first use (never at DAG parse time)."""
        from airflow_provider_insights.hooks.insights import PartnerInsightsHook

        return PartnerInsightsHook(partner_insights_conn_id=self.partner_insights_conn_id)

    def execute(self, context: Context) -> Any:
        """Poke/reschedule, or check once and defer to the trigger."""
        if not self.deferrable:
            return super().execute(context)
        done = self.poke(context)
        if done:
            return done.xcom_value if isinstance(done, PokeReturnValue) else None
        self.log.info("Deferring: waiting for an execution of report %s", self.report_id)
        self.defer(
            trigger=PartnerInsightsReportExecutionTrigger(
                report_id=self.report_id,
                execution_id=self.execution_id,
                partner_insights_conn_id=self.partner_insights_conn_id,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Check the execution once: done (its id), not yet (False), or raise if it failed."""
        try:
            execution = self._fetch_execution()
        except PartnerInsightsError as err:
            if not is_transient_poll_error(err):
                raise
            self.log.warning("Polling report %s failed, will retry: %s", self.report_id, err)
            return False
        if execution is None:
            self.log.info("Report %s has no execution yet", self.report_id)
            return False
        if execution.is_completed:
            self.log.info("Execution %s of report %s completed", execution.execution_id, self.report_id)
            return PokeReturnValue(is_done=True, xcom_value=execution.execution_id)
        if execution.is_waiting:
            self.log.info(
                "Execution %s of report %s is %s",
                execution.execution_id,
                self.report_id,
                execution.execution_status,
            )
            return False
        raise PartnerInsightsExecutionFailedError(
            self.report_id, execution.execution_id, execution.execution_status, execution.message
        )

    def _fetch_execution(self) -> Execution | None:
        if self.execution_id:
            return self.hook.get_execution(self.report_id, self.execution_id)
        return self.hook.get_latest_execution(self.report_id)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Resume after the trigger: return the execution id or raise what the event says."""
        status = event.get("status")
        message = event.get("message") or ""
        if status == STATUS_SUCCESS:
            self.log.info("Execution %s of report %s completed", event["execution_id"], self.report_id)
            return event["execution_id"]
        if status == STATUS_FAILED:
            raise PartnerInsightsExecutionFailedError(
                self.report_id, event.get("execution_id"), event.get("execution_status") or "?", message or None
            )
        if status == STATUS_TIMEOUT:
            raise AirflowSensorTimeout(message)
        if status == STATUS_ERROR:
            raise AirflowException(f"Could not poll report {self.report_id}: {message}")
        raise AirflowException(f"Unexpected event from the trigger: status={status!r}")
