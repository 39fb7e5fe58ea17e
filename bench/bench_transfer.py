"""Figures for PartnerInsightsReportToStorageOperator (printed; not a test).

- throughput to file:// vs ``curl -s -o`` of the same sandbox link, per size (goal >= 0.90x);
- peak RSS of the transfer process at the largest size minus at the smallest (goal < 32 MB);
- to S3 (moto) and ADLS (Azurite) vs an fsspec ``put_file`` of the same bytes from a local file
  (goal >= 0.80x). For S3 a second row forces put_file into a multipart upload with our part
  size: s3fs sends a 100 MB file as one PutObject, which costs moto far less CPU than assembling
  a multipart upload, and ours must stream in parts to keep memory bounded;
- where a CSV transfer's CPU goes: our client downloading alone (beside ``curl -o /dev/null``),
  then SHA-256, record counting and writing, each timed alone on the same bytes;
- CSV -> Parquet vs pyarrow's own streaming CSV reader -> Parquet writer on the same local file
  (goal >= 0.90x, the issue's). The goal is judged against pyarrow with its defaults (types inferred); pyarrow
  with our options (every column a string, as the operator writes) is shown beside it.

How it measures, so that the figures can be trusted on a small shared machine:

- every measured action runs in its own process (``--child``): its peak RSS is its own
  (``os.wait4``), and its CPU seconds are those of the measured region only;
- each side is warmed up once first (token, execution read, the store's client, the emulator's
  first multipart upload), then ours and the baseline run alternately ``--repeats`` times and the
  medians are compared, so that a burst of load from other processes hits both sides;
- the package's bytecode is compiled first, as pip does when it installs a wheel;
- ours downloads over TLS from the sandbox (which generates the CSV as it serves it) while the
  baselines read a local file: the emulators' and the sandbox's CPU seconds are printed, since on
  2 cores they compete with ours.

Usage: ``.venv/bin/python bench/bench_transfer.py [--sizes-mb 100,1000] [--store-mb 100] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _figures import Figure, write_figures

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-transfer-airflow-"))

QUERY = "SELECT CustomerName,PartnerLocation,ActiveSeats,Month FROM DynamicsUsage TIMESPAN LAST_MONTH"


# --------------------------------------------------------------------------------------------
# Child side: one measured action per process.


def _quiet_azure_sdk() -> None:
    # The Azure SDK logs every block request's headers at INFO; both sides pay it alike, but it
    # would flood the bench's output.
    import logging

    logging.getLogger("azure").setLevel(logging.WARNING)


def _measured(action: Any) -> dict[str, Any]:
    cpu, started = time.process_time(), time.perf_counter()
    size = action()
    return {"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "bytes": size}


def _child(action: str, spec: dict[str, Any]) -> dict[str, Any]:
    _quiet_azure_sdk()
    if action == "transfer":
        from airflow.sdk import ObjectStoragePath

        from airflow_provider_insights.transfers.report_to_storage import PartnerInsightsReportToStorageOperator

        operator = PartnerInsightsReportToStorageOperator(
            task_id="bench",
            report_id=spec["report_id"],
            execution_id=spec["execution_id"],
            destination=spec["destination"],
            output_format=spec.get("format", "csv"),
            overwrite=True,
            progress_interval=3600,
        )
        # Warm up what curl / put / pyarrow have done before their clock starts (a token, the
        # API's execution read, Airflow's filesystem discovery and the store's client, importing
        # pyarrow), so that the figure is the streaming rate; execute() reads the execution again.
        operator.hook.get_execution(spec["report_id"], spec["execution_id"])
        destination = ObjectStoragePath(spec["destination"])
        _ = destination.fs
        destination.exists()
        if spec.get("format") == "parquet":
            from airflow_provider_insights.transfers._parquet import import_pyarrow

            import_pyarrow()
        return _measured(lambda: operator.execute(context={})["bytes"])  # type: ignore[arg-type]
    if action == "put":
        from airflow.sdk import ObjectStoragePath

        path = ObjectStoragePath(spec["destination"])
        _ = path.fs
        path.exists()  # the store's client, as for ours

        def put() -> int:
            # s3fs sends a file under 2 x 50 MiB in one PutObject; "part_size" forces a multipart
            # upload with parts of our size, so that moto does the same work as for ours.
            extra = {"chunksize": spec["part_size"]} if spec.get("part_size") else {}
            path.fs.put_file(spec["source"], path.path, **extra)
            return os.path.getsize(spec["source"])

        return _measured(put)
    if action == "pyarrow":
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        def convert() -> int:
            read_options, convert_options = None, None
            if spec.get("strings"):  # the operator's options: every column a string
                from airflow_provider_insights.transfers._parquet import CSV_BLOCK_BYTES, read_header

                with open(spec["source"], "rb") as handle:
                    names, _ = read_header(iter([handle.read(1 << 20)]), ",")
                read_options = pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES)
                convert_options = pa_csv.ConvertOptions(
                    column_types={name: pa.string() for name in names},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                )
            reader = pa_csv.open_csv(
                spec["source"],
                read_options=read_options,
                parse_options=pa_csv.ParseOptions(newlines_in_values=True),
                convert_options=convert_options,
            )
            with pq.ParquetWriter(spec["target"], reader.schema, compression="snappy") as writer:
                for batch in reader:
                    writer.write_batch(batch)
            return os.path.getsize(spec["source"])

        return _measured(convert)
    if action == "budget":
        return _cpu_budget(spec["link"])
    raise SystemExit(f"unknown action {action}")


#: Bytes of the download kept in memory to time each stage alone on the same bytes.
BUDGET_SAMPLE_BYTES = 256 << 20


def _cpu_budget(link: str) -> dict[str, Any]:
    """CPU seconds per GB of each thing a CSV transfer does, each alone, on the sandbox's bytes.

    The download is our client reading the secure link and nothing else (TLS, HTTP, urllib3), to
    set beside ``curl -o /dev/null``; SHA-256, record counting and writing are then timed one at a
    time on the first bytes received, as the operator does them.
    """
    import hashlib

    from airflow_provider_insights.hooks.insights import PartnerInsightsHook
    from airflow_provider_insights.transfers._records import RecordCounter
    from airflow_provider_insights.transfers._streaming import DOWNLOAD_CHUNK_BYTES

    hook = PartnerInsightsHook()
    sample: list[bytes] = []
    kept = received = 0
    cpu = time.process_time()
    with hook.open_secure_link(link) as response:
        for chunk in response.iter_raw(DOWNLOAD_CHUNK_BYTES):
            received += len(chunk)
            if kept < BUDGET_SAMPLE_BYTES:
                sample.append(chunk)
                kept += len(chunk)
    download = time.process_time() - cpu

    def per_gb(stage: Any) -> float:
        started = time.process_time()
        stage()
        return (time.process_time() - started) / kept * 1e9

    def write() -> None:
        with tempfile.TemporaryFile() as target:
            for chunk in sample:
                target.write(chunk)

    counter = RecordCounter()
    digest = hashlib.sha256()
    return {
        "bytes": received,
        "cpu": download,
        "sha256": per_gb(lambda: [digest.update(chunk) for chunk in sample]),
        "count": per_gb(lambda: [counter.feed(chunk) for chunk in sample]),
        "write": per_gb(write),
    }


# --------------------------------------------------------------------------------------------
# Parent side.


class _Servers:
    """CPU seconds used by the servers this bench started (sandbox, moto, Azurite)."""

    def __init__(self) -> None:
        import psutil

        self.processes = psutil.Process().children(recursive=True)

    def cpu(self) -> float:
        total = 0.0
        for process in self.processes:
            try:
                times = process.cpu_times()
            except Exception:  # an exited helper process
                continue
            total += times.user + times.system
        return total


def _run_child(action: str, spec: dict[str, Any], env: dict[str, str], servers: _Servers) -> dict[str, Any]:
    """Run one action in a fresh process; add its peak RSS (MB) and the servers' CPU seconds."""
    before = servers.cpu()
    command = [sys.executable, __file__, "--child", action, json.dumps(spec)]
    if action == "transfer" and PROFILE_DIR is not None:
        command = _profiled(command)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    assert process.stdout is not None
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{action} failed with exit code {process.returncode}")
    # The child's figures are its last JSON line (py-spy, when profiling, prints after it).
    last_json = [line for line in output.decode().splitlines() if line.startswith("{")][-1]
    figures: dict[str, Any] = json.loads(last_json)
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    figures["servers_cpu"] = servers.cpu() - before
    return figures


