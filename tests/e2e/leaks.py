"""The credentials that must never be stored or logged, and a scanner for them.

The sandbox's own credentials are known exactly; the tokens it mints and the secure links it signs
are recognised by their shape: ``sbx1.<claims>.<signature>`` access tokens,
``sandbox-refresh-token.<random>`` refresh tokens, and a ``sig=`` query parameter with a value that
is not a mask (Airflow's ``***``).
"""

from __future__ import annotations

import re
from pathlib import Path

from airflow_provider_insights.sandbox import credentials

SECRET_LITERALS = {
    "client secret": credentials.CLIENT_SECRET,
    "password": credentials.USER_PASSWORD,
    "refresh token": credentials.REFRESH_TOKEN,
}
SECRET_PATTERNS = {
    "refresh token": re.compile(r"sandbox-refresh-token\.[\w-]{8,}"),
    "access token": re.compile(r"\bsbx1\.[\w-]{16,}\.[\w-]{8,}"),
    "SAS signature": re.compile(r"[?&;]sig=(?!\*{3})[^&\s\"'<>]+"),
}
SECRET_KINDS = ("client secret", "password", "refresh token", "access token", "SAS signature")


def find_secrets(text: str) -> list[str]:
    """The kinds of credential present in ``text`` (empty when clean).

    :param text: any text: a log, a table's rows, decrypted trigger kwargs.
    """
    kinds = {kind for kind, value in SECRET_LITERALS.items() if value in text}
    kinds |= {kind for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)}
    return sorted(kinds)


def scan_texts(texts: dict[str, str]) -> dict[str, list[str]]:
    """Where credentials were found: source name -> kinds.

    :param texts: source name (a table, a file) -> its text.
    """
    found = {name: find_secrets(text) for name, text in texts.items()}
    return {name: kinds for name, kinds in found.items() if kinds}


def read_logs(paths: list[Path]) -> dict[str, str]:
    """Log files' text (undecodable bytes replaced: a leak in binary noise still shows).

    :param paths: the files.
    """
    return {str(path): path.read_bytes().decode("utf-8", "replace") for path in paths}
