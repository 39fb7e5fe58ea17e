"""A scripted, in-memory Insights service for server-free hook tests.

The hook runs unchanged; only its transport and token source are replaced by this object, which
answers each ``Send`` from a small model of reports and executions. Switches play the readings
the docs and the field disagree on (a ``;`` list refused with 400, ``dataRedacted``, list order),
and every request is recorded so tests can assert what went on the wire.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from airflow_provider_insights.connection import ConnectionSettings
from airflow_provider_insights.hooks.flow import HttpResponse, Send
from airflow_provider_insights.hooks.insights import PartnerInsightsHook

NO_EXECUTIONS = "There are no executions that have occurred for the given filter conditions."
NO_ITEM = "No item found with given filters."


@dataclass
class ScriptedService:
    """The service's state and switches.

    :param program: ``mpn`` or ``cmp`` (the base URL's last segment).
    :param refuse_lists: answer any ``;`` list (path or query) with 400, as field notes report.
    :param data_redacted: put ``dataRedacted: true`` in every envelope.
    :param newest_first: list executions newest first (the docs say nothing about the order).
    """

    program: str = "mpn"
    refuse_lists: bool = False
    data_redacted: bool = False
    newest_first: bool = False
    reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Send] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"https://api.scripted.test/insights/v1/{self.program}"

    # -- the model --------------------------------------------------------------------------

    def add_report(self, report_id: str, **fields: Any) -> dict[str, Any]:
        report = {"reportId": report_id, "reportName": report_id, "queryId": "q1", "reportStatus": "Active", **fields}
        self.reports[report_id] = report
        return report

    def add_execution(self, report_id: str, execution_id: str, status: str, **fields: Any) -> dict[str, Any]:
        execution = {"executionId": execution_id, "reportId": report_id, "executionStatus": status, **fields}
        self.executions.append(execution)
        return execution

    # -- what went on the wire --------------------------------------------------------------

    def urls(self, method: str = "GET", contains: str = "") -> list[str]:
        return [unquote(c.url) for c in self.sent if c.method == method and contains in unquote(c.url)]

    def bodies(self, method: str) -> list[Any]:
        return [command.json_body for command in self.sent if command.method == method]

    # -- answering ----------------------------------------------------------------------------

    def send(self, command: Send) -> HttpResponse:
        self.sent.append(command)
        status, body = self._answer(command)
        return HttpResponse(status, {"content-type": "application/json"}, json.dumps(body).encode())

    async def asend(self, command: Send) -> HttpResponse:
        return self.send(command)

    def _envelope(self, value: list[Any], status: int = 200, message: str = "") -> tuple[int, dict[str, Any]]:
        body: dict[str, Any] = {"value": value, "totalCount": len(value), "message": message, "statusCode": status}
        if self.program == "mpn":
            body["dataRedacted"] = self.data_redacted
        return status, body

    def _answer(self, command: Send) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(command.url)
        path = unquote(parts.path).split(f"/insights/v1/{self.program}/", 1)[1]
        query = {name.lower(): value for name, value in parse_qsl(parts.query)}
        if self.refuse_lists and (";" in path or any(";" in value for value in query.values())):
            return self._envelope([], 400, "Bad Request")
        if path.startswith("ScheduledReport/execution/"):
            return self._executions(path.rsplit("/", 1)[1], query)
        if path == "ScheduledReport" and command.method == "GET":
            found = [r for r in self.reports.values() if r["reportId"] == query.get("reportid", r["reportId"])]
            return self._envelope(found) if found else self._envelope([], 404, NO_ITEM)
        if path.startswith("ScheduledReport/") and command.method == "PUT":
            report = self.reports[path.rsplit("/", 1)[1]]
            report.update({key[0].lower() + key[1:]: value for key, value in (command.json_body or {}).items()})
            return self._envelope([report])
        if path == "ScheduledReport" and command.method == "POST":
            body = command.json_body
            return self._envelope([self.add_report("new", reportName=body["ReportName"])])
        return self._envelope([], 404, NO_ITEM)

    def _executions(self, report_ids: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        reports = report_ids.split(";")
        if any(report_id not in self.reports for report_id in reports):
            return self._envelope([], 404, NO_ITEM)
        statuses = {status.lower() for status in query.get("executionstatus", "Completed").split(";")}
        wanted = {part for part in query.get("executionid", "").split(";") if part}
        runs = [
            run
            for run in self.executions
            if run["reportId"] in reports
            and run["executionStatus"].lower() in statuses
            and (not wanted or run["executionId"] in wanted)
        ]
        if query.get("getlatestexecution", "true") == "true":
            runs = runs[-1:]  # the service's own notion of latest: the last created
        if self.newest_first:
            runs = list(reversed(runs))
        return self._envelope(runs) if runs else self._envelope([], 404, NO_EXECUTIONS)


class _Tokens:
    def get_token(self) -> str:
        return "scripted-token"

    async def aget_token(self) -> str:
        return "scripted-token"

    def invalidate(self, token: str) -> None:
        pass


def scripted_hook(service: ScriptedService, monkeypatch: Any) -> PartnerInsightsHook:
    """A hook whose requests the scripted service answers (no connection, no token endpoint, no server).

    :param service: the scripted service.
    :param monkeypatch: pytest's monkeypatch, to swap the transports and the token source.
    """
    hook = PartnerInsightsHook("scripted", backoff_base=0.0, backoff_cap=0.0)
    hook._settings = ConnectionSettings.from_parts(
        login="client",
        password="secret",
        extra={
            "tenant_id": "tenant",
            "auth_type": "client_credentials",
            "program": service.program,
            "api_base_url": service.base_url,
        },
    )
    monkeypatch.setattr(hook, "token_provider", lambda settings=None: _Tokens())
    monkeypatch.setattr(hook, "_sync_transport", lambda settings: service)

    class _AsyncTransport:
        send = staticmethod(service.asend)

    async def async_transport(settings: Any) -> Any:
        return _AsyncTransport()

    monkeypatch.setattr(hook, "_async_transport", async_transport)
    return hook
