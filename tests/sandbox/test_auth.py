"""Entra ID emulation: every grant through msal itself, refusals in AADSTS form, bearer checks."""

from __future__ import annotations

import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from airflow_provider_insights.sandbox import SandboxProcess
from airflow_provider_insights.sandbox import credentials as cred

from ._client import Api, PortKeepingSession, app_token, msal_app

pytestmark = pytest.mark.integration


def _certificate_credential(sb: SandboxProcess, *, with_public_certificate: bool) -> dict[str, str]:
    bundle = (sb.state_dir / cred.CLIENT_BUNDLE_FILE).read_text()  # type: ignore[operator]
    certificate = (sb.state_dir / cred.CLIENT_CERT_FILE).read_text()  # type: ignore[operator]
    if with_public_certificate:
        return {"private_key": bundle, "public_certificate": certificate}
    return {"private_key": bundle, "thumbprint": cred.client_thumbprint(sb.state_dir)}  # type: ignore[arg-type]


def test_client_credentials_with_secret(sb: SandboxProcess) -> None:
    result = msal_app(sb).acquire_token_for_client(scopes=[cred.APP_SCOPE])
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3599
    assert Api(sb, token=result["access_token"]).call("GET", "ScheduledDataset").status_code == 200
    stats = sb.admin.stats()
    assert stats["tokens"] == {"client_credentials": 1}
    assert stats["tokens_by_client"] == {f"{cred.CLIENT_ID}/client_credentials": 1}


def test_wrong_secret_is_refused_like_entra_id(sb: SandboxProcess) -> None:
    result = msal_app(sb, "not-the-secret").acquire_token_for_client(scopes=[cred.APP_SCOPE])
    assert result["error"] == "invalid_client"
    assert result["error_description"].startswith("AADSTS7000215:")
    assert result["error_codes"] == [7000215] and result["correlation_id"]
    raw = requests.post(
        sb.token_url(),
        verify=sb.ca_path,
        data={
            "grant_type": "client_credentials",
            "client_id": cred.CLIENT_ID,
            "client_secret": "nope",
            "scope": cred.APP_SCOPE,
        },
    )
    assert raw.status_code == 401
    assert sb.admin.stats()["token_errors"] == {"invalid_client": 2}


def test_unknown_client_and_tenant_are_refused(sb: SandboxProcess) -> None:
    unknown_client = requests.post(
        sb.token_url(),
        verify=sb.ca_path,
        data={
            "grant_type": "client_credentials",
            "client_id": "someone-else",
            "client_secret": cred.CLIENT_SECRET,
            "scope": cred.APP_SCOPE,
        },
    )
    assert unknown_client.status_code == 400 and "AADSTS700016" in unknown_client.json()["error_description"]
    unknown_tenant = requests.get(f"{sb.url}/other-tenant/v2.0/.well-known/openid-configuration", verify=sb.ca_path)
    assert unknown_tenant.status_code == 400 and "AADSTS90002" in unknown_tenant.json()["error_description"]


def test_client_credentials_need_the_default_scope(sb: SandboxProcess) -> None:
    result = msal_app(sb).acquire_token_for_client(scopes=[cred.USER_SCOPE])
    assert result["error"] == "invalid_scope" and "AADSTS1002012" in result["error_description"]


@pytest.mark.parametrize("with_public_certificate", [False, True], ids=["RS256-thumbprint", "PS256-x5c"])
def test_client_certificate_assertion_is_verified(sb: SandboxProcess, with_public_certificate: bool) -> None:
    credential = _certificate_credential(sb, with_public_certificate=with_public_certificate)
    result = msal_app(sb, credential).acquire_token_for_client(scopes=[cred.APP_SCOPE])
    assert "access_token" in result, result
    assert Api(sb, token=result["access_token"]).call("GET", "ScheduledDataset").status_code == 200


def test_assertion_signed_by_another_key_is_refused(sb: SandboxProcess, tmp_path) -> None:
    from airflow_provider_insights.sandbox.tls import ensure_tls_material

    other = ensure_tls_material(tmp_path / "other")
    thumbprint = x509.load_pem_x509_certificate(other.client_cert_path.read_bytes()).fingerprint(hashes.SHA1())
    credential = {
        "private_key": other.client_bundle_path.read_text(),
        "thumbprint": cred.client_thumbprint(sb.state_dir),
    }  # type: ignore[arg-type]
    assert thumbprint  # a different certificate, presenting the sandbox's thumbprint
    result = msal_app(sb, credential).acquire_token_for_client(scopes=[cred.APP_SCOPE])
    assert result["error"] == "invalid_client" and "AADSTS700027" in result["error_description"]


def test_password_grant_with_user_realm_lookup(sb: SandboxProcess) -> None:
    app = msal_app(sb)
    result = app.acquire_token_by_username_password(cred.USERNAME, cred.USER_PASSWORD, scopes=[cred.USER_SCOPE])
    assert "access_token" in result, result
    assert result["refresh_token"] and result["id_token_claims"]["preferred_username"] == cred.USERNAME
    requests_seen = sb.admin.stats()["requests"]
    assert requests_seen["GET /common/userrealm/{user}"] == 1
    assert Api(sb, token=result["access_token"]).call("GET", "ScheduledDataset").status_code == 200


