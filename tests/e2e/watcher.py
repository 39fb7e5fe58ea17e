"""The event-driven example in the deployment: an AssetWatcher's trigger held by the real triggerer.

``dags_examples/partner_insights_event_driven.py`` runs as a user would run it: its setup DAG
creates the recurring report, the report's id goes into ``PARTNER_INSIGHTS_EVENT_REPORT_ID`` of the
DAG processor, which is restarted (the triggerer needs no restart: it reads the watcher's
arguments from the trigger row). The sandbox's clock is then moved over the report's slots, as
Partner Center's scheduler would run them, and each Completed execution must start exactly one
landing run that writes that execution's file, once.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from tests.e2e.deployment import wait_until
from tests.e2e.leaks import find_secrets
from tests.e2e.scene import DESTINATION_PREFIX, Scene

SETUP = "partner_insights_event_driven_setup"
LANDING = "partner_insights_event_driven_landing"
WATCHED_ASSET = "partner_insights_dynamics_usage_execution"
REPORT_ID_ENV = "PARTNER_INSIGHTS_EVENT_REPORT_ID"
DAY_S = 24 * 3600
#: The setup DAG starts the report 4 h 5 min after it runs: this crosses that first slot.
FIRST_SLOT_S = 4 * 3600 + 10 * 60
#: Polls the watcher must make after the last event before "no repeat" is believed.
QUIET_POLLS = 3


def event_driven_report_is_watched(scene: Scene) -> None:
    """Run the setup DAG, give its report id to the DAG processor, see the watcher held by the triggerer."""
    for dag_id in (SETUP, LANDING):
        wait_until(f"{dag_id} to be parsed", lambda dag_id=dag_id: scene.api.dag_is_parsed(dag_id))
        # The landing DAG first: the DAG processor links a watcher only to an asset an unpaused DAG uses.
        scene.api.unpause(dag_id)
    scene.api.trigger(SETUP, "e2e_setup", datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"))
    scene.api.wait_for_run(SETUP, "e2e_setup")
    report_id = scene.api.return_value(SETUP, "e2e_setup", "report_id_to_watch")
    scene.watched_report = report_id
    scene.check(not executions_of_the_report(scene), f"report {report_id} has executions before its first slot")
    scene.observe(f"{SETUP} e2e_setup: success; recurring report {report_id} (every 24 h), no execution yet")
    scene.deployment.extra_env[REPORT_ID_ENV] = report_id
    scene.deployment.components["dag-processor"].stop()
    scene.deployment.start("dag-processor", "dag-processor")
    scene.observe(f"restarted the dag-processor with {REPORT_ID_ENV}={report_id}")
    trigger = wait_until("the watcher's trigger to be held by the triggerer", lambda: held_watcher(scene))
    scene.observe(
        f"metadata DB: asset {WATCHED_ASSET} has watcher {trigger['watcher']}; trigger {trigger['id']} "
        f"({trigger['classpath'].rsplit('.', 1)[-1]}) is held by TriggererJob {trigger['triggerer_id']}"
    )
    kwargs, _ = scene.db.trigger_kwargs(trigger["id"])
    leaked = find_secrets(kwargs)
    scene.check(not leaked, f"the watcher's kwargs hold: {', '.join(leaked)}")
    arguments = json.loads(kwargs)
    scene.check(arguments.get("report_id") == report_id, f"the watcher watches {arguments.get('report_id')}")
    scene.observe(f"watcher kwargs: {', '.join(sorted(arguments))}; no credential")


def held_watcher(scene: Scene) -> dict[str, Any] | None:
    """The watched asset's trigger, once a running triggerer holds it.

    :param scene: the scene.
    """
    found = scene.db.rows(
        """
        SELECT w.name, tr.id, tr.classpath, tr.triggerer_id
        FROM asset_watcher w JOIN asset a ON a.id = w.asset_id JOIN trigger tr ON tr.id = w.trigger_id
        JOIN job ON job.id = tr.triggerer_id AND job.state = 'running'
        WHERE a.name = %s
        """,
        WATCHED_ASSET,
    )
    if len(found) != 1:
        return None
    watcher, trigger_id, classpath, triggerer_id = found[0]
    return {"watcher": watcher, "id": trigger_id, "classpath": classpath, "triggerer_id": triggerer_id}


def one_slot_lands_one_execution(scene: Scene) -> None:
    """Over the report's first slot: one execution, one asset event, one landing run that lands it."""
    scene.sandbox.admin.configure(pending_s=0.5, running_s=1)
    scene.sandbox.admin.advance_clock(FIRST_SLOT_S)
    scene.observe(f"sandbox clock advanced {FIRST_SLOT_S / 3600:.2f} h, over the report's first slot")
    land_the_next_execution(scene, landed=0)


