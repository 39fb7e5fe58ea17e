"""Building msal's confidential client from connection settings, and reading its answers.

Shared by the token provider (``hooks/auth.py``) and the bootstrap command. msal is imported
inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_insights.exceptions import PartnerInsightsAuthError, PartnerInsightsConfigError
from airflow_provider_insights.hooks._auth_http import MsalHttpClient
from airflow_provider_insights.hooks.redaction import describe_exception, scrub_secrets

if TYPE_CHECKING:
    import msal

    from airflow_provider_insights.connection import ConnectionSettings

# Scopes msal adds itself to user flows and refuses to be given.
_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
_PRIVATE_KEY_PEM = re.compile(
    r"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----.+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----",
    re.DOTALL,
)
_CERTIFICATE_PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)
_SHA1_HEX_LENGTH = 40
_TRACE_SUFFIX = re.compile(r"\s*Trace ID:")


def is_well_known_authority_host(authority_host: str) -> bool:
    """Whether msal knows the host as one of Microsoft's clouds (so instance discovery makes sense).

    :param authority_host: the authority host URL, e.g. ``https://login.microsoftonline.com``.
    """
    from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

    return (urlsplit(authority_host).hostname or "").lower() in WELL_KNOWN_AUTHORITY_HOSTS


def user_scopes(scopes: Iterable[str]) -> list[str]:
    """The scopes to ask for in a user flow, without those msal adds on its own.

    :param scopes: the connection's scopes.
    """
    return [scope for scope in scopes if scope.lower() not in _RESERVED_SCOPES]


def uses_certificate(settings: ConnectionSettings) -> bool:
    """Whether the app proves its identity with a certificate rather than a client secret.

    :param settings: the connection settings.
    """
    return bool(settings.certificate_path or settings.certificate_data)


def build_client_credential(settings: ConnectionSettings) -> str | dict[str, str]:
    """The ``client_credential`` msal expects: the client secret, or a private key with its certificate.

    :param settings: the connection settings.
    """
    if not uses_certificate(settings):
        if not settings.client_secret:
            raise PartnerInsightsConfigError("password: the connection holds no client secret")
        return settings.client_secret
    pem = _read_certificate_pem(settings)
    source = "certificate_path" if settings.certificate_path else "certificate_data"
    key = _PRIVATE_KEY_PEM.search(pem)
    if key is None:
        raise PartnerInsightsConfigError(f"{source}: the PEM holds no private key (it needs the key and the cert)")
    if "ENCRYPTED" in key.group(0):
        raise PartnerInsightsConfigError(f"{source}: the private key is encrypted; give an unencrypted PEM")
    certificate = _CERTIFICATE_PEM.search(pem)
    thumbprint = (settings.certificate_thumbprint or "").replace(":", "").strip()
    if thumbprint and len(thumbprint) == _SHA1_HEX_LENGTH:
        return {"private_key": key.group(0), "thumbprint": thumbprint}
    if certificate is None:
        raise PartnerInsightsConfigError(
            f"{source}: the PEM holds no certificate; add it, or give certificate_thumbprint (SHA-1) in the extra"
        )
    # Entra ID identifies the key by the certificate's SHA-1 thumbprint (x5t): the form every tenant accepts.
    return {"private_key": key.group(0), "thumbprint": sha1_thumbprint(certificate.group(0))}


def sha1_thumbprint(certificate_pem: str) -> str:
    """The SHA-1 thumbprint (hex) of a PEM certificate, as Entra ID shows it for an uploaded certificate.

    :param certificate_pem: one ``-----BEGIN CERTIFICATE-----`` block.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    return hashlib.sha1(certificate.public_bytes(Encoding.DER)).hexdigest().upper()  # x5t is SHA-1 by definition


def _read_certificate_pem(settings: ConnectionSettings) -> str:
    if settings.certificate_data:
        return settings.certificate_data
    path = Path(str(settings.certificate_path)).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise PartnerInsightsConfigError(f"certificate_path: no file at {path}") from err
    except OSError as err:
        raise PartnerInsightsConfigError(f"certificate_path: cannot read {path}: {err.strerror}") from err


def build_http_client(settings: ConnectionSettings) -> MsalHttpClient:
    """The HTTP client msal uses for this connection (TLS, proxies, timeout, authority port).

    :param settings: the connection settings.
    """
    return MsalHttpClient(
        authority=settings.authority, verify=settings.verify, proxies=settings.proxies, timeout=settings.timeout
    )


