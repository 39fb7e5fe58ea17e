"""Figures for the execution trigger (prints them; not a test).

1. N triggers (default 1,000) waiting at once in one event loop against the sandbox:
   - token requests while they run (goal: 1 per identity),
   - worst event-loop stall (goal: < 100 ms),
   - time from the executions completing to the last event (goal: <= poll interval + 5 s).
2. HTTP calls of one one-off report lifecycle (query get-or-create -> report -> deferred wait),
   counted at the sandbox.

Run: ``.venv/bin/python bench/bench_triggers.py [--triggers 1000] [--poll-interval 2] [--mode thread]``.
The reports are created in a child process so that the triggers start with a cold token cache.

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
    sb: Any, report_ids: list[str], poll_interval: float, timeout: float, mode: str = "async", workers: int = 0
) -> dict[str, Any]:
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

    stop = asyncio.Event()
    collections = FullCollectionTimer()
    gc.callbacks.append(collections)
    stall_task = asyncio.create_task(measure_stalls(stop))
    peak_threads = [threading.active_count(), open_files()]
    threads_task = asyncio.create_task(count_threads(stop, peak_threads))
    tasks = [asyncio.create_task(one(report_id)) for report_id in report_ids]
    # Let every trigger poll at least once while the executions are still pending.
    await asyncio.sleep(poll_interval * 2 + 1)
    await asyncio.to_thread(sb.admin.advance_clock, 3 * 3600)  # every execution completes now
    completed_at = time.monotonic()
    await asyncio.gather(*tasks)
    stop.set()
    gc.callbacks.remove(collections)
    await threads_task
    return {
        "peak_threads": peak_threads[0],
        "peak_open_files": peak_threads[1],
        "statuses": dict(statuses),
        "worst_stall_s": await stall_task,
        "full_gc_count": collections.count,
        "longest_full_gc_s": collections.longest,
        "completion_to_last_event_s": last_event_at - completed_at,
    }


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


def print_figures(stats: dict[str, Any], figures: dict[str, Any], args: Any, *, count: int, elapsed: float) -> None:
    """Print the waiting triggers' figures."""
    requests = route_counts(stats)
    token_requests = int(stats.get("token_requests", 0))
    if os.environ.get("BENCH_DEBUG"):
        print({k: v for k, v in stats.items() if k != "requests"}, dict(requests))
    print(
        f"mode {args.mode}: triggers: {count}, poll interval {args.poll_interval:g} s, "
        f"wall time {elapsed:.1f} s, peak threads {figures['peak_threads']}, "
        f"peak open files (sockets included) {figures['peak_open_files']}"
    )
    print(f"  events by status: {figures['statuses']}")
    print(f"  token requests: {token_requests} (goal: 1 per identity)")
    print(f"  worst event-loop stall: {figures['worst_stall_s'] * 1000:.0f} ms (goal: < 100 ms)")
    print(
        f"  longest full garbage collection (whole heap, Airflow's included): "
        f"{figures['longest_full_gc_s'] * 1000:.0f} ms, {figures['full_gc_count']} of them"
    )
    print(
        f"  executions completed -> last event: {figures['completion_to_last_event_s']:.2f} s "
        f"(goal: <= {args.poll_interval + 5:g} s)"
    )
    api_requests = sum(n for route, n in requests.items() if "token" not in route.lower())
    print(f"  API requests while waiting: {api_requests}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--mode", choices=("async", "thread"), default="async")
    parser.add_argument("--thread-workers", type=int, default=0)
    parser.add_argument("--skip-lifecycle", action="store_true")
    parser.add_argument("--create", type=int, help=argparse.SUPPRESS)  # child process mode
    args = parser.parse_args()
    if args.create:
        print(json.dumps(create_reports(args.create)))
        return

    raise_file_limit()
    from airflow_provider_insights.sandbox import SandboxProcess

    with SandboxProcess() as sb:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = sb.connection_uri_env(program="mpn")
        # Executions wait until the bench advances the sandbox clock; tokens outlive that jump, so
        # that every token request counted is one the triggers needed.
        sb.admin.configure(pending_s=3600, running_s=3600, token_lifetime_s=48 * 3600)
        child = subprocess.run(
            [sys.executable, __file__, "--create", str(args.triggers)],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ.copy(),
        )
        report_ids = json.loads(child.stdout.strip().splitlines()[-1])
        sb.admin.reset_stats()

        import airflow_provider_insights.triggers.report_execution  # noqa: F401 - see run_triggers

        started = time.monotonic()
        figures = asyncio.run(
            run_triggers(sb, report_ids, args.poll_interval, args.timeout, args.mode, args.thread_workers)
        )
        elapsed = time.monotonic() - started
        print_figures(sb.admin.stats(), figures, args, count=len(report_ids), elapsed=elapsed)

        if args.skip_lifecycle:
            return
        calls = lifecycle_calls(sb)
        print("one-off lifecycle (query get-or-create -> report -> deferred wait), requests at the sandbox:")
        for route, number in sorted(calls.items()):
            print(f"  {number:3d}  {route}")
        print(f"  total: {sum(calls.values())}")


if __name__ == "__main__":
    main()
