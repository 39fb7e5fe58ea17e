"""The Secure Application Model bootstrap, end to end against the sandbox's device code flow.

The command runs as a real subprocess (``python -m airflow_provider_insights.bootstrap``); the
sandbox approves the device code on its second poll, standing in for the user signing in.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

import pytest
import requests

from airflow_provider_insights.bootstrap import CLIENT_SECRET_ENV, build_parser, render_connection
from airflow_provider_insights.connection import ConnectionSettings
from airflow_provider_insights.hooks.auth import get_token_provider
from airflow_provider_insights.sandbox import credentials

pytestmark = pytest.mark.integration


def run_bootstrap(sb: Any, *args: str, secret: str = credentials.CLIENT_SECRET) -> subprocess.CompletedProcess[str]:
    return run_command(
        "--authority-host",
        sb.url,
        "--api-base-url",
        f"{sb.url}/insights/v1/mpn",
        "--verify",
        str(sb.ca_path),
        *args,
        secret=secret,
    )


def run_command(*args: str, secret: str | None) -> subprocess.CompletedProcess[str]:
    """Run the bootstrap with no terminal (stdin is /dev/null); ``secret=None`` leaves its variable unset."""
    command = [
        sys.executable,
        "-m",
        "airflow_provider_insights.bootstrap",
        "--tenant-id",
        credentials.TENANT_ID,
        "--client-id",
        credentials.CLIENT_ID,
        *args,
    ]
    env = {key: value for key, value in os.environ.items() if key != CLIENT_SECRET_ENV}
    if secret is not None:
        env[CLIENT_SECRET_ENV] = secret
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def assert_one_line_error(done: subprocess.CompletedProcess[str], *named: str) -> None:
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("partner-insights-bootstrap: "), done.stderr
    for words in named:
        assert words in done.stderr


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


def render_extra(*args: str) -> dict[str, Any]:
    parsed = build_parser().parse_args(
        ["--tenant-id", credentials.TENANT_ID, "--client-id", credentials.CLIENT_ID, *args]
    )
    return dict(json.loads(render_connection(parsed, "secret", "refresh-token"))["extra"])


def test_the_printed_connection_names_its_program_without_a_short_value() -> None:
    # Airflow's masker warns in every task log about a short string in an extra ("mpn", "cmp").
    assert "program" not in render_extra()
    cmp = render_extra("--program", "cmp")
    assert "program" not in cmp
    assert ConnectionSettings.from_parts(login="c", password="secret", extra=cmp).program == "cmp"
    assert render_extra("--program", "cmp", "--api-base-url", "https://h.test/custom")["program"] == "cmp"
    assert "program" not in render_extra("--program", "cmp", "--api-base-url", "https://h.test/insights/v1.1/cmp")


def test_bootstrap_takes_no_client_secret_on_the_command_line() -> None:
    # A secret given as an argument shows in `ps` and in the shell history: only the env var or the prompt.
    from airflow_provider_insights.bootstrap import CLIENT_SECRET_ENV, build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--tenant-id", "t", "--client-id", "c", "--client-secret", "s"])
    assert CLIENT_SECRET_ENV in parser.format_help()


def test_bootstrap_without_a_terminal_to_ask_for_the_secret_fails_in_one_line() -> None:
    done = run_command("--authority-host", "https://127.0.0.1:1", secret=None)

    assert_one_line_error(done, CLIENT_SECRET_ENV, "not a terminal")


def test_bootstrap_with_an_unreachable_authority_fails_in_one_line() -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    done = run_command("--authority-host", f"https://127.0.0.1:{port}", secret="a-client-secret")

    assert_one_line_error(done, f"cannot reach Entra ID at https://127.0.0.1:{port}")
    assert "a-client-secret" not in done.stderr


@pytest.mark.parametrize("verify", ["ture", "/no/such/ca-bundle.pem"])
def test_bootstrap_with_a_bad_verify_fails_in_one_line(verify: str) -> None:
    done = run_command("--authority-host", "https://127.0.0.1:1", "--verify", verify, secret="a-client-secret")

    assert_one_line_error(done, "verify:", repr(verify))


def test_bootstrap_with_a_ca_that_does_not_sign_the_authority_fails_in_one_line(sb: Any) -> None:
    done = run_command("--authority-host", sb.url, "--verify", "true", secret=credentials.CLIENT_SECRET)

    assert_one_line_error(done, f"cannot reach Entra ID at {sb.url}", "SSLError")
    assert credentials.CLIENT_SECRET not in done.stderr


def short_secret_warnings(extra: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: Any) -> list[str]:
    """What Airflow logs when a task reads this connection from a secrets backend (it builds the URI to cache
    it, which masks every string of the extra)."""
    from airflow.sdk._shared.secrets_masker.secrets_masker import SecretsMasker
    from airflow.sdk.definitions.connection import Connection

    monkeypatch.setattr(SecretsMasker, "_has_warned_short_secret", False)
    caplog.clear()
    connection = Connection(conn_id="x", conn_type="partner_insights", login="c", extra=json.dumps(extra))
    with caplog.at_level("WARNING"):
        connection.get_uri()
    return [record.getMessage() for record in caplog.records if "too short" in record.getMessage()]


@pytest.mark.parametrize("program", ["mpn", "cmp"])
def test_the_printed_connection_makes_airflow_warn_about_no_short_secret(
    program: str, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    assert short_secret_warnings(
        {"tenant_id": credentials.TENANT_ID, "program": program}, monkeypatch, caplog
    )  # what it avoids

    assert short_secret_warnings(render_extra("--program", program), monkeypatch, caplog) == []
