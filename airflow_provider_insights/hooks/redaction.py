"""Every rule that keeps a secret out of what the provider shows: the one home of redaction.

It owns what counts as a secret and how it is hidden wherever text leaves the provider:

* URLs: :func:`redact_url` (scheme, host and path only: for secure links and logs),
  :func:`redact_secret_params` (the query kept, credential values hidden: what API errors show)
  and :func:`redact_setting_url` (a configured URL that may not even parse);
* free text (error bodies, exception messages): :func:`scrub_text` (credential-looking parts),
  :func:`scrub_secrets` (the connection's own secrets), :func:`describe_exception` and
  :func:`safe_message`;
* library logs: :class:`RedactUrlQueriesFilter` on urllib3's loggers;
* Airflow's log masker: :func:`mask`, :func:`amask` and friends register runtime secrets (once per
  value per process; Airflow recompiles its pattern on every new value), and
  :func:`mask_secure_link` registers a secure link and its signature.

Nothing here does I/O beyond handing values to Airflow's masker.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

log = logging.getLogger(__name__)

#: How much of a message taken from outside (an error body, an exception) is shown.
MAX_ERROR_TEXT = 300
#: Airflow's masker ignores shorter values (and warns in the task log): they would hide ordinary words.
MIN_MASKED_LENGTH = 5
#: A secure link's query values at least this long are registered with the masker; shorter ones
#: (``sv=2021``, ``sp=r``) are not secret and would mask ordinary words in logs.
MIN_MASKED_LINK_VALUE_LENGTH = 16
#: SAS query parameters that say what a link allows and when, not how it is signed. URLs we show
#: still hide them with the rest of the SAS (``SECRET_QUERY_PARAMS``), but they are not registered
#: with Airflow's masker: their values are timestamps and versions that would hide every matching
#: time in the task log, and each value registered recompiles the masker's pattern.
PUBLIC_SAS_PARAMS = frozenset({"sv", "st", "se", "sp", "sr", "spr", "srt", "ss", "skt", "ske", "skv", "sks"})

#: Query parameters whose values are credentials: SAS signatures and their signed fields, OAuth
#: codes and tokens, passwords.
SECRET_QUERY_PARAMS = frozenset(
    {
        "sig",
        "signature",
        "code",
        "client_secret",
        "password",
        "client_assertion",
        "assertion",
        "sv",
        "se",
        "st",
        "sp",
        "spr",
        "sr",
        "srt",
        "ss",
        "si",
        "sip",
        "skoid",
        "sktid",
        "skt",
        "ske",
        "sks",
        "skv",
    }
)
#: Any parameter whose name contains one of these is taken as a credential too.
_SECRET_NAME_PARTS = ("token", "secret", "password", "signature", "key")
_REDACTED = "<redacted>"

_SECRET_PARAM = re.compile(
    r"(?i)\b(sig|signature|token|access_token|refresh_token|id_token|code|client_secret|password|"
    r"client_assertion|assertion|sv|se|sp|skoid|sktid)=([^&\s\"'<>]+)"
)
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]+=*")
_URL_QUERY = re.compile(r"(https?://[^\s?#\"'<>]+)\?[^\s#\"'<>]*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")


# --------------------------------------------------------------------------------------------
# URLs
# --------------------------------------------------------------------------------------------


def redact_url(url: str) -> str:
    """Keep ``scheme://host[:port]/path`` of a URL: the query string (a SAS signature...) is dropped.

    :param url: any URL.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if not parts.scheme:
        return parts.path
    return f"{parts.scheme}://{_host_and_port(parts)}{parts.path}"


def redact_setting_url(url: str) -> str:
    """A URL from the settings as an error may show it, even when it does not parse: as written,
    without user name, password, query or fragment (a malformed port or scheme stays visible).

    :param url: a configured URL (proxy, base URL), possibly malformed.
    """
    text = str(url).strip().split("#", 1)[0].split("?", 1)[0]
    head, at, host_and_path = text.rpartition("@")
    if not at:
        return text
    scheme, separator, _user_info = head.partition("://")
    # Without "://" nothing tells where the user info starts: all of it goes.
    return f"{scheme}{separator}{host_and_path}" if separator else f"***@{host_and_path}"


def _host_and_port(parts: Any) -> str:
    """``host[:port]`` without any user name or password."""
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def is_secret_param(name: str) -> bool:
    """Whether a query parameter's value is a credential (see :data:`SECRET_QUERY_PARAMS`).

    :param name: the parameter's name, any casing.
    """
    lowered = name.strip().lower()
    return lowered in SECRET_QUERY_PARAMS or any(part in lowered for part in _SECRET_NAME_PARTS)


def redact_secret_params(url: str) -> str:
    """A URL as an error may show it: its query kept, the value of every credential parameter hidden.

    ``executionStatus=Pending&getLatestExecution=false`` stays readable, so an error says what was
    asked. A signed URL (one with ``sig``: a secure link) loses its whole query, and so does a query
    that cannot be read: no part of a SAS query is ever shown. User info is always dropped.

    :param url: any URL.
    """
    try:
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return redact_url(url)
    base = redact_url(url)
    if not parts.query:
        return base
    if not pairs or any(name.strip().lower() == "sig" for name, _value in pairs):
        return f"{base}?{_REDACTED}"
    shown = [(name, _REDACTED if is_secret_param(name) else value) for name, value in pairs]
    # The query text is rebuilt from the kept pairs, readable (';' and ',' left as the API shows them).
    query = "&".join(f"{name}={value}" for name, value in shown)
    return urlunsplit((parts.scheme, _host_and_port(parts), parts.path, query, ""))


