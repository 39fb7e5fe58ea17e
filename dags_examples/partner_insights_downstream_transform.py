"""Downstream transform: runs whenever the daily extract has written a new file.

Scheduled on the extract's Asset, the very object the extract's transfer declares as its outlet
(``insights_destination.py``; copy it next to this file).
For each file that triggered the run it writes a small per-product summary next to it:
``.../date=2024-05-01/customers_and_tenants.csv`` -> ``.../date=2024-05-01/customers_and_tenants.summary.csv``.

pandas is imported inside the task: parsing this file stays cheap.

A manual run can name the file itself: trigger with ``{"source_uri": "file:///.../customers_and_tenants.csv"}``
(this is what ``make demo`` does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Param, task

# The same Asset object as the extract's outlet, not ``Asset.ref(name=...)``: with a name reference, a
# deployment's scheduler starts the run but hands it no triggering_asset_events (see the module there).
try:  # Airflow puts the DAGs folder on sys.path: the module sits next to this file
    from insights_destination import CUSTOMERS_AND_TENANTS, DESTINATION_CONN_ID
except ImportError:  # loaded from the repository (tests, ``make demo``): the folder is the dags_examples package
    from dags_examples.insights_destination import CUSTOMERS_AND_TENANTS, DESTINATION_CONN_ID

if TYPE_CHECKING:
    import pandas as pd
    from airflow.sdk import ObjectStoragePath

# The extract's destination connection: the files it writes are read with it.
SOURCE_CONN_ID = DESTINATION_CONN_ID
SUMMARY_SUFFIX = ".summary.csv"


def source_uris(params: dict[str, Any], triggering_asset_events: Any) -> list[str]:
    """Where the files to summarise are: the run's ``source_uri`` param, else the triggering events.

    The extract's transfer task returns ``{"uri", "bytes", "sha256", "rows", "format"}``; an event
    carries that task's identity, so its return value says which object was written.

    :param params: the run's params (``source_uri`` set on manual runs).
    :param triggering_asset_events: the context's ``triggering_asset_events`` (asset -> events).
    """
    if params.get("source_uri"):
        return [params["source_uri"]]
    uris: list[str] = []
    for events in (triggering_asset_events or {}).values():
        for event in events:
            uri = (event.extra or {}).get("uri")
            if not uri and event.source_task_instance is not None:
                uri = (event.source_task_instance.xcom_pull() or {}).get("uri")
            if uri and uri not in uris:
                uris.append(uri)
    return uris


def read_report(path: ObjectStoragePath) -> pd.DataFrame:
    """Read one extracted report (CSV or Parquet, by its suffix) into a DataFrame.

    :param path: the object written by the extract.
    """
    import pandas as pd

    with path.open("rb") as handle:
        if path.suffix == ".parquet":
            return pd.read_parquet(handle)
        # utf-8-sig: Partner Center files may start with a byte-order mark.
        return pd.read_csv(handle, encoding="utf-8-sig")


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per product: rows, distinct customers and billed revenue, largest revenue first.

    :param frame: the rows of one extracted report.
    """
    import pandas as pd

    frame = frame.rename(columns=str.strip)
    missing = {"Product", "CustomerName", "BilledRevenueUSD"} - set(frame.columns)
    if missing:
        raise ValueError(f"the report lacks the columns this summary needs: {', '.join(sorted(missing))}")
    revenue = pd.to_numeric(frame["BilledRevenueUSD"], errors="coerce").fillna(0.0)
    summary = (
        frame.assign(BilledRevenueUSD=revenue)
        .groupby("Product", dropna=False)
        .agg(
            rows=("Product", "size"),
            customers=("CustomerName", "nunique"),
            billed_revenue_usd=("BilledRevenueUSD", "sum"),
        )
        .reset_index()
        .sort_values("billed_revenue_usd", ascending=False)
    )
    return summary


def summary_path_for(source: ObjectStoragePath) -> ObjectStoragePath:
    """``.../name.csv`` -> ``.../name.summary.csv``, in the same folder (and store) as the source.

    :param source: the extracted report.
    """
    return source.parent / (source.stem + SUMMARY_SUFFIX)


# --8<-- [start:dag]
with DAG(
    dag_id="partner_insights_downstream_transform",
    schedule=CUSTOMERS_AND_TENANTS,
    catchup=False,
    params={"source_uri": Param(None, type=["null", "string"], description="Summarise this file instead")},
    tags=["partner-insights", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def summarise_products(
        params: dict[str, Any] | None = None, triggering_asset_events: Any = None
    ) -> list[dict[str, Any]]:
        """Write ``<file>.summary.csv`` next to each new extract and return what was written.

        :param params: the run's params.
        :param triggering_asset_events: injected by Airflow: the asset events that triggered this run.
        """
        from airflow.sdk import ObjectStoragePath

        uris = source_uris(params or {}, triggering_asset_events)
        if not uris:
            raise ValueError("nothing to summarise: no source_uri param and no triggering asset event names a file")
        written = []
        for uri in uris:
            source = ObjectStoragePath(uri, conn_id=SOURCE_CONN_ID)
            summary = summarise(read_report(source))
            target = summary_path_for(source)
            with target.open("w") as handle:
                summary.to_csv(handle, index=False)
            written.append({"source": uri, "uri": str(target), "products": len(summary)})
        return written

    summarise_products()
# --8<-- [end:dag]
