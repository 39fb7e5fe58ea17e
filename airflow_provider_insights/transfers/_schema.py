"""The schema guard: a report file's header against its query's columns, and the Parquet schema.

The columns a file should have are those its report's query selects (``Report.query``, parsed by
the query builder): the service writes them in that order. Names compare case-insensitively, as
the query language does (a query may say ``customername``; the file says ``CustomerName``).

Parquet output takes its schema from the query, not from each file's header: every run of the same
query writes the same schema (every column a string, named as the query names it, in its order),
so a table over many runs' files reads as one. A file whose header drifted (allowed with
``on_schema_change="warn"``) is conformed to it: a missing column is written as nulls, an added one
is left out, a moved one is put back in its place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_insights.exceptions import PartnerInsightsSchemaChangeError, PartnerInsightsValidationError

if TYPE_CHECKING:
    from airflow_provider_insights.models import Report

#: What ``on_schema_change`` accepts: refuse the file, log and go on, or not compare at all.
ON_SCHEMA_CHANGE = ("fail", "warn", "ignore")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchemaChange:
    """How a header differs from the query's columns (each empty when it does not).

    :param added: columns in the file that the query does not select, in file order.
    :param removed: columns the query selects that the file lacks, in query order.
    :param moved: columns in both whose order differs, in query order.
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.moved)

    def to_dict(self) -> dict[str, list[str]]:
        """The JSON form put in the result and the asset event."""
        return {"added": list(self.added), "removed": list(self.removed), "moved": list(self.moved)}

    def describe(self) -> str:
        """``added [X]; removed [Y]; moved [Z]``, naming only what changed."""
        parts = [f"{what} {list(names)}" for what, names in self.to_dict().items() if names]
        return "; ".join(parts) or "no change"


def compare_columns(expected: Sequence[str], header: Sequence[str]) -> SchemaChange:
    """Compare a file's header with the query's columns.

    :param expected: the query's columns, in order.
    :param header: the file's column names, in order.
    """
    wanted = {name.lower() for name in expected}
    present = {name.lower() for name in header}
    shared_expected = [name for name in expected if name.lower() in present]
    shared_header = [name.lower() for name in header if name.lower() in wanted]
    return SchemaChange(
        added=tuple(name for name in header if name.lower() not in wanted),
        removed=tuple(name for name in expected if name.lower() not in present),
        moved=tuple(name for name, seen in zip(shared_expected, shared_header, strict=False) if name.lower() != seen),
    )


def query_columns(report: Report) -> tuple[str, ...] | None:
    """The columns the report's query selects; ``None`` when the service did not say or it cannot be read.

    :param report: the report, as the service lists it.
    """
    from airflow_provider_insights.query_builder import parse_query

    if not report.query:
        return None
    try:
        return parse_query(report.query).columns
    except PartnerInsightsValidationError:
        log.warning("The query of report %s could not be read; its file's columns are not checked", report.report_id)
        return None


def check_on_schema_change(value: Any) -> str:
    """Return the checked ``on_schema_change`` value.

    :param value: the rendered argument.
    :raises PartnerInsightsValidationError: naming ``on_schema_change``.
    """
    policy = str(value).lower() if isinstance(value, str) else value
    if policy not in ON_SCHEMA_CHANGE:
        raise PartnerInsightsValidationError(
            "on_schema_change", f"{value!r} is not supported", allowed=ON_SCHEMA_CHANGE
        )
    return str(policy)


class SchemaGuard:
    """Checks a header against the query's columns and applies the ``on_schema_change`` policy.

    :param expected: the query's columns, or ``None`` to check nothing (unknown query, ``ignore``).
    :param policy: one of :data:`ON_SCHEMA_CHANGE`.
    :param label: what is checked, for messages (``report R execution E``).
    """

    def __init__(self, expected: Sequence[str] | None, policy: str, label: str) -> None:
        self.expected = tuple(expected) if expected is not None and policy != "ignore" else None
        self.policy = policy
        self.label = label
        self.change: SchemaChange | None = None

    def check(self, header: Sequence[str]) -> None:
        """Compare ``header``; raise on a change under ``fail``, log it under ``warn``.

        :param header: the file's column names.
        :raises PartnerInsightsSchemaChangeError: the header differs and the policy is ``fail``.
        """
        if self.expected is None:
            return
        change = compare_columns(self.expected, header)
        if not change:
            return
        self.change = change
        text = f"{self.label}: the file's columns differ from the query's: {change.describe()}"
        if self.policy == "fail":
            raise PartnerInsightsSchemaChangeError(f"{text}; nothing was written (on_schema_change='fail')", change)
        log.warning("%s; written anyway (on_schema_change='warn')", text)

    def check_column(self, field: str, column: str) -> None:
        """Refuse an option naming a column the query does not select (when the query is known).

        :param field: the option, named in the error.
        :param column: the column it names.
        """
        if self.expected is not None and column.lower() not in {name.lower() for name in self.expected}:
            raise PartnerInsightsValidationError(
                field, f"{column!r} is not a column of the report's query", allowed=self.expected
            )

    def record(self, result: dict[str, Any]) -> None:
        """Put the change found, if any, in the transfer's result.

        :param result: the result being built.
        """
        if self.change:
            result["schema_change"] = self.change.to_dict()


def parquet_output(pa: Any, file_schema: Any, columns: Sequence[str] | None) -> tuple[Any, Callable[[Any], Any]]:
    """The schema to write and how to conform each record batch read from the file to it.

    :param pa: the ``pyarrow`` module.
    :param file_schema: the schema read from the file's header (every column a string).
    :param columns: the query's columns; ``None`` keeps the file's own schema.
    """
    if columns is None:
        return file_schema, lambda batch: batch
    schema = pa.schema([pa.field(name, pa.string()) for name in columns])
    in_file = {name.lower(): index for index, name in enumerate(file_schema.names)}

    def conform(batch: Any) -> Any:
        arrays = [
            batch.column(in_file[name.lower()]) if name.lower() in in_file else pa.nulls(batch.num_rows, pa.string())
            for name in columns
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    return schema, conform
