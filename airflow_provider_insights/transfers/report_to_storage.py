"""Copy a report execution's file from its secure link into any storage Airflow can write to.

The destination is an Airflow ``ObjectStoragePath`` (S3 through the Amazon provider's ``aws``
connection, Azure Blob / ADLS through the Azure provider's connection as ``abfs://``, GCS, the
local filesystem...): no storage client code lives here, fsspec does the talking.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_insights.connection import DEFAULT_CONN_ID
from airflow_provider_insights.exceptions import (
    PartnerInsightsExecutionFailedError,
    PartnerInsightsNotFoundError,
    PartnerInsightsValidationError,
)
from airflow_provider_insights.operators._base import PartnerInsightsHookMixin
from airflow_provider_insights.transfers._destination import asset_uri, is_folder
from airflow_provider_insights.transfers._streaming import DOWNLOAD_CHUNK_BYTES

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_insights.models import Execution, Report
    from airflow_provider_insights.transfers._schema import SchemaGuard

OUTPUT_FORMATS = ("csv", "tsv", "parquet")
_DELIMITERS = {"csv": ",", "tsv": "\t"}


def _is_templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class PartnerInsightsReportToStorageOperator(PartnerInsightsHookMixin, BaseOperator):
    """Stream a report execution's file into object storage, atomically and verified.

    The execution is read afresh on the worker (secure links expire; a link is never taken from
    XCom or a trigger event). The link must be https and its host in the connection's
    ``allowed_download_hosts``. The file is streamed in chunks: a dropped connection resumes with
    a Range request, an expired link (403) is refreshed by reading the execution again, both a
    bounded number of times. The destination appears only when the whole file is written; on any
    failure it is left as it was, and nothing staged is left beside it.

    The destination is checked before anything is downloaded: an empty one, a file URL with a host
    (``file://tmp/x`` for ``file:///tmp/x``), a relative path, an unknown scheme, a connection that
    does not exist, a missing bucket or container and an existing folder are refused, naming
    ``destination`` or ``destination_conn_id``.

    The header is compared with the report's query's columns (``on_schema_change``). With
    ``partition_by`` the rows go to ``<destination>date=YYYY-MM-DD/part.<format>``, one partition
    per day, each published atomically (``transfers/_partitions``).

    Returns ``{"uri", "bytes", "sha256", "rows", "empty", "format"}``: the destination (without any
    connection id), the size and SHA-256 written, the data rows, whether the file held only a
    header, and the format; plus ``"schema_change"`` (columns ``added``, ``removed``, ``moved``)
    and ``"data_redacted": True`` (also logged) when so. Partitioned: no ``sha256``, and
    ``"partitions"`` lists each one's ``uri``, ``date``, ``rows``, ``bytes``, ``sha256`` and
    ``unchanged``. A destination without templates (the folder, when partitioned) is declared as
    an outlet ``Asset``; its event's extra carries these figures (the partitions as a count).

    :param report_id: the report whose file to copy. Templated.
    :param destination: where to write, as a URI (``s3://bucket/key``, ``abfs://container/key``,
        ``file:///path``; ``scheme://conn_id@bucket/key`` names the connection) or an
        ``ObjectStoragePath``. A URI ending in ``/`` is a folder: the file is named
        ``<report_id>_<execution_id>.<format>`` in it. Templated.
    :param execution_id: the execution to copy; default the latest completed one. Templated.
    :param destination_conn_id: the Airflow connection for the destination's filesystem
        (``aws``, ``wasb``/``adls``, ``google_cloud_platform``...), if not named in the URI.
        Templated.
    :param output_format: ``csv`` or ``tsv`` (as served: gzip decoded, BOM stripped by default;
        must match the report's format) or ``parquet`` (converted on the way, every column a
        string; needs pyarrow). Templated.
    :param overwrite: replace an existing object; if false, an existing object fails the task
        before anything is downloaded.
    :param strip_bom: drop the UTF-8 byte order mark the service puts at the start of files.
    :param chunk_size: bytes read from the link at a time.
    :param max_attempts: attempts allowed after dropped connections, and separately refreshes
        allowed after expired links, before the task fails.
    :param progress_interval: seconds between progress lines in the task log.
    :param partition_by: a date column to split the rows by, into one partition per day; the
        destination must then be a folder (ending in ``/``). Templated.
    :param on_schema_change: when the file's columns differ from the query's: ``fail`` (nothing
        is written), ``warn`` (logged, and reported in the result) or ``ignore`` (not compared;
        the report is then not read). Parquet output always has the query's columns. Templated.
    :param fail_on_empty: fail, writing nothing, when the file holds a header and no rows.
    :param partner_insights_conn_id: the ``partner_insights`` connection.
    """

    template_fields: Sequence[str] = (
        "report_id",
        "execution_id",
        "destination",
        "destination_conn_id",
        "output_format",
        "partition_by",
        "on_schema_change",
        "partner_insights_conn_id",
    )
    ui_color = "#e6f1fa"

    def __init__(
        self,
        *,
        report_id: str,
        destination: str | ObjectStoragePath,
        execution_id: str | None = None,
        destination_conn_id: str | None = None,
        output_format: str = "csv",
        overwrite: bool = False,
        strip_bom: bool = True,
        chunk_size: int = DOWNLOAD_CHUNK_BYTES,
        max_attempts: int = 5,
        progress_interval: float = 5.0,
        partition_by: str | None = None,
        on_schema_change: str = "warn",
        fail_on_empty: bool = False,
        partner_insights_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.report_id = report_id
        self.destination = destination
        self.execution_id = execution_id
        self.destination_conn_id = destination_conn_id
        self.output_format = output_format
        self.overwrite = overwrite
        self.strip_bom = strip_bom
        self.chunk_size = chunk_size
        self.max_attempts = max_attempts
        self.progress_interval = progress_interval
        self.partition_by = partition_by
        self.on_schema_change = on_schema_change
        self.fail_on_empty = fail_on_empty
        self._report: Report | None = None
        self.partner_insights_conn_id = partner_insights_conn_id
        self._declare_outlet()

    def _declare_outlet(self) -> None:
        # Only a destination known at parse time can be an outlet: a templated one has no URI yet.
        text = str(self.destination)
        if not text.strip() or _is_templated(text) or is_folder(text) != bool(self.partition_by):
            return  # a blank destination is refused when the task runs, naming the field
        from airflow.sdk import Asset

        uri = asset_uri(text)
        if not any(getattr(outlet, "uri", None) == uri for outlet in self.outlets):
            self.outlets = [*self.outlets, Asset(uri)]

    # ----------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_insights.transfers._destination import check_destination
        from airflow_provider_insights.transfers._partitions import check_partition_by
        from airflow_provider_insights.transfers._schema import check_on_schema_change

        output_format = self._checked_format()
        partition_by = check_partition_by(self.partition_by, self.destination)
        policy = check_on_schema_change(self.on_schema_change)
        check_destination(self.destination, self.destination_conn_id)
        execution = self._read_execution(self.execution_id)
        self._check_served_format(execution, output_format)
        guard = self._schema_guard(execution, policy)
        if partition_by:
            result = self._land_partitions(execution, output_format, partition_by, guard)
        else:
            result = self._land_file(context, execution, output_format, guard)
        guard.record(result)
        self._note_redaction(execution, result)
        self._record_asset_event(context, result)
        self._lineage = result
        return result

    def _land_file(
        self, context: Context, execution: Execution, output_format: str, guard: SchemaGuard
    ) -> dict[str, Any]:
        path = self._destination_path(execution, output_format)
        kept = self._existing_to_keep(path, context)
        link = self._link_of(execution)
        self.log.info(
            "Copying report %s execution %s to %s as %s",
            self.report_id,
            execution.execution_id,
            asset_uri(str(path)),
            output_format,
        )
        result = self._transfer(link, execution, path, output_format, guard=guard, write=not kept)
        if kept:
            self._accept_identical(path, result)
        return result

    def _checked_format(self) -> str:
        output_format = str(self.output_format).lower()
        if output_format not in OUTPUT_FORMATS:
            raise PartnerInsightsValidationError(
                "output_format", f"{self.output_format!r} is not supported", allowed=OUTPUT_FORMATS
            )
        if output_format == "parquet":
            from airflow_provider_insights.transfers._parquet import import_pyarrow

            import_pyarrow()  # fail before downloading anything if pyarrow is missing
        return output_format

    def _read_execution(self, execution_id: str | None) -> Execution:
        from airflow_provider_insights.models import ExecutionState, ExecutionStatus

        if execution_id:
            execution = self.hook.get_execution(self.report_id, execution_id)
            what = f"execution {execution_id} of report {self.report_id}"
        else:
            execution = self.hook.get_latest_execution(self.report_id, statuses=(ExecutionStatus.COMPLETED,))
            what = f"a completed execution of report {self.report_id}"
        if execution is None:
            raise PartnerInsightsNotFoundError(404, f"the service has no {what}")
        state = execution.state
        if state is ExecutionState.WAITING:
            raise PartnerInsightsValidationError(
                "execution_id",
                f"execution {execution.execution_id} is still {execution.execution_status}; "
                "wait for it with PartnerInsightsReportExecutionSensor",
                allowed="Completed",
            )
        if state is ExecutionState.FAILED:
            raise PartnerInsightsExecutionFailedError(
                self.report_id, execution.execution_id, execution.execution_status, execution.message
            )
        return execution

    def _check_served_format(self, execution: Execution, output_format: str) -> None:
        served = (execution.format or "").lower()
        if output_format in _DELIMITERS and served in _DELIMITERS and served != output_format:
            raise PartnerInsightsValidationError(
                "output_format",
                f"the report is served as {served}; it is copied as served, not converted",
                allowed=(served, "parquet"),
            )

    def _destination_path(self, execution: Execution, output_format: str) -> ObjectStoragePath:
        from airflow_provider_insights.transfers._destination import destination_path

        return destination_path(
            self.destination,
            self.destination_conn_id,
            file_name=f"{self.report_id}_{execution.execution_id}.{output_format}",
        )

    def _existing_to_keep(self, path: ObjectStoragePath, context: Context) -> bool:
        """Whether an existing destination must be kept (``overwrite=False``); refuse it on a first try.

        The store is asked in any case: a missing bucket or a folder at the destination is refused
        here, before downloading. On a retry the object may be this task's own output from a try
        that died before recording success: it is then compared with what this execution produces
        instead of refused.
        """
        from airflow_provider_insights.transfers._destination import existing_object

        if not existing_object(path) or self.overwrite:
            return False
        ti = context.get("ti") if context else None
        if getattr(ti, "try_number", 1) > 1:
            self.log.info("%s exists; retry: checking it is this execution's output", asset_uri(str(path)))
            return True
        raise PartnerInsightsValidationError(
            "destination", f"{asset_uri(str(path))} already exists; set overwrite=True to replace it"
        )

    def _accept_identical(self, path: ObjectStoragePath, result: dict[str, Any]) -> None:
        from airflow_provider_insights.transfers._digest import HashingWriter

        existing = HashingWriter()
        with path.open("rb") as stored:
            existing.write_all(stored, block_bytes=self.chunk_size)
        if existing.sha256 != result["sha256"]:
            raise PartnerInsightsValidationError(
                "destination",
                f"{result['uri']} already exists with other content; set overwrite=True to replace it",
            )
        self.log.info("%s already holds this execution's output (an earlier try wrote it)", result["uri"])

    def _note_redaction(self, execution: Execution, result: dict[str, Any]) -> None:
        if not execution.data_redacted:
            return
        self.log.warning(
            "Report %s execution %s: the service marked its data as redacted (dataRedacted: true); "
            "some values were withheld from the file, which is copied as served",
            self.report_id,
            execution.execution_id,
        )
        result["data_redacted"] = True

    def _link_of(self, execution: Execution) -> str:
        from airflow_provider_insights.hooks.redaction import mask_secure_link
        from airflow_provider_insights.hooks.secure_link import check_secure_link

        link = execution.report_access_secure_link
        if not link:
            raise PartnerInsightsNotFoundError(
                404, f"execution {execution.execution_id} of report {self.report_id} has no secure link"
            )
        mask_secure_link(link)
        check_secure_link(link, self.hook.settings.allowed_download_hosts)
        return link

    def _fresh_link(self, execution_id: str) -> str:
        return self._link_of(self._read_execution(execution_id))

    # ----------------------------------------------------------------------------------------

    def _download(self, link: str, execution: Execution) -> tuple[Any, Any, str]:
        """The secure link's download, its progress log and its label (for messages)."""
        from airflow_provider_insights.transfers._streaming import ProgressLog, SecureLinkDownload

        label = f"report {self.report_id} execution {execution.execution_id}"
        download = SecureLinkDownload(
            self.hook,
            link,
            refresh_link=lambda: self._fresh_link(execution.execution_id),
            chunk_size=self.chunk_size,
            max_attempts=self.max_attempts,
            on_event=self._log_event,
            label=label,
        )
        return download, ProgressLog(self.log, interval=self.progress_interval), label

    def _transfer(
        self,
        link: str,
        execution: Execution,
        path: ObjectStoragePath,
        output_format: str,
        *,
        guard: SchemaGuard,
        write: bool = True,
    ) -> dict[str, Any]:
        from contextlib import nullcontext

        from airflow_provider_insights.transfers._atomic import StagedWrite
        from airflow_provider_insights.transfers._digest import HashingWriter
        from airflow_provider_insights.transfers._records import check_empty, write_report
        from airflow_provider_insights.transfers._streaming import Prefetch

        download, progress, label = self._download(link, execution)
        # The download starts first: it runs while the destination's upload is being opened.
        # Without ``write`` nothing is kept: only the digest of what would be written is wanted.
        sink: Any = StagedWrite(path) if write else nullcontext()
        with Prefetch(self._decoded_chunks(download, progress, label)) as chunks, sink as staged:
            # Hashing in this thread rather than the download's keeps the two balanced: that one
            # decrypts, this one hashes and writes (both release the GIL).
            out = HashingWriter(staged)
            rows = write_report(iter(chunks), out, self._delimiter(execution), output_format, guard)
            check_empty(
                rows, label, fail_on_empty=self.fail_on_empty
            )  # inside the block: an empty file refused is not published
        progress.finish(download.offset, download.total_length)
        self.log.info(
            "%s %d bytes, %d rows (sha256 %s) for %s after %d resumes and %d link refreshes",
            "Wrote" if write else "Recomputed",
            out.size,
            rows,
            out.sha256,
            asset_uri(str(path)),
            download.resumes,
            download.refreshes,
        )
        return {
            "uri": asset_uri(str(path)),
            "bytes": out.size,
            "sha256": out.sha256,
            "rows": rows,
            "empty": rows == 0,
            "format": output_format,
        }

    @staticmethod
    def _delimiter(execution: Execution) -> str:
        return _DELIMITERS.get((execution.format or "csv").lower(), ",")

    def _land_partitions(
        self, execution: Execution, output_format: str, column: str, guard: SchemaGuard
    ) -> dict[str, Any]:
        from airflow_provider_insights.transfers._partitions import PartitionPlan, land_partitions
        from airflow_provider_insights.transfers._records import check_empty
        from airflow_provider_insights.transfers._streaming import Prefetch

        plan = PartitionPlan.of_task(self, output_format, self._delimiter(execution), column)
        guard.check_column("partition_by", column)
        plan.check_folder()  # before downloading: a missing bucket, a file where the folder goes
        download, progress, label = self._download(self._link_of(execution), execution)
        with Prefetch(self._decoded_chunks(download, progress, label)) as chunks:
            result = land_partitions(iter(chunks), plan, guard, label=label)
        check_empty(
            result["rows"], label, fail_on_empty=self.fail_on_empty
        )  # nothing was published: an empty file has no partition
        return result

    def _schema_guard(self, execution: Execution, policy: str) -> SchemaGuard:
        from airflow_provider_insights.transfers._schema import SchemaGuard, query_columns

        # The report (one GET) says which query made the file; "ignore" spares that call.
        columns = None if policy == "ignore" else query_columns(self._read_report())
        return SchemaGuard(columns, policy, f"report {self.report_id} execution {execution.execution_id}")

    def _read_report(self) -> Report:
        # One GET per try: the schema guard and OpenLineage both want the report's query.
        if self._report is None:
            self._report = self.hook.get_report(self.report_id)
        return self._report

    def _decoded_chunks(self, download: Any, progress: Any, label: str) -> Iterator[bytes]:
        from airflow_provider_insights.transfers._streaming import Decoder

        decoder: Decoder | None = None
        for raw in download:
            if decoder is None:
                decoder = Decoder(download.content_encoding, strip_bom=self.strip_bom, label=label)
            progress.update(download.offset, download.total_length)
            data = decoder.feed(raw)
            if data:
                yield data
        if decoder is None:
            decoder = Decoder(download.content_encoding, strip_bom=self.strip_bom, label=label)
        tail = decoder.finish()
        if tail:
            yield tail

    def _log_event(self, text: str) -> None:
        self.log.warning("Report %s: %s", self.report_id, text)

    # ----------------------------------------------------------------------------------------

    def _record_asset_event(self, context: Context, result: dict[str, Any]) -> None:
        # Attach the digest to the asset event of a declared outlet, for downstream checks.
        from airflow.sdk import Asset

        outlet_events = context.get("outlet_events")
        if outlet_events is None:
            return
        for outlet in self.outlets:
            # Airflow drops a folder's trailing "/" from an Asset's URI.
            if isinstance(outlet, Asset) and outlet.uri == result["uri"].rstrip("/"):
                extra = ("bytes", "sha256", "rows", "empty", "format", "schema_change", "data_redacted")
                outlet_events[outlet].extra.update({key: result[key] for key in extra if key in result})
                if "partitions" in result:
                    outlet_events[outlet].extra["partitions"] = len(result["partitions"])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the Partner Center dataset read, each object written with its rows and bytes.

        Naming and facets: ``transfers/_lineage.py``. ``None`` without the OpenLineage provider.

        :param task_instance: the finished task instance (unused).
        """
        from airflow_provider_insights.transfers._lineage import transfer_lineage

        written = getattr(self, "_lineage", None)
        return transfer_lineage(self.hook, self._read_report, destination=str(self.destination), written=written)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """OpenLineage for a FAIL event (the listener adds the error): the dataset and the destination.

        :param task_instance: the failed task instance (unused).
        """
        from airflow_provider_insights.transfers._lineage import transfer_lineage

        return transfer_lineage(self.hook, self._read_report, destination=str(self.destination), written=None)
