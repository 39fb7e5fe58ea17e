"""The steps of ``make e2e``: each takes the :class:`Scene`, prints what it sees and fails on a broken check.

``SCENARIOS`` maps an executor to its ordered list of steps. To cover another DAG, write its steps as
functions of the scene (here, or in a module of their own like ``watcher.py``) and add them to the lists.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Callable

from tests.e2e.deployment import TASK_HEARTBEAT_TIMEOUT_S, wait_until
from tests.e2e.leaks import find_secrets, read_logs, scan_texts
from tests.e2e.scene import ASSET_NAME, EXTRACT, TRANSFORM, ExtractRun, Scene
from tests.e2e.watcher import WATCHER_STEPS

#: What the downstream transform names the summary it writes next to a file (its SUMMARY_SUFFIX).
SUMMARY_SUFFIX = ".summary.csv"

SENSOR = "wait_for_execution"
TRANSFER = "transfer_to_storage"
BLOB_PATH = "/_blob/"
#: How much of the report is sent before the connection drops, in the worker-kill step: more than one
#: 8 MiB upload part, so that a part is staged in the store when the worker dies.
STAGED_BYTES = 12 << 20

Step = Callable[[Scene], None]


def unpause_and_trigger_the_daily_extract(scene: Scene) -> None:
    """Wait for the DAG processor, unpause both DAGs and trigger the extract, all through the REST API."""
    for dag_id in (EXTRACT, TRANSFORM):
        wait_until(f"{dag_id} to be parsed", lambda dag_id=dag_id: scene.api.dag_is_parsed(dag_id))
        scene.api.unpause(dag_id)
    scene.observe(f"REST API (token from POST /auth/token): {EXTRACT} and {TRANSFORM} parsed and unpaused")
    # The execution stays Running for a while: long enough to see the sensor wait in the triggerer.
    scene.sandbox.admin.configure(pending_s=1, running_s=8)
    run = scene.trigger_extract("first")
    scene.observe(f"triggered {EXTRACT} run {run.run_id} (data interval: {run.day})")


def wait_until_deferred_in_the_triggerer(scene: Scene, run: ExtractRun, not_held_by: int | None = None) -> int:
    """Wait until the run's sensor is deferred and its trigger held by a live triggerer job; return the job.

    :param scene: the scene.
    :param run: the extract run.
    :param not_held_by: a triggerer job known to be dead.
    """

    def held() -> object:
        task = scene.db.deferred_task(EXTRACT, run.run_id, SENSOR)
        alive = task and task.triggerer_state == "running" and task.triggerer_id not in (None, not_held_by)
        return task if alive and task.state == "deferred" else None

    task = wait_until(f"{SENSOR} to be deferred and its trigger held by a triggerer", held)
    scene.observe(
        f"metadata DB: {SENSOR} is {task.state}; trigger {task.trigger_id} ({task.classpath.rsplit('.', 1)[-1]}) "
        f"is held by TriggererJob {task.triggerer_id} on {task.triggerer_hostname}, "
        f"last heartbeat {task.heartbeat_age_s:.1f}s ago"
    )
    kwargs, encrypted = scene.db.trigger_kwargs(task.trigger_id)
    leaked = find_secrets(kwargs)
    scene.check(not leaked, f"the trigger's kwargs hold: {', '.join(leaked)}")
    how = "Fernet-encrypted, decrypted for the scan" if encrypted else "stored by Airflow as plain JSON"
    arguments = json.loads(kwargs)
    scene.observe(f"trigger kwargs ({how}): {', '.join(sorted(arguments))}; no credential")
    scene.note_expected_file(run, arguments["report_id"])
    return int(task.triggerer_id)


def sensor_defers_to_the_triggerer(scene: Scene) -> None:
    """The first run's sensor waits in the triggerer process, not in a worker."""
    scene.check(scene.deployment.components["triggerer"].alive(), "the triggerer process is not running")
    wait_until_deferred_in_the_triggerer(scene, scene.runs["first"])


def check_the_written_object(scene: Scene, run: ExtractRun) -> dict[str, object]:
    """The run's object is the sandbox's file, byte for byte, and nothing else sits next to it.

    :param scene: the scene.
    :param run: the finished extract run.
    """
    result = scene.api.return_value(EXTRACT, run.run_id, TRANSFER)
    expected = scene.expected[run.run_id]
    folder = run.key.rsplit("/", 1)[0] + "/"
    # The downstream transform may already have written its summary next to the file: that one is expected.
    keys = [key for key in scene.store.list_keys(folder) if not key.endswith(SUMMARY_SUFFIX)]
    scene.check(keys == [run.key], f"{scene.store.name} holds {keys} under {folder}, expected only {run.key}")
    stored = scene.store.read_bytes(run.key)
    digest = hashlib.sha256(stored).hexdigest()
    scene.check(digest == result["sha256"], f"{run.key}: sha256 {digest}, the task reported {result['sha256']}")
    # The transfer strips a leading byte-order mark (strip_bom): put it back to compare with what was served.
    as_served = stored if digest == expected["sha256"] else codecs.BOM_UTF8 + stored
    scene.check(
        hashlib.sha256(as_served).hexdigest() == expected["sha256"],
        f"{run.key} ({len(stored)} bytes) is not the file the sandbox served ({expected})",
    )
    scene.observe(
        f"{scene.store.name}: {result['uri']} ({len(stored)} bytes), sha256 {digest[:12]}... = the task's result "
        f"= the sandbox's file{' less its BOM' if as_served is not stored else ''}; nothing else under date={run.day}/ "
        f"but the downstream's summary"
    )
    return result


