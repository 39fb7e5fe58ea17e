"""Where the daily extract writes, and the Asset naming it: one definition for the producer and the consumer.

Both ``partner_insights_daily_extract`` (whose transfer declares the Asset as its outlet) and
``partner_insights_downstream_transform`` (scheduled on it) import ``CUSTOMERS_AND_TENANTS`` from here,
so the consumer is scheduled on exactly the Asset the producer updates, name and URI alike. Scheduling on
``Asset.ref(name=...)`` instead looks equivalent under ``dag.test()``, but in a deployment the triggered
run receives no ``triggering_asset_events`` (found by ``make e2e``).

Read from the environment when a file is parsed (set it for every Airflow component):

- ``PARTNER_INSIGHTS_DESTINATION_ROOT``: a folder URI. Default: a local ``file://`` folder under
  ``$INSIGHTS_DEMO_DIR/.airflow/data`` (the repository by default), which is what ``make demo`` uses.
- ``PARTNER_INSIGHTS_DESTINATION_CONN_ID``: the Airflow connection of that store, if it needs one.

Copy this file into your DAGs folder next to the two example files. It defines no DAG, and is listed
in ``.airflowignore`` so the DAG processor does not parse it on its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import Asset


def _default_destination_root() -> str:
    """A local folder under the demo directory, as a ``file://`` URI (no credentials needed)."""
    demo_dir = Path(os.environ.get("INSIGHTS_DEMO_DIR") or Path(__file__).resolve().parents[1])
    return (demo_dir.resolve() / ".airflow" / "data" / "partner_insights").as_uri()


# Alternatives (set the environment of every Airflow component, not just the scheduler):
#   S3:    PARTNER_INSIGHTS_DESTINATION_ROOT=s3://my-bucket/partner-insights
#          PARTNER_INSIGHTS_DESTINATION_CONN_ID=aws_default
#   ADLS:  PARTNER_INSIGHTS_DESTINATION_ROOT=abfs://insights/partner-insights  (the account: from the connection)
#          PARTNER_INSIGHTS_DESTINATION_CONN_ID=azure_data_lake_default
#   GCS:   PARTNER_INSIGHTS_DESTINATION_ROOT=gs://my-bucket/partner-insights  (the gcs extra: Google provider)
#          PARTNER_INSIGHTS_DESTINATION_CONN_ID=google_cloud_default
DESTINATION_ROOT = (os.environ.get("PARTNER_INSIGHTS_DESTINATION_ROOT") or _default_destination_root()).rstrip("/")
DESTINATION_CONN_ID = os.environ.get("PARTNER_INSIGHTS_DESTINATION_CONN_ID") or None

# --8<-- [start:asset]
# The folder is the Asset: one object per day lands under it. The extract declares it as its
# transfer's outlet and the downstream transform is scheduled on this very object.
CUSTOMERS_AND_TENANTS = Asset(
    name="partner_insights_customers_and_tenants",
    uri=f"{DESTINATION_ROOT}/customers_and_tenants",
)
# --8<-- [end:asset]
