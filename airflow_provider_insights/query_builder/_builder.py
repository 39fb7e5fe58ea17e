"""The builder: :class:`InsightsQuery`, a query assembled from parts in Python.

Owns the shorthand accepted for filters and sort keys (tuples, ``"column ASC"`` strings) and the
immutable, fluent copies (``where``, ``order``, ``with_limit``, ``with_timespan``). The parts
themselves are checked by :class:`ParsedQuery`, which the builder wraps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeAlias

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.query_builder._parsed import Filter, ParsedQuery
from airflow_provider_insights.query_builder._parser import parse_query
from airflow_provider_insights.query_builder._vocabulary import DEFAULT_DIRECTION

FilterSpec: TypeAlias = Filter | tuple[str, str, Any]
OrderSpec: TypeAlias = str | tuple[str, str]


class InsightsQuery:
    """Build a query from parts; it renders valid, canonically quoted text.

    Inputs are checked at construction, so a bad operator or a list with ``=`` fails where it was
    written rather than at the service. Instances are immutable: the fluent methods return copies.

    >>> InsightsQuery(dataset="DynamicsUsage", columns=["SKU", "TotalSoldSeats"]).where(
    ...     "SKU", "like", "%Dynamics%").to_text()
    "SELECT SKU, TotalSoldSeats FROM DynamicsUsage WHERE SKU LIKE '%Dynamics%'"

    :param dataset: the dataset to read.
    :param columns: the columns and metrics to select.
    :param filters: ``Filter`` objects or ``(column, operator, value)`` tuples, joined by AND.
    :param order_by: column names (sorted DESC, the service's default) or ``(column, "ASC"|"DESC")``.
    :param limit: the maximum number of rows, or ``None``.
    :param timespan: one of :data:`TIMESPANS` (any case), or ``None`` for the service's 6 months.
    :param distinct: whether to ``SELECT DISTINCT``.
    """

    def __init__(
        self,
        *,
        dataset: str,
        columns: Iterable[str],
        filters: Iterable[FilterSpec] = (),
        order_by: Iterable[OrderSpec] = (),
        limit: int | None = None,
        timespan: str | None = None,
        distinct: bool = False,
    ):
        self._parsed = ParsedQuery(
            dataset=dataset,
            columns=tuple(columns) if not isinstance(columns, str) else (columns,),
            distinct=bool(distinct),
            filters=tuple(_as_filter(spec) for spec in filters),
            order_by=tuple(_as_order_key(spec) for spec in order_by),
            limit=limit,
            timespan=timespan,
        )

    @classmethod
    def from_parsed(cls, parsed: ParsedQuery) -> InsightsQuery:
        """Wrap a parsed query, e.g. to add a filter to an existing (system) query.

        :param parsed: the result of :func:`parse_query`.
        """
        instance = cls.__new__(cls)
        instance._parsed = parsed
        return instance

    @classmethod
    def from_text(cls, text: str) -> InsightsQuery:
        """Parse query text into a builder.

        :param text: the query text.
        """
        return cls.from_parsed(parse_query(text))

    @property
    def dataset(self) -> str:
        """The dataset read."""
        return self._parsed.dataset

    @property
    def columns(self) -> tuple[str, ...]:
        """Selected columns and metrics."""
        return self._parsed.columns

    @property
    def distinct(self) -> bool:
        """Whether ``SELECT DISTINCT`` is used."""
        return self._parsed.distinct

    @property
    def filters(self) -> tuple[Filter, ...]:
        """The ``WHERE`` conditions."""
        return self._parsed.filters

    @property
    def order_by(self) -> tuple[tuple[str, str], ...]:
        """``(column, direction)`` pairs."""
        return self._parsed.order_by

    @property
    def limit(self) -> int | None:
        """The ``LIMIT`` or ``None``."""
        return self._parsed.limit

    @property
    def timespan(self) -> str | None:
        """The ``TIMESPAN`` keyword or ``None``."""
        return self._parsed.timespan

    def where(self, column: str, operator: str, value: Any) -> InsightsQuery:
        """Return a copy with one more ``AND`` condition.

        :param column: the column or metric to filter on.
        :param operator: one of :data:`OPERATORS` (any case).
        :param value: a scalar, or a list for ``IN``/``NOT IN``.
        """
        return self._with(filters=(*self.filters, Filter(column, operator, value)))

    def order(self, column: str, direction: str = DEFAULT_DIRECTION) -> InsightsQuery:
        """Return a copy with one more sort key.

        :param column: the column or metric to sort on.
        :param direction: ``ASC`` or ``DESC``.
        """
        return self._with(order_by=(*self.order_by, (column, direction)))

    def with_limit(self, limit: int | None) -> InsightsQuery:
        """Return a copy with another ``LIMIT``.

        :param limit: a positive integer or ``None``.
        """
        return self._with(limit=limit)

    def with_timespan(self, timespan: str | None) -> InsightsQuery:
        """Return a copy with another ``TIMESPAN``.

        :param timespan: one of :data:`TIMESPANS` or ``None``.
        """
        return self._with(timespan=timespan)

    def to_parsed(self) -> ParsedQuery:
        """The query's parts as a :class:`ParsedQuery`."""
        return self._parsed

    def to_text(self) -> str:
        """Render the query text."""
        return self._parsed.to_text()

    def _with(self, **changes: Any) -> InsightsQuery:
        return InsightsQuery.from_parsed(dataclasses.replace(self._parsed, **changes))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InsightsQuery) and other._parsed == self._parsed

    def __hash__(self) -> int:
        return hash(self._parsed)

    def __repr__(self) -> str:
        return f"InsightsQuery({self.to_text()!r})"

    def __str__(self) -> str:
        return self.to_text()


def _as_filter(spec: FilterSpec) -> Filter:
    if isinstance(spec, Filter):
        return spec
    if isinstance(spec, (tuple, list)) and len(spec) == 3:
        return Filter(*spec)
    raise PartnerInsightsValidationError("filters", f"expected a Filter or (column, operator, value), got {spec!r}")


def _as_order_key(spec: OrderSpec) -> tuple[str, str]:
    if isinstance(spec, str):
        column, _, direction = spec.strip().partition(" ")
        return column, direction.strip() or DEFAULT_DIRECTION
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return spec[0], spec[1] or DEFAULT_DIRECTION
    raise PartnerInsightsValidationError("order_by", f"expected a column or (column, direction), got {spec!r}")
