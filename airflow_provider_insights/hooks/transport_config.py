"""The connection settings every transport depends on: TLS trust (``verify``), proxies, the URL.

It owns the rule that a configuration error is never transient: a CA bundle that does not exist,
cannot be read or holds no certificate, a malformed proxy URL or an unusable base URL raise
:class:`~airflow_provider_insights.exceptions.PartnerInsightsConfigError` naming the field and
its value (a proxy or URL only in redacted form: it may carry a password), instead of failing each
request with a library error that callers would take for a network problem and retry.

Transports call :func:`config_error_for` when a request failed without an answer (so a working
connection never pays for the checks), and :func:`ssl_context_for` builds the async path's TLS
context.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

from airflow_provider_insights.exceptions import PartnerInsightsConfigError
from airflow_provider_insights.hooks.redaction import redact_setting_url

#: Proxy schemes requests (with PySocks) and aiohttp understand.
PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")


def check_verify(verify: bool | str) -> None:
    """Refuse a ``verify`` CA bundle that is missing, unreadable or holds no CA certificate.

    :param verify: True, False or a path to a PEM bundle (file) or a hashed CA directory.
    :raises PartnerInsightsConfigError: naming ``verify`` and the path.
    """
    if isinstance(verify, bool):
        return
    ssl_context_for(verify)


def ssl_context_for(verify: bool | str) -> ssl.SSLContext:
    """The TLS context that matches a ``verify`` setting: default trust, none, or a CA bundle.

    Loading certificates reads files: call it off the event loop.

    :param verify: True, False or a path to a PEM bundle (file or directory).
    :raises PartnerInsightsConfigError: when the path is missing, unreadable or not a CA bundle.
    """
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if verify is True:
        return ssl.create_default_context()
    path = str(verify)
    if not os.path.exists(path):
        raise PartnerInsightsConfigError(f"verify: no CA bundle at {path!r} (no such file or directory)")
    if os.path.isdir(path):
        if not os.access(path, os.R_OK | os.X_OK):
            raise PartnerInsightsConfigError(f"verify: cannot read the CA directory {path!r} (permission denied)")
        return ssl.create_default_context(capath=path)
    try:
        return ssl.create_default_context(cafile=path)
    except ssl.SSLError:
        raise PartnerInsightsConfigError(
            f"verify: {path!r} is not a CA bundle (no PEM certificate could be read from it)"
        ) from None
    except OSError as error:
        raise PartnerInsightsConfigError(f"verify: cannot read the CA bundle {path!r} ({error.strerror})") from None


def check_url(field: str, url: str) -> None:
    """Refuse a URL that names no host or an impossible port, or has another scheme than http(s).

    :param field: the setting it comes from (``api_base_url``, ``authority_host``...).
    :param url: the URL.
    :raises PartnerInsightsConfigError: naming the field and the redacted URL.
    """
    problem = _url_problem(url, schemes=("http", "https"))
    if problem:
        raise PartnerInsightsConfigError(f"{field}: {redact_setting_url(url)!r} {problem}")


def check_proxies(proxies: Mapping[str, str]) -> None:
    """Refuse a proxy URL that cannot be used (no scheme, no host, bad port, unknown scheme).

    :param proxies: proxy URLs by scheme.
    :raises PartnerInsightsConfigError: naming ``proxies`` and the scheme, never the URL's password.
    """
    for scheme, url in proxies.items():
        problem = _url_problem(url, schemes=PROXY_SCHEMES)
        if problem:
            raise PartnerInsightsConfigError(f"proxies: the {scheme!r} proxy {redact_setting_url(url)!r} {problem}")


def _url_problem(url: str, *, schemes: tuple[str, ...]) -> str | None:
    """What makes ``url`` unusable, in words, or ``None``."""
    try:
        parts = urlsplit(str(url).strip())
        port = parts.port
    except ValueError:
        return "is not a valid URL (bad port or brackets)"
    if parts.scheme.lower() not in schemes:
        return f"must start with one of {', '.join(scheme + '://' for scheme in schemes)}"
    if not parts.hostname or any(char.isspace() for char in str(url).strip()):
        return "names no valid host"
    if port == 0:
        return "has port 0"
    return None


def config_error_for(
    url: str, *, url_field: str, verify: bool | str, proxies: Mapping[str, str]
) -> PartnerInsightsConfigError | None:
    """The configuration error that explains a failed request, if the settings are at fault.

    :param url: the URL that was requested.
    :param url_field: the setting the URL comes from, for the message.
    :param verify: the ``verify`` setting used (``True`` to skip the CA check).
    :param proxies: the proxies used.
    """
    try:
        check_url(url_field, url)
        check_proxies(proxies)
        check_verify(verify)
    except PartnerInsightsConfigError as error:
        return error
    return None
