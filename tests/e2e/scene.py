"""What a scenario step is given: the running deployment, its clients, and how to report and check."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_insights.sandbox import SandboxProcess
from tests.e2e.deployment import Deployment, RestClient
from tests.e2e.metadb import MetadataDB
from tests.e2e.services import E2EError
from tests.fixtures.storage import AzureStore, S3Store

EXTRACT = "partner_insights_daily_extract"
TRANSFORM = "partner_insights_downstream_transform"
ASSET_NAME = "partner_insights_customers_and_tenants"
#: Where the extract writes, under the bucket or container (``PARTNER_INSIGHTS_DESTINATION_ROOT``).
DESTINATION_PREFIX = "partner-insights"
FIRST_DAY = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class ExtractRun:
    """A run of the daily extract triggered by a step.

    :param run_id: its id.
    :param day: the day its data interval covers (the logical date's previous day).
    """

    run_id: str
    day: str

    @property
    def key(self) -> str:
        """The object the run writes, in the bucket or container."""
        return f"{DESTINATION_PREFIX}/customers_and_tenants/date={self.day}/customers_and_tenants.csv"


@dataclass
class Scene:
    """One deployment under test, and what its steps share.

    :param label: the executor's short name, printed before each observation.
    :param deployment: the running deployment.
    :param api: its REST API.
    :param db: its metadata database.
    :param sandbox: the Insights API emulator.
    :param store: where the extract writes (S3 or ADLS).
    :param started: ``time.monotonic()`` when the run started.
    """

    label: str
    deployment: Deployment
    api: RestClient
    db: MetadataDB
    sandbox: SandboxProcess
    store: S3Store | AzureStore
    started: float
    runs: dict[str, ExtractRun] = field(default_factory=dict)
    expected: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The recurring report the event-driven example's watcher polls (set by its first step).
    watched_report: str = ""

    def observe(self, text: str) -> None:
        """Print one observation, with the time since the start.

        :param text: what was seen.
        """
        print(f"[{time.monotonic() - self.started:6.1f}s {self.label:>6}] {text}", flush=True)

    def check(self, condition: Any, failure: str) -> None:
        """Fail the run (and say why) unless ``condition`` holds.

        :param condition: what must be true.
        :param failure: what was observed instead.
        """
        if not condition:
            raise E2EError(failure)

    def trigger_extract(self, name: str) -> ExtractRun:
        """Trigger the daily extract for a day no other step uses, through the REST API.

        :param name: the step's name for the run (the run id is ``e2e_<name>``).
        """
        logical_date = FIRST_DAY + timedelta(days=len(self.runs) + 1)
        run = ExtractRun(run_id=f"e2e_{name}", day=(logical_date - timedelta(days=1)).date().isoformat())
        self.api.trigger(EXTRACT, run.run_id, logical_date.isoformat().replace("+00:00", "Z"))
        self.runs[name] = run
        return run

    def reports_created(self) -> int:
        """How many reports the sandbox has been asked to create (``POST ScheduledReport``)."""
        return self.sandbox.admin.request_count("POST", "/ScheduledReport")

    def note_expected_file(self, run: ExtractRun, report_id: str) -> None:
        """Ask the sandbox what the run's file is (``{"sha256", "bytes", "rows"}``) while the report exists:
        the extract's teardown deletes it.

        :param run: the extract run.
        :param report_id: its report (a one-off report: one execution).
        """
        executions = [e for e in self.sandbox.admin.executions("mpn") if e["reportId"] == report_id]
        if len(executions) != 1:
            raise E2EError(f"report {report_id} of {run.run_id} has {len(executions)} executions in the sandbox")
        execution_id = executions[0]["executionId"]
        self.expected[run.run_id] = self.sandbox.admin.expected_file("mpn", report_id, execution_id)

    def asset_events_of(self, run: ExtractRun) -> list[dict[str, Any]]:
        """The extract Asset's events emitted by one run.

        :param run: the extract run.
        """
        return [event for event in self.api.asset_events(ASSET_NAME) if event.get("source_run_id") == run.run_id]