def test_wrong_password_is_refused(sb: SandboxProcess) -> None:
    result = msal_app(sb).acquire_token_by_username_password(cred.USERNAME, "wrong", scopes=[cred.USER_SCOPE])
    assert result["error"] == "invalid_grant" and result["error_description"].startswith("AADSTS50126:")


def test_refresh_token_rotates_and_old_one_keeps_working(sb: SandboxProcess) -> None:
    app = msal_app(sb)
    first = app.acquire_token_by_refresh_token(cred.REFRESH_TOKEN, scopes=[cred.USER_SCOPE])
    assert "access_token" in first, first
    assert first["refresh_token"] != cred.REFRESH_TOKEN
    second = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=[cred.USER_SCOPE])
    again = app.acquire_token_by_refresh_token(cred.REFRESH_TOKEN, scopes=[cred.USER_SCOPE])
    assert "access_token" in second and "access_token" in again
    bogus = app.acquire_token_by_refresh_token("not-a-refresh-token", scopes=[cred.USER_SCOPE])
    assert bogus["error"] == "invalid_grant" and "AADSTS70000" in bogus["error_description"]
    assert sb.admin.stats()["tokens"] == {"refresh_token": 3}


def test_device_code_is_pending_then_approved(sb: SandboxProcess) -> None:
    app = msal.PublicClientApplication(
        cred.CLIENT_ID,
        authority=f"{sb.url}/{cred.TENANT_ID}",
        instance_discovery=False,
        http_client=PortKeepingSession(sb),
    )
    flow = app.initiate_device_flow(scopes=[cred.USER_SCOPE])
    assert flow["user_code"] and flow["interval"] == 0
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result
    stats = sb.admin.stats()
    assert stats["token_errors"] == {"authorization_pending": 1}
    assert stats["tokens"] == {"device_code": 1}


def test_v1_endpoint_returns_string_lifetimes(sb: SandboxProcess) -> None:
    response = requests.post(
        sb.token_url("v1"),
        verify=sb.ca_path,
        data={
            "grant_type": "password",
            "client_id": cred.CLIENT_ID,
            "client_secret": cred.CLIENT_SECRET,
            "resource": " https://api.partnercenter.microsoft.com",
            "scope": "openid",
            "username": cred.USERNAME,
            "password": cred.USER_PASSWORD,
        },
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["expires_in"] == "3599" and body["resource"] == "https://api.partnercenter.microsoft.com"
    assert Api(sb, token=body["access_token"]).call("GET", "ScheduledDataset").status_code == 200


def test_legacy_audience_token_is_rejected_by_the_api(sb: SandboxProcess) -> None:
    body = requests.post(
        sb.token_url("v1"),
        verify=sb.ca_path,
        data={
            "grant_type": "client_credentials",
            "client_id": cred.CLIENT_ID,
            "client_secret": cred.CLIENT_SECRET,
            "resource": "https://graph.windows.net",
        },
    ).json()
    response = Api(sb, token=body["access_token"]).call("GET", "ScheduledDataset")
    assert response.status_code == 401 and response.json()["code"] == "900420"


def test_api_requires_a_valid_unexpired_bearer_token(sb: SandboxProcess) -> None:
    sb.admin.configure(token_lifetime_s=60)
    api = Api(sb)
    assert requests.get(f"{api.base}/ScheduledDataset", verify=sb.ca_path).status_code == 401
    assert Api(sb, token=api.token + "x").call("GET", "ScheduledDataset").status_code == 401
    assert api.call("GET", "ScheduledDataset").status_code == 200
    sb.admin.advance_clock(61)
    expired = api.call("GET", "ScheduledDataset")
    assert expired.status_code == 401 and expired.json()["message"] == "Unauthorized"
    assert "WWW-Authenticate" in expired.headers


def test_token_lifetime_is_configurable(sb: SandboxProcess) -> None:
    sb.admin.configure(token_lifetime_s=120)
    result = msal_app(sb).acquire_token_for_client(scopes=[cred.APP_SCOPE])
    assert result["expires_in"] == 120


def test_instance_discovery_points_at_the_sandbox(sb: SandboxProcess) -> None:
    session = PortKeepingSession(sb)
    response = session.get(
        f"{sb.url}/common/discovery/instance",
        params={
            "authorization_endpoint": f"https://127.0.0.1/{cred.TENANT_ID}/oauth2/v2.0/authorize",
            "api-version": "1.0",
        },
    )
    endpoint = response.json()["tenant_discovery_endpoint"]
    assert endpoint == f"{sb.url}/{cred.TENANT_ID}/v2.0/.well-known/openid-configuration"
    config = session.get(endpoint).json()
    assert config["token_endpoint"] == sb.token_url()
    assert app_token(sb)
