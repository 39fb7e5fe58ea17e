"""Small HTTP helpers for the sandbox tests: plain ``requests`` against the real server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msal
import requests

from airflow_provider_insights.sandbox import SandboxProcess
from airflow_provider_insights.sandbox import credentials as cred

RANGES = ["LAST_MONTH", "LAST_3_MONTHS", "LAST_6_MONTHS", "LAST_1_YEAR", "LIFETIME"]
DYNAMICS_QUERY = "SELECT SubscriptionId, CustomerName, Month, TotalSoldSeats FROM DynamicsUsage TIMESPAN LAST_MONTH"


class PortKeepingSession(requests.Session):
    """A session for msal that trusts only the sandbox CA and keeps the port msal drops.

    msal builds the user-realm URL from the authority's host name without its port; the provider's
    hook rewrites it the same way. ``trust_env`` is off because REQUESTS_CA_BUNDLE would override
    ``verify`` on this machine.
    """

    def __init__(self, sandbox: SandboxProcess) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = sandbox.ca_path
        self._netloc = urlsplit(sandbox.url).netloc

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(str(url))
        if parts.hostname == "127.0.0.1" and parts.port is None:
            url = urlunsplit(parts._replace(netloc=self._netloc))
        return super().request(method, url, *args, **kwargs)


def msal_app(sandbox: SandboxProcess, credential: Any = cred.CLIENT_SECRET) -> msal.ConfidentialClientApplication:
    """A confidential msal client pointed at the sandbox authority.

    :param sandbox: the running sandbox.
    :param credential: client secret or certificate dict.
    """
    return msal.ConfidentialClientApplication(
        cred.CLIENT_ID,
        authority=f"{sandbox.url}/{cred.TENANT_ID}",
        client_credential=credential,
        instance_discovery=False,
        http_client=PortKeepingSession(sandbox),
    )


def app_token(sandbox: SandboxProcess) -> str:
    """An app-only access token (client credentials with the secret), straight from the token endpoint."""
    response = requests.post(
        sandbox.token_url(),
        verify=sandbox.ca_path,
        data={
            "grant_type": "client_credentials",
            "client_id": cred.CLIENT_ID,
            "client_secret": cred.CLIENT_SECRET,
            "scope": cred.APP_SCOPE,
        },
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def user_token(sandbox: SandboxProcess, grant: str = "password") -> str:
    """An App+User access token (``password`` or ``refresh_token`` grant), straight from the token endpoint.

    :param sandbox: the running sandbox.
    :param grant: ``password`` or ``refresh_token``.
    """
    user = (
        {"username": cred.USERNAME, "password": cred.USER_PASSWORD}
        if grant == "password"
        else {"refresh_token": cred.REFRESH_TOKEN}
    )
    response = requests.post(
        sandbox.token_url(),
        verify=sandbox.ca_path,
        data={"grant_type": grant, "client_id": cred.CLIENT_ID, "scope": cred.USER_SCOPE, **user},
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


class Api:
    """Calls one program's Insights API with a bearer token.

    :param sandbox: the running sandbox.
    :param program: ``mpn`` or ``cmp``.
    """

    def __init__(self, sandbox: SandboxProcess, program: str = "mpn", token: str | None = None) -> None:
        self.sandbox = sandbox
        self.base = sandbox.api_base_url(program)
        self.token = token or app_token(sandbox)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request; ``path`` is relative to the base URL or absolute.

        :param method: HTTP method.
        :param path: e.g. ``ScheduledQueries``.
        :param kwargs: passed to requests.
        """
        url = path if path.startswith("https://") else f"{self.base}/{path}"
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.request(method, url, headers=headers, verify=self.sandbox.ca_path, timeout=60, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Send and require HTTP 200 with ``statusCode`` 200; return the envelope."""
        response = self.call(method, path, **kwargs)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["statusCode"] == 200, body
        return body

    def create_query(self, text: str = DYNAMICS_QUERY, name: str = "sandbox test query") -> str:
        """Create a user query; return its id."""
        return str(self.ok("POST", "ScheduledQueries", json={"Name": name, "Query": text})["value"][0]["queryId"])

    def create_report(self, query_id: str, **fields: Any) -> dict[str, Any]:
        """Create a report (``ExecuteNow`` by default); return the report item."""
        body = {
            "ReportName": fields.pop("ReportName", "sandbox test report"),
            "QueryId": query_id,
            "ExecuteNow": True,
            **fields,
        }
        return dict(self.ok("POST", "ScheduledReport", json=body)["value"][0])

    def executions(self, report_id: str, **params: Any) -> requests.Response:
        """``GET ScheduledReport/execution/{reportId}``."""
        return self.call("GET", f"ScheduledReport/execution/{report_id}", params=params)

    def completed_execution(self, report_id: str) -> dict[str, Any]:
        """The latest Completed execution (the fixtures make executions complete at once)."""
        response = self.executions(report_id)
        assert response.status_code == 200, response.text
        return dict(response.json()["value"][0])


def fetch(sandbox: SandboxProcess, url: str, **kwargs: Any) -> requests.Response:
    """GET a secure link the way a client must: no Authorization header.

    :param sandbox: the running sandbox.
    :param url: the link.
    """
    return requests.get(url, verify=sandbox.ca_path, timeout=60, **kwargs)
