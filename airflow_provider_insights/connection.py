"""Reading a ``partner_insights`` Airflow connection into typed, validated settings.

The same parsing serves the sync hook (worker) and the async path (triggerer), which gets the
connection through Airflow 3's async API and hands ``login``, ``password`` and the raw ``extra``
JSON string here: ``extra_dejson`` is never touched.

:data:`EXTRA_FIELDS` is the one list of the extra's keys: the connection form (see the package's
``get_provider_info``) is built from it, and a key it does not name is refused. Every value is
checked here, once, so that a wrong connection fails at once with the field and the value named
(never a secret), rather than as a transient network error hours later.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_insights.exceptions import PartnerInsightsConfigError

CONN_TYPE = "partner_insights"
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
DEFAULT_PROGRAM = "mpn"
AUTH_TYPES = ("client_credentials", "password", "refresh_token")
DEFAULT_ALLOWED_DOWNLOAD_HOSTS = ("*.blob.core.windows.net",)
DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0
DEFAULT_MAX_RETRIES = 5
MAX_MAX_RETRIES = 20
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")
PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
BOOTSTRAP_COMMAND = "python -m airflow_provider_insights.bootstrap --tenant-id <tenant> --client-id <app id>"


@dataclass(frozen=True)
class ExtraField:
    """One key of the connection's extra, as the connection form shows it.

    :param name: the key in the extra.
    :param label: the form's label.
    :param description: the form's help text.
    :param placeholder: an example value shown in the empty field.
    :param secret: whether the form hides the value (a password field).
    :param choices: the allowed values, if the field is a choice.
    :param kind: the JSON type the form stores (``string``, ``number`` or ``integer``).
    """

    name: str
    label: str
    description: str
    placeholder: str = ""
    secret: bool = False
    choices: tuple[str, ...] = ()
    kind: str = "string"


# Numbers are stored as JSON numbers: Airflow's log masker warns about every short *string* in an
# extra ("Skipping masking for a secret as it's too short"), never about a number.
EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        "tenant_id",
        "Tenant ID",
        "Entra ID tenant (GUID or domain). Required.",
        "00000000-0000-0000-0000-000000000000 or contoso.onmicrosoft.com",
    ),
    ExtraField(
        "auth_type",
        "Auth type",
        "Inferred from the secrets present when empty; Partner Insights (mpn) needs refresh_token or password.",
        " | ".join(AUTH_TYPES),
        choices=AUTH_TYPES,
    ),
    ExtraField(
        "program",
        "Program",
        f"mpn (Partner Insights, the default) or cmp (commercial marketplace); inferred from the API base URL "
        f"when empty. Leave it empty for {DEFAULT_PROGRAM}: Airflow warns about short extra values.",
        " | ".join(PROGRAM_BASE_URLS),
        choices=tuple(PROGRAM_BASE_URLS),
    ),
    ExtraField("username", "Username", "User for auth_type password (ROPC).", "analyst@contoso.onmicrosoft.com"),
    ExtraField("user_password", "User password", "Password for auth_type password (ROPC).", secret=True),
    ExtraField(
        "refresh_token",
        "Refresh token",
        "Secure Application Model refresh token, from python -m airflow_provider_insights.bootstrap.",
        secret=True,
    ),
    ExtraField("certificate_path", "Certificate path", "PEM file with the private key and certificate."),
    ExtraField("certificate_data", "Certificate (PEM)", "PEM text instead of a path.", secret=True),
    ExtraField("certificate_thumbprint", "Certificate thumbprint", "SHA-1 thumbprint; computed when empty."),
    ExtraField(
        "api_base_url",
        "API base URL",
        "https URL overriding the one the program picks (sovereign clouds, the sandbox).",
        PROGRAM_BASE_URLS[DEFAULT_PROGRAM],
    ),
    ExtraField(
        "authority_host",
        "Authority host",
        f"Entra ID host, an https URL; default {DEFAULT_AUTHORITY_HOST}.",
        DEFAULT_AUTHORITY_HOST,
    ),
    ExtraField("scopes", "Scopes", "Space-separated token scopes; default from the auth type.", APP_SCOPE),
    ExtraField(
        "verify",
        "TLS verify",
        "true, false, or the path of a CA bundle (file or directory) that exists.",
        "true | false | /path/to/ca-bundle.pem",
    ),
    ExtraField(
        "allowed_download_hosts",
        "Allowed download hosts",
        "Host patterns secure links may use.",
        DEFAULT_ALLOWED_DOWNLOAD_HOSTS[0],
    ),
    ExtraField(
        "timeout",
        "Timeout (s)",
        f"Per-request timeout in seconds, more than 0 and at most {MAX_TIMEOUT:g}.",
        f"{DEFAULT_TIMEOUT:g}",
        kind="number",
    ),
    ExtraField(
        "max_retries",
        "Max retries",
        f"Retries on 429, 5xx and connection errors, 0 to {MAX_MAX_RETRIES}.",
        str(DEFAULT_MAX_RETRIES),
        kind="integer",
    ),
    # A proxy URL may carry a password, hence a secret field.
    ExtraField(
        "proxies",
        "Proxies",
        'JSON object of proxy URLs by scheme, e.g. {"https": "http://proxy:3128"}.',
        '{"https": "http://proxy.example:3128"}',
        secret=True,
    ),
)
EXTRA_FIELD_NAMES: tuple[str, ...] = tuple(extra.name for extra in EXTRA_FIELDS)


def _refuse(name: str, value: Any, allowed: str) -> PartnerInsightsConfigError:
    return PartnerInsightsConfigError(f"{name}: {value!r} is not allowed; give {allowed}")


def _text(value: Any) -> str | None:
    """A string option (or a secret) stripped of surrounding whitespace, ``None`` when empty.

    Secrets are stripped like the login: a secret pasted with a trailing newline would otherwise be
    refused by Entra ID with an error that cannot show the difference.
    """
    if value is None:
        return None
    return str(value).strip() or None


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace(",", " ").split() if part.strip()]
    return [str(part) for part in value]


def _as_number(
    value: Any, default: Any, *, name: str, convert: Callable[[str], Any], in_range: Callable[[Any], bool], allowed: str
) -> Any:
    if value is None or value == "":
        return default
    try:
        number = convert(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    # nan and inf would make every request wait forever or fail at once.
    if number is None or not math.isfinite(number) or not in_range(number):
        raise _refuse(name, value, allowed)
    return number


def _without_credentials(url: str) -> str:
    """``url`` with anything before an ``@`` (a user and password) hidden, for an error message."""
    return "***@" + url.rsplit("@", 1)[1] if "@" in url else url


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
    for key, url in proxies.items():
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
            raise PartnerInsightsConfigError(
                f"proxies: {key!r}: {_without_credentials(url)!r} is not a proxy URL; give a URL with one of the "
                f"schemes {', '.join(PROXY_SCHEMES)} and a host, e.g. http://proxy:3128"
            )
    return {key: url.strip() for key, url in proxies.items()}


def _as_https_url(value: Any, default: str, *, name: str, example: str) -> str:
    url = (_text(value) or default).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme.lower() != "https" or not parts.hostname or parts.query or parts.fragment:
        raise _refuse(name, url, f"an https:// URL with a host and no query, e.g. {example}")
    return url


def program_of_url(api_base_url: str) -> str | None:
    """``mpn`` or ``cmp`` when the URL's path ends with it (``.../insights/v1/mpn``), else ``None``."""
    segments = [segment for segment in urlsplit(api_base_url).path.lower().split("/") if segment]
    return segments[-1] if segments and segments[-1] in PROGRAM_BASE_URLS else None