# --------------------------------------------------------------------------------------------
# Free text
# --------------------------------------------------------------------------------------------


def scrub_text(text: str) -> str:
    """Remove anything that looks like a credential from free text (an error body, an exception).

    Query strings of URLs go entirely, then named credential parameters, bearer tokens and JWTs.

    :param text: the text to clean.
    """
    text = _URL_QUERY.sub(rf"\1?{_REDACTED}", text)
    text = _SECRET_PARAM.sub(rf"\1={_REDACTED}", text)
    text = _BEARER.sub(f"Bearer {_REDACTED}", text)
    return _JWT.sub("<redacted-jwt>", text)


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """Replace every known secret (the connection's own) in ``text`` by ``***``.

    :param text: text that came from outside (an error description).
    :param secrets: the values to hide.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def shorten(text: str) -> str:
    """Cut a message taken from outside to :data:`MAX_ERROR_TEXT` characters.

    :param text: the message.
    """
    return text[:MAX_ERROR_TEXT] + "..." if len(text) > MAX_ERROR_TEXT else text


def describe_exception(error: BaseException) -> str:
    """A one-line, credential-free description of a transport exception.

    :param error: the exception.
    """
    detail = shorten(scrub_text(str(error)).strip())
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def safe_message(error: BaseException, secrets: Iterable[str] = ()) -> str:
    """What may be shown of any error: the provider's own messages as they are, others described.

    Both are scrubbed of credential-looking text and of ``secrets``.

    :param error: the error.
    :param secrets: the connection's secrets, if known.
    """
    from airflow_provider_insights.exceptions import PartnerInsightsError

    text = str(error) if isinstance(error, PartnerInsightsError) else describe_exception(error)
    return scrub_secrets(scrub_text(text), secrets) or type(error).__name__


# --------------------------------------------------------------------------------------------
# Library logs
# --------------------------------------------------------------------------------------------

# urllib3 logs every request line, query string included, at DEBUG: a secure link's signature.
URL_LOGGING_LIBRARIES = ("urllib3.connectionpool", "urllib3.connection", "urllib3.response")


class RedactUrlQueriesFilter(logging.Filter):
    """Rewrites a library's log records so that no URL keeps its query string (a SAS signature).

    Airflow's masker hides registered values in task logs, but only where its handlers run; this
    removes the signature at the source, for every handler.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the record's message in place; never drops it.

        :param record: the log record.
        """
        message = record.getMessage()
        cleaned = scrub_text(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        return True


_url_filter = RedactUrlQueriesFilter()


def install_url_redaction() -> None:
    """Attach :class:`RedactUrlQueriesFilter` to urllib3's loggers (once)."""
    for name in URL_LOGGING_LIBRARIES:
        library_logger = logging.getLogger(name)
        if _url_filter not in library_logger.filters:
            library_logger.addFilter(_url_filter)


# --------------------------------------------------------------------------------------------
# Airflow's log masker
# --------------------------------------------------------------------------------------------

_masked_digests: set[str] = set()


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _load_masker() -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    """Airflow's ``mask_secret`` and ``amask_secret``, whichever this task SDK has."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - not an Airflow this provider supports
        log.debug("Airflow's mask_secret is not available: secrets are not registered for masking")
        return None, None
    try:
        from airflow.sdk.log import amask_secret
    except ImportError:  # Airflow 3.1: no async variant
        return mask_secret, None
    return mask_secret, amask_secret


def _needs_masking(secret: str | None) -> bool:
    return secret is not None and len(secret) >= MIN_MASKED_LENGTH and _digest(secret) not in _masked_digests


def mask(secret: str | None) -> None:
    """Register a runtime secret with Airflow's log masker (once per value per process).

    :param secret: the token, link or other value to hide from logs.
    """
    if secret is None or not _needs_masking(secret):
        return
    mask_secret, _ = _load_masker()
    if mask_secret is not None:
        mask_secret(secret)
    _masked_digests.add(_digest(secret))


async def amask(secret: str | None) -> None:
    """Async :func:`mask`: in an event loop Airflow wants the async variant (the sync one may block on
    the supervisor channel).

    :param secret: the value to hide from logs.
    """
    if secret is None or not _needs_masking(secret):
        return
    mask_secret, amask_secret = _load_masker()
    if amask_secret is not None:
        await amask_secret(secret)
    elif mask_secret is not None:
        mask_secret(secret)
    _masked_digests.add(_digest(secret))


def mask_all(secrets: Iterable[str]) -> None:
    """:func:`mask` each of ``secrets``.

    :param secrets: the values to hide from logs.
    """
    for secret in secrets:
        mask(secret)


async def amask_all(secrets: Iterable[str]) -> None:
    """:func:`amask` each of ``secrets``.

    :param secrets: the values to hide from logs.
    """
    for secret in secrets:
        await amask(secret)


def forget_masked() -> None:
    """Forget which values were registered (tests reset Airflow's masker between them)."""
    _masked_digests.clear()


def mask_secure_link(link: str) -> None:
    """Hide a secure link from logs: the whole link and each long value of its query string that
    may be a credential (the signature, or a parameter we do not know), not its SAS times.

    :param link: the secure link.
    """
    mask(link)
    query = urlsplit(link).query
    if query:
        for name, value in parse_qsl(query, keep_blank_values=False):
            if len(value) >= MIN_MASKED_LINK_VALUE_LENGTH and name.lower() not in PUBLIC_SAS_PARAMS:
                mask(value)
