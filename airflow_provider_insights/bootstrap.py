"""One-time Secure Application Model setup: sign a user in with the device code flow, print the connection.

Partner Center enforces MFA for App+User calls, which the ROPC ``password`` grant cannot do. The
Secure Application Model signs the user in once, interactively (MFA included), and keeps the
refresh token that Entra ID returns; the provider then redeems it for access tokens
(``auth_type`` ``refresh_token``). Run::

    partner-insights-bootstrap --tenant-id <tenant> --client-id <app id> > connection.json
    # or: python -m airflow_provider_insights.bootstrap ...

Where to sign in and the code to enter are printed on stderr. stdout receives only the Airflow
connection (JSON as for ``AIRFLOW_CONN_<ID>``, or a URI with ``--format uri``) holding the
client secret and the refresh token: it is meant to go straight into a secrets backend, and it is
the one place this provider ever prints a secret.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO
from urllib.parse import quote, urlencode

from airflow_provider_insights.connection import (
    CONN_TYPE,
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_CONN_ID,
    DEFAULT_PROGRAM,
    PROGRAM_BASE_URLS,
    TRUE_WORDS,
    USER_SCOPE,
    ConnectionSettings,
    program_of_url,
)
from airflow_provider_insights.exceptions import PartnerInsightsConfigError, PartnerInsightsError
from airflow_provider_insights.hooks import _auth_msal

CLIENT_SECRET_ENV = "PARTNER_INSIGHTS_CLIENT_SECRET"
# What msal would add to a user flow: offline_access is what makes Entra ID return a refresh token.
DEVICE_FLOW_OIDC_SCOPES = ("offline_access", "openid", "profile")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``partner-insights-bootstrap``."""
    parser = argparse.ArgumentParser(
        prog="partner-insights-bootstrap",
        description="Sign a Partner Center user in once (device code, MFA-capable) and print the Airflow "
        "connection that redeems the resulting refresh token (Secure Application Model).",
    )
    parser.add_argument("--tenant-id", required=True, help="Entra ID tenant (GUID or domain)")
    parser.add_argument("--client-id", required=True, help="application (client) id of the Entra ID app")
    # No --client-secret option: a secret on the command line shows in `ps` and in the shell history.
    parser.add_argument(
        "--certificate-path",
        help=f"PEM file with the app's private key and certificate, instead of a client secret (which is read "
        f"from ${CLIENT_SECRET_ENV}, else asked for without echo)",
    )
    parser.add_argument("--authority-host", default=DEFAULT_AUTHORITY_HOST, help="Entra ID host (default: %(default)s)")
    parser.add_argument("--program", choices=sorted(PROGRAM_BASE_URLS), default="mpn", help="default: %(default)s")
    parser.add_argument("--api-base-url", help="Insights API base URL, if not the program's public one")
    parser.add_argument("--scopes", default=USER_SCOPE, help="delegated scopes (default: %(default)s)")
    parser.add_argument("--conn-id", default=DEFAULT_CONN_ID, help="connection id to store it under")
    parser.add_argument("--format", choices=("json", "uri"), default="json", help="output format (default: json)")
    parser.add_argument("--verify", default="true", help="TLS verification: true, false or a CA bundle path")
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the bootstrap; return the process exit status.

    :param argv: the arguments (without the program name); ``sys.argv[1:]`` by default.
    :param stdout: where the connection goes; ``sys.stdout`` by default.
    :param stderr: where instructions and errors go; ``sys.stderr`` by default.
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    args = build_parser().parse_args(argv)
    try:
        secret = None if args.certificate_path else _client_secret(args)
        settings = _settings(args, secret)
        refresh_token, username = _sign_in(settings, err)
    except PartnerInsightsError as error:
        _fail(str(error), err)
        return 1
    except KeyboardInterrupt:
        _fail("interrupted", err)
        return 130
    out.write(render_connection(args, secret, refresh_token) + "\n")
    out.flush()
    print(
        f"Signed in as {username or 'the user'}. Store the connection printed on stdout as {args.conn_id!r} in your "
        f"secrets backend (or as AIRFLOW_CONN_{args.conn_id.upper()}); it holds secrets.",
        file=err,
    )
    return 0


def _fail(message: str, err: TextIO) -> None:
    """Print ``message`` as the one line of a failed run (no traceback: the user has a command line to fix)."""
    print(f"partner-insights-bootstrap: {' '.join(message.split())}", file=err, flush=True)


def render_connection(args: argparse.Namespace, secret: str | None, refresh_token: str) -> str:
    """The Airflow connection, as JSON or as a URI.

    :param args: the parsed command line.
    :param secret: the client secret, or ``None`` with a certificate.
    :param refresh_token: the refresh token Entra ID returned.
    """
    extra = _connection_extra(args, refresh_token)
    if args.format == "uri":
        return connection_uri(login=args.client_id, password=secret, extra=extra)
    connection: dict[str, Any] = {"conn_type": CONN_TYPE, "login": args.client_id}
    if secret:
        connection["password"] = secret
    connection["extra"] = extra
    return json.dumps(connection)


