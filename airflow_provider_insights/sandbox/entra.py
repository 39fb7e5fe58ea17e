"""Entra ID (Azure AD) endpoints as msal uses them: discovery, user realm, device code, tokens.

v2 (``/{tenant}/oauth2/v2.0/token``, scopes) and v1 (``/{tenant}/oauth2/token``, ``resource=``,
string ``expires_in`` as in the seed walkthrough). Refusals use the real AADSTS-style JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from typing import Any

from aiohttp import web

from airflow_provider_insights.sandbox import credentials as cred
from airflow_provider_insights.sandbox.context import SandboxContext, base_url, context_of
from airflow_provider_insights.sandbox.tokens import (
    LEGACY_AUDIENCES,
    TokenError,
    b64url_encode,
    issue_access_token,
    verify_client_assertion,
)

KNOWN_TENANTS = frozenset({cred.TENANT_ID.lower(), cred.TENANT_DOMAIN, "organizations", "common"})
USER_OBJECT_ID = "0b5e7a11-5a4d-4b0c-8000-00000000a11c"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_NAMES = {
    "client_credentials": "client_credentials",
    "password": "password",
    "refresh_token": "refresh_token",
    DEVICE_GRANT: "device_code",
}


class AadError(Exception):
    """An Entra ID refusal.

    :param status: HTTP status.
    :param error: OAuth error code.
    :param code: the AADSTS number.
    :param description: text after ``AADSTS<code>:``.
    """

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description


def aad_error_response(err: AadError) -> web.Response:
    """The JSON body Entra ID sends with a refusal.

    :param err: the refusal.
    """
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    timestamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    body = {
        "error": err.error,
        "error_description": (
            f"AADSTS{err.code}: {err.description} Trace ID: {trace_id} "
            f"Correlation ID: {correlation_id} Timestamp: {timestamp}"
        ),
        "error_codes": [err.code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={err.code}",
    }
    return web.json_response(body, status=err.status)


def _check_tenant(tenant: str) -> None:
    if tenant.lower() not in KNOWN_TENANTS:
        raise AadError(
            400,
            "invalid_request",
            90002,
            f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.",
        )


async def openid_configuration(request: web.Request) -> web.Response:
    """``GET /{tenant}/v2.0/.well-known/openid-configuration``.

    :param request: the request.
    """
    tenant = request.match_info["tenant"]
    try:
        _check_tenant(tenant)
    except AadError as err:
        return aad_error_response(err)
    url = base_url(request)
    real_tenant = cred.TENANT_ID if tenant.lower() != "common" else "{tenantid}"
    return web.json_response(
        {
            "issuer": f"{url}/{real_tenant}/v2.0",
            "authorization_endpoint": f"{url}/{tenant}/oauth2/v2.0/authorize",
            "token_endpoint": f"{url}/{tenant}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{url}/{tenant}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{url}/{tenant}/oauth2/v2.0/logout",
            "jwks_uri": f"{url}/{tenant}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "grant_types_supported": ["client_credentials", "password", "refresh_token", DEVICE_GRANT],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
        }
    )


async def instance_discovery(request: web.Request) -> web.Response:
    """``GET /common/discovery/instance?authorization_endpoint=...``: says this host is a valid authority.

    :param request: the request.
    """
    endpoint = request.query.get("authorization_endpoint", "")
    tenant = "common"
    parts = [part for part in endpoint.split("/") if part]
    if len(parts) >= 3:
        tenant = parts[2]
    url = base_url(request)
    return web.json_response(
        {
            "tenant_discovery_endpoint": f"{url}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [
                {
                    "preferred_network": request.host,
                    "preferred_cache": request.host,
                    "aliases": [request.host, request.host.split(":")[0]],
                }
            ],
        }
    )


async def user_realm(request: web.Request) -> web.Response:
    """``GET /common/userrealm/{user}``: every sandbox user is a Managed (cloud-only) account.

    :param request: the request.
    """
    user = request.match_info["user"]
    domain = user.split("@", 1)[-1] if "@" in user else cred.TENANT_DOMAIN
    return web.json_response(
        {
            "ver": "1.0",
            "account_type": "Managed",
            "domain_name": domain,
            "cloud_instance_name": "microsoftonline.com",
            "cloud_audience_urn": "urn:federation:MicrosoftOnline",
        }
    )


async def device_code(request: web.Request) -> web.Response:
    """``POST /{tenant}/oauth2/v2.0/devicecode``: start a device flow (approved on the second poll).

    :param request: the request.
    """
    ctx = context_of(request)
    form = await request.post()
    try:
        _check_tenant(request.match_info["tenant"])
        _check_client_id(str(form.get("client_id", "")))
        scopes = _check_user_scopes(str(form.get("scope", "")))
    except AadError as err:
        return aad_error_response(err)
    code = secrets.token_urlsafe(24)
    user_code = f"SBX{secrets.randbelow(10**6):06d}"
    ctx.device_codes[code] = {"polls": 0, "scopes": scopes, "client_id": form.get("client_id")}
    verification_uri = f"{base_url(request)}/devicelogin"
    return web.json_response(
        {
            "device_code": code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "expires_in": 900,
            "interval": int(ctx.state.config["device_code_interval_s"]),
            "message": (
                f"To sign in, use a web browser to open the page {verification_uri} and enter the code "
                f"{user_code} to authenticate. (Sandbox: approved automatically.)"
            ),
        }
    )


def _check_client_id(client_id: str) -> None:
    if client_id != cred.CLIENT_ID:
        raise AadError(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{cred.TENANT_DOMAIN}'.",
        )


def _split_scopes(scope_text: str) -> list[str]:
    return [scope for scope in scope_text.split() if scope]


def _check_user_scopes(scope_text: str) -> str:
    resource_scopes = [s for s in _split_scopes(scope_text) if s not in cred.OIDC_SCOPES]
    if not resource_scopes:
        raise AadError(
            400,
            "invalid_scope",
            70011,
            "The provided request must include a 'scope' input parameter for the Partner Center API.",
        )
    for scope in resource_scopes:
        if scope not in (cred.APP_SCOPE, cred.USER_SCOPE):
            raise AadError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {scope} was not found in the tenant named {cred.TENANT_DOMAIN}.",
            )
    return " ".join(resource_scopes)


def _check_app_scopes(scope_text: str) -> str:
    scopes = _split_scopes(scope_text)
    if scopes != [cred.APP_SCOPE]:
        for scope in scopes:
            if not scope.endswith("/.default"):
                raise AadError(
                    400,
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {scope} is not valid. Client credential flows must "
                    "have a scope value with /.default suffixed to the resource identifier "
                    "(application ID URI).",
                )
        raise AadError(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {' '.join(scopes)} was not found in the tenant named {cred.TENANT_DOMAIN}.",
        )
    return cred.APP_SCOPE


def _authenticate_client(ctx: SandboxContext, form: Any, *, required: bool) -> str | None:
    """Check the client secret or assertion; returns the method used."""
    secret = form.get("client_secret")
    assertion = form.get("client_assertion")
    if secret is not None:
        if secret != cred.CLIENT_SECRET:
            raise AadError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the "
                f"client secret value, not the client secret ID, for a secret added to app "
                f"'{cred.CLIENT_ID}'.",
            )
        return "secret"
    if assertion is not None:
        try:
            verify_client_assertion(
                str(assertion),
                public_key=ctx.client_public_key,
                client_id=cred.CLIENT_ID,
                thumbprint_sha1_hex=ctx.tls.client_thumbprint,
                thumbprint_sha256_hex=ctx.client_sha256,
                token_path_suffixes=("/oauth2/v2.0/token", "/oauth2/token"),
            )
        except TokenError as err:
            raise AadError(401, "invalid_client", 700027, f"Client assertion failed: {err.reason}") from err
        return "certificate"
    if required:
        raise AadError(
            400,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    return None


def _check_refresh_token(ctx: SandboxContext, token: str) -> None:
    if token != cred.REFRESH_TOKEN and token not in ctx.state.issued_refresh_tokens:
        raise AadError(
            400,
            "invalid_grant",
            70000,
            "The provided value for the input parameter 'refresh_token' or 'assertion' is not valid.",
        )


def _check_password(username: str, password: str) -> None:
    if username.lower() != cred.USERNAME or password != cred.USER_PASSWORD:
        raise AadError(400, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")


def _poll_device_code(ctx: SandboxContext, code: str) -> str:
    flow = ctx.device_codes.get(code)
    if flow is None:
        raise AadError(400, "expired_token", 70019, "Verification code expired.")
    flow["polls"] += 1
    if flow["polls"] < 2:
        raise AadError(
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        )
    del ctx.device_codes[code]
    return str(flow["scopes"])


def _new_refresh_token(ctx: SandboxContext) -> str:
    token = f"sandbox-refresh-token.{secrets.token_urlsafe(24)}"
    ctx.state.issued_refresh_tokens[token] = {"issued": ctx.state.now()}
    ctx.state.save()
    return token


def _id_token(url: str, now: float) -> str:
    header = b64url_encode(json.dumps({"typ": "JWT", "alg": "RS256", "kid": "sandbox"}).encode())
    claims = {
        "aud": cred.CLIENT_ID,
        "iss": f"{url}/{cred.TENANT_ID}/v2.0",
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now) + 3600,
        "name": "Insights Viewer",
        "oid": USER_OBJECT_ID,
        "sub": USER_OBJECT_ID,
        "tid": cred.TENANT_ID,
        "preferred_username": cred.USERNAME,
        "ver": "2.0",
    }
    payload = b64url_encode(json.dumps(claims).encode())
    return f"{header}.{payload}.{b64url_encode(b'sandbox-id-token-not-signed')}"


def _client_info() -> str:
    return b64url_encode(json.dumps({"uid": USER_OBJECT_ID, "utid": cred.TENANT_ID}).encode())


def _grant(ctx: SandboxContext, form: Any, *, v1: bool) -> tuple[str, str, bool]:
    """Run the grant; return (grant name, granted scopes, whether a user is involved)."""
    grant_type = str(form.get("grant_type", ""))
    if grant_type not in GRANT_NAMES:
        raise AadError(
            400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant_type}'."
        )
    _check_client_id(str(form.get("client_id", "")))
    if grant_type == "client_credentials":
        _authenticate_client(ctx, form, required=True)
        scopes = cred.APP_SCOPE if v1 else _check_app_scopes(str(form.get("scope", "")))
        return "client_credentials", scopes, False
    _authenticate_client(ctx, form, required=False)
    if grant_type == "password":
        _check_password(str(form.get("username", "")), str(form.get("password", "")))
    elif grant_type == "refresh_token":
        _check_refresh_token(ctx, str(form.get("refresh_token", "")))
    else:
        return "device_code", _poll_device_code(ctx, str(form.get("device_code", ""))), True
    scopes = cred.USER_SCOPE if v1 else _check_user_scopes(str(form.get("scope", "")))
    return GRANT_NAMES[grant_type], scopes, True


def _v1_resource(form: Any) -> str:
    resource = str(form.get("resource", "")).strip().rstrip("/")
    if resource != cred.PARTNER_CENTER_RESOURCE and resource not in LEGACY_AUDIENCES:
        raise AadError(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource or '(none)'} was not found in the tenant named "
            f"{cred.TENANT_DOMAIN}.",
        )
    return resource


async def token(request: web.Request) -> web.Response:
    """``POST /{tenant}/oauth2/v2.0/token`` and ``POST /{tenant}/oauth2/token`` (v1).

    :param request: the request.
    """
    ctx = context_of(request)
    v1 = not request.path.endswith("/v2.0/token")
    form = await request.post()
    try:
        _check_tenant(request.match_info["tenant"])
        resource = _v1_resource(form) if v1 else cred.PARTNER_CENTER_RESOURCE
        grant, scopes, user = _grant(ctx, form, v1=v1)
    except AadError as err:
        ctx.stats.token_errors[err.error] += 1
        return aad_error_response(err)
    now = ctx.state.now()
    issued = issue_access_token(
        ctx.state.signing_key,
        now=now,
        lifetime_s=int(ctx.state.config["token_lifetime_s"]),
        client_id=cred.CLIENT_ID,
        subject=cred.USERNAME if user else cred.CLIENT_ID,
        grant=grant,
        audience=resource,
        scopes=scopes,
    )
    ctx.stats.count_token(cred.CLIENT_ID, grant)
    body: dict[str, Any] = {"token_type": "Bearer", "access_token": issued.token}
    if v1:
        body.update(
            {
                "expires_in": str(issued.expires_in),
                "ext_expires_in": str(issued.expires_in),
                "expires_on": str(issued.expires_on),
                "not_before": str(int(now)),
                "resource": resource,
            }
        )
    else:
        body.update({"scope": scopes, "expires_in": issued.expires_in, "ext_expires_in": issued.expires_in})
    if user:
        body["refresh_token"] = _new_refresh_token(ctx)
        body["id_token"] = _id_token(base_url(request), now)
        body["client_info"] = _client_info()
    return web.json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def add_routes(app: web.Application) -> None:
    """Register the Entra ID routes.

    :param app: the application.
    """
    app.router.add_get("/common/discovery/instance", instance_discovery)
    app.router.add_get("/common/userrealm/{user}", user_realm)
    app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    app.router.add_post("/{tenant}/oauth2/v2.0/token", token)
    app.router.add_post("/{tenant}/oauth2/v2.0/devicecode", device_code)
    app.router.add_post("/{tenant}/oauth2/token", token)
