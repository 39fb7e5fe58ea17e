"""Reading a ``partner_insights`` Airflow connection into typed, validated settings.

The same parsing serves the sync hook (worker) and the async path (triggerer), which gets the
connection through Airflow 3's async API and hands ``login``, ``password`` and the raw ``extra``
JSON string here: ``extra_dejson`` is never touched.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_insights.exceptions import PartnerInsightsConfigError

#: The connection id every operator, sensor and trigger uses unless told otherwise.
DEFAULT_CONN_ID = "partner_insights_default"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
PARTNER_CENTER_RESOURCE = "https://api.partnercenter.microsoft.com"
APP_SCOPE = f"{PARTNER_CENTER_RESOURCE}/.default"
USER_SCOPE = f"{PARTNER_CENTER_RESOURCE}/user_impersonation"
PROGRAM_BASE_URLS = {
    "mpn": f"{PARTNER_CENTER_RESOURCE}/insights/v1/mpn",
    "cmp": f"{PARTNER_CENTER_RESOURCE}/insights/v1.1/cmp",
}
AUTH_TYPES = ("client_credentials", "password", "refresh_token")
DEFAULT_ALLOWED_DOWNLOAD_HOSTS = ("*.blob.core.windows.net",)
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 5


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace(",", " ").split() if part.strip()]
    return [str(part) for part in value]


def _as_int(value: Any, default: int, *, name: str, allowed: str) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or number < 0:
        raise PartnerInsightsConfigError(f"{name}: {value!r} is not allowed; give {allowed}")
    return number


def _as_float(value: Any, default: float, *, name: str, allowed: str) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    # nan and inf would make every request wait forever or fail at once.
    if number is None or not math.isfinite(number) or number <= 0:
        raise PartnerInsightsConfigError(f"{name}: {value!r} is not allowed; give {allowed}")
    return number


def _as_proxies(value: Any) -> dict[str, str]:
    if value is None or value == "":
        return {}
    proxies = value
    if isinstance(value, str):
        try:
            proxies = json.loads(value)
        except ValueError:
            proxies = None
    allowed = 'a JSON object of proxy URLs by scheme, e.g. {"https": "http://proxy:3128"}'
    # The value is not echoed: a proxy URL may carry a password.
    if not isinstance(proxies, Mapping) or not all(
        isinstance(key, str) and isinstance(url, str) for key, url in proxies.items()
    ):
        raise PartnerInsightsConfigError(f"proxies: not {allowed}")
    return dict(proxies)


def _program_of_url(api_base_url: str) -> str | None:
    """``mpn`` or ``cmp`` when the URL's path ends with it (``.../insights/v1/mpn``), else ``None``."""
    segments = [segment for segment in urlsplit(api_base_url).path.lower().split("/") if segment]
    return segments[-1] if segments and segments[-1] in PROGRAM_BASE_URLS else None


def _program(options: Mapping[str, Any]) -> str:
    """The program named in the extra, else the one ``api_base_url`` points to, else ``mpn``."""
    given = str(options.get("program") or "").strip().lower()
    url = str(options.get("api_base_url") or "").strip()
    from_url = _program_of_url(url) if url else None
    if given and given not in PROGRAM_BASE_URLS:
        raise PartnerInsightsConfigError(f"program: {given!r} is not one of {', '.join(PROGRAM_BASE_URLS)}")
    if given and from_url and given != from_url:
        raise PartnerInsightsConfigError(
            f"program: {given!r} contradicts api_base_url, whose path ends with /{from_url}"
        )
    if given:
        return given
    if url and from_url is None:
        raise PartnerInsightsConfigError(
            f"program: cannot tell it from api_base_url (its path ends with neither /mpn nor /cmp); "
            f"set program to one of {', '.join(PROGRAM_BASE_URLS)}"
        )
    return from_url or "mpn"


def _as_verify(value: Any) -> bool | str:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    return text


