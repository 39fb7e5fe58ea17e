"""The sandbox's fixed credentials, and the Airflow connection dicts that use them.

These values are public on purpose: they only open the local emulator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TENANT_ID = "5a1d0c5e-0000-4000-8000-5a4db0c0ffee"
TENANT_DOMAIN = "sandbox.onmicrosoft.com"
CLIENT_ID = "c11e4700-5a4d-4b0c-8000-000000000001"
CLIENT_SECRET = "sandbox-client-secret~not-a-real-one"
USERNAME = "insights.viewer@sandbox.onmicrosoft.com"
USER_PASSWORD = "sandbox-user-password!1"
REFRESH_TOKEN = "sandbox-refresh-token.0.initial"

PARTNER_CENTER_RESOURCE = "https://api.partnercenter.microsoft.com"
APP_SCOPE = f"{PARTNER_CENTER_RESOURCE}/.default"
USER_SCOPE = f"{PARTNER_CENTER_RESOURCE}/user_impersonation"
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})

PROGRAM_PATHS = {"mpn": "/insights/v1/mpn", "cmp": "/insights/v1.1/cmp"}
CONNECTION_AUTH_TYPES = ("client_credentials", "certificate", "password", "refresh_token")

# File names inside the state dir.
CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
CLIENT_CERT_FILE = "client-cert.pem"
CLIENT_KEY_FILE = "client-key.pem"
CLIENT_BUNDLE_FILE = "client.pem"  # private key + certificate, what `certificate_path` points at
CLIENT_THUMBPRINT_FILE = "client-thumbprint.txt"


def client_thumbprint(state_dir: str | Path) -> str:
    """Return the SHA-1 thumbprint (hex, upper case) of the generated client certificate.

    :param state_dir: the sandbox's state directory.
    """
    return (Path(state_dir) / CLIENT_THUMBPRINT_FILE).read_text().strip()


def build_connection(
    *,
    url: str,
    ca_path: str | Path,
    state_dir: str | Path,
    program: str = "mpn",
    auth_type: str = "client_credentials",
) -> dict[str, Any]:
    """Build the Airflow connection (as a dict) that points a hook at the sandbox.

    :param url: the sandbox's base URL, ``https://127.0.0.1:PORT``.
    :param ca_path: PEM bundle of the sandbox CA, used as the connection's ``verify``.
    :param state_dir: the sandbox's state directory (holds the client certificate).
    :param program: ``mpn`` or ``cmp``.
    :param auth_type: one of :data:`CONNECTION_AUTH_TYPES`.
    """
    if program not in PROGRAM_PATHS:
        raise ValueError(f"program must be one of {sorted(PROGRAM_PATHS)}, not {program!r}")
    if auth_type not in CONNECTION_AUTH_TYPES:
        raise ValueError(f"auth_type must be one of {CONNECTION_AUTH_TYPES}, not {auth_type!r}")
    extra: dict[str, Any] = {
        "tenant_id": TENANT_ID,
        "api_base_url": f"{url}{PROGRAM_PATHS[program]}",
        "authority_host": url,
        "verify": str(ca_path),
        "allowed_download_hosts": "127.0.0.1",
    }
    password: str | None = CLIENT_SECRET
    if auth_type == "certificate":
        # The connection parser knows three auth types; a certificate is client_credentials without a secret.
        password = None
        extra["auth_type"] = "client_credentials"
        extra["certificate_path"] = str(Path(state_dir) / CLIENT_BUNDLE_FILE)
        extra["certificate_thumbprint"] = client_thumbprint(state_dir)
    else:
        extra["auth_type"] = auth_type
    if auth_type == "password":
        extra["username"] = USERNAME
        extra["user_password"] = USER_PASSWORD
    if auth_type == "refresh_token":
        extra["refresh_token"] = REFRESH_TOKEN
    connection: dict[str, Any] = {"conn_type": "partner_insights", "login": CLIENT_ID, "extra": extra}
    if password is not None:
        connection["password"] = password
    return connection


def connection_json(connection: dict[str, Any]) -> str:
    """Serialise a connection dict as the JSON Airflow accepts in ``AIRFLOW_CONN_<ID>``.

    :param connection: a dict from :func:`build_connection`.
    """
    return json.dumps(connection, separators=(",", ":"))
