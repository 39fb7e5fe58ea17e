"""HashingWriter: the one digest of a transfer, whether bytes are written through it or only read into it."""

from __future__ import annotations

import hashlib
import io

from airflow_provider_insights.transfers._digest import HashingWriter


def test_it_hashes_counts_and_passes_on_what_it_is_given():
    target = io.BytesIO()
    writer = HashingWriter(target)

    for piece in (b"a,b\r\n", bytearray(b"1,2\r\n"), memoryview(b"3,4\r\n")):
        writer.write(piece)

    assert target.getvalue() == b"a,b\r\n1,2\r\n3,4\r\n"
    assert (writer.sha256, writer.size, writer.tell()) == (hashlib.sha256(target.getvalue()).hexdigest(), 15, 15)


def test_without_a_target_it_hashes_a_stored_object_the_same_way():
    data = bytes(range(256)) * 1000
    written = HashingWriter(io.BytesIO())
    written.write(data)

    read_back = HashingWriter()
    read_back.write_all(io.BytesIO(data), block_bytes=4096)

    assert (read_back.sha256, read_back.size) == (written.sha256, written.size)


def test_closing_it_leaves_the_target_open():
    # pyarrow closes its sink when the Parquet file ends: that must not publish the staged upload.
    target = io.BytesIO()
    HashingWriter(target).close()
    assert not target.closed
