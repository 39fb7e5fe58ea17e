"""CSV/TSV -> Parquet on the fly, in bounded memory, with one schema for every row group.

pyarrow's streaming CSV reader (``pyarrow.csv.open_csv``) pulls from a file-like view of the
decoded download; each record batch becomes a row group. Every column is read as a string: the
Insights API gives no types, and a type guessed from the first block could be contradicted by a
later one (a numeric-looking id that later has letters), which would fail half-way. The header is
read first (with the csv module, so quoted names work) to pin those string types by name.

pyarrow is an optional dependency (the ``parquet`` extra): it is imported when a conversion
starts, with an error saying how to install it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from airflow_provider_insights.exceptions import PartnerInsightsConfigError, PartnerInsightsValidationError

#: CSV bytes pyarrow parses at a time (one record batch): big enough for its parallel parser.
CSV_BLOCK_BYTES = 4 << 20
# Arrow bytes gathered before a row group is written: readers want row groups of megabytes, not
# one per CSV block, and memory stays bounded by this (not by the report).
ROW_GROUP_BYTES = 32 << 20


def import_pyarrow() -> tuple[Any, Any, Any]:
    """Return ``(pyarrow, pyarrow.csv, pyarrow.parquet)`` or raise a clear error if missing."""
    try:
        import pyarrow
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pa_parquet
    except ImportError as err:
        raise PartnerInsightsConfigError(
            "output_format: 'parquet' needs pyarrow; install it with pip install 'airflow-provider-insights[parquet]'"
        ) from err
    return pyarrow, pa_csv, pa_parquet


class ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what pyarrow's reader pulls from).

    :param chunks: the decoded byte chunks, in order.
    :param head: bytes already taken from ``chunks`` that come first.
    """

    def __init__(self, chunks: Iterator[bytes], head: bytes = b"") -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(head)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes | memoryview:  # type: ignore[override]
        # Every read returns ``size`` bytes unless the stream ends: pyarrow's CSV reader takes each
        # read as one block, and a short block (a small network or gzip chunk, a resume) would make
        # a long row straddle two block boundaries, which it refuses. A view is returned rather
        # than a copy: pyarrow wraps it without copying.
        if size is None or size < 0:
            return b"".join([bytes(self._pending), *self._chunks])
        if len(self._pending) < size:
            self._gather(size)
        piece, self._pending = self._pending[:size], self._pending[size:]
        return piece

    def _gather(self, size: int) -> None:
        parts: list[Any] = [self._pending]
        have = len(self._pending)
        while have < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
            have += len(chunk)
        self._pending = memoryview(b"".join(parts)) if len(parts) > 1 else self._pending

    def readinto(self, buffer: Any) -> int:
        piece = self.read(len(buffer))
        buffer[: len(piece)] = piece
        return len(piece)


def read_header(chunks: Iterator[bytes], delimiter: str) -> tuple[list[str], bytes]:
    """Read the header record from the start of ``chunks``.

    :return: the column names and every byte consumed from ``chunks`` (to be replayed).
    """
    consumed = b""
    search_from = 0
    while True:
        newline = consumed.find(b"\n", search_from)
        if newline >= 0:
            candidate = consumed[: newline + 1]
            # An even number of quotes means the newline is outside any quoted field.
            if candidate.count(b'"') % 2 == 0:
                text = candidate.decode("utf-8-sig")
                return next(csv.reader(io.StringIO(text), delimiter=delimiter)), consumed
            search_from = newline + 1
            continue
        chunk = next(chunks, None)
        if chunk is None:
            if not consumed.strip():
                raise PartnerInsightsValidationError("report", "the report is empty: it has no header row")
            return next(csv.reader(io.StringIO(consumed.decode("utf-8-sig")), delimiter=delimiter)), consumed
        consumed += chunk


def convert_to_parquet(
    chunks: Iterator[bytes],
    target: Any,
    *,
    delimiter: str = ",",
    block_size: int = CSV_BLOCK_BYTES,
    row_group_bytes: int = ROW_GROUP_BYTES,
    columns: Sequence[str] | None = None,
) -> int:
    """Convert decoded CSV/TSV ``chunks`` into Parquet written to ``target``.

    :param chunks: the decoded report bytes, in order (header first).
    :param target: a writable binary file the Parquet bytes go to (a ``HashingWriter`` over the
        staged upload: it hashes them, and pyarrow closing it does not publish anything).
    :param delimiter: ``","`` for CSV, ``"\\t"`` for TSV.
    :param block_size: CSV bytes parsed at a time (one record batch).
    :param row_group_bytes: Arrow bytes gathered into one row group (the last may be smaller).
    :param columns: the query's columns: the schema written, whatever the header (see
        ``_schema.parquet_output``); ``None`` writes the header's.
    :return: the number of rows written.
    """
    pa, pa_csv, pa_parquet = import_pyarrow()
    names, head = read_header(chunks, delimiter)
    reader = pa_csv.open_csv(
        ChunkReader(chunks, head),
        read_options=pa_csv.ReadOptions(block_size=block_size, use_threads=True),
        parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    from airflow_provider_insights.transfers._schema import parquet_output

    schema, conform = parquet_output(pa, reader.schema, columns)
    rows = 0
    pending: list[Any] = []
    pending_bytes = 0
    with pa_parquet.ParquetWriter(target, schema, compression="snappy") as writer:
        for batch in map(conform, reader):
            pending.append(batch)
            pending_bytes += batch.nbytes
            rows += batch.num_rows
            if pending_bytes >= row_group_bytes:
                _write_row_group(pa, writer, pending)
                pending, pending_bytes = [], 0
        if pending:
            _write_row_group(pa, writer, pending)
    return rows


def _write_row_group(pa: Any, writer: Any, batches: list[Any]) -> None:
    """Write ``batches`` (same schema) as one row group; the table only references them."""
    table = pa.Table.from_batches(batches)
    writer.write_table(table, row_group_size=table.num_rows)