def the_next_slot_lands_one_more(scene: Scene) -> None:
    """Over the second slot: exactly one more event and one more run; then, polls later, nothing repeated."""
    scene.sandbox.admin.advance_clock(DAY_S)
    scene.observe("sandbox clock advanced 24 h, over the report's second slot")
    land_the_next_execution(scene, landed=1)
    route = "/ScheduledReport/execution/{reportId}"
    polls = scene.sandbox.admin.request_count("GET", route)
    wait_until(
        f"{QUIET_POLLS} more polls of the watcher",
        lambda: scene.sandbox.admin.request_count("GET", route) >= polls + QUIET_POLLS,
    )
    events, runs = watcher_events(scene), landing_runs(scene)
    executions = [event["extra"]["payload"]["execution_id"] for event in events]
    scene.check(len(events) == 2 and len(set(executions)) == 2, f"after {QUIET_POLLS} more polls: events {executions}")
    scene.check(len(runs) == 2, f"after {QUIET_POLLS} more polls: {len(runs)} landing runs")
    scene.observe(f"{QUIET_POLLS} polls later: still 2 events ({', '.join(executions)}) and 2 runs; nothing twice")
    scene.sandbox.admin.reset_config()


def land_the_next_execution(scene: Scene, landed: int) -> None:
    """The sandbox has one new Completed execution: it gives one event and one run, which lands it.

    :param scene: the scene.
    :param landed: executions landed by earlier steps.
    """
    execution = wait_until(f"execution {landed + 1} to complete", lambda: completed_execution(scene, landed))
    scene.observe(f"sandbox: execution {execution['executionId']} of {scene.watched_report}: Completed")
    events = wait_until(f"asset event {landed + 1}", lambda: (found := watcher_events(scene))[landed:] and found)
    scene.check(len(events) == landed + 1, f"{len(events)} events on {WATCHED_ASSET}, expected {landed + 1}")
    event = events[-1]
    payload = event["extra"]["payload"]
    scene.check(payload["execution_id"] == execution["executionId"], f"the event names {payload}")
    scene.check(not find_secrets(json.dumps(event)), "the asset event holds a credential")
    scene.observe(f"asset event {event['id']} on {WATCHED_ASSET}: payload {', '.join(sorted(payload))}; no link")
    runs = wait_until(f"landing run {landed + 1}", lambda: (found := landing_runs(scene))[landed:] and found)
    scene.check(len(runs) == landed + 1, f"{len(runs)} runs of {LANDING}, expected {landed + 1}")
    run_id = runs[-1]["dag_run_id"]
    upstream = [e["id"] for e in scene.api.upstream_asset_events(LANDING, run_id)]
    scene.check(upstream == [event["id"]], f"{run_id} was started by events {upstream}, not {event['id']}")
    scene.api.wait_for_run(LANDING, run_id)
    check_the_landed_file(scene, run_id, payload)


def check_the_landed_file(scene: Scene, run_id: str, payload: dict[str, Any]) -> None:
    """The run wrote the execution's file, byte for byte, at the path keyed by its date and id.

    :param scene: the scene.
    :param run_id: the landing run.
    :param payload: the event's payload.
    """
    day = datetime.fromisoformat(payload["generated_time"]).astimezone(timezone.utc).date().isoformat()
    key = f"{DESTINATION_PREFIX}/dynamics_usage_events/date={day}/{payload['execution_id']}.csv"
    (written,) = scene.api.return_value(LANDING, run_id, "announce_landed")
    scene.check(written.endswith(key), f"{run_id} wrote {written}, expected ...{key}")
    stored = scene.store.read_bytes(key)
    expected = scene.sandbox.admin.expected_file("mpn", payload["report_id"], payload["execution_id"])
    # The transfer strips a leading byte-order mark (strip_bom): compare with and without it.
    digests = {hashlib.sha256(stored).hexdigest(), hashlib.sha256(codecs.BOM_UTF8 + stored).hexdigest()}
    scene.check(expected["sha256"] in digests, f"{key} ({len(stored)} bytes) is not the sandbox's file {expected}")
    scene.observe(
        f"{LANDING} {run_id} (asset_triggered by that event only): success; {scene.store.name}: {key} "
        f"({len(stored)} bytes) = the sandbox's file"
    )


def completed_execution(scene: Scene, landed: int) -> dict[str, Any] | None:
    """The watched report's execution number ``landed + 1`` once Completed (and no more than that many).

    :param scene: the scene.
    :param landed: executions landed by earlier steps.
    """
    executions = executions_of_the_report(scene)
    scene.check(len(executions) <= landed + 1, f"{len(executions)} executions after slot {landed + 1}")
    if len(executions) == landed + 1 and executions[-1]["executionStatus"] == "Completed":
        return executions[-1]
    return None


def executions_of_the_report(scene: Scene) -> list[dict[str, Any]]:
    """The watched report's executions in the sandbox.

    :param scene: the scene.
    """
    return [e for e in scene.sandbox.admin.executions("mpn") if e["reportId"] == scene.watched_report]


def watcher_events(scene: Scene) -> list[dict[str, Any]]:
    """The watched asset's events, oldest first.

    :param scene: the scene.
    """
    return sorted(scene.api.asset_events(WATCHED_ASSET), key=lambda event: event["id"])


def landing_runs(scene: Scene) -> list[dict[str, Any]]:
    """The landing DAG's asset-triggered runs, oldest first.

    :param scene: the scene.
    """
    return [run for run in scene.api.dag_runs(LANDING) if run["run_type"] == "asset_triggered"]


WATCHER_STEPS = [event_driven_report_is_watched, one_slot_lands_one_execution, the_next_slot_lands_one_more]