def run_succeeds_and_the_file_lands(scene: Scene) -> None:
    """The first run succeeds and its file is in the store."""
    run = scene.runs["first"]
    scene.api.wait_for_run(EXTRACT, run.run_id)
    states = {task: ti["state"] for task, ti in scene.api.task_instances(EXTRACT, run.run_id).items()}
    scene.check(set(states.values()) == {"success"}, f"task states {states}")
    scene.observe(f"{EXTRACT} {run.run_id}: success ({', '.join(states)})")
    check_the_written_object(scene, run)


def downstream_starts_from_the_asset_event(scene: Scene) -> None:
    """The transform is started by the extract's Asset event and summarises the file it names."""
    run = scene.runs["first"]
    events = wait_until(f"the {ASSET_NAME} event of {run.run_id}", lambda: scene.asset_events_of(run))
    scene.check(len(events) == 1, f"{len(events)} asset events from {run.run_id}")
    scene.observe(f"asset event {events[0]['id']} on {ASSET_NAME} from {EXTRACT}.{TRANSFER} ({run.run_id})")

    def transform_run() -> dict[str, object] | None:
        found = [r for r in scene.api.dag_runs(TRANSFORM) if r["run_type"] == "asset_triggered"]
        return found[0] if found else None

    downstream = wait_until(f"an asset-triggered run of {TRANSFORM}", transform_run)
    upstream = scene.api.upstream_asset_events(TRANSFORM, downstream["dag_run_id"])
    scene.check(
        [event["id"] for event in upstream] == [events[0]["id"]],
        f"{TRANSFORM} was triggered by events {[event['id'] for event in upstream]}, not {events[0]['id']}",
    )
    scene.api.wait_for_run(TRANSFORM, downstream["dag_run_id"])
    (summary,) = scene.api.return_value(TRANSFORM, downstream["dag_run_id"], "summarise_products")
    summary_key = run.key.replace(".csv", SUMMARY_SUFFIX)
    scene.check(scene.store.exists(summary_key), f"no {summary_key} in {scene.store.name}")
    scene.observe(
        f"{TRANSFORM} {downstream['dag_run_id']} (asset_triggered by event {events[0]['id']}): success, "
        f"wrote {summary['uri']} ({summary['products']} products)"
    )


def triggerer_killed_while_deferred(scene: Scene) -> None:
    """``kill -9`` the triggerer while a sensor waits, start it again: the run completes, once."""
    reports_before = scene.reports_created()
    scene.sandbox.admin.configure(pending_s=1, running_s=20)
    run = scene.trigger_extract("triggerer_killed")
    scene.observe(f"triggered {EXTRACT} run {run.run_id}")
    dead_job = wait_until_deferred_in_the_triggerer(scene, run)
    killed = scene.deployment.components["triggerer"].kill_hard()
    scene.observe(f"kill -9 the triggerer ({killed} processes) while {SENSOR} is deferred")
    scene.deployment.start_triggerer()
    scene.observe("started a new triggerer")
    new_job = wait_until_deferred_in_the_triggerer(scene, run, not_held_by=dead_job)
    scene.observe(f"the trigger moved from dead TriggererJob {dead_job} to TriggererJob {new_job}")
    scene.api.wait_for_run(EXTRACT, run.run_id)
    scene.observe(f"{EXTRACT} {run.run_id}: success")
    check_the_written_object(scene, run)
    check_created_and_published_once(scene, run, reports_before)


def check_created_and_published_once(scene: Scene, run: ExtractRun, reports_before: int) -> None:
    """One report created in Partner Center and one Asset event for the run: nothing duplicated.

    :param scene: the scene.
    :param run: the finished extract run.
    :param reports_before: the sandbox's report creations before the run.
    """
    reports = scene.reports_created() - reports_before
    events = scene.asset_events_of(run)
    scene.check(reports == 1, f"{reports} reports created in the sandbox for {run.run_id}")
    scene.check(len(events) == 1, f"{len(events)} asset events from {run.run_id}")
    scene.observe(f"sandbox: 1 report created for {run.run_id}; 1 asset event: nothing duplicated")


