"""CSV -> Parquet conversion over chunks: one schema for every row group, row groups of a bounded size."""

from __future__ import annotations

import hashlib
import io

import pytest

from airflow_provider_insights.transfers._digest import HashingWriter
from airflow_provider_insights.transfers._parquet import ChunkReader, convert_to_parquet

pq = pytest.importorskip("pyarrow.parquet")


class _Sink:
    def __init__(self) -> None:
        self.buffer = io.BytesIO()

    def write(self, data: bytes) -> int:
        return self.buffer.write(data)


def _chunks(data: bytes, step: int) -> list[bytes]:
    return [data[i : i + step] for i in range(0, len(data), step)]


def _csv(rows: int) -> bytes:
    # The id column looks numeric for thousands of rows, then has letters: a type guessed from the
    # first block would fail on a later one.
    lines = ["id,name,city"] + [f'{i},"Name, {i}",Zürich' for i in range(rows)] + ['A-1,"Line one\nLine two",東京']
    return ("\r\n".join(lines) + "\r\n").encode()


def test_row_groups_are_bounded_in_size_and_share_one_string_schema():
    data = _csv(60_000)
    sink = _Sink()
    hashed = HashingWriter(sink)

    rows = convert_to_parquet(iter(_chunks(data, 100_000)), hashed, block_size=256 << 10, row_group_bytes=1 << 20)
    sha256, size = hashed.sha256, hashed.size

    written = sink.buffer.getvalue()
    parquet = pq.ParquetFile(io.BytesIO(written))
    assert parquet.metadata.num_row_groups > 1
    assert {str(field.type) for field in parquet.schema_arrow} == {"string"}
    table = parquet.read()
    assert rows == table.num_rows == 60_001
    assert table.column("id")[-1].as_py() == "A-1"
    assert table.column("name")[-1].as_py() == "Line one\nLine two"
    assert (sha256, size) == (hashlib.sha256(written).hexdigest(), len(written))


def test_tiny_chunks_still_make_full_csv_blocks_and_one_row_group():
    # Chunks far smaller than a row (a resume, a small gzip output) must not become CSV blocks:
    # pyarrow refuses a row that straddles two block boundaries.
    sink = _Sink()
    rows = convert_to_parquet(iter(_chunks(_csv(1000), 7)), HashingWriter(sink), block_size=4096)

    parquet = pq.ParquetFile(io.BytesIO(sink.buffer.getvalue()))
    assert rows == parquet.metadata.num_rows == 1001
    assert parquet.metadata.num_row_groups == 1


def test_chunk_reader_fills_every_read_until_the_end():
    data = bytes(range(256)) * 50
    reader = ChunkReader(iter(_chunks(data, 1000)), head=b"head")

    pieces = []
    while piece := reader.read(333):
        pieces.append(bytes(piece))
    assert b"".join(pieces) == b"head" + data
    assert [len(piece) for piece in pieces[:-1]] == [333] * (len(pieces) - 1)
