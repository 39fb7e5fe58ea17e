"""The names this provider takes from Airflow, wherever the supported Airflow versions keep them.

Airflow 3.2 moved ``conf`` and the task exceptions into the task SDK (``airflow.sdk``); Airflow 3.1
has them only in ``airflow.configuration`` and ``airflow.exceptions``. On 3.2+ the old spellings are
the same objects (re-exports), so catching one catches the other. One place for every fallback:
the rest of the package imports these names from here. README "Supported versions" says which
Airflow versions CI proves.
"""

from __future__ import annotations

from typing import Any

try:
    from airflow.sdk import conf
except ImportError:  # Airflow 3.1
    from airflow.configuration import conf  # type: ignore[no-redef,assignment]

try:
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
    )
except ImportError:  # Airflow 3.1
    from airflow.exceptions import (  # type: ignore[no-redef,assignment]
        AirflowException,
        AirflowNotFoundException,
        AirflowSensorTimeout,
    )

__all__ = ["AirflowException", "AirflowNotFoundException", "AirflowSensorTimeout", "conf", "storage_conn_id"]


def storage_conn_id(path: Any) -> str | None:
    """The connection an ``ObjectStoragePath`` uses (Airflow 3.1 keeps it only in ``storage_options``).

    :param path: an ``airflow.sdk.ObjectStoragePath``.
    """
    conn_id = getattr(path, "conn_id", None)
    return conn_id if conn_id is not None else path.storage_options.get("conn_id")
