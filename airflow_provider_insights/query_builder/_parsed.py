"""The parsed form of a query: :class:`Filter` and :class:`ParsedQuery`, and their canonical text.

Owns the checks and normalisation of every part (names, operators, values, sort directions, limit,
timespan), done at construction so that any ``ParsedQuery`` renders text that parses again, and
the rendering of values (quotes doubled, numbers never with an exponent). ``IN`` / ``NOT IN`` take
a list, which is refused with any other operator; a list holds only numbers or only strings, as
the grammar's two list kinds do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.query_builder._lexer import is_name_char
from airflow_provider_insights.query_builder._vocabulary import (
    DIRECTIONS,
    LIST_OPERATORS,
    OPERATORS,
    RESERVED,
    TIMESPANS,
    closest,
)

Scalar: TypeAlias = str | int | float | Decimal
FilterValue: TypeAlias = Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class Filter:
    """One ``WHERE`` condition.

    Construction normalises and checks: the operator is upper-cased (``not like`` -> ``NOT LIKE``),
    a float becomes a ``Decimal`` (so it renders without exponent), and a list becomes a tuple.

    :param column: the column or metric filtered on.
    :param operator: one of :data:`OPERATORS`.
    :param value: a string, an int, a float/Decimal, or for ``IN``/``NOT IN`` a non-empty list of
        only strings or only numbers.
    """

    column: str
    operator: str
    value: FilterValue

    def __post_init__(self) -> None:
        _check_name("filters", self.column)
        operator = _normalize_operator(self.operator)
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "value", _normalize_filter_value(self.column, operator, self.value))

    def to_text(self) -> str:
        """Render as query text, e.g. ``SKU IN ('a', 'b')``."""
        return f"{self.column} {self.operator} {_render_value(self.value)}"


@dataclass(frozen=True, kw_only=True)
class ParsedQuery:
    """A query that satisfies the grammar; ``to_text()`` gives its canonical text.

    :param dataset: the dataset read (``FROM``).
    :param columns: selected columns and metrics, in order.
    :param distinct: whether ``SELECT DISTINCT`` was asked for.
    :param filters: the ``WHERE`` conditions, all joined by ``AND``.
    :param order_by: ``(column, "ASC" | "DESC")`` pairs.
    :param limit: the ``LIMIT``, a positive integer, or ``None``.
    :param timespan: the ``TIMESPAN`` keyword (upper case) or ``None`` (the service then uses 6 months).
    """

    dataset: str
    columns: tuple[str, ...]
    distinct: bool = False
    filters: tuple[Filter, ...] = ()
    order_by: tuple[tuple[str, str], ...] = ()
    limit: int | None = None
    timespan: str | None = None

    def __post_init__(self) -> None:
        # Checked here too, so that text rendered from any ParsedQuery always parses again.
        _check_name("dataset", self.dataset)
        object.__setattr__(self, "columns", _checked_columns(self.columns))
        object.__setattr__(self, "filters", _checked_filters(self.filters))
        object.__setattr__(self, "order_by", _checked_order_by(self.order_by))
        _check_limit(self.limit)
        object.__setattr__(self, "timespan", _checked_timespan(self.timespan))

    def to_text(self) -> str:
        """Render the canonical query text (upper-case keywords, explicit sort directions)."""
        parts = ["SELECT DISTINCT" if self.distinct else "SELECT", ", ".join(self.columns), "FROM", self.dataset]
        if self.filters:
            parts += ["WHERE", " AND ".join(condition.to_text() for condition in self.filters)]
        if self.order_by:
            parts += ["ORDER BY", ", ".join(f"{column} {direction}" for column, direction in self.order_by)]
        if self.limit is not None:
            parts += ["LIMIT", str(self.limit)]
        if self.timespan is not None:
            parts += ["TIMESPAN", self.timespan]
        return " ".join(parts)

    @property
    def referenced_columns(self) -> tuple[str, ...]:
        """Every column named anywhere in the query, first mention first, without repeats."""
        names = [*self.columns, *(f.column for f in self.filters), *(column for column, _ in self.order_by)]
        return tuple(dict.fromkeys(names))


def _check_name(field: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise PartnerInsightsValidationError(field, f"expected a non-empty name, got {name!r}")
    if not (name[0].isalpha() or name[0] == "_") or not all(is_name_char(char) for char in name):
        raise PartnerInsightsValidationError(
            field, f"{name!r} is not a valid name", allowed="letters, digits and _, not starting with a digit"
        )
    if name.upper() in RESERVED:
        raise PartnerInsightsValidationError(field, f"{name!r} is a reserved keyword, not a name")
    return name


def _checked_columns(columns: Iterable[str]) -> tuple[str, ...]:
    if isinstance(columns, str):
        raise PartnerInsightsValidationError("columns", f"expected a list of names, got the string {columns!r}")
    names = tuple(columns)
    if not names:
        raise PartnerInsightsValidationError("columns", "select at least one column or metric")
    seen: set[str] = set()
    for name in names:
        _check_name("columns", name)
        if name.lower() in seen:
            raise PartnerInsightsValidationError("columns", f"column {name!r} is selected twice")
        seen.add(name.lower())
    return names


def _checked_filters(filters: Iterable[Filter]) -> tuple[Filter, ...]:
    checked = tuple(filters)
    for condition in checked:
        if not isinstance(condition, Filter):
            raise PartnerInsightsValidationError("filters", f"expected Filter objects, got {condition!r}")
    return checked


def _checked_order_by(order_by: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    checked = []
    for entry in order_by:
        if not (isinstance(entry, tuple) and len(entry) == 2):
            raise PartnerInsightsValidationError("order_by", f"expected (column, direction), got {entry!r}")
        column, direction = entry
        checked.append((_check_name("order_by", column), _checked_direction(direction)))
    return tuple(checked)


def _checked_direction(direction: object) -> str:
    normalized = direction.upper() if isinstance(direction, str) else direction
    if normalized not in DIRECTIONS:
        raise PartnerInsightsValidationError("order_by", f"unknown sort direction {direction!r}", allowed=DIRECTIONS)
    return str(normalized)


def _check_limit(limit: object) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise PartnerInsightsValidationError(
            "limit", f"{limit!r} is not a positive whole number", allowed="1, 2, 3, ..."
        )


def _checked_timespan(timespan: object) -> str | None:
    if timespan is None:
        return None
    normalized = timespan.upper() if isinstance(timespan, str) else ""
    if normalized not in TIMESPANS:
        raise PartnerInsightsValidationError(
            "timespan", f"unknown TIMESPAN {timespan!r}", allowed=TIMESPANS, suggestions=closest(normalized, TIMESPANS)
        )
    return normalized


def _normalize_operator(operator: object) -> str:
    normalized = " ".join(operator.upper().split()) if isinstance(operator, str) else ""
    if normalized == "<>":
        normalized = "!="
    if normalized not in OPERATORS:
        raise PartnerInsightsValidationError("filters", f"unknown operator {operator!r}", allowed=OPERATORS)
    return normalized


def _normalize_filter_value(column: str, operator: str, value: object) -> FilterValue:
    is_list = isinstance(value, (list, tuple, set, frozenset))
    if operator in LIST_OPERATORS:
        if not is_list:
            raise PartnerInsightsValidationError(
                "filters", f"{column} {operator} needs a list of values, got {value!r}", allowed="a list or tuple"
            )
        return _normalize_list(column, operator, value)  # type: ignore[arg-type]
    if is_list:
        raise PartnerInsightsValidationError(
            "filters",
            f"{column} {operator}: a list of values is only allowed with IN or NOT IN",
            allowed=LIST_OPERATORS,
        )
    return _normalize_scalar(column, value)


def _normalize_list(column: str, operator: str, values: Iterable[object]) -> tuple[Scalar, ...]:
    # Sets have no order; sorting keeps the rendered text (and so query names/ids) stable.
    ordered = sorted(values, key=str) if isinstance(values, (set, frozenset)) else list(values)
    if not ordered:
        raise PartnerInsightsValidationError("filters", f"{column} {operator} needs at least one value")
    normalized = tuple(_normalize_scalar(column, item) for item in ordered)
    if len({isinstance(item, str) for item in normalized}) > 1:
        raise PartnerInsightsValidationError(
            "filters", f"{column} {operator}: a list holds only numbers or only strings, not both"
        )
    return normalized


def _normalize_scalar(column: str, value: object) -> Scalar:
    if isinstance(value, bool):
        # True renders as 'True', which matches nothing in columns that hold 0/1 (the empty-result trap).
        raise PartnerInsightsValidationError(
            "filters", f"{column}: booleans are ambiguous here", allowed="0 or 1, or a string"
        )
    if isinstance(value, (str, int)):
        return value
    if isinstance(value, (float, Decimal)):
        if not math.isfinite(value):
            raise PartnerInsightsValidationError("filters", f"{column}: {value!r} is not a finite number")
        return Decimal(repr(value)) if isinstance(value, float) else value
    raise PartnerInsightsValidationError(
        "filters", f"{column}: unsupported value {value!r}", allowed="str, int, float, Decimal"
    )


def _render_value(value: FilterValue) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_render_scalar(item) for item in value) + ")"
    return _render_scalar(value)


def _render_scalar(value: Scalar) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Decimal):
        return format(value, "f")  # never an exponent, which the grammar has no room for
    return str(value)
