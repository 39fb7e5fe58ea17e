"""Figures for the execution trigger (prints them; not a test).

1. N triggers (default 1,000) waiting at once in one event loop against the sandbox:
   - token requests while they run (goal: 1 per identity),
   - worst event-loop stall (goal: < 100 ms),
   - time from the executions completing to the last event (goal: <= poll interval + 5 s).
   beside a baseline: the same harness (same process set-up, same modules imported, same stall
   probe) running N of Airflow's own ``TimeDeltaTrigger``, which polls nothing and only sleeps.
   Ours and the baseline run alternately, each in a fresh process, ``--repeats`` times
   (goal: our worst stall <= 1.2x the baseline's and < 100 ms).
2. HTTP calls of one one-off report lifecycle (query get-or-create -> report -> deferred wait),
   counted at the sandbox.

Run: ``.venv/bin/python bench/bench_triggers.py [--triggers 1000] [--poll-interval 2] [--repeats 3]
[--mode thread] [--json figures.json]``. The reports are created in a child process and each side
runs in its own, so that the triggers start with a cold token cache and a fresh heap. Both sides'
log lines go to the child's stderr, which is discarded (a triggerer writes them to files).

``--mode thread`` measures the simpler alternative of issue 9: the trigger polls through the *sync*
hook in ``asyncio.to_thread`` (requests, the thread-safe token provider), so the async half of the
hook (``AsyncTransport``, the shared session pool, ``aget_token`` and its locks) would not be needed.
It is prototyped here only (:class:`ThreadedTrigger`), not in the package. ``--thread-workers``
sizes the loop's default executor (Python's default is ``min(32, cores + 4)``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="insights-bench-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

CONN_ID = "partner_insights_default"
QUERY_TEXT = "SELECT CustomerName, Product, BilledRevenueUSD FROM CustomersAndTenants TIMESPAN LAST_MONTH"


def raise_file_limit() -> None:
    """Each trigger holds a connection: lift the soft limit on open files to the hard one."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def create_reports(count: int) -> list[str]:
    """Create one query and ``count`` one-off reports (child process mode)."""
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    hook = PartnerInsightsHook(partner_insights_conn_id=CONN_ID)
    query = hook.create_query(name=f"bench {time.time_ns()}", query=QUERY_TEXT)
    return [
        hook.create_report(report_name=f"bench {i}", query_id=query.query_id, execute_now=True).report_id
        for i in range(count)
    ]


def route_counts(stats: dict[str, Any]) -> Counter[str]:
    """Requests by ``"METHOD route"`` from the sandbox's stats, whichever shape it reports."""
    from tests.operators.helpers import request_counts

    return Counter({f"{method} {route}": n for (method, route), n in request_counts(stats).items()})


async def measure_stalls(stop: asyncio.Event, tick: float = 0.01) -> float:
    """The worst lateness of a ``tick``-second sleep while the triggers run, in seconds."""
    worst = 0.0
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(tick)
        worst = max(worst, loop.time() - before - tick)
    return worst


class FullCollectionTimer:
    """Times the interpreter's full (generation 2) garbage collections, which stop the loop too.

    Their length depends on the whole heap (Airflow's modules included), not on the triggers' code:
    reported beside the worst stall so that the two can be told apart.
    """

    def __init__(self) -> None:
        self.longest = 0.0
        self.count = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.longest = max(self.longest, time.perf_counter() - self._started)


def threaded_trigger_class() -> type:
    """The to_thread prototype: the same trigger, polling with the sync hook in a worker thread."""
    from airflow_provider_insights.triggers.report_execution import PartnerInsightsReportExecutionTrigger

    class ThreadedTrigger(PartnerInsightsReportExecutionTrigger):
        async def _fetch_execution(self, hook: Any) -> Any:
            if self.execution_id:
                return await asyncio.to_thread(hook.get_execution, self.report_id, self.execution_id)
            return await asyncio.to_thread(hook.get_latest_execution, self.report_id)

    return ThreadedTrigger


