"""Record counting and splitting, the schema comparison, partition keys and option checks (no servers)."""

from __future__ import annotations

import csv
import io
import random

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsSchemaChangeError, PartnerInsightsValidationError
from airflow_provider_insights.transfers._partitions import NULL_PARTITION, check_partition_by, partition_key
from airflow_provider_insights.transfers._records import RecordCounter, iter_records, record_field, record_fields
from airflow_provider_insights.transfers._schema import SchemaGuard, check_on_schema_change, compare_columns

# Quoted line breaks, doubled quotes, a quoted delimiter, CRLF: what the sandbox and the service write.
SAMPLE = (
    b'Name,Note,Month\r\n"Contoso, Ltd","Line one\r\nLine two",2026-11-01\r\n'
    b'"O\'Brien, ""Ltd""",plain,2026-11-02\r\nFabrikam,"a ""b""\nc",2026-11-01\r\n'
)


def _split_every(data: bytes, size: int) -> list[bytes]:
    return [data[index : index + size] for index in range(0, len(data), size)]


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 1000])
def test_records_are_counted_and_split_whatever_the_chunk_boundaries(piece):
    chunks = _split_every(SAMPLE, piece)
    counter = RecordCounter()
    for chunk in chunks:
        counter.feed(chunk)

    records = list(iter_records(iter(chunks)))

    expected = list(csv.reader(io.StringIO(SAMPLE.decode(), newline="")))
    assert counter.data_rows == len(expected) - 1 == 3
    assert b"".join(records) == SAMPLE
    assert [record_fields(record, ",") for record in records] == expected
    assert [record_field(record, 2, ",") for record in records] == [row[2] for row in expected]
    assert record_field(b"a,b\r\n", 5, ",") == ""


@pytest.mark.parametrize("seed", range(40))
def test_the_count_agrees_with_the_csv_module_on_random_quoting_and_random_chunks(seed):
    rng = random.Random(seed)
    values = ["a", "b,c", 'x"y', "l\nm", "", '""', '"\n"\n', "\n", "\r\n"]
    rows = [[rng.choice(values) for _ in range(3)] for _ in range(rng.randint(0, 30))]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([["h1", "h2", "h3"], *rows])
    data = text.getvalue().encode()
    if seed % 3 == 0:
        data = data[:-1]  # a last record without its line break
    counter = RecordCounter()
    offset = 0
    while offset < len(data):
        size = rng.randint(1, 12)
        piece = memoryview(data)[offset : offset + size]
        counter.feed(piece if seed % 2 else bytes(piece))
        offset += size

    assert counter.data_rows == len(rows)


def test_a_last_record_without_line_break_counts_and_a_header_alone_is_no_row():
    counter = RecordCounter()
    counter.feed(b"A,B\r\n1,2")
    header_only = RecordCounter()
    header_only.feed(b"\xef\xbb\xbfA,B\r\n")

    assert counter.data_rows == 1
    assert header_only.data_rows == 0
    assert record_fields(b"\xef\xbb\xbfA,B\r\n", ",") == ["A", "B"]


def test_compare_columns_names_added_removed_and_moved_case_insensitively():
    change = compare_columns(["CustomerName", "Month", "ActiveSeats"], ["activeseats", "customername", "Region"])

    assert change.added == ("Region",)
    assert change.removed == ("Month",)
    assert change.moved == ("CustomerName", "ActiveSeats")
    assert change.describe() == "added ['Region']; removed ['Month']; moved ['CustomerName', 'ActiveSeats']"
    assert not compare_columns(["A", "b"], ["a", "B"])


def test_guard_fails_or_warns_as_told(caplog):
    with pytest.raises(PartnerInsightsSchemaChangeError, match=r"removed \['B'\]") as raised:
        SchemaGuard(["A", "B"], "fail", "report R execution E").check(["A"])
    assert raised.value.change.removed == ("B",)

    warned = SchemaGuard(["A", "B"], "warn", "report R execution E")
    with caplog.at_level("WARNING"):
        warned.check(["B", "A"])
    result: dict = {}
    warned.record(result)
    assert result == {"schema_change": {"added": [], "removed": [], "moved": ["A", "B"]}}
    assert "moved ['A', 'B']" in caplog.text

    ignored = SchemaGuard(["A"], "ignore", "r")
    ignored.check(["Z"])
    assert ignored.change is None and ignored.expected is None


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("2026-11-01", "2026-11-01"),
        ("2026-11-01T23:59:59Z", "2026-11-01"),
        ("2026-11-01 08:00:00", "2026-11-01"),
        ("2026-11-01T23:00:00-05:00", "2026-11-01"),  # the day as written, not moved to UTC
        (" ", NULL_PARTITION),
    ],
)
def test_partition_key_is_the_day_as_written(value, key):
    assert partition_key(value) == key


def test_partition_key_refuses_what_is_not_a_date_naming_the_option():
    with pytest.raises(PartnerInsightsValidationError, match=r"^partition_by: 'Contoso' is not a date"):
        partition_key("Contoso")


@pytest.mark.parametrize(
    ("value", "destination", "field"),
    [
        ("", "file:///tmp/out/", "partition_by"),
        (3, "file:///tmp/out/", "partition_by"),
        ("Month", "file:///tmp/out/report.csv", "destination"),
    ],
)
def test_partition_options_are_checked_naming_the_field(value, destination, field):
    with pytest.raises(PartnerInsightsValidationError) as raised:
        check_partition_by(value, destination)
    assert raised.value.field == field


def test_on_schema_change_accepts_three_values_only():
    assert check_on_schema_change("WARN") == "warn"
    with pytest.raises(PartnerInsightsValidationError, match=r"^on_schema_change: 'drop' is not supported"):
        check_on_schema_change("drop")