def parse_extra(extra: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Parse a connection's ``extra`` (a JSON string, a mapping or nothing) into a dict."""
    if not extra:
        return {}
    if isinstance(extra, Mapping):
        return dict(extra)
    try:
        parsed = json.loads(extra)
    except ValueError as err:
        raise PartnerInsightsConfigError("extra: the connection's extra is not valid JSON") from err
    if not isinstance(parsed, dict):
        raise PartnerInsightsConfigError("extra: the connection's extra must be a JSON object")
    return parsed


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything the hook needs from a ``partner_insights`` connection, validated.

    Secrets are held in fields excluded from ``repr`` so that printing settings leaks nothing.
    """

    tenant_id: str
    client_id: str
    auth_type: str
    program: str
    api_base_url: str
    authority_host: str
    scopes: tuple[str, ...]
    client_secret: str | None = field(default=None, repr=False)
    username: str | None = None
    user_password: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    certificate_path: str | None = None
    certificate_data: str | None = field(default=None, repr=False)
    certificate_thumbprint: str | None = None
    verify: bool | str = True
    allowed_download_hosts: tuple[str, ...] = DEFAULT_ALLOWED_DOWNLOAD_HOSTS
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    proxies: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_parts(
        cls, *, login: str | None, password: str | None, extra: str | Mapping[str, Any] | None
    ) -> ConnectionSettings:
        """Build settings from a connection's ``login``, ``password`` and ``extra``.

        :param login: the client (application) id.
        :param password: the client secret, if the app authenticates with one.
        :param extra: the connection's extra, as a JSON string or a mapping.
        """
        options = parse_extra(extra)
        tenant_id = str(options.get("tenant_id") or "").strip()
        if not tenant_id:
            raise PartnerInsightsConfigError("tenant_id: the connection's extra must name the Entra ID tenant")
        client_id = (login or "").strip()
        if not client_id:
            raise PartnerInsightsConfigError("login: the connection must give the client (application) id")
        program = _program(options)
        certificate_path = options.get("certificate_path") or None
        certificate_data = options.get("certificate_data") or None
        if not (password or certificate_path or certificate_data):
            raise PartnerInsightsConfigError(
                "password: give the client secret, or certificate_path / certificate_data in the extra"
            )
        auth_type = str(options.get("auth_type") or cls._infer_auth_type(options)).lower()
        if auth_type not in AUTH_TYPES:
            raise PartnerInsightsConfigError(f"auth_type: {auth_type!r} is not one of {', '.join(AUTH_TYPES)}")
        if auth_type == "password" and not (options.get("username") and options.get("user_password")):
            raise PartnerInsightsConfigError("username, user_password: both are required for auth_type 'password'")
        if auth_type == "refresh_token" and not options.get("refresh_token"):
            raise PartnerInsightsConfigError("refresh_token: required for auth_type 'refresh_token'")
        authority_host = str(options.get("authority_host") or DEFAULT_AUTHORITY_HOST).rstrip("/")
        if not authority_host.startswith("https://"):
            raise PartnerInsightsConfigError("authority_host: must be an https:// URL")
        api_base_url = str(options.get("api_base_url") or PROGRAM_BASE_URLS[program]).rstrip("/")
        if urlsplit(api_base_url).scheme != "https":
            raise PartnerInsightsConfigError("api_base_url: must be an https:// URL")
        default_scope = APP_SCOPE if auth_type == "client_credentials" else USER_SCOPE
        return cls(
            tenant_id=tenant_id,
            client_id=client_id,
            auth_type=auth_type,
            program=program,
            api_base_url=api_base_url,
            authority_host=authority_host,
            scopes=tuple(_as_list(options.get("scopes")) or [default_scope]),
            client_secret=password or None,
            username=options.get("username") or None,
            user_password=options.get("user_password") or None,
            refresh_token=options.get("refresh_token") or None,
            certificate_path=certificate_path,
            certificate_data=certificate_data,
            certificate_thumbprint=options.get("certificate_thumbprint") or None,
            verify=_as_verify(options.get("verify")),
            allowed_download_hosts=tuple(
                _as_list(options.get("allowed_download_hosts")) or DEFAULT_ALLOWED_DOWNLOAD_HOSTS
            ),
            timeout=_as_float(
                options.get("timeout"), DEFAULT_TIMEOUT, name="timeout", allowed="a positive number of seconds, e.g. 60"
            ),
            max_retries=_as_int(
                options.get("max_retries"),
                DEFAULT_MAX_RETRIES,
                name="max_retries",
                allowed="a whole number of retries, 0 or more, e.g. 5",
            ),
            proxies=_as_proxies(options.get("proxies")),
        )

    @staticmethod
    def _infer_auth_type(options: Mapping[str, Any]) -> str:
        if options.get("refresh_token"):
            return "refresh_token"
        if options.get("username") or options.get("user_password"):
            return "password"
        return "client_credentials"

    @property
    def authority(self) -> str:
        """The tenant's authority URL, e.g. ``https://login.microsoftonline.com/<tenant>``."""
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def identity_key(self) -> str:
        """A stable key for one identity (who asks for tokens, for whom): the token cache's key.

        Secrets enter only as a digest, so that the key can be logged or used in a dict safely
        and a rotated secret gets a fresh cache entry.
        """
        secret_digest = hashlib.sha256(
            "\0".join(
                part or ""
                for part in (
                    self.client_secret,
                    self.user_password,
                    self.refresh_token,
                    self.certificate_path,
                    self.certificate_data,
                )
            ).encode()
        ).hexdigest()[:16]
        return "|".join(
            (self.authority, self.client_id, self.auth_type, self.username or "", " ".join(self.scopes), secret_digest)
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value held, for masking and for leak checks."""
        return tuple(
            value
            for value in (self.client_secret, self.user_password, self.refresh_token, self.certificate_data)
            if value
        )