def open_files() -> int:
    """File descriptors this process holds (sockets included); 0 where ``/proc`` is missing."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


async def count_threads(stop: asyncio.Event, peak: list[int]) -> None:
    """The most threads alive, and file descriptors open, at once while the triggers run (every 50 ms)."""
    while not stop.is_set():
        peak[0] = max(peak[0], threading.active_count())
        peak[1] = max(peak[1], open_files())
        await asyncio.sleep(0.05)


async def run_triggers(
    complete: Any, report_ids: list[str], poll_interval: float, timeout: float, mode: str = "async", workers: int = 0
) -> dict[str, Any]:
    """Run one of our triggers per report; ``complete()`` (awaited) makes every execution complete."""
    # Imported before the loop starts, as the triggerer has imported a trigger's class before running it.
    from airflow_provider_insights.triggers.report_execution import PartnerInsightsReportExecutionTrigger

    trigger_class = threaded_trigger_class() if mode == "thread" else PartnerInsightsReportExecutionTrigger
    if workers:
        from concurrent.futures import ThreadPoolExecutor

        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=workers))
    last_event_at = 0.0
    statuses: Counter[str] = Counter()

    async def one(report_id: str) -> None:
        nonlocal last_event_at
        trigger = trigger_class(
            report_id=report_id,
            partner_insights_conn_id=CONN_ID,
            poll_interval=poll_interval,
            end_time=time.time() + timeout,
        )
        async for event in trigger.run():
            statuses[event.payload["status"]] += 1
            last_event_at = time.monotonic()

    async def all_complete() -> float:
        # Let every trigger poll at least once while the executions are still pending.
        await asyncio.sleep(poll_interval * 2 + 1)
        await complete()
        return time.monotonic()

    figures = await probed(lambda: [one(report_id) for report_id in report_ids], all_complete)
    figures["statuses"] = dict(statuses)
    figures["completion_to_last_event_s"] = last_event_at - figures.pop("completed_at")
    return figures


async def probed(make_waiters: Any, completion: Any) -> dict[str, Any]:
    """Run the coroutines ``make_waiters()`` returns under the stall probe and the GC timer.

    The one harness both sides run in: ``completion()`` runs beside them and returns when it
    considers the waiters' condition met (its monotonic time is returned as ``completed_at``).
    """
    stop = asyncio.Event()
    collections = FullCollectionTimer()
    gc.callbacks.append(collections)
    cpu_before, started = time.process_time(), time.monotonic()
    stall_task = asyncio.create_task(measure_stalls(stop))
    peak_threads = [threading.active_count(), open_files()]
    threads_task = asyncio.create_task(count_threads(stop, peak_threads))
    tasks = [asyncio.create_task(waiter) for waiter in make_waiters()]
    completed_at = await completion()
    await asyncio.gather(*tasks)
    stop.set()
    gc.callbacks.remove(collections)
    await threads_task
    return {
        "peak_threads": peak_threads[0],
        "peak_open_files": peak_threads[1],
        "worst_stall_s": await stall_task,
        "full_gc_count": collections.count,
        "longest_full_gc_s": collections.longest,
        "completed_at": completed_at,
        "cpu_s": time.process_time() - cpu_before,
        "wall_s": time.monotonic() - started,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


async def run_baseline(count: int, seconds: float) -> dict[str, Any]:
    """Run ``count`` of Airflow's ``TimeDeltaTrigger``, each firing after ``seconds``: they poll nothing."""
    from datetime import timedelta

    from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

    fired = Counter[str]()

    async def one() -> None:
        async for _event in TimeDeltaTrigger(timedelta(seconds=seconds)).run():
            fired["fired"] += 1

    async def all_due() -> float:
        await asyncio.sleep(seconds)
        return time.monotonic()

    figures = await probed(lambda: [one() for _ in range(count)], all_due)
    figures["statuses"] = dict(fired)
    figures["completion_to_last_event_s"] = time.monotonic() - figures.pop("completed_at")
    return figures


def lifecycle_calls(sb: Any) -> Counter[str]:
    """Run query -> report -> deferred sensor once (trigger in this loop) and count requests."""
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_insights.operators.queries import PartnerInsightsCreateQueryOperator
    from airflow_provider_insights.operators.reports import PartnerInsightsCreateReportOperator
    from airflow_provider_insights.sensors.report_execution import PartnerInsightsReportExecutionSensor
    from tests.operators.helpers import task_context

    sb.admin.configure(pending_s=0.5, running_s=0.5)
    sb.admin.reset_stats()
    query_id = PartnerInsightsCreateQueryOperator(
        task_id="q", name=f"bench lifecycle {time.time_ns()}", query=QUERY_TEXT
    ).execute(task_context())
    report_id = PartnerInsightsCreateReportOperator(
        task_id="r", report_name="bench lifecycle", query_id=query_id
    ).execute(task_context(logical_date=datetime.now(timezone.utc)))
    sensor = PartnerInsightsReportExecutionSensor(task_id="w", report_id=report_id, deferrable=True, poke_interval=1)
    try:
        sensor.execute(task_context())
    except TaskDeferred as deferred:
        asyncio.run(resume_after(deferred, sensor))
    return route_counts(sb.admin.stats())


