"""Figures for PartnerInsightsReportToStorageOperator (printed; not a test).

- throughput to file:// vs ``curl -s -o`` of the same sandbox link, per size (goal >= 0.90x);
- peak RSS of the transfer process at the largest size minus at the smallest (goal < 32 MB);
- to S3 (moto) and ADLS (Azurite) vs an fsspec ``put`` of the same bytes (goal >= 0.80x);
- CSV -> Parquet vs pyarrow's own streaming CSV reader -> Parquet writer on the same file (goal >= 0.70x).

Each transfer runs in its own process (``--child``) so that its peak RSS is its own (``os.wait4``).
Usage: ``.venv/bin/python bench/bench_transfer.py [--sizes-mb 100,1000] [--store-mb 100]``
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
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-transfer-airflow-"))

QUERY = "SELECT CustomerName,PartnerLocation,ActiveSeats,Month FROM DynamicsUsage TIMESPAN LAST_MONTH"


# --------------------------------------------------------------------------------------------
# Child side: one measured action per process.


def _child(action: str, spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    if action == "transfer":
        from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

        operator = PartnerInsightsReportToStorageOperator(
            task_id="bench", report_id=spec["report_id"], execution_id=spec["execution_id"],
            destination=spec["destination"], output_format=spec.get("format", "csv"), overwrite=True,
            progress_interval=3600)
        # Warm up what curl does not do (a token, the API's execution read, the store's client),
        # so that the figure is the streaming rate; the execution is read again in execute().
        operator.hook.get_execution(spec["report_id"], spec["execution_id"])
        from airflow.sdk import ObjectStoragePath

        _ = ObjectStoragePath(spec["destination"]).fs
        started = time.perf_counter()
        result = operator.execute(context={})  # type: ignore[arg-type]
        return {"seconds": time.perf_counter() - started, "bytes": result["bytes"]}
    if action == "put":
        from airflow.sdk import ObjectStoragePath

        path = ObjectStoragePath(spec["destination"])
        fs = path.fs
        started = time.perf_counter()
        fs.put_file(spec["source"], path.path)
        return {"seconds": time.perf_counter() - started, "bytes": os.path.getsize(spec["source"])}
    if action == "pyarrow":
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        started = time.perf_counter()
        reader = pa_csv.open_csv(spec["source"], parse_options=pa_csv.ParseOptions(newlines_in_values=True))
        with pq.ParquetWriter(spec["target"], reader.schema, compression="snappy") as writer:
            for batch in reader:
                writer.write_batch(batch)
        return {"seconds": time.perf_counter() - started, "bytes": os.path.getsize(spec["source"])}
    raise SystemExit(f"unknown action {action}")


def _run_child(action: str, spec: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    """Run one action in a fresh process; add its peak RSS (MB)."""
    process = subprocess.Popen([sys.executable, __file__, "--child", action, json.dumps(spec)],
                               stdout=subprocess.PIPE, env=env)
    assert process.stdout is not None
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{action} failed with exit code {process.returncode}")
    figures: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return figures


# --------------------------------------------------------------------------------------------
# Parent side.


def _completed_report(sandbox: Any, size_mb: int) -> tuple[str, str, str]:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook
    from airflow_provider_insights.models import ExecutionStatus

    sandbox.admin.configure(pending_s=0, running_s=0, report_bytes=size_mb * 1_000_000)
    hook = PartnerInsightsHook()
    query = hook.create_query(name=f"bench-{uuid.uuid4().hex[:8]}", query=QUERY)
    report = hook.create_report(report_name=f"bench-{uuid.uuid4().hex[:8]}", query_id=query.query_id,
                                execute_now=True)
    execution = hook.get_latest_execution(report.report_id, statuses=(ExecutionStatus.COMPLETED,))
    assert execution is not None and execution.report_access_secure_link
    return report.report_id, execution.execution_id, execution.report_access_secure_link


def _curl(link: str, ca_path: str, target: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["curl", "-s", "--cacert", ca_path, "-o", str(target), link], check=True)
    return time.perf_counter() - started


def _mbps(figures: dict[str, Any]) -> float:
    return float(figures["bytes"]) / figures["seconds"] / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", default="100,1000", help="report sizes for the file:// comparison")
    parser.add_argument("--store-mb", type=int, default=100, help="report size for S3 / ADLS / Parquet")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes_mb.split(",")]

    from airflow_provider_insights.sandbox import SandboxProcess
    from tests.fixtures import storage

    work = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    try:
        with SandboxProcess(state_dir=work / "sandbox") as sandbox, storage.start_moto() as s3_endpoint, \
                storage.start_azurite() as blob_endpoint:
            env = dict(os.environ)
            env["AIRFLOW_CONN_PARTNER_INSIGHTS_DEFAULT"] = sandbox.connection_uri_env()
            env[storage.conn_env_name(storage.S3_CONN_ID)] = json.dumps(storage.s3_connection(s3_endpoint))
            env[storage.conn_env_name(storage.AZURE_CONN_ID)] = json.dumps(
                storage.azure_connection(blob_endpoint))
            os.environ.update(env)
            s3 = storage.S3Store(endpoint=s3_endpoint, bucket="bench-bucket")
            s3.client().create_bucket(Bucket=s3.bucket)
            azure = storage.AzureStore(blob_endpoint=blob_endpoint, container="bench-container")
            azure.container_client().create_container()

            print("== file:// vs curl (same link, same run)")
            rss: dict[int, float] = {}
            for size in sizes:
                report_id, execution_id, link = _completed_report(sandbox, size)
                curl_seconds = _curl(link, str(sandbox.ca_path), work / "curl.csv")
                curl_bytes = (work / "curl.csv").stat().st_size
                ours = _run_child("transfer", {"report_id": report_id, "execution_id": execution_id,
                                               "destination": f"file://{work / 'ours.csv'}"}, env)
                curl_mbps = curl_bytes / curl_seconds / 1e6
                rss[size] = ours["peak_rss_mb"]
                print(f"{size:>6} MB  ours {_mbps(ours):8.1f} MB/s  curl {curl_mbps:8.1f} MB/s  "
                      f"ratio {_mbps(ours) / curl_mbps:5.2f}x (goal >= 0.90)  peak RSS {ours['peak_rss_mb']:.0f} MB")
                (work / "curl.csv").unlink()
            if len(sizes) > 1:
                growth = rss[max(sizes)] - rss[min(sizes)]
                print(f"peak RSS {max(sizes)} MB minus {min(sizes)} MB: {growth:+.1f} MB (goal < 32)")

            print(f"== object stores ({args.store_mb} MB) vs fsspec put of the same bytes")
            report_id, execution_id, _link = _completed_report(sandbox, args.store_mb)
            local = work / "store-source.csv"
            _run_child("transfer", {"report_id": report_id, "execution_id": execution_id,
                                    "destination": f"file://{local}"}, env)
            for name, url_of in (("S3 (moto)", s3.url), ("ADLS (Azurite)", azure.url)):
                ours = _run_child("transfer", {"report_id": report_id, "execution_id": execution_id,
                                               "destination": url_of("ours.csv")}, env)
                put = _run_child("put", {"source": str(local), "destination": url_of("put.csv")}, env)
                print(f"{name:<15} ours {_mbps(ours):8.1f} MB/s  put {_mbps(put):8.1f} MB/s  "
                      f"ratio {_mbps(ours) / _mbps(put):5.2f}x (goal >= 0.80)  peak RSS {ours['peak_rss_mb']:.0f} MB")

            print(f"== CSV -> Parquet ({args.store_mb} MB) vs pyarrow's CSV reader -> Parquet writer")
            ours = _run_child("transfer", {"report_id": report_id, "execution_id": execution_id,
                                           "destination": f"file://{work / 'ours.parquet'}", "format": "parquet"},
                              env)
            ours["bytes"] = local.stat().st_size  # rate over the CSV bytes, like the baseline
            baseline = _run_child("pyarrow", {"source": str(local), "target": str(work / "pa.parquet")}, env)
            print(f"parquet         ours {_mbps(ours):8.1f} MB/s  pyarrow {_mbps(baseline):8.1f} MB/s  "
                  f"ratio {_mbps(ours) / _mbps(baseline):5.2f}x (goal >= 0.70)  "
                  f"peak RSS ours {ours['peak_rss_mb']:.0f} MB, pyarrow {baseline['peak_rss_mb']:.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], json.loads(sys.argv[3]))))
    else:
        main()