def connection_uri(*, login: str, password: str | None, extra: dict[str, str]) -> str:
    """The connection as an Airflow URI (``partner-insights://login:password@/?extra...``).

    Built here rather than with Airflow's ``Connection.get_uri``, whose secret masking logs to stdout, the
    one stream that must carry nothing but the connection. The format is Airflow's: every extra value is a
    string, so the extra goes in the query string.

    :param login: the client id.
    :param password: the client secret, or ``None``.
    :param extra: the extra, with string values only.
    """
    credentials = quote(login, safe="") + (f":{quote(password, safe='')}" if password is not None else "")
    return f"{CONN_TYPE.replace('_', '-')}://{credentials}@/?{urlencode(extra)}"


def _connection_extra(args: argparse.Namespace, refresh_token: str) -> dict[str, str]:
    extra: dict[str, str] = {
        "tenant_id": args.tenant_id,
        "auth_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    optional = {
        **_program_extra(args),
        "authority_host": args.authority_host.rstrip("/") if args.authority_host != DEFAULT_AUTHORITY_HOST else None,
        "scopes": args.scopes if args.scopes != USER_SCOPE else None,
        "verify": args.verify if args.verify.strip().lower() not in TRUE_WORDS else None,
        "certificate_path": args.certificate_path,
    }
    extra.update({key: value for key, value in optional.items() if value})
    return extra


def _program_extra(args: argparse.Namespace) -> dict[str, str]:
    """How the connection names its program: by ``api_base_url`` where it can, ``program`` only where it must.

    Airflow's log masker warns in every task log about a short string in an extra, such as
    ``"program": "mpn"``; the default program needs no key, and a URL names the other.
    """
    url = args.api_base_url or (PROGRAM_BASE_URLS[args.program] if args.program != DEFAULT_PROGRAM else None)
    extra = {"api_base_url": url} if url else {}
    inferred = program_of_url(url) if url else DEFAULT_PROGRAM
    if inferred != args.program:
        extra["program"] = args.program
    return extra


def _client_secret(args: argparse.Namespace) -> str:
    secret = os.environ.get(CLIENT_SECRET_ENV, "").strip()
    if not secret:
        if not sys.stdin.isatty():
            # getpass would read the secret, echoed, from whatever stdin is, or fail with EOFError.
            raise PartnerInsightsConfigError(
                f"client secret: ${CLIENT_SECRET_ENV} is not set and stdin is not a terminal to ask for it; "
                f"set ${CLIENT_SECRET_ENV}, run in a terminal, or give --certificate-path"
            )
        secret = getpass.getpass(f"Client secret of {args.client_id}: ").strip()
    return secret


def _settings(args: argparse.Namespace, secret: str | None) -> ConnectionSettings:
    # The app signs in as itself (secret or certificate) while the user consents to the delegated scopes.
    extra = {
        "tenant_id": args.tenant_id,
        "program": args.program,
        "auth_type": "client_credentials",
        "authority_host": args.authority_host,
        "scopes": args.scopes,
        "verify": args.verify,
        "certificate_path": args.certificate_path,
    }
    if args.api_base_url:
        extra["api_base_url"] = args.api_base_url
    return ConnectionSettings.from_parts(login=args.client_id, password=secret, extra=extra)


def _sign_in(settings: ConnectionSettings, err: TextIO) -> tuple[str, str | None]:
    import requests

    from airflow_provider_insights.hooks.redaction import describe_exception, scrub_secrets

    try:
        return _device_code_sign_in(settings, err)
    except (requests.RequestException, OSError) as error:
        raise PartnerInsightsConfigError(
            f"authority_host: cannot reach Entra ID at {settings.authority_host} (verify: {settings.verify}): "
            f"{scrub_secrets(describe_exception(error), settings.secrets)}"
        ) from None


def _device_code_sign_in(settings: ConnectionSettings, err: TextIO) -> tuple[str, str | None]:
    app = _auth_msal.build_confidential_app(settings)
    # msal offers the device flow on PublicClientApplication only, but a Secure Application Model
    # app is confidential: Entra ID wants the app's secret (or certificate) with the device code
    # (AADSTS7000218). msal's OAuth2 client of the confidential app sends it on every token request.
    client = app.client
    try:
        flow = client.initiate_device_flow(scope=[*_auth_msal.user_scopes(settings.scopes), *DEVICE_FLOW_OIDC_SCOPES])
        if "user_code" not in flow:
            _auth_msal.raise_for_msal_error(
                flow,
                refused=f"to start a device code sign-in for client {settings.client_id}",
                secrets=settings.secrets,
            )
        message = flow.get("message") or (
            f"To sign in, open {flow.get('verification_uri')} and enter the code {flow['user_code']}"
        )
        print(message, file=err, flush=True)
        result = client.obtain_token_by_device_flow(flow)
    finally:
        app.http_client.close()
    _auth_msal.raise_for_msal_error(
        result,
        refused=f"the device code sign-in for client {settings.client_id} in tenant {settings.tenant_id}",
        secrets=settings.secrets,
    )
    refresh_token = result.get("refresh_token")
    if not refresh_token:
        raise PartnerInsightsError(
            "Entra ID returned no refresh token: allow the app public client / offline_access and try again"
        )
    username = (result.get("id_token_claims") or {}).get("preferred_username")
    return str(refresh_token), username


if __name__ == "__main__":
    sys.exit(main())
