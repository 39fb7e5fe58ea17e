"""The one home of every input check that the hook and the operators share.

Each function takes the argument's name (for the error) and the value as a user wrote it (a
template may have rendered it to a string) and returns the normalised value or raises
:class:`~airflow_provider_insights.exceptions.PartnerInsightsValidationError`. Nothing here does
I/O, so operators call these before anything changes remotely.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_insights.exceptions import PartnerInsightsValidationError

#: Report file formats, as the API spells them in a request body.
REPORT_FORMATS = ("CSV", "TSV")
#: Callback methods (documented for ``mpn`` only).
CALLBACK_METHODS = ("GET", "POST")
#: Programs whose documentation lists ``CallbackMethod`` and the test query's time window.
PROGRAMS_WITH_CALLBACK_METHOD = frozenset({"mpn"})
PROGRAMS_WITH_TEST_QUERY_WINDOW = frozenset({"mpn"})


def require_text(field: str, value: Any) -> str:
    """Return ``value`` stripped, or raise naming ``field`` if it is missing or empty.

    :param field: the argument's name.
    :param value: the value (ids and names: a report id, a query name...).
    """
    if value is None or not isinstance(value, (str, int)) or isinstance(value, bool):
        raise PartnerInsightsValidationError(
            field, f"{value!r} is not text", allowed="a non-empty string" if value is not None else None
        )
    text = str(value).strip()
    if not text:
        raise PartnerInsightsValidationError(field, "must not be empty")
    return text


def check_report_format(field: str, value: Any) -> str:
    """The report format, upper case (``CSV`` or ``TSV``).

    :param field: the argument's name.
    :param value: ``csv``/``tsv`` in any case.
    """
    return _upper_choice(field, value, REPORT_FORMATS)


def check_callback_method(field: str, value: Any, *, program: str | None = None) -> str:
    """The callback method, upper case; refused for a program whose docs do not list it.

    :param field: the argument's name.
    :param value: ``GET`` or ``POST`` in any case.
    :param program: ``mpn`` or ``cmp``; ``None`` skips the program check.
    """
    if program is not None and program not in PROGRAMS_WITH_CALLBACK_METHOD:
        raise PartnerInsightsValidationError(
            field, f"is not documented for program {program!r}", allowed=sorted(PROGRAMS_WITH_CALLBACK_METHOD)
        )
    return _upper_choice(field, value, CALLBACK_METHODS)


def _upper_choice(field: str, value: Any, allowed: Sequence[str]) -> str:
    """``value`` stripped and upper-cased, if it is one of ``allowed``; else a validation error naming them."""
    text = str(value or "").strip().upper()
    if text not in allowed:
        raise PartnerInsightsValidationError(field, f"{value!r} is not supported", allowed=allowed)
    return text


def check_callback_url(field: str, value: Any, *, program: str | None = None) -> str:
    """An absolute callback URL: http(s), and https for the commercial marketplace (``cmp``).

    :param field: the argument's name.
    :param value: the URL.
    :param program: ``mpn`` or ``cmp``; ``None`` allows http and https.
    """
    url = str(value or "").strip()
    parts = urlsplit(url)
    schemes = ("https",) if program == "cmp" else ("http", "https")
    if parts.scheme not in schemes or not parts.netloc:
        allowed = "an absolute https:// URL" if program == "cmp" else "an absolute http(s):// URL"
        raise PartnerInsightsValidationError(field, f"{url!r} is not accepted", allowed=allowed)
    return url


def optional_int(field: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int | None:
    """A whole number (possibly rendered as text) within bounds; ``None`` stays ``None``.

    :param field: the argument's name.
    :param value: the number, its text, or ``None``.
    :param minimum: the smallest accepted value, if any.
    :param maximum: the largest accepted value, if any.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PartnerInsightsValidationError(field, f"{value!r} is not a whole number")
    try:
        number = value if isinstance(value, int) else int(value.strip())
    except ValueError:
        raise PartnerInsightsValidationError(field, f"{value!r} is not a whole number") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        bounds = f"{minimum if minimum is not None else '-inf'} to {maximum if maximum is not None else 'inf'}"
        raise PartnerInsightsValidationError(field, f"{number} is out of range", allowed=bounds)
    return number


def query_text(field: str, query: Any) -> str:
    """The text of a query given as a string or as a builder with ``to_text()``, spaces collapsed.

    :param field: the argument's name.
    :param query: the query text, or an :class:`~airflow_provider_insights.query_builder.InsightsQuery`.
    """
    if isinstance(query, str):
        text = query
    elif callable(getattr(query, "to_text", None)):
        text = str(query.to_text())
    else:
        raise PartnerInsightsValidationError(
            field, f"{type(query).__name__} is neither text nor a query builder", allowed="str or InsightsQuery"
        )
    text = " ".join(text.split())
    if not text:
        raise PartnerInsightsValidationError(field, "must not be empty")
    return text


def same_query_text(left: str, right: str) -> bool:
    """Whether two query texts are the same query: the language ignores case and spacing.

    :param left: one query's text.
    :param right: the other's.
    """
    return " ".join(left.split()).casefold() == " ".join(right.split()).casefold()