def staged_upload(scene: Scene, key: str) -> str | None:
    """What the store shows of an unfinished upload of ``key``: invisible parts, or ``None``.

    :param scene: the scene.
    :param key: the object being written.
    """
    store = scene.store
    if store.name == "s3":
        return "a multipart upload in progress" if key in store.pending_uploads() else None  # type: ignore[union-attr]
    blob = store.container_client().get_blob_client(key)  # type: ignore[union-attr]
    try:
        blocks = blob.get_block_list("uncommitted")[1]
    except Exception:  # the service answers 404 while no block is staged
        return None
    return f"{len(blocks)} uncommitted blocks ({sum(block.size for block in blocks)} bytes)" if blocks else None


def worker_killed_during_transfer(scene: Scene) -> None:
    """``kill -9`` the Celery worker mid-transfer: the retry completes; nothing partial, nothing twice."""
    reports_before = scene.reports_created()
    scene.sandbox.admin.configure(pending_s=0.5, running_s=1, report_bytes=24 << 20)
    # First download: cut after STAGED_BYTES; its resume then hangs, so the worker dies mid-transfer.
    scene.sandbox.admin.set_faults(
        [
            {"kind": "delay", "seconds": 0, "path": BLOB_PATH, "method": "GET", "count": 1},
            {"kind": "delay", "seconds": 120, "path": BLOB_PATH, "method": "GET", "count": 1},
            {"kind": "reset", "after_bytes": STAGED_BYTES, "path": BLOB_PATH, "count": 1},
        ]
    )
    run = scene.trigger_extract("worker_killed")
    scene.observe(f"triggered {EXTRACT} run {run.run_id} (24 MiB report; the download stalls after 12 MiB)")
    wait_until("the transfer to stall mid-download", lambda: not scene.sandbox.admin.faults())
    state, pid, try_number = scene.db.task_process(EXTRACT, run.run_id, TRANSFER)
    scene.note_expected_file(run, scene.api.return_value(EXTRACT, run.run_id, "create_report"))
    staged = wait_until("a staged part in the store", lambda: staged_upload(scene, run.key))
    scene.check(not scene.store.exists(run.key), f"{run.key} is visible before the transfer finished")
    scene.observe(f"{TRANSFER} try {try_number} is {state} (pid {pid}); {scene.store.name} has {staged}, no object")
    holders = [c for c in scene.deployment.components.values() if pid in {p.pid for p in c.process_tree()}]
    scene.check(holders and holders[0].name.startswith("celery-worker"), f"no Celery worker runs pid {pid}")
    worker = holders[0]
    killed = worker.kill_hard()
    scene.observe(f"kill -9 {worker.name} ({killed} processes, the task's among them)")
    scene.api.wait_for_run(EXTRACT, run.run_id)
    _, _, final_try = scene.db.task_process(EXTRACT, run.run_id, TRANSFER)
    scene.check(final_try == try_number + 1, f"{TRANSFER} ended at try {final_try}, expected {try_number + 1}")
    scene.observe(
        f"{EXTRACT} {run.run_id}: success; {TRANSFER} succeeded on try {final_try} after the scheduler found "
        f"no heartbeat for {TASK_HEARTBEAT_TIMEOUT_S}s"
    )
    check_the_written_object(scene, run)
    check_created_and_published_once(scene, run, reports_before)
    scene.sandbox.admin.reset_config()


def no_secret_in_the_database_or_logs(scene: Scene) -> None:
    """No credential in any table (trigger kwargs decrypted) nor in any log file of any component."""
    tables = scene.db.everything_as_text()
    logs = read_logs(scene.deployment.log_files())
    found = scan_texts({**{f"table {name}": text for name, text in tables.items()}, **logs})
    scene.check(not found, f"credentials found: {found}")
    named = ", ".join(f"{table} {scene.db.count(table)}" for table in NAMED_TABLES)
    size = sum(len(text) for text in logs.values())
    scene.observe(
        f"secret scan: every row of {len(tables) - 1} tables (rows: {named}; trigger kwargs also checked while "
        f"deferred) and {len(logs)} log files ({size / 1e6:.1f} MB): no client secret, password, refresh token, "
        "access token or SAS signature"
    )


#: Tables the issue names, whose row counts the scan prints.
NAMED_TABLES = ("xcom", "rendered_task_instance_fields", "task_instance_note", "trigger", "log")


COMMON_STEPS: list[Step] = [
    unpause_and_trigger_the_daily_extract,
    sensor_defers_to_the_triggerer,
    run_succeeds_and_the_file_lands,
    downstream_starts_from_the_asset_event,
    triggerer_killed_while_deferred,
]
SCENARIOS: dict[str, list[Step]] = {
    "local": [*COMMON_STEPS, *WATCHER_STEPS, no_secret_in_the_database_or_logs],
    "celery": [*COMMON_STEPS, worker_killed_during_transfer, no_secret_in_the_database_or_logs],
}
