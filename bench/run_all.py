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
- **S3 / ADLS vs put**: the operator streaming into moto / Azurite against fsspec's `put_file`
  of the same bytes from a local file, with its defaults.
- **Parquet**: the operator converting on the way against pyarrow's own streaming CSV reader
  and Parquet writer reading a local file; peak RSS at two sizes must not grow with the size.
- **Triggers**: 1,000 of our execution triggers polling the sandbox, against 1,000 of Airflow's
  `TimeDeltaTrigger` in the same harness; the worst stall is the longest lateness of a 10 ms
  sleep in the same event loop.

What bounds the goals still missed (profiled with `bench/bench_transfer.py --profile DIR`, which
runs each transfer under py-spy; December 2026, this machine):

- **file:// vs curl** is bound by CPU, on 2 cores shared with the sandbox. The sandbox spends about
  1.35 CPU-s per GB serving (generating the CSV as it goes), for curl as for us. Ours spends
  2.5-2.8, so the two together need about 4 CPU-s per GB. Even with perfect overlap that allows
  about 500 MB/s, 0.7-0.8x of curl's 630-730. Ours reaches about 75-80% of that bound. The profile shows the
  download thread busy reading TLS (a third of that time waiting for the GIL). The writing
  thread was about 40% record counting, 34% SHA-256 and 8% writing. Record counting went from 1.46
  to 0.57 CPU-s/GB (`bytes.translate` instead of numpy). A third thread that hashes and writes
  while this one counts was tried: no faster, and 0.1-0.2 CPU-s/GB more.
- **CPU per GB <= 1.2** is below what the transfer must do in Python here. Reading TLS (`ssl`, one
  call per 16 KiB record) costs about 0.8 CPU-s/GB, SHA-256 about 0.55, counting records 0.57 on
  this quote-heavy sandbox file (0.4 without quotes), and writing to the page cache 0.3.
  `readinto` into a reused buffer measured the same as urllib3's `stream`. curl, which neither
  hashes nor counts, used 1.4-1.6.
- **S3 vs put with its defaults**: s3fs sends a 100 MB file as one PutObject. Ours must stream in
  parts to keep memory bounded, and moto spends more CPU assembling a multipart upload. Against
  put forced into the same 8 MiB parts, ours is at parity (the "both multipart" row). Three parts
  now upload at once while the download goes on (`transfers/_s3_upload.py`); s3fs's own write
  file sent one at a time.
- **CSV->Parquet vs pyarrow**: pyarrow's parser and Parquet encoder take most of the time on both
  sides. Ours also downloads over TLS while the sandbox competes for the same 2 cores, and it
  reads every column as a string (the baseline with the same options is the second row).
- **Worst stall < 100 ms** (met in this run): a full garbage collection of the imported heap alone
  (Airflow and this provider, about 166,000 objects, no trigger running) took 260-330 ms. The
  triggers cause one when the objects promoted while polls are in flight reach a quarter of that
  heap. Runs without one stalled about 100 ms, against the baseline's 570 ms: 1,000
  `TimeDeltaTrigger`s each log a line every second, all in the same loop iteration.
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
