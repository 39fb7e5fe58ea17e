"""OpenLineage for the transfer: the Partner Center dataset it read, the object it wrote.

Names follow OpenLineage's naming conventions (namespace = the data source as
``scheme://authority``, name = the dataset within it):

- **Input**: namespace ``partnercenter://<host of the API base URL>`` (with its port if it has
  one, so a sandbox's datasets never merge with production's), name ``<program>.<dataset>``, e.g.
  ``partnercenter://api.partnercenter.microsoft.com`` / ``mpn.CustomersAndTenants``: the program
  is a catalog of datasets as a database is of tables. The dataset and the columns come from the
  report's query (``FROM`` and ``SELECT``), read from the service when the event is built.
- **Output**: the destination URI without its connection id, split per the conventions:
  ``s3://<bucket>`` / ``gs://<bucket>`` + the object key, ``abfs://<container>`` + the path (the
  account is in the connection, not the URI), ``file`` + the absolute path.

Facets: the schema (the query's columns, every one a string, as the file and the Parquet
conversion carry them) on both, and on the output the row count and size in bytes
(``outputStatistics``). Nothing else: no URL with a query string, no token, no connection.

The OpenLineage provider is optional: without it every function here returns ``None``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_insights.exceptions import PartnerInsightsError

if TYPE_CHECKING:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook
    from airflow_provider_insights.models import Report
    from airflow_provider_insights.query_builder import ParsedQuery

log = logging.getLogger(__name__)

#: The scheme of Partner Center dataset namespaces.
PARTNER_CENTER_SCHEME = "partnercenter"
#: The type every column has in the schema facet.
COLUMN_TYPE = "string"
_LOCAL_SCHEMES = ("file", "local")


def transfer_lineage(
    hook: PartnerInsightsHook,
    read_report: Callable[[], Report],
    *,
    destination: str,
    written: dict[str, Any] | None,
) -> Any:
    """The ``OperatorLineage`` of a transfer, or ``None`` without the OpenLineage provider.

    :param hook: the hook of the transfer's ``partner_insights`` connection.
    :param read_report: returns the report whose file was copied (the transfer's, read once).
    :param destination: the rendered ``destination`` (named as output when nothing was written,
        unless it is a folder whose file was never named).
    :param written: the transfer's result, or ``None`` if it wrote nothing: one output per
        object (each partition of a partitioned landing), with its rows and bytes.
    """
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    query = report_query(read_report)
    inputs = [input_dataset(hook, query)] if query is not None else []
    outputs = [output_dataset(uri, query, figures) for uri, figures in _written_objects(destination, written)]
    return OperatorLineage(inputs=inputs, outputs=outputs)


def _written_objects(destination: str, written: dict[str, Any] | None) -> list[tuple[str, dict[str, Any] | None]]:
    from airflow_provider_insights.transfers._destination import asset_uri, is_folder

    if written is None:
        named = destination.strip() and not is_folder(destination)
        return [(asset_uri(destination), None)] if named else []
    if "partitions" in written:
        return [(part["uri"], part) for part in written["partitions"]]
    return [(written["uri"], written)]


def report_query(read_report: Callable[[], Report]) -> ParsedQuery | None:
    """The report's query (the text comes with the report), parsed; ``None`` (logged) if not given.

    :param read_report: returns the report.
    """
    from airflow_provider_insights.query_builder import parse_query

    try:
        report = read_report()
        return parse_query(report.query) if report.query else None
    except PartnerInsightsError as err:
        # Lineage must not fail the task: the event goes out without the input dataset.
        log.warning("OpenLineage: the query of the report could not be read: %s", err)
        return None


def input_dataset(hook: PartnerInsightsHook, query: ParsedQuery) -> Any:
    """The Partner Center dataset the query reads, with the query's columns as its schema.

    :param hook: the hook (its connection gives the host and the program).
    :param query: the report's parsed query.
    """
    from airflow.providers.common.compat.openlineage.facet import InputDataset

    return InputDataset(
        namespace=partner_center_namespace(hook.settings.api_base_url),
        name=f"{hook.settings.program}.{query.dataset}",
        facets={"schema": _schema(query)},
    )


def partner_center_namespace(api_base_url: str) -> str:
    """``partnercenter://<host[:port]>`` of the API base URL (never its path or query).

    :param api_base_url: the connection's API base URL.
    """
    parts = urlsplit(api_base_url)
    host = parts.hostname or ""
    authority = f"{host}:{parts.port}" if parts.port else host
    return f"{PARTNER_CENTER_SCHEME}://{authority}"


def output_dataset(uri: str, query: ParsedQuery | None, written: dict[str, Any] | None) -> Any:
    """The destination, with the schema and, once written, its row count and size.

    :param uri: the destination URI, without a connection id.
    :param query: the report's parsed query, if known.
    :param written: the transfer's result, if it wrote.
    """
    from airflow.providers.common.compat.openlineage.facet import (
        OutputDataset,
        OutputStatisticsOutputDatasetFacet,
    )

    namespace, name = destination_naming(uri)
    facets: dict[str, Any] = {"schema": _schema(query)} if query is not None else {}
    statistics: dict[str, Any] = {}
    if written is not None:
        statistics["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
            rowCount=written.get("rows"), size=written.get("bytes")
        )
    return OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=statistics)


def destination_naming(uri: str) -> tuple[str, str]:
    """``(namespace, name)`` of a destination URI per OpenLineage's conventions.

    :param uri: the destination URI, without a connection id.
    """
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in _LOCAL_SCHEMES or not scheme:
        return "file", parts.path or uri
    return f"{scheme}://{parts.netloc}", parts.path.lstrip("/")


def _schema(query: ParsedQuery) -> Any:
    from airflow.providers.common.compat.openlineage.facet import SchemaDatasetFacet, SchemaDatasetFacetFields

    fields = [SchemaDatasetFacetFields(name=column, type=COLUMN_TYPE) for column in query.columns]
    return SchemaDatasetFacet(fields=fields)