#: Where ``--profile`` writes one py-spy flame graph per transfer (None: no profiling).
PROFILE_DIR: Path | None = None


def _profiled(command: list[str]) -> list[str]:
    """``command`` under py-spy (every thread, native frames): collapsed stacks into PROFILE_DIR."""
    assert PROFILE_DIR is not None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    target = PROFILE_DIR / f"transfer-{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}.folded"
    options = ["--threads", "--native", "--rate", "250", "--format", "raw", "--output", str(target)]
    return [py_spy, "record", *options, "--", *command]


def _curl(link: str, ca_path: str, target: Path, servers: _Servers) -> dict[str, Any]:
    before = servers.cpu()
    started = time.perf_counter()
    process = subprocess.Popen(
        ["curl", "-s", "--cacert", ca_path, "-o", str(target), "-w", "%{size_download}", link], stdout=subprocess.PIPE
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"curl failed with status {status}")
    assert process.stdout is not None
    figures = {
        "seconds": seconds,
        "bytes": int(process.stdout.read()),
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "servers_cpu": servers.cpu() - before,
    }
    if target != Path(os.devnull):
        target.unlink()
    return figures


def _completed_report(sandbox: Any, size_mb: int) -> tuple[str, str, str]:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook
    from airflow_provider_insights.models import ExecutionStatus

    sandbox.admin.configure(pending_s=0, running_s=0, report_bytes=size_mb * 1_000_000)
    hook = PartnerInsightsHook()
    query = hook.create_query(name=f"bench-{uuid.uuid4().hex[:8]}", query=QUERY)
    report = hook.create_report(report_name=f"bench-{uuid.uuid4().hex[:8]}", query_id=query.query_id, execute_now=True)
    execution = hook.get_latest_execution(report.report_id, statuses=(ExecutionStatus.COMPLETED,))
    assert execution is not None and execution.report_access_secure_link
    return report.report_id, execution.execution_id, execution.report_access_secure_link


