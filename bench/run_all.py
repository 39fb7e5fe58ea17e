"""``make bench``: run every benchmark, print one table of every figure, write docs/content/performance.md.

Each bench runs in its own process and hands its figures over as JSON (``--json``); this script
prints them together, with the min, median and max over the runs, and writes the page with the
machine, the command and the same table. Not a test: nothing here fails on a missed goal.

Usage: ``python bench/run_all.py [--quick] [--no-docs]``. ``--quick`` runs each side once
(instead of three times) after its warm-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _figures import Figure, markdown_table, print_table, read_figures

BENCH = Path(__file__).resolve().parent
PAGE = BENCH.parent / "docs" / "content" / "performance.md"


def machine() -> str:
    """The machine the figures were taken on: CPU, cores, memory, OS, Python."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {total_kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"{model}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}"
    )


def run_bench(script: str, arguments: list[str], out: Path) -> list[Figure]:
    """Run one bench (its own output shown as it goes) and read the figures it wrote."""
    print(f"== {script} {' '.join(arguments)}", flush=True)
    code = subprocess.call([sys.executable, str(BENCH / script), *arguments, "--json", str(out)])
    if code != 0 or not out.exists():
        print(f"!! {script} failed with exit code {code}", flush=True)
        return []
    return read_figures(out)


def median_of(figures: list[Figure], prefix: str, baseline: bool = False) -> float:
    """The median of the last figure whose name starts with ``prefix`` (or of its baseline); NaN if none."""
    for figure in reversed(figures):
        if figure.name.startswith(prefix):
            value = figure.baseline_median if baseline else figure.median
            return float("nan") if value is None else value
    return float("nan")


def bounds(figures: list[Figure]) -> str:
    """What bounds the goals still missed, with this run's figures."""
    sandbox = median_of(figures, "CPU per GB, the sandbox serving file://")
    ours = median_of(figures, "CPU per GB, file://")
    curl = median_of(figures, "CPU per GB, file://", baseline=True)
    curl_rate = median_of(figures, "file://", baseline=True)
    ours_rate = median_of(figures, "file://")
    download = median_of(figures, "CPU per GB, download only")
    curl_download = median_of(figures, "CPU per GB, download only", baseline=True)
    sha = median_of(figures, "CPU per GB, SHA-256")
    count = median_of(figures, "CPU per GB, record counting")
    write = median_of(figures, "CPU per GB, writing")
    cap = 2 / (sandbox + ours) * 1000
    return f"""What bounds the goals still missed (this run's figures; profiles from
`bench/bench_transfer.py --profile DIR`, which runs each transfer under py-spy):

- **CPU per GB <= 1.2** is below what a CSV transfer costs in Python on this machine, and below
  curl's own figure. The "CPU per GB" rows of each stage alone add up: our client downloading and
  nothing else {download:.2f} (curl `-o /dev/null`: {curl_download:.2f}), SHA-256 {sha:.2f}, record
  counting {count:.2f} on this quote-heavy sandbox file, writing {write:.2f}: {download + sha + count + write:.2f},
  against {ours:.2f} measured for the whole transfer. The digest and the row count are in the
  transfer's result; curl computes neither. Counting is one `bytes.translate` pass plus two on
  what it keeps (numpy took 2.5x longer; `bytes.count` of line breaks alone costs about half of
  it, so no pure-Python counter can be much cheaper).
- **file:// vs curl** is bound by CPU, on 2 cores shared with the sandbox, which spends
  {sandbox:.2f} CPU-s per GB generating and serving the CSV, for curl as for us. With ours at
  {ours:.2f} CPU-s per GB (curl {curl:.2f}), the two need {sandbox + ours:.2f} CPU-s per GB: even with
  perfect overlap that allows about {cap:.0f} MB/s (ours reached {ours_rate:.0f}), against curl's
  {curl_rate:.0f}. A third thread
  that hashes and writes while another counts was tried: on 2 cores it was no faster and cost
  0.1-0.2 CPU-s/GB more; on 4 cores it would take the writing stage off the critical path.
- **S3 vs put with its defaults**: s3fs sends a 100 MB file as one PutObject. Ours must stream in
  parts to keep memory bounded, and moto spends more CPU assembling a multipart upload. Against
  put forced into the same 8 MiB parts (the "both multipart" row), the comparison is like with
  like. Three parts upload at once while the download goes on (`transfers/_s3_upload.py`);
  s3fs's own write file sends one at a time.
- **CSV->Parquet vs pyarrow**: pyarrow's parser and Parquet encoder take most of the time on both
  sides. Ours also downloads over TLS (the download row above) while the sandbox competes for the
  same 2 cores, and the baseline reads a local file; ours reads every column as a string (the
  baseline with the same options is the second row).
- **Worst stall < 100 ms**: a full garbage collection of the imported heap alone (Airflow and this
  provider, about 169,000 objects, no trigger running) takes 200-330 ms; the "longest full GC" row
  shows in how many runs one happened. Python starts one when the objects promoted to the oldest
  generation since the last reach a quarter of it, about 42,000. In an instrumented run (December
  2026), that generation grew by 35,000-48,000 objects with ours and 15,000-21,000 with the
  baseline (whose trigger objects were made before the count started): most of each trigger's
  long-lived objects are asyncio's and Airflow's (its task, context, coroutines, timer and
  logger), which the baseline has too; ours also keep a hook, the poll's state and the last
  verdict, and have requests in flight. Without a full collection, ours
  stalls far less than the baseline, whose 1,000 `TimeDeltaTrigger`s each log a line every
  second, all in the same loop iteration.
"""