def _program(options: Mapping[str, Any]) -> str:
    """The program named in the extra, else the one ``api_base_url`` points to, else ``mpn``."""
    given = (_text(options.get("program")) or "").lower()
    url = _text(options.get("api_base_url")) or ""
    from_url = program_of_url(url) if url else None
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
    return from_url or DEFAULT_PROGRAM


def _as_verify(value: Any) -> bool | str:
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in TRUE_WORDS:
        return True
    if text.lower() in FALSE_WORDS:
        return False
    if os.path.exists(text):
        return text
    words = [*TRUE_WORDS, *FALSE_WORDS]
    if not any(sep in text for sep in "/\\.") or difflib.get_close_matches(text.lower(), words, n=1):
        raise _refuse("verify", value, f"true or false ({', '.join(words)}), or the path of a CA bundle")
    raise PartnerInsightsConfigError(
        f"verify: {text!r} does not exist; give the path of a CA bundle (PEM file or directory), true or false"
    )


def check_extra_keys(options: Mapping[str, Any]) -> None:
    """Refuse a key :data:`EXTRA_FIELDS` does not name, suggesting the closest known one.

    :param options: the parsed extra.
    :raises PartnerInsightsConfigError: naming the first unknown key, the closest known key and every allowed key.
    """
    for key in options:
        if key in EXTRA_FIELD_NAMES:
            continue
        # Airflow 2's form saved keys as extra__<conn type>__<name>: suggest the bare name.
        bare = str(key).removeprefix(f"extra__{CONN_TYPE}__").strip().lower()
        close = difflib.get_close_matches(bare, EXTRA_FIELD_NAMES, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PartnerInsightsConfigError(
            f"extra: unknown key {key!r}{hint}. Allowed keys: {', '.join(EXTRA_FIELD_NAMES)}"
        )


def parse_extra(extra: str | Mapping[str, Any] | None) -> dict[str, Any]:
    """Parse a connection's ``extra`` (a JSON string, a mapping or nothing) into a dict.

    :param extra: the connection's extra.
    :raises PartnerInsightsConfigError: if it is not a JSON object or has a key :data:`EXTRA_FIELDS` does not name.
    """
    if not extra:
        return {}
    if isinstance(extra, Mapping):
        parsed: Any = dict(extra)
    else:
        try:
            parsed = json.loads(extra)
        except ValueError as err:
            raise PartnerInsightsConfigError("extra: the connection's extra is not valid JSON") from err
    if not isinstance(parsed, dict):
        raise PartnerInsightsConfigError("extra: the connection's extra must be a JSON object")
    check_extra_keys(parsed)
    return parsed


def _infer_auth_type(options: Mapping[str, Any]) -> str:
    if _text(options.get("refresh_token")):
        return "refresh_token"
    if _text(options.get("username")) or _text(options.get("user_password")):
        return "password"
    return "client_credentials"


def _auth_type(options: Mapping[str, Any], program: str) -> str:
    """The auth type the extra names, else the one its secrets imply; checked against what it needs."""
    given = (_text(options.get("auth_type")) or "").lower()
    auth_type = given or _infer_auth_type(options)
    if auth_type not in AUTH_TYPES:
        raise PartnerInsightsConfigError(f"auth_type: {auth_type!r} is not one of {', '.join(AUTH_TYPES)}")
    if not given and auth_type == "client_credentials" and program == "mpn":
        # App-only tokens get 401/403 from Partner Insights, a confusing failure on the first request.
        raise PartnerInsightsConfigError(
            "auth_type: Partner Insights (program mpn) needs App+User tokens, but this connection has only the "
            "app's credentials, so auth_type would be client_credentials (app-only). Sign a user holding the "
            f"Executive Report Viewer role in once with `{BOOTSTRAP_COMMAND}` and store the connection it prints "
            '(auth_type refresh_token); or set "auth_type": "client_credentials" to use app-only tokens anyway'
        )
    if auth_type == "password" and not (_text(options.get("username")) and _text(options.get("user_password"))):
        raise PartnerInsightsConfigError("username, user_password: both are required for auth_type 'password'")
    if auth_type == "refresh_token" and not _text(options.get("refresh_token")):
        raise PartnerInsightsConfigError("refresh_token: required for auth_type 'refresh_token'")
    return auth_type


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
        :raises PartnerInsightsConfigError: naming the first field that is missing or wrong.
        """
        options = parse_extra(extra)
        tenant_id = _text(options.get("tenant_id"))
        if not tenant_id:
            raise PartnerInsightsConfigError("tenant_id: the connection's extra must name the Entra ID tenant")
        client_id = _text(login)
        if not client_id:
            raise PartnerInsightsConfigError("login: the connection must give the client (application) id")
        client_secret = _text(password)
        if not (client_secret or _text(options.get("certificate_path")) or _text(options.get("certificate_data"))):
            raise PartnerInsightsConfigError(
                "password: give the client secret, or certificate_path / certificate_data in the extra"
            )
        program = _program(options)
        auth_type = _auth_type(options, program)
        default_scope = APP_SCOPE if auth_type == "client_credentials" else USER_SCOPE
        return cls(
            tenant_id=tenant_id,
            client_id=client_id,
            auth_type=auth_type,
            program=program,
            api_base_url=_as_https_url(
                options.get("api_base_url"),
                PROGRAM_BASE_URLS[program],
                name="api_base_url",
                example=PROGRAM_BASE_URLS[program],
            ),
            authority_host=_as_https_url(
                options.get("authority_host"),
                DEFAULT_AUTHORITY_HOST,
                name="authority_host",
                example=DEFAULT_AUTHORITY_HOST,
            ),
            scopes=tuple(_as_list(options.get("scopes")) or [default_scope]),
            client_secret=client_secret,
            **cls._optional_parts(options),
        )

    @staticmethod
    def _optional_parts(options: Mapping[str, Any]) -> dict[str, Any]:
        """The settings of the extra that have defaults, read and checked."""
        return {
            "username": _text(options.get("username")),
            "user_password": _text(options.get("user_password")),
            "refresh_token": _text(options.get("refresh_token")),
            "certificate_path": _text(options.get("certificate_path")),
            "certificate_data": _text(options.get("certificate_data")),
            "certificate_thumbprint": _text(options.get("certificate_thumbprint")),
            "verify": _as_verify(options.get("verify")),
            "allowed_download_hosts": tuple(
                _as_list(options.get("allowed_download_hosts")) or DEFAULT_ALLOWED_DOWNLOAD_HOSTS
            ),
            "timeout": float(
                _as_number(
                    options.get("timeout"),
                    DEFAULT_TIMEOUT,
                    name="timeout",
                    convert=float,
                    in_range=lambda seconds: 0 < seconds <= MAX_TIMEOUT,
                    allowed=f"a number of seconds, more than 0 and at most {MAX_TIMEOUT:g}, e.g. {DEFAULT_TIMEOUT:g}",
                )
            ),
            "max_retries": int(
                _as_number(
                    options.get("max_retries"),
                    DEFAULT_MAX_RETRIES,
                    name="max_retries",
                    convert=int,
                    in_range=lambda retries: 0 <= retries <= MAX_MAX_RETRIES,
                    allowed=f"a whole number of retries from 0 to {MAX_MAX_RETRIES}, e.g. {DEFAULT_MAX_RETRIES}",
                )
            ),
            "proxies": _as_proxies(options.get("proxies")),
        }

    @property
    def authority(self) -> str:
        """The tenant's authority URL, e.g. ``https://login.microsoftonline.com/<tenant>``."""
        return f"{self.authority_host}/{self.tenant_id}"

    @property
    def identity_key(self) -> str:
        """The key of everything that changes behaviour: the token providers' (and any settings cache's) key.

        Two connections share a key, hence one token provider and one cached token, only when they
        are identical in every setting: authority, client, grant, user, scopes, every credential, and
        TLS, proxies, timeout, retries and the API's URL. A connection whose ``verify`` was fixed, or
        one that shares a client id with another but not its proxies, gets its own entry. Values
        enter only as a digest (secrets and proxy URLs included), so the key can be logged safely.
        """
        values = [
            sorted(value.items()) if isinstance(value, Mapping) else value
            for value in (getattr(self, item.name) for item in dataclasses.fields(self))
        ]
        digest = hashlib.sha256(json.dumps(values, default=str).encode()).hexdigest()[:32]
        return "|".join((self.authority, self.client_id, self.auth_type, digest))

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value held, for masking and for leak checks."""
        return tuple(
            value
            for value in (self.client_secret, self.user_password, self.refresh_token, self.certificate_data)
            if value
        )