def _mbps(figures: dict[str, Any]) -> float:
    return float(figures["bytes"]) / figures["seconds"] / 1e6


def _alternate(repeats: int, ours: Any, baseline: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run ``ours`` and ``baseline`` alternately; the first pair is a warm-up and is dropped."""
    ours(), baseline()
    ours_runs, baseline_runs = [], []
    for _ in range(repeats):
        ours_runs.append(ours())
        baseline_runs.append(baseline())
    return ours_runs, baseline_runs


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(run[key]) for run in runs)


class _Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []
        self.figures: list[Figure] = []

    def ratio(
        self, name: str, ours: list[dict[str, Any]], baseline: list[dict[str, Any]], goal: float, baseline_name: str
    ) -> None:
        ours_rate = statistics.median(_mbps(run) for run in ours)
        base_rate = statistics.median(_mbps(run) for run in baseline)
        ratio = ours_rate / base_rate
        self.figures.append(
            Figure(
                name,
                "MB/s",
                [_mbps(run) for run in ours],
                baseline_name,
                [_mbps(run) for run in baseline],
                f">= {goal:.2f}x",
                ratio >= goal,
            )
        )
        spread = f"{min(_mbps(r) for r in ours):.0f}-{max(_mbps(r) for r in ours):.0f}"
        cpu = f"{_median(ours, 'cpu'):.2f}" if "cpu" in ours[0] else "-"
        base_cpu = f"{_median(baseline, 'cpu'):.2f}" if "cpu" in baseline[0] else "-"
        self.rows.append(
            (
                name,
                f"{ours_rate:.1f} ({spread})",
                f"{base_rate:.1f} {baseline_name}",
                f"{ratio:.2f}x",
                f">= {goal:.2f}x",
                "met" if ratio >= goal else f"MISSED by {goal - ratio:.2f}",
                f"{cpu} / {base_cpu}",
                f"{_median(ours, 'servers_cpu'):.2f} / {_median(baseline, 'servers_cpu'):.2f}",
                f"{max(r['peak_rss_mb'] for r in ours):.0f}",
            )
        )

    def value(self, name: str, value: str, goal: str, met: bool | None) -> None:
        result = "" if met is None else ("met" if met else "MISSED")
        self.rows.append((name, value, "", "", goal, result, "", "", ""))

    def cpu_per_gb(self, name: str, ours: list[dict[str, Any]], baseline: list[dict[str, Any]], baseline_name: str):
        """CPU seconds per GB moved, ours beside the baseline's (goal for ours: <= 1.2)."""
        values = [run["cpu"] / run["bytes"] * 1e9 for run in ours]
        base = [run["cpu"] / run["bytes"] * 1e9 for run in baseline]
        met = statistics.median(values) <= 1.2
        self.figures.append(Figure(name, "CPU-s/GB", values, baseline_name, base, "<= 1.2", met, False))
        self.value(
            name, f"{statistics.median(values):.2f} ({baseline_name} {statistics.median(base):.2f})", "<= 1.2", met
        )

    def server_cpu_per_gb(
        self, name: str, ours: list[dict[str, Any]], baseline: list[dict[str, Any]], baseline_name: str
    ) -> None:
        """The servers' CPU seconds per GB while ours and the baseline ran: on 2 cores they compete."""
        values = [run["servers_cpu"] / run["bytes"] * 1e9 for run in ours]
        base = [run["servers_cpu"] / run["bytes"] * 1e9 for run in baseline]
        self.figures.append(Figure(name, "CPU-s/GB", values, baseline_name, base, higher_is_better=False))
        self.value(name, f"{statistics.median(values):.2f} ({baseline_name} {statistics.median(base):.2f})", "", None)

    def peak_rss(self, name: str, runs: list[dict[str, Any]], goal: str = "", met: bool | None = None) -> None:
        values = [run["peak_rss_mb"] for run in runs]
        self.figures.append(Figure(name, "MB", values, goal=goal, met=met, higher_is_better=False))
        self.value(name, f"{max(values):.0f} MB", goal, met)

    def print(self) -> None:
        header = (
            "measure",
            "ours MB/s (min-max)",
            "baseline MB/s",
            "ratio",
            "goal",
            "result",
            "cpu s ours/base",
            "servers cpu s ours/base",
            "peak RSS MB",
        )
        widths = [max(len(row[i]) for row in [header, *self.rows]) for i in range(len(header))]
        for row in [header, tuple("-" * width for width in widths), *self.rows]:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", default="100,1000", help="report sizes for the file:// comparison")
    parser.add_argument("--store-mb", type=int, default=100, help="report size for S3 / ADLS / Parquet")
    parser.add_argument("--repeats", type=int, default=3, help="measured runs per side (after one warm-up)")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: file,stores,parquet")
    parser.add_argument("--json", help="also write the figures there (for run_all.py)")
    parser.add_argument(
        "--profile", help="run each transfer under py-spy (pip install py-spy), collapsed stacks into this folder"
    )
    args = parser.parse_args()
    if args.profile:
        global PROFILE_DIR
        PROFILE_DIR = Path(args.profile).resolve()
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    sizes = [int(size) for size in args.sizes_mb.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    # Installed from a wheel, the package has its bytecode compiled (pip does it); run from this
    # checkout under PYTHONDONTWRITEBYTECODE, each transfer process would compile it first.
    compileall.compile_dir(str(REPO_ROOT / "airflow_provider_insights"), quiet=1)

    from airflow_provider_insights.sandbox import SandboxProcess
    from tests.fixtures import storage

    work = Path(tempfile.mkdtemp(prefix="bench-transfer-"))
    table = _Table()
    print(
        f"{os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}; "
        f"median of {args.repeats} alternating runs per side after one warm-up pair",
        flush=True,
    )
    try:
        with (
            SandboxProcess(state_dir=work / "sandbox") as sandbox,
            storage.start_moto() as s3_endpoint,
            storage.start_azurite() as blob_endpoint,
        ):
            env = dict(os.environ)
            env["AIRFLOW_CONN_PARTNER_INSIGHTS_DEFAULT"] = sandbox.connection_uri_env()
            env[storage.conn_env_name(storage.S3_CONN_ID)] = json.dumps(storage.s3_connection(s3_endpoint))
            env[storage.conn_env_name(storage.AZURE_CONN_ID)] = json.dumps(storage.azure_connection(blob_endpoint))
            os.environ.update(env)
            servers = _Servers()
            s3 = storage.S3Store(endpoint=s3_endpoint, bucket="bench-bucket")
            s3.client().create_bucket(Bucket=s3.bucket)
            azure = storage.AzureStore(blob_endpoint=blob_endpoint, container="bench-container")
            azure.container_client().create_container()

            if "file" not in skip:
                rss: dict[int, float] = {}
                links: dict[int, str] = {}
                for size in sizes:
                    report_id, execution_id, link = _completed_report(sandbox, size)
                    links[size] = link
                    spec = {
                        "report_id": report_id,
                        "execution_id": execution_id,
                        "destination": f"file://{work / 'ours.csv'}",
                    }
                    ours, curl = _alternate(
                        args.repeats,
                        lambda spec=spec: _run_child("transfer", spec, env, servers),
                        lambda link=link: _curl(link, str(sandbox.ca_path), work / "curl.csv", servers),
                    )
                    table.ratio(f"file:// {size} MB vs curl", ours, curl, 0.90 if size >= 1000 else 0.80, "curl")
                    table.cpu_per_gb(f"CPU per GB, file:// {size} MB", ours, curl, "curl")
                    table.server_cpu_per_gb(f"CPU per GB, the sandbox serving file:// {size} MB", ours, curl, "curl")
                    table.peak_rss(f"peak RSS, CSV {size} MB", ours)
                    rss[size] = max(run["peak_rss_mb"] for run in ours)
                    print(f"  done file:// {size} MB", flush=True)
                _cpu_budget_rows(table, links[max(sizes)], str(sandbox.ca_path), env, servers, args.repeats)
                if len(sizes) > 1:
                    growth = rss[max(sizes)] - rss[min(sizes)]
                    table.value(
                        f"peak RSS {max(sizes)} MB - {min(sizes)} MB", f"{growth:+.1f} MB", "< 32 MB", growth < 32
                    )
                    table.figures.append(
                        Figure(
                            f"peak RSS growth, CSV {min(sizes)} -> {max(sizes)} MB",
                            "MB",
                            [growth],
                            goal="< 32 MB",
                            met=growth < 32,
                            higher_is_better=False,
                        )
                    )

            report_id, execution_id, _link = _completed_report(sandbox, args.store_mb)
            local = work / "store-source.csv"
            _run_child(
                "transfer",
                {"report_id": report_id, "execution_id": execution_id, "destination": f"file://{local}"},
                env,
                servers,
            )
            if "stores" not in skip:
                for name, url_of in (("S3 (moto)", s3.url), ("ADLS (Azurite)", azure.url)):
                    ours_spec = {
                        "report_id": report_id,
                        "execution_id": execution_id,
                        "destination": url_of("ours.csv"),
                    }
                    put_spec: dict[str, Any] = {"source": str(local), "destination": url_of("put.csv")}
                    ours, put = _alternate(
                        args.repeats,
                        lambda spec=ours_spec: _run_child("transfer", spec, env, servers),
                        lambda spec=put_spec: _run_child("put", spec, env, servers),
                    )
                    table.ratio(f"{name} {args.store_mb} MB vs put", ours, put, 0.80, "put")
                    print(f"  done {name}", flush=True)
                # Like with like on S3: the same multipart upload with the same part size.
                from airflow_provider_insights.transfers._atomic import UPLOAD_PART_BYTES

                ours_spec = {"report_id": report_id, "execution_id": execution_id, "destination": s3.url("ours.csv")}
                put_spec = {
                    "source": str(local),
                    "destination": s3.url("put.csv"),
                    "part_size": UPLOAD_PART_BYTES,
                }
                ours, put = _alternate(
                    args.repeats,
                    lambda spec=ours_spec: _run_child("transfer", spec, env, servers),
                    lambda spec=put_spec: _run_child("put", spec, env, servers),
                )
                table.ratio(
                    f"S3 (moto) {args.store_mb} MB vs put, both multipart {UPLOAD_PART_BYTES >> 20} MiB parts",
                    ours,
                    put,
                    0.80,
                    "put",
                )

            if "parquet" not in skip:
                ours_spec = {
                    "report_id": report_id,
                    "execution_id": execution_id,
                    "destination": f"file://{work / 'ours.parquet'}",
                    "format": "parquet",
                }

                def ours_parquet() -> dict[str, Any]:
                    figures = _run_child("transfer", ours_spec, env, servers)
                    figures["bytes"] = local.stat().st_size  # rate over the CSV bytes, like the baseline
                    return figures

                for label, strings in (("defaults", False), ("our options", True)):
                    pa_spec: dict[str, Any] = {
                        "source": str(local),
                        "target": str(work / "pa.parquet"),
                        "strings": strings,
                    }
                    ours, baseline = _alternate(
                        args.repeats, ours_parquet, lambda spec=pa_spec: _run_child("pyarrow", spec, env, servers)
                    )
                    table.ratio(
                        f"CSV->Parquet {args.store_mb} MB vs pyarrow ({label})", ours, baseline, 0.90, "pyarrow"
                    )
                _parquet_memory(table, sizes, sandbox, work, env, servers, args.repeats)
                print("  done parquet", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")
    print("cpu s: CPU seconds of the measured region (ours includes download, TLS, decoding and hashing);")
    print("servers cpu s: sandbox + moto + Azurite CPU seconds during the run (curl/put/pyarrow need no sandbox).")
    table.print()
    write_figures(args.json, table.figures)


def _cpu_budget_rows(
    table: _Table, link: str, ca_path: str, env: dict[str, str], servers: _Servers, repeats: int
) -> None:
    """Where a CSV transfer's CPU goes: each stage alone, per GB, on the largest report."""
    ours, curl = _alternate(
        repeats,
        lambda: _run_child("budget", {"link": link}, env, servers),
        lambda: _curl(link, ca_path, Path(os.devnull), servers),
    )
    curl_per_gb = [run["cpu"] / run["bytes"] * 1e9 for run in curl]
    stages = (
        ("download only (our client: TLS, HTTP)", [run["cpu"] / run["bytes"] * 1e9 for run in ours]),
        ("SHA-256", [run["sha256"] for run in ours]),
        ("record counting", [run["count"] for run in ours]),
        ("writing to a local file", [run["write"] for run in ours]),
    )
    for stage, values in stages:
        name = f"CPU per GB, {stage}"
        baseline = ("curl -o /dev/null", curl_per_gb) if stage.startswith("download") else ("", [])
        table.figures.append(Figure(name, "CPU-s/GB", values, baseline[0], baseline[1], higher_is_better=False))
        beside = f" ({baseline[0]} {statistics.median(baseline[1]):.2f})" if baseline[0] else ""
        table.value(name, f"{statistics.median(values):.2f}{beside}", "", None)


def _parquet_memory(
    table: _Table, sizes: list[int], sandbox: Any, work: Path, env: dict[str, str], servers: _Servers, repeats: int
) -> None:
    """Peak RSS of CSV -> Parquet at each size: it must not grow with the report (goal < 32 MB)."""
    peaks: dict[int, float] = {}
    for size in sizes:
        report_id, execution_id, _link = _completed_report(sandbox, size)
        spec = {
            "report_id": report_id,
            "execution_id": execution_id,
            "destination": f"file://{work / 'rss.parquet'}",
            "format": "parquet",
        }
        runs = [_run_child("transfer", spec, env, servers) for _ in range(max(1, repeats))]
        table.peak_rss(f"peak RSS, CSV->Parquet {size} MB", runs)
        peaks[size] = statistics.median(run["peak_rss_mb"] for run in runs)
    if len(sizes) > 1:
        growth = peaks[max(sizes)] - peaks[min(sizes)]
        name = f"peak RSS growth, Parquet {min(sizes)} -> {max(sizes)} MB"
        table.value(name, f"{growth:+.1f} MB", "< 32 MB", growth < 32)
        table.figures.append(Figure(name, "MB", [growth], goal="< 32 MB", met=growth < 32, higher_is_better=False))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], json.loads(sys.argv[3]))))
    else:
        main()