def write_page(
    figures: list[Figure], command: str, started: datetime, minutes: float, loads: tuple[float, float]
) -> None:
    text = f"""# Performance

The figures below are written by `make bench` (`{command}`); re-run it to refresh them.
Each side of a comparison runs in its own process, alternately with the other, after a warm-up
pair; the table gives the min, median and max of ours over the runs and the baseline's median.
What each bench measures and how is described at the top of `bench/bench_transfer.py` and
`bench/bench_triggers.py`.

- Machine: {machine()}
- Taken: {started:%Y-%m-%d %H:%M} UTC, in {minutes:.1f} minutes; load average {loads[0]:.1f} at the start,
  {loads[1]:.1f} at the end (a shared machine makes wall-clock ratios noisy: CPU seconds and peak
  RSS are steadier).

{markdown_table(figures)}

How to read it:

- **file:// vs curl**: the operator's transfer (token and execution read warmed up, as curl
  needs neither) against `curl -s -o` of the same secure link, both over TLS from the sandbox.
  Ours also hashes every byte (SHA-256), which curl does not.
- **CPU per GB**: user + system CPU seconds of the whole transfer process over the measured
  region, per GB moved; curl's from `wait4`.
- **CPU per GB of a stage** (download only, SHA-256, record counting, writing): each part of a
  CSV transfer alone, on the largest report: our client reading the secure link and nothing else
  (beside `curl -o /dev/null`), then each other stage timed on the first 256 MiB it received.
- **CPU per GB, the sandbox serving**: what the sandbox spent while ours (and curl) ran.
- **S3 / ADLS vs put**: the operator streaming into moto / Azurite against fsspec's `put_file`
  of the same bytes from a local file, with its defaults.
- **Parquet**: the operator converting on the way against pyarrow's own streaming CSV reader
  and Parquet writer reading a local file; peak RSS at two sizes must not grow with the size.
- **Triggers**: 1,000 of our execution triggers polling the sandbox, against 1,000 of Airflow's
  `TimeDeltaTrigger` in the same harness; the worst stall is the longest lateness of a 10 ms
  sleep in the same event loop.

{bounds(figures)}
"""
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(BENCH.parent)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one measured run per side instead of three")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/content/performance.md")
    args = parser.parse_args()
    repeats = "1" if args.quick else "3"
    started, clock = datetime.now(timezone.utc), time.monotonic()
    load_start = os.getloadavg()[0]
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as folder:
        figures += run_bench("bench_transfer.py", ["--repeats", repeats], Path(folder) / "transfer.json")
        figures += run_bench("bench_partitions.py", [], Path(folder) / "partitions.json")
        figures += run_bench(
            "bench_triggers.py", ["--repeats", repeats, "--skip-lifecycle"], Path(folder) / "triggers.json"
        )
    minutes = (time.monotonic() - clock) / 60
    print(f"\n== every figure ({minutes:.1f} minutes; load average {load_start:.1f} -> {os.getloadavg()[0]:.1f})")
    print_table(figures)
    if not args.no_docs and figures:
        command = "make bench" + (" BENCH_ARGS=--quick" if args.quick else "")
        write_page(figures, command, started, minutes, (load_start, os.getloadavg()[0]))
    return 0 if figures else 1


if __name__ == "__main__":
    sys.exit(main())
