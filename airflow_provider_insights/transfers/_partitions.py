"""Hive-style partitions by a date column: ``<folder>date=YYYY-MM-DD/part.<format>``.

The service documents no row order (``ORDER BY`` is optional, its default direction DESC), so rows
of one day may be anywhere in the file. Memory stays bounded however many days there are: each
record goes, as served, to its day's spool file on the worker's local disk, through a buffer of
fixed size (:data:`SPOOL_BUFFER_BYTES`); beyond it only a row count per day is kept in memory. When the whole
file has been read (and its header checked), each day is rendered to a local file (the header then
its rows, or Parquet with the query's schema) through a ``HashingWriter``, compared with what the
destination already holds, and published with a ``StagedWrite``: readers see a whole partition or
the previous one. The worker needs free local disk of about twice the report's size.

A re-landed execution changes nothing: a partition whose object already has the same SHA-256 is
left untouched. One whose object differs needs ``overwrite=True``; without it the task fails
before publishing any partition.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_insights.datetimes import parse_datetime
from airflow_provider_insights.exceptions import PartnerInsightsTransferError, PartnerInsightsValidationError
from airflow_provider_insights.transfers._destination import asset_uri, destination_path, existing_object
from airflow_provider_insights.transfers._digest import HashingWriter
from airflow_provider_insights.transfers._records import iter_records, record_field, record_fields

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_insights.transfers._schema import SchemaGuard

#: The Hive partition key of every partition folder.
PARTITION_KEY = "date"
#: Hive's name for the partition of rows whose key is empty.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
#: Records held in memory before they are appended to their days' spool files.
SPOOL_BUFFER_BYTES = 4 << 20
#: Distinct date values whose day is remembered (timestamps may all differ: the cache stays bounded).
KEY_CACHE_SIZE = 4096
#: Bytes copied at a time between local files and the store.
COPY_BLOCK_BYTES = 1 << 20

log = logging.getLogger(__name__)

# A value starting with an ISO date: the day is read as written, without parsing.
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}(?:$|[T ])")


def partition_key(value: str, field: str = "partition_by") -> str:
    """The ``YYYY-MM-DD`` day of a date column's value (:data:`NULL_PARTITION` when empty).

    :param value: the value as served (``2026-11-01``, ``2026-11-01T00:00:00Z``...).
    :param field: the option named in the error.
    :raises PartnerInsightsValidationError: naming ``field`` when the value is not a date.
    """
    text = value.strip()
    if not text:
        return NULL_PARTITION
    if _ISO_DAY.match(text):
        return text[:10]
    moment = parse_datetime(field, text)
    assert moment is not None  # a non-empty text is a moment or an error
    return f"{moment:%Y-%m-%d}"


def partition_file_name(key: str, output_format: str) -> str:
    """The partition's path under the destination folder: ``date=<key>/part.<format>``.

    :param key: the day, from :func:`partition_key`.
    :param output_format: ``csv``, ``tsv`` or ``parquet``.
    """
    return f"{PARTITION_KEY}={key}/part.{output_format}"


def check_partition_by(value: Any, destination: Any) -> str | None:
    """Return the checked ``partition_by`` (``None``: no partitions); it needs a folder destination.

    :param value: the rendered ``partition_by``.
    :param destination: the rendered ``destination``.
    :raises PartnerInsightsValidationError: naming ``partition_by`` or ``destination``.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PartnerInsightsValidationError(
            "partition_by", f"{value!r} is not a column name (did a template render to nothing?)"
        )
    if not (isinstance(destination, str) and destination.endswith("/")):
        raise PartnerInsightsValidationError(
            "destination",
            f"{asset_uri(str(destination))!r} is not a folder; partitions are written under one",
            allowed="a URI ending in / (s3://bucket/prefix/)",
        )
    return value.strip()


def partitioned_result(plan: PartitionPlan, partitions: list[dict[str, Any]]) -> dict[str, Any]:
    """The transfer's result for a partitioned landing.

    :param plan: where and how the partitions were written.
    :param partitions: each partition's entry, by day.
    """
    rows = sum(partition["rows"] for partition in partitions)
    return {
        "uri": asset_uri(str(plan.destination)),
        "bytes": sum(partition["bytes"] for partition in partitions),
        "rows": rows,
        "empty": rows == 0,
        "format": plan.output_format,
        "partition_by": plan.partition_by,
        "partitions": partitions,
    }