async def resume_after(deferred: Any, sensor: Any) -> None:
    """Run the deferred trigger in this loop and hand its event back to the sensor."""
    from tests.operators.helpers import task_context

    async for event in deferred.trigger.run():
        sensor.execute_complete(task_context(), event.payload)


def print_figures(figures: dict[str, Any], args: Any, *, side: str) -> None:
    """Print one side's figures for one run."""
    print(
        f"{side} (mode {args.mode}): triggers: {args.triggers}, poll interval {args.poll_interval:g} s, "
        f"wall time {figures['wall_s']:.1f} s, CPU {figures['cpu_s']:.1f} s, peak RSS {figures['peak_rss_mb']:.0f} MB, "
        f"peak threads {figures['peak_threads']}, peak open files (sockets included) {figures['peak_open_files']}"
    )
    print(f"  events by status: {figures['statuses']}")
    if "token_requests" in figures:
        print(f"  token requests: {figures['token_requests']} (goal: 1 per identity)")
        print(f"  API requests while waiting: {figures['api_requests']}")
    print(f"  worst event-loop stall: {figures['worst_stall_s'] * 1000:.0f} ms (goal: < 100 ms)")
    print(
        f"  longest full garbage collection (whole heap, Airflow's included): "
        f"{figures['longest_full_gc_s'] * 1000:.0f} ms, {figures['full_gc_count']} of them"
    )
    print(f"  condition met -> last event: {figures['completion_to_last_event_s']:.2f} s", flush=True)


# --------------------------------------------------------------------------------------------
# Child side: one side's run in a fresh process (cold token cache, fresh heap).

_ADVANCE = "BENCH-ADVANCE"
_RESULT = "BENCH-RESULT "


def import_both_sides() -> None:
    """Import what either side uses, so that both heaps hold the same modules (as in a triggerer)."""
    import airflow.providers.standard.triggers.temporal  # noqa: F401

    import airflow_provider_insights.hooks.insights
    import airflow_provider_insights.triggers.report_execution  # noqa: F401


def run_child(args: Any) -> None:
    """Run one side and print its figures as the last line (``BENCH-RESULT {json}``)."""
    raise_file_limit()
    import_both_sides()
    gc.collect()
    if args.run == "baseline":
        figures = asyncio.run(run_baseline(args.triggers, baseline_seconds(args)))
    else:
        report_ids = json.loads(Path(args.report_ids).read_text())

        async def complete() -> None:
            # The parent advances the sandbox's clock (every execution completes) and says when.
            print(_ADVANCE, flush=True)
            await asyncio.to_thread(sys.stdin.readline)

        figures = asyncio.run(
            run_triggers(complete, report_ids, args.poll_interval, args.timeout, args.mode, args.thread_workers)
        )
    print(_RESULT + json.dumps(figures), flush=True)


def baseline_seconds(args: Any) -> float:
    """How long the baseline's triggers wait: as long as ours take to see their executions complete."""
    return args.poll_interval * 3 + 1


# --------------------------------------------------------------------------------------------
# Parent side.


