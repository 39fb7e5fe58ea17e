"""Deterministic synthetic report files, generated in fixed-size row blocks.

Every block holds ``BLOCK_ROWS`` rows built from one template per report; only a fixed-width block
number changes between blocks (a row's id is that block number followed by the row's index in the
block). So every block has the same byte length, any byte offset maps to a block by division (Range
requests start there without generating what precedes it), and producing a block is one
``bytes.join`` of the template's pieces around the block number: memcpy speed, and memory never
grows with the file size.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

BOM = b"\xef\xbb\xbf"
BLOCK_ROWS = 512
BLOCK_ID_WIDTH = 8
ROW_IN_BLOCK_WIDTH = 4  # BLOCK_ROWS < 10**4
LINE_END = "\r\n"
_SENTINEL = "\x01"  # never needs quoting, never appears in a value
TEXT_POOL = (
    "Contoso Ltd",
    "Zürich AG",
    "東京 Trading 株式会社",
    'O\'Brien, "Ltd"',
    "Line one\nLine two",
    "Fabrikam, Inc.",
    "Müller & Søn",
    'Northwind "North" Traders',
    "São Paulo Comércio",
    "Ωmega Systems",
)
COUNTRY_POOL = ("United States", "Deutschland", "日本", "France", "Schweiz/Suisse", "Brasil", "India")
_NUMBER_HINTS = (
    "count",
    "seats",
    "revenue",
    "usage",
    "acr",
    "usd",
    "amount",
    "units",
    "quantity",
    "percent",
    "charge",
    "visits",
    "price",
    "threshold",
    "aggregate",
    "users",
    "minutes",
    "rate",
    "score",
    "getitnow",
    "contactme",
    "testdrive",
    "freetrial",
    "duration",
    "estimated",
    "offset",
    "cc",
    "pc",
)


def column_kind(name: str, metrics: Sequence[str] = ()) -> str:
    """Guess a column's kind from its name: id, mpnid, date, bool, number, country or text.

    :param name: the column name.
    :param metrics: the dataset's metrics (always numbers).
    """
    lower = name.lower()
    if name in metrics:
        return "number"
    if "mpnid" in lower or lower == "resellermpnid":
        return "mpnid"
    if lower.endswith("id") or lower.endswith("tpid") or "correlationid" in lower:
        return "id"
    if "date" in lower or "month" in lower or lower.endswith("time") or lower == "timestamp":
        return "date"
    if (lower.startswith("is") and name[2:3].isupper()) or (lower.startswith("has") and name[3:4].isupper()):
        return "bool"
    if "country" in lower or "market" in lower or "location" in lower:
        return "country"
    if any(hint in lower for hint in _NUMBER_HINTS):
        return "number"
    return "text"


def sample_value(kind: str, rng: random.Random) -> str:
    """One synthetic value of ``kind``.

    :param kind: from :func:`column_kind`.
    :param rng: the deterministic random source.
    """
    if kind == "id":
        return (
            f"{rng.getrandbits(32):08X}-{rng.getrandbits(16):04X}-4{rng.getrandbits(12):03X}-"
            f"8{rng.getrandbits(12):03X}-{rng.getrandbits(48):012X}"
        )
    if kind == "mpnid":
        return str(rng.randrange(1_000_000, 9_999_999))
    if kind == "date":
        return f"20{rng.randrange(21, 26):02d}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    if kind == "bool":
        return str(rng.randrange(2))
    if kind == "number":
        return str(rng.randrange(0, 100_000)) if rng.random() < 0.5 else f"{rng.random() * 50_000:.2f}"
    if kind == "country":
        return rng.choice(COUNTRY_POOL)
    return rng.choice(TEXT_POOL)


def typed_value(kind: str, text: str) -> object:
    """Convert a synthetic value to the JSON type the test-query endpoint returns.

    :param kind: from :func:`column_kind`.
    :param text: the value as text.
    """
    if kind == "number":
        return float(text) if "." in text else int(text)
    return text


def quote_field(value: str, delimiter: str) -> str:
    """Quote a field the RFC 4180 way when it holds the delimiter, a quote or a line break.

    :param value: the raw field.
    :param delimiter: ``,`` or a tab.
    """
    if delimiter in value or '"' in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclass
class ReportContent:
    """One report file: its size, its bytes for any range, its digest.

    :param columns: the selected columns, header order.
    :param fmt: ``csv`` or ``tsv``.
    :param rows: number of data rows.
    :param seed: what makes this file differ from another (the execution id).
    :param metrics: the dataset's metrics (typed as numbers).
    :param days: ``yyyy-MM-dd`` values the date columns cycle through (a report's data window), or
        ``None`` for random dates.
    """

    columns: tuple[str, ...]
    fmt: str
    rows: int
    seed: str
    metrics: tuple[str, ...] = ()
    days: tuple[str, ...] | None = None
    _pieces: list[bytes] = field(init=False, repr=False)
    _row_ends: list[int] = field(init=False, repr=False)
    _has_row_id: bool = field(init=False, repr=False)
    _prefix: bytes = field(init=False, repr=False)
    block_size: int = field(init=False)

    def __post_init__(self) -> None:
        delimiter = "\t" if self.fmt == "tsv" else ","
        self._prefix = BOM + (delimiter.join(quote_field(c, delimiter) for c in self.columns) + LINE_END).encode()
        kinds = [column_kind(column, self.metrics) for column in self.columns]
        id_column = next((i for i, kind in enumerate(kinds) if kind in ("id", "text")), None)
        self._has_row_id = id_column is not None
        rng = random.Random(hashlib.sha256(self.seed.encode()).digest())
        rows: list[bytes] = []
        self._row_ends = [0]
        for row_index in range(BLOCK_ROWS):
            fields = []
            for index, kind in enumerate(kinds):
                value = sample_value(kind, rng)
                if kind == "date" and self.days:
                    value = self.days[row_index % len(self.days)]
                row_id = f"{_SENTINEL}{row_index:0{ROW_IN_BLOCK_WIDTH}d}"
                if index == id_column:
                    value = (value[:24] + row_id) if kind == "id" else f"{value} #{row_id}"
                fields.append(quote_field(value, delimiter))
            row = (delimiter.join(fields) + LINE_END).encode()
            rows.append(row)
            growth = BLOCK_ID_WIDTH - 1 if self._has_row_id else 0
            self._row_ends.append(self._row_ends[-1] + len(row) + growth)
        self._pieces = b"".join(rows).split(_SENTINEL.encode())
        self.block_size = self._row_ends[-1]

    @property
    def total_size(self) -> int:
        """Size in bytes of the whole file."""
        full_blocks, remainder = divmod(self.rows, BLOCK_ROWS)
        return len(self._prefix) + full_blocks * self.block_size + self._row_ends[remainder]

    @property
    def average_row_size(self) -> float:
        """Bytes per data row, for sizing a report by bytes."""
        return self.block_size / BLOCK_ROWS

    def block(self, index: int) -> bytes:
        """The bytes of block ``index`` (rows ``index * BLOCK_ROWS`` onwards), as if it were full.

        :param index: block number.
        """
        if not self._has_row_id:
            return self._pieces[0]
        block_id = b"%0*d" % (BLOCK_ID_WIDTH, index)
        return block_id.join(self._pieces)

    def iter_bytes(self, start: int = 0, end: int | None = None) -> Iterator[bytes | memoryview]:
        """Yield the bytes ``[start, end)`` of the file, one row block (tens of KiB) at a time.

        :param start: first byte offset.
        :param end: one past the last byte (default: end of file).
        """
        total = self.total_size
        end = total if end is None else min(end, total)
        if start >= end:
            return
        prefix_len = len(self._prefix)
        if start < prefix_len:
            yield self._prefix[start : min(end, prefix_len)]
            start = prefix_len
        if start >= end:
            return
        # One block per piece, sliced through a memoryview: no copy beyond the block's own join.
        block_index, skip = divmod(start - prefix_len, self.block_size)
        position = start
        while position < end:
            view = memoryview(self.block(block_index))[skip:]
            skip = 0
            if len(view) > end - position:
                view = view[: end - position]
            position += len(view)
            block_index += 1
            yield view

    def sample_rows(self, limit: int) -> list[dict[str, object]]:
        """Up to ``limit`` rows as JSON objects (the test-query endpoint), from the same generator.

        :param limit: how many rows.
        """
        kinds = [column_kind(column, self.metrics) for column in self.columns]
        rng = random.Random(hashlib.sha256(self.seed.encode()).digest())
        rows = []
        for _ in range(min(limit, self.rows)):
            rows.append({c: typed_value(k, sample_value(k, rng)) for c, k in zip(self.columns, kinds, strict=True)})
        return rows

    def sha256(self) -> str:
        """SHA-256 of the whole file (as served without Content-Encoding)."""
        digest = hashlib.sha256()
        for chunk in self.iter_bytes():
            digest.update(chunk)
        return digest.hexdigest()


def rows_for_bytes(
    columns: tuple[str, ...], fmt: str, seed: str, target_bytes: int, metrics: tuple[str, ...] = ()
) -> int:
    """How many rows make a file of about ``target_bytes``.

    :param columns: selected columns.
    :param fmt: ``csv`` or ``tsv``.
    :param seed: the execution id.
    :param target_bytes: the wanted size.
    :param metrics: the dataset's metrics.
    """
    probe = ReportContent(columns, fmt, 1, seed, metrics)
    return max(1, round(max(0, target_bytes - len(probe._prefix)) / probe.average_row_size))