class PartitionSpool:
    """Records appended to one local file per partition, buffered in memory up to a fixed budget.

    Rows of many days arrive interleaved: writing each record to its day's file as it comes would
    open and close files constantly (or keep one open per day). Records are gathered instead, and
    when the buffer reaches ``buffer_bytes`` each day's records are appended to its file at once.

    :param folder: an empty local folder the spool files go in.
    :param buffer_bytes: records held in memory at most before they are written out.
    """

    def __init__(self, folder: str, *, buffer_bytes: int = SPOOL_BUFFER_BYTES) -> None:
        self.folder = folder
        self.buffer_bytes = buffer_bytes
        self.rows: dict[str, int] = {}
        self._pending: dict[str, list[bytes]] = {}
        self._pending_bytes = 0

    def add(self, key: str, record: bytes) -> None:
        """Append one record to partition ``key``'s spool.

        :param key: the partition.
        :param record: the record's bytes, line break included.
        """
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = []
            self.rows.setdefault(key, 0)
        pending.append(record)
        self.rows[key] += 1
        self._pending_bytes += len(record)
        if self._pending_bytes >= self.buffer_bytes:
            self.flush()

    def path(self, key: str) -> str:
        """The spool file of partition ``key``.

        :param key: the partition.
        """
        return os.path.join(self.folder, f"{key}.spool")

    def flush(self) -> None:
        """Append every buffered record to its partition's file."""
        for key, records in self._pending.items():
            with open(self.path(key), "ab") as spool:
                spool.writelines(records)
        self._pending = {}
        self._pending_bytes = 0


@dataclass
class PartitionPlan:
    """Where and how the partitions are written.

    :param destination: the rendered destination folder (a URI ending in ``/``).
    :param conn_id: the rendered ``destination_conn_id``.
    :param output_format: ``csv``, ``tsv`` or ``parquet``.
    :param delimiter: the served file's delimiter.
    :param partition_by: the date column to split by.
    :param overwrite: whether a partition holding other content may be replaced.
    """

    destination: Any
    conn_id: str | None
    output_format: str
    delimiter: str
    partition_by: str
    overwrite: bool

    @classmethod
    def of_task(cls, task: Any, output_format: str, delimiter: str, column: str) -> PartitionPlan:
        """The plan of a transfer operator (its rendered ``destination``, connection, ``overwrite``).

        :param task: the operator.
        :param output_format: the checked output format.
        :param delimiter: the served file's delimiter.
        :param column: the checked ``partition_by``.
        """
        return cls(task.destination, task.destination_conn_id, output_format, delimiter, column, bool(task.overwrite))

    def check_folder(self) -> None:
        """Refuse a folder the store cannot write into (missing bucket, a file in the way)."""
        # The store is asked about a partition that could exist: the same checks as for one file.
        name = partition_file_name("1970-01-01", self.output_format)
        existing_object(destination_path(self.destination, self.conn_id, file_name=name))


@dataclass
class RenderedPartition:
    """One partition rendered locally, with its digest, ready to publish."""

    key: str
    local_path: str
    path: ObjectStoragePath
    rows: int
    bytes: int
    sha256: str
    unchanged: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The partition's entry in the transfer's result."""
        return {
            "uri": asset_uri(str(self.path)),
            PARTITION_KEY: self.key,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "unchanged": self.unchanged,
        }


def land_partitions(chunks: Iterator[bytes], plan: PartitionPlan, guard: SchemaGuard, *, label: str) -> dict[str, Any]:
    """Split the decoded report into partitions and publish each one; return the transfer's result.

    :param chunks: the decoded report, header first.
    :param plan: where and how to write.
    :param guard: checks the header against the query's columns (may raise before any write).
    :param label: what is landed, for the log (``report R execution E``).
    """
    with tempfile.TemporaryDirectory(prefix="insights-partitions-") as work:
        spool = PartitionSpool(work)
        header = _spool_records(chunks, plan, guard, spool)
        spool.flush()
        rendered = [_render(key, header, spool, plan, guard) for key in sorted(spool.rows)]
        _compare_with_destination(rendered, plan)
        for partition in rendered:
            if not partition.unchanged:
                _publish(partition)
    result = partitioned_result(plan, [partition.to_dict() for partition in rendered])
    unchanged = sum(partition.unchanged for partition in rendered)
    log.info(
        "%s: %d rows in %d partitions of %s (%d already in place, left untouched)",
        label,
        result["rows"],
        len(rendered),
        result["uri"],
        unchanged,
    )
    return result


def _spool_records(chunks: Iterator[bytes], plan: PartitionPlan, guard: SchemaGuard, spool: PartitionSpool) -> bytes:
    """Route every data record to its day's spool; return the header record as served."""
    records = iter_records(chunks)
    header = next(records, b"")
    if not header.strip():
        raise PartnerInsightsValidationError("report", "the report is empty: it has no header row")
    names = record_fields(header, plan.delimiter)
    guard.check(names)
    index = _column_index(names, plan.partition_by)
    keys: dict[str, str] = {}  # value -> day: a date column holds few distinct values
    for record in records:
        if record.isspace():
            continue  # a blank line is no row
        value = record_field(record, index, plan.delimiter)
        key = keys.get(value)
        if key is None:
            key = partition_key(value)
            if len(keys) < KEY_CACHE_SIZE:
                keys[value] = key
        spool.add(key, record)
    return header


