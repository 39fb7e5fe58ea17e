"""``airflow api-server``, with the fix of apache/airflow#73298 applied where the installed Airflow lacks it.

Airflow 3.3.2's UI sends ``port: 0`` when it tests a saved connection without a port (``Number(null)``),
and its API takes that for another destination and refuses the test with HTTP 400 ("The host or port to
test differs from the stored connection"), whatever the connection type. Upstream fixed the API so that
port ``0`` means no port; this launcher does the same (one function of the route module, in this process
only) so that the browser test exercises the provider rather than that bug. Nothing else is changed.

Usage: ``python tests/ui/api_server.py <api-server arguments>`` (the environment configures Airflow).
"""

from __future__ import annotations

import sys


def _apply_port_zero_fix() -> bool:
    """Treat port 0 like a blank port when the test route compares endpoints; ``True`` if it was needed."""
    from airflow.api_fastapi.core_api.routes.public import connections

    original = getattr(connections, "_same_endpoint", None)
    if original is None or original(0, None):  # Airflow 3.1 does not compare endpoints at all
        return False

    def same_endpoint(requested: str | int | None, stored: str | int | None) -> bool:
        return original(None if requested == 0 else requested, None if stored == 0 else stored)

    connections._same_endpoint = same_endpoint
    return True


def main() -> None:
    """Run ``airflow api-server`` with the given arguments, in this process (one uvicorn worker)."""
    if _apply_port_zero_fix():
        print("api_server.py: applied the fix of apache/airflow#73298 (port 0 is no port)", flush=True)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", "api-server", *sys.argv[1:]]
    airflow_main()


if __name__ == "__main__":
    main()