def build_confidential_app(settings: ConnectionSettings) -> msal.ConfidentialClientApplication:
    """Create msal's confidential client for the connection. This reads the tenant's OpenID configuration.

    :param settings: the connection settings.
    """
    import msal
    import requests

    credential = build_client_credential(settings)
    http_client = build_http_client(settings)
    try:
        return msal.ConfidentialClientApplication(
            settings.client_id,
            client_credential=credential,
            authority=settings.authority,
            http_client=http_client,
            # Outside Microsoft's clouds, instance discovery would ask login.microsoftonline.com
            # about a host it cannot know: the configured authority is trusted as given.
            instance_discovery=is_well_known_authority_host(settings.authority_host),
            timeout=settings.timeout,
        )
    except (requests.RequestException, PartnerInsightsConfigError):
        http_client.close()
        raise
    except ValueError as err:
        http_client.close()
        detail = scrub_secrets(_first_line(str(err)), settings.secrets)
        if uses_certificate(settings) and "private" in detail.lower():
            source = "certificate_path" if settings.certificate_path else "certificate_data"
            raise PartnerInsightsConfigError(f"{source}: msal could not use the key: {detail}") from None
        raise PartnerInsightsAuthError(
            f"Could not read the Entra ID configuration of tenant {settings.tenant_id} at {settings.authority}: "
            f"{detail}"
        ) from None


def grant_description(settings: ConnectionSettings) -> str:
    """Words naming what Entra ID was asked to accept, for error messages.

    :param settings: the connection settings.
    """
    who = f"client {settings.client_id} in tenant {settings.tenant_id}"
    if settings.auth_type == "password":
        return f"the user name and password of {settings.username} (ROPC) for {who}"
    if settings.auth_type == "refresh_token":
        return f"the refresh token for {who} (run partner-insights-bootstrap to get a new one)"
    if uses_certificate(settings):
        return f"the client certificate of {who}"
    return f"the client credentials for {who}"


def raise_for_msal_error(result: Mapping[str, Any], *, refused: str, secrets: Iterable[str]) -> None:
    """Raise ``PartnerInsightsAuthError`` if msal's answer is an error rather than a token.

    :param result: what msal returned.
    :param refused: words naming what was refused (see :func:`grant_description`).
    :param secrets: values that must not appear in the message, scrubbed if Entra ID echoed one.
    """
    if "access_token" in result and "error" not in result:
        return
    error = str(result.get("error") or "no_access_token")
    description = scrub_secrets(_first_line(str(result.get("error_description") or "")), secrets)
    message = f"Entra ID refused {refused}: {error}"
    if description:
        message += f" ({description})"
    raise PartnerInsightsAuthError(message, error_code=error, correlation_id=result.get("correlation_id"))


def server_error(settings: ConnectionSettings, err: Exception) -> PartnerInsightsAuthError:
    """The error to raise when Entra ID failed to answer a token request (HTTP 5xx).

    :param settings: the connection settings.
    :param err: msal's exception, whose text is ``HTTP Error: <status>``.
    """
    return PartnerInsightsAuthError(
        f"Entra ID at {settings.authority} failed to answer the token request for client {settings.client_id}: "
        f"{scrub_secrets(_first_line(str(err)), settings.secrets)}",
        error_code="server_error",
    )


def unreachable_error(settings: ConnectionSettings, err: Exception) -> PartnerInsightsAuthError:
    """The error to raise when no answer came from Entra ID (connection refused or reset, timeout).

    Its ``error_code`` tells the request flow that retrying may help.

    :param settings: the connection settings.
    :param err: the transport exception msal's HTTP client raised.
    """
    from airflow_provider_insights.hooks.flow import TOKEN_ENDPOINT_UNREACHABLE

    return PartnerInsightsAuthError(
        f"Entra ID at {settings.authority} did not answer the token request for client {settings.client_id}: "
        f"{scrub_secrets(describe_exception(err), settings.secrets)}",
        error_code=TOKEN_ENDPOINT_UNREACHABLE,
    )


def _first_line(text: str) -> str:
    # Entra ID appends "Trace ID / Correlation ID / Timestamp" (on new lines or not) that add nothing to a
    # message; the correlation id is kept apart by PartnerInsightsAuthError.
    text = _TRACE_SUFFIX.split(text.strip(), maxsplit=1)[0]
    return text.strip().splitlines()[0].strip() if text.strip() else ""
