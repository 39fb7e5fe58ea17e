"""The Secure Application Model bootstrap, end to end against the sandbox's device code flow.

The command runs as a real subprocess (``python -m airflow_provider_insights.bootstrap``); the
sandbox approves the device code on its second poll, standing in for the user signing in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_insights.bootstrap import build_parser, render_connection
from airflow_provider_insights.connection import ConnectionSettings
from airflow_provider_insights.hooks.auth import get_token_provider, reset_token_providers
from airflow_provider_insights.sandbox import credentials

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _fresh_token_providers() -> Iterator[None]:
    reset_token_providers()
    yield
    reset_token_providers()


def run_bootstrap(sb: Any, *args: str, secret: str = credentials.CLIENT_SECRET) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "airflow_provider_insights.bootstrap",
        "--tenant-id",
        credentials.TENANT_ID,
        "--client-id",
        credentials.CLIENT_ID,
        "--authority-host",
        sb.url,
        "--api-base-url",
        f"{sb.url}/insights/v1/mpn",
        "--verify",
        str(sb.ca_path),
        *args,
    ]
    env = {**os.environ, "PARTNER_INSIGHTS_CLIENT_SECRET": secret}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def settings_from_airflow_connection(conn: Any) -> ConnectionSettings:
    return ConnectionSettings.from_parts(login=conn.login, password=conn.password, extra=conn.extra)


def api_status(settings: ConnectionSettings, token: str) -> int:
    return requests.get(
        f"{settings.api_base_url}/ScheduledDataset",
        headers={"Authorization": f"Bearer {token}"},
        verify=settings.verify,
        timeout=30,
    ).status_code


def test_bootstrap_prints_a_json_connection_whose_refresh_token_works(sb: Any) -> None:
    from airflow.sdk.definitions.connection import Connection

    done = run_bootstrap(sb, "--format", "json")

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1  # the connection and nothing else: it goes to a secrets backend
    connection = Connection.from_json(done.stdout, conn_id="partner_insights_default")  # as AIRFLOW_CONN_<ID> is read
    settings = settings_from_airflow_connection(connection)
    assert connection.conn_type == "partner_insights"
    assert settings.auth_type == "refresh_token"
    assert settings.refresh_token and settings.refresh_token != credentials.REFRESH_TOKEN
    token = get_token_provider(settings).get_token()
    assert api_status(settings, token) == 200
    # stderr tells the user where to sign in, and holds no secret
    assert "code" in done.stderr.lower()
    for secret in (credentials.CLIENT_SECRET, settings.refresh_token):
        assert secret not in done.stderr
    assert sb.admin.stats()["tokens"].get("device_code") == 1


def test_bootstrap_prints_a_uri_connection_airflow_can_parse(sb: Any) -> None:
    from airflow.sdk.definitions.connection import Connection

    done = run_bootstrap(sb, "--format", "uri")

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1  # the connection and nothing else: it goes to a secrets backend
    connection = Connection.from_uri(done.stdout.strip(), conn_id="partner_insights_default")
    settings = settings_from_airflow_connection(connection)
    assert connection.conn_type == "partner_insights"
    token = get_token_provider(settings).get_token()
    assert api_status(settings, token) == 200


def test_bootstrap_with_a_wrong_secret_fails_clearly_and_prints_nothing_on_stdout(sb: Any) -> None:
    wrong = "definitely-wrong-secret-value"

    done = run_bootstrap(sb, secret=wrong)

    assert done.returncode == 1
    assert done.stdout == ""
    assert "Entra ID refused" in done.stderr
    assert wrong not in done.stderr


def test_rendered_uri_round_trips_through_airflow() -> None:
    from airflow.sdk.definitions.connection import Connection

    args = build_parser().parse_args(
        [
            "--tenant-id",
            "t",
            "--client-id",
            "c",
            "--authority-host",
            "https://idp.example:8443",
            "--verify",
            "/etc/ca.pem",
            "--format",
            "uri",
        ]
    )

    uri = render_connection(args, "s3cr/et+=", "rt/with+odd=chars")
    connection = Connection.from_uri(uri, conn_id="x")
    extra = json.loads(connection.extra or "{}")

    assert (connection.conn_type, connection.login, connection.password) == ("partner_insights", "c", "s3cr/et+=")
    assert extra["refresh_token"] == "rt/with+odd=chars"
    assert extra["auth_type"] == "refresh_token"
    assert extra["authority_host"] == "https://idp.example:8443"
    assert extra["verify"] == "/etc/ca.pem"


def test_bootstrap_takes_no_client_secret_on_the_command_line() -> None:
    # A secret given as an argument shows in `ps` and in the shell history: only the env var or the prompt.
    from airflow_provider_insights.bootstrap import CLIENT_SECRET_ENV, build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--tenant-id", "t", "--client-id", "c", "--client-secret", "s"])
    assert CLIENT_SECRET_ENV in parser.format_help()
