"""The validator: :func:`validate_query`, the grammar and then the live dataset catalog.

Owns the checks against :class:`~airflow_provider_insights.models.Dataset` objects the caller
fetched (no I/O here): the dataset exists, every column and metric named anywhere belongs to it,
the ``TIMESPAN`` is one it offers, and the result spells names as the catalog does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.models import Dataset
from airflow_provider_insights.query_builder._builder import InsightsQuery
from airflow_provider_insights.query_builder._parsed import ParsedQuery
from airflow_provider_insights.query_builder._parser import parse_query
from airflow_provider_insights.query_builder._vocabulary import closest


def validate_query(
    query: str | InsightsQuery | ParsedQuery,
    dataset: Dataset | None = None,
    catalog: Sequence[Dataset] | None = None,
) -> ParsedQuery:
    """Check a query against the grammar and, when given, the live dataset catalog.

    Names are compared case-insensitively, as the service does. With a dataset, the returned query
    spells the dataset and column names as the catalog does.

    :param query: the query text, a builder, or a parsed query.
    :param dataset: the dataset the query must read; its columns, metrics and date ranges are checked.
    :param catalog: every dataset available (``GET ScheduledDataset``); the query's dataset must be one.
    :raises PartnerInsightsValidationError: ``field`` is ``query`` (grammar), ``dataset`` (unknown
        dataset), ``columns`` (unknown column or metric) or ``timespan`` (range not offered).
    """
    parsed = _parse_any(query)
    target = _resolve_dataset(parsed.dataset, dataset, catalog)
    if target is None:
        return parsed
    _check_columns(parsed, target)
    _check_timespan(parsed, target)
    return _with_catalog_spelling(parsed, target)


def _parse_any(query: str | InsightsQuery | ParsedQuery) -> ParsedQuery:
    if isinstance(query, (InsightsQuery, ParsedQuery)):
        # Re-parse the rendered text: proves the builder emits what the grammar accepts.
        return parse_query(query.to_text())
    return parse_query(query)


def _resolve_dataset(name: str, dataset: Dataset | None, catalog: Sequence[Dataset] | None) -> Dataset | None:
    if catalog is not None:
        found = _find_dataset(name, catalog)
        if dataset is not None and dataset.name.lower() != found.name.lower():
            raise _wrong_dataset(name, dataset)
        return dataset or found
    if dataset is not None and dataset.name.lower() != name.lower():
        raise _wrong_dataset(name, dataset)
    return dataset


def _find_dataset(name: str, catalog: Sequence[Dataset]) -> Dataset:
    for candidate in catalog:
        if candidate.name.lower() == name.lower():
            return candidate
    names = [candidate.name for candidate in catalog]
    raise PartnerInsightsValidationError(
        "dataset", f"unknown dataset {name!r}", allowed=names, suggestions=closest(name, names)
    )


def _wrong_dataset(name: str, dataset: Dataset) -> PartnerInsightsValidationError:
    return PartnerInsightsValidationError(
        "dataset", f"the query reads from {name!r}, not from {dataset.name!r}", allowed=[dataset.name]
    )


def _check_columns(parsed: ParsedQuery, dataset: Dataset) -> None:
    known = {name.lower() for name in dataset.fields}
    unknown = [name for name in parsed.referenced_columns if name.lower() not in known]
    if not unknown:
        return
    suggestions = dict.fromkeys(match for name in unknown for match in closest(name, dataset.fields))
    listed = ", ".join(f"{name!r} ({_clauses_using(parsed, name)})" for name in unknown)
    verb = "is" if len(unknown) == 1 else "are"
    raise PartnerInsightsValidationError(
        "columns",
        f"{listed} {verb} not a column or metric of dataset {dataset.name}",
        allowed=dataset.fields,
        suggestions=suggestions,
    )


def _clauses_using(parsed: ParsedQuery, name: str) -> str:
    uses = {
        "SELECT": name in parsed.columns,
        "WHERE": any(f.column == name for f in parsed.filters),
        "ORDER BY": any(column == name for column, _ in parsed.order_by),
    }
    return ", ".join(clause for clause, used in uses.items() if used)


def _check_timespan(parsed: ParsedQuery, dataset: Dataset) -> None:
    ranges = dataset.available_date_ranges
    # An empty list means the catalog did not say, not that nothing is allowed.
    if parsed.timespan is None or not ranges:
        return
    if parsed.timespan.upper() not in {value.upper() for value in ranges}:
        raise PartnerInsightsValidationError(
            "timespan", f"TIMESPAN {parsed.timespan} is not offered by dataset {dataset.name}", allowed=ranges
        )


def _with_catalog_spelling(parsed: ParsedQuery, dataset: Dataset) -> ParsedQuery:
    spelling = {name.lower(): name for name in dataset.fields}

    def spelled(name: str) -> str:
        return spelling.get(name.lower(), name)

    return dataclasses.replace(
        parsed,
        dataset=dataset.name,
        columns=tuple(spelled(name) for name in parsed.columns),
        filters=tuple(dataclasses.replace(f, column=spelled(f.column)) for f in parsed.filters),
        order_by=tuple((spelled(column), direction) for column, direction in parsed.order_by),
    )