def _column_index(names: list[str], column: str) -> int:
    lowered = [name.lower() for name in names]
    if column.lower() not in lowered:
        raise PartnerInsightsValidationError(
            "partition_by", f"{column!r} is not a column of the report's file", allowed=names
        )
    return lowered.index(column.lower())


def _render(
    key: str, header: bytes, spool: PartitionSpool, plan: PartitionPlan, guard: SchemaGuard
) -> RenderedPartition:
    """Write partition ``key`` to a local file (header then rows, or Parquet), hashing it."""
    local_path = f"{spool.path(key)}.{plan.output_format}"
    rows = spool.rows[key]
    with open(local_path, "wb") as local:
        out = HashingWriter(local)
        chunks = _file_chunks(spool.path(key), first=header)
        if plan.output_format == "parquet":
            from airflow_provider_insights.transfers._parquet import convert_to_parquet

            written = convert_to_parquet(chunks, out, delimiter=plan.delimiter, columns=guard.expected)
            if written != rows:
                raise PartnerInsightsTransferError(
                    f"partition {key}: {written} rows converted to Parquet, {rows} read from the report"
                )
        else:
            for chunk in chunks:
                out.write(chunk)
    os.remove(spool.path(key))  # the local disk holds the report about twice, not three times
    path = destination_path(plan.destination, plan.conn_id, file_name=partition_file_name(key, plan.output_format))
    return RenderedPartition(key, local_path, path, rows, out.size, out.sha256)


def _file_chunks(local_path: str, *, first: bytes = b"") -> Iterator[bytes]:
    if first:
        yield first
    with open(local_path, "rb") as source:
        while block := source.read(COPY_BLOCK_BYTES):
            yield block


def stored_sha256(path: ObjectStoragePath, *, block_bytes: int = COPY_BLOCK_BYTES) -> str:
    """The SHA-256 of the object at ``path``, hashed as a transfer hashes what it writes.

    :param path: an existing object.
    :param block_bytes: bytes read at a time.
    """
    digest = HashingWriter()
    with path.open("rb") as stored:
        digest.write_all(stored, block_bytes=block_bytes)
    return digest.sha256


def _compare_with_destination(rendered: list[RenderedPartition], plan: PartitionPlan) -> None:
    """Mark partitions the destination already holds; refuse other content unless ``overwrite``."""
    conflicts = []
    for partition in rendered:
        if not existing_object(partition.path):
            continue
        if stored_sha256(partition.path) == partition.sha256:
            partition.unchanged = True
        elif not plan.overwrite:
            conflicts.append(asset_uri(str(partition.path)))
    if conflicts:
        raise PartnerInsightsValidationError(
            "destination",
            f"{len(conflicts)} partitions already exist with other content (first: {conflicts[0]}); "
            "nothing was written; set overwrite=True to replace them",
        )


def _publish(partition: RenderedPartition) -> None:
    from airflow_provider_insights.transfers._atomic import StagedWrite

    with StagedWrite(partition.path) as staged:
        for block in _file_chunks(partition.local_path):
            staged.write(block)