def run_side(side: str, args: Any, sb: Any, work: Path) -> dict[str, Any]:
    """Run one side in a child process and return its figures (ours: with the sandbox's counts)."""
    command = [sys.executable, __file__, "--run", side, *child_arguments(args)]
    if side == "ours":
        child = subprocess.run(
            [sys.executable, __file__, "--create", str(args.triggers)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ.copy(),
        )
        ids_file = work / "report_ids.json"
        ids_file.write_text(child.stdout.strip().splitlines()[-1])
        command += ["--report-ids", str(ids_file)]
        sb.admin.reset_stats()
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    figures: dict[str, Any] | None = None
    for line in process.stdout:
        if line.startswith(_ADVANCE):
            sb.admin.advance_clock(3 * 3600)  # every execution completes now
            process.stdin.write("\n")
            process.stdin.flush()
        elif line.startswith(_RESULT):
            figures = json.loads(line[len(_RESULT) :])
    if process.wait() != 0 or figures is None:
        raise RuntimeError(f"the {side} side failed with exit code {process.returncode}")
    if side == "ours":
        stats = sb.admin.stats()
        requests = route_counts(stats)
        figures["token_requests"] = int(stats.get("token_requests", 0))
        figures["api_requests"] = sum(n for route, n in requests.items() if "token" not in route.lower())
    return figures


def child_arguments(args: Any) -> list[str]:
    return [
        f"--triggers={args.triggers}",
        f"--poll-interval={args.poll_interval}",
        f"--timeout={args.timeout}",
        f"--mode={args.mode}",
        f"--thread-workers={args.thread_workers}",
    ]


def collect_figures(ours: list[dict[str, Any]], baseline: list[dict[str, Any]], args: Any) -> list[Any]:
    """The figures ``run_all.py`` tabulates: worst stall beside the baseline's, tokens, GC, CPU."""
    from _figures import Figure

    stall = [run["worst_stall_s"] * 1000 for run in ours]
    base_stall = [run["worst_stall_s"] * 1000 for run in baseline]
    worst_ratio = statistics.median(stall) / max(statistics.median(base_stall), 1e-9)
    n = args.triggers
    return [
        Figure(
            f"{n} triggers: worst event-loop stall",
            "ms",
            stall,
            "TimeDeltaTrigger",
            base_stall,
            "<= 1.2x baseline and < 100 ms",
            worst_ratio <= 1.2 and max(stall) < 100,
            higher_is_better=False,
        ),
        Figure(
            f"{n} triggers: longest full GC",
            "ms",
            [run["longest_full_gc_s"] * 1000 for run in ours],
            "TimeDeltaTrigger",
            [run["longest_full_gc_s"] * 1000 for run in baseline],
            higher_is_better=False,
        ),
        Figure(
            f"{n} triggers: CPU seconds of the run",
            "CPU-s",
            [run["cpu_s"] for run in ours],
            "TimeDeltaTrigger",
            [run["cpu_s"] for run in baseline],
            higher_is_better=False,
        ),
        Figure(
            f"{n} triggers: peak RSS",
            "MB",
            [run["peak_rss_mb"] for run in ours],
            "TimeDeltaTrigger",
            [run["peak_rss_mb"] for run in baseline],
            higher_is_better=False,
        ),
        Figure(
            f"{n} triggers: token requests",
            "requests",
            [float(run["token_requests"]) for run in ours],
            goal="1 per identity",
            met=all(run["token_requests"] == 1 for run in ours),
            higher_is_better=False,
        ),
        Figure(
            f"{n} triggers: completion -> last event",
            "s",
            [run["completion_to_last_event_s"] for run in ours],
            goal=f"<= {args.poll_interval + 5:g} s",
            met=max(run["completion_to_last_event_s"] for run in ours) <= args.poll_interval + 5,
            higher_is_better=False,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--repeats", type=int, default=3, help="runs per side, alternating")
    parser.add_argument("--mode", choices=("async", "thread"), default="async")
    parser.add_argument("--thread-workers", type=int, default=0)
    parser.add_argument("--skip-lifecycle", action="store_true")
    parser.add_argument("--json", help="also write the figures there (for run_all.py)")
    parser.add_argument("--create", type=int, help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--run", choices=("ours", "baseline"), help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--report-ids", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.create:
        print(json.dumps(create_reports(args.create)))
        return
    if args.run:
        run_child(args)
        return

    from airflow_provider_insights.sandbox import SandboxProcess

    print(f"{os.cpu_count()} cores; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="bench-triggers-"))
    with SandboxProcess() as sb:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = sb.connection_uri_env(program="mpn")
        # Executions wait until the bench advances the sandbox clock; tokens outlive that jump, so
        # that every token request counted is one the triggers needed.
        sb.admin.configure(pending_s=3600, running_s=3600, token_lifetime_s=48 * 3600)
        ours, baseline = [], []
        for _ in range(args.repeats):
            ours.append(run_side("ours", args, sb, work))
            print_figures(ours[-1], args, side="ours")
            baseline.append(run_side("baseline", args, sb, work))
            print_figures(baseline[-1], args, side="baseline TimeDeltaTrigger")

        from _figures import print_table, write_figures

        figures = collect_figures(ours, baseline, args)
        print(f"load average at end {os.getloadavg()[0]:.1f}")
        print_table(figures)
        write_figures(args.json, figures)

        if args.skip_lifecycle:
            return
        calls = lifecycle_calls(sb)
        print("one-off lifecycle (query get-or-create -> report -> deferred wait), requests at the sandbox:")
        for route, number in sorted(calls.items()):
            print(f"  {number:3d}  {route}")
        print(f"  total: {sum(calls.values())}")


if __name__ == "__main__":
    main()
