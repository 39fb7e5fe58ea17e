"""Figures for partition_by (printed; not a test): peak memory against the number of days.

The same report size is landed partitioned by day for windows of 10 and 90 days (and more with
``--days``), to a local folder, each landing in its own process (its peak RSS is its own,
``os.wait4``). Goal: the peak does not grow with the number of days (rows are spooled to disk
through a buffer of fixed size; only a row count per day is kept in memory). The unpartitioned copy of the same
report is shown beside it for reference.

Usage: ``.venv/bin/python bench/bench_partitions.py [--size-mb 100] [--days 10,90] [--format csv]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-partitions-airflow-"))

QUERY = "SELECT CustomerName,PartnerLocation,ActiveSeats,Month FROM DynamicsUsage TIMESPAN LAST_MONTH"
FIRST_DAY = date(2026, 8, 1)


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

    operator = PartnerInsightsReportToStorageOperator(
        task_id="bench",
        report_id=spec["report_id"],
        execution_id=spec["execution_id"],
        destination=spec["destination"],
        output_format=spec["format"],
        partition_by=spec["partition_by"],
        overwrite=True,
        progress_interval=3600,
    )
    started = time.perf_counter()
    result = operator.execute(context={})  # type: ignore[arg-type]
    return {
        "seconds": time.perf_counter() - started,
        "rows": result["rows"],
        "bytes": result["bytes"],
        "partitions": len(result.get("partitions", [])),
    }


def _run_child(spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Land once in a fresh process; add its peak RSS in MB."""
    process = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(spec)], stdout=subprocess.PIPE, env=env)
    assert process.stdout is not None
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"landing {spec} failed")
    figures: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return figures


def _completed_report(sandbox: Any, size_mb: int, days: int) -> tuple[str, str]:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook
    from airflow_provider_insights.models import ExecutionStatus

    sandbox.admin.configure(pending_s=0, running_s=0, report_bytes=size_mb * 1_000_000)
    hook = PartnerInsightsHook()
    query = hook.create_query(name=f"bench-{uuid.uuid4().hex[:8]}", query=QUERY)
    report = hook.create_report(
        report_name=f"bench-{uuid.uuid4().hex[:8]}",
        query_id=query.query_id,
        execute_now=True,
        query_start_time=f"{FIRST_DAY}T00:00:00Z",
        query_end_time=f"{FIRST_DAY + timedelta(days=days - 1)}T23:59:59Z",
    )
    execution = hook.get_latest_execution(report.report_id, statuses=(ExecutionStatus.COMPLETED,))
    assert execution is not None
    return report.report_id, execution.execution_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100, help="report size, the same for every window")
    parser.add_argument("--days", default="10,90", help="comma-separated window lengths in days")
    parser.add_argument("--format", default="csv", choices=("csv", "parquet"))
    args = parser.parse_args()
    windows = [int(days) for days in args.days.split(",")]

    from airflow_provider_insights.sandbox import SandboxProcess

    work = Path(tempfile.mkdtemp(prefix="bench-partitions-"))
    print(f"{os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}; {args.size_mb} MB report")
    try:
        with SandboxProcess(state_dir=work / "sandbox") as sandbox:
            env = dict(os.environ, AIRFLOW_CONN_PARTNER_INSIGHTS_DEFAULT=sandbox.connection_uri_env())
            os.environ.update(env)
            rss = {}
            for days in [None, *windows]:
                report_id, execution_id = _completed_report(sandbox, args.size_mb, days or 1)
                folder = work / f"out-{days}"
                spec = {
                    "report_id": report_id,
                    "execution_id": execution_id,
                    "destination": f"file://{folder}/" if days else f"file://{folder}.{args.format}",
                    "format": args.format,
                    "partition_by": "Month" if days else None,
                }
                figures = _run_child(spec, env)
                what = f"{days} days partitioned" if days else "unpartitioned copy"
                print(
                    f"{what:>24}: peak RSS {figures['peak_rss_mb']:7.1f} MB, {figures['rows']} rows, "
                    f"{figures['partitions']} partitions, {figures['bytes'] / 1e6:.1f} MB written in "
                    f"{figures['seconds']:.1f} s",
                    flush=True,
                )
                rss[days] = figures["peak_rss_mb"]
                shutil.rmtree(folder, ignore_errors=True)
            growth = rss[max(windows)] - rss[min(windows)]
            print(f"peak RSS {max(windows)} days - {min(windows)} days: {growth:+.1f} MB (goal: no growth, < 8 MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(_child(json.loads(sys.argv[2]))))
    else:
        main()
