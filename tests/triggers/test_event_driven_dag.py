"""The event-driven example end to end: the watcher's real events start the landing DAG through ``dag.test()``.

The sandbox's clock is moved over a recurring report's slots; the trigger polls it over HTTPS and
its events are submitted through ``Trigger.submit_event``; the DAG runs through ``dag.test()`` and
writes to the local filesystem store. The one stand-in, the scheduler's linking of queued events to
the run, is described in :mod:`tests.triggers.asset_events`.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.fixtures.airflow_env import TEST_DAGS_FOLDER
from tests.operators.helpers import create_recurring_report, fast_executions
from tests.triggers.asset_events import asset_events_of, run_on_events
from tests.triggers.test_new_execution import DAY, Watch, polls_more, watcher

pytestmark = pytest.mark.integration

EXAMPLE = REPO_ROOT / "dags_examples" / "partner_insights_event_driven.py"
LANDING_DAG = "partner_insights_event_driven_landing"
WATCHED_ASSET = "partner_insights_dynamics_usage_execution"
LANDED_ASSET = "partner_insights_dynamics_usage_landed"
BOM = b"\xef\xbb\xbf"


def watcher_events(sb: Any, conn_id: str, report_id: str, slots: int) -> list[dict[str, Any]]:
    """What the watcher yields while the sandbox's clock moves over ``slots`` runs of the report."""

    async def watch_slots() -> list[dict[str, Any]]:
        watch = Watch(watcher(conn_id, report_id))
        try:
            await polls_more(sb, 2)
            sb.admin.advance_clock(5 * 3600 + (slots - 1) * DAY)
            return await watch.until(slots)
        finally:
            await watch.stop()

    return asyncio.run(watch_slots())


def landed_files(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``root``: relative path -> (content, modification time in ns)."""
    return {
        str(path.relative_to(root)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def recurring(sb: Any, insights_conn: str, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A recurring report, and the example's parse-time settings pointing at it and at ``tmp_path``."""
    fast_executions(sb)
    report_id = create_recurring_report(sb, insights_conn, start_in_hours=5)
    monkeypatch.setenv("PARTNER_INSIGHTS_EVENT_REPORT_ID", report_id)
    monkeypatch.setenv("PARTNER_INSIGHTS_DESTINATION_ROOT", tmp_path.as_uri())
    monkeypatch.delenv("PARTNER_INSIGHTS_DESTINATION_CONN_ID", raising=False)
    return report_id


def test_each_execution_lands_once_keyed_by_id_and_date(sb, insights_conn, recurring, tmp_path, monkeypatch):
    events = watcher_events(sb, insights_conn, recurring, slots=3)
    landed_before = len(asset_events_of(LANDED_ASSET))

    # The three events reach the scheduler before it creates a run: one run carries them all.
    result = run_on_events(monkeypatch, EXAMPLE, LANDING_DAG, WATCHED_ASSET, events)

    assert result.state == "success", result.task_states
    root = tmp_path / "dynamics_usage_events"
    expected = {f"date={e['generated_time'][:10]}/{e['execution_id']}.csv": e["execution_id"] for e in events}
    files = landed_files(root)
    assert set(files) == set(expected)
    for relative, execution_id in expected.items():
        served = sb.admin.expected_sha256("mpn", recurring, execution_id)
        assert hashlib.sha256(BOM + files[relative][0]).hexdigest() == served
    [landed] = asset_events_of(LANDED_ASSET)[landed_before:]
    landing_root = f"{tmp_path.as_uri()}/dynamics_usage_events"
    assert sorted(item["uri"] for item in landed["files"]) == sorted(f"{landing_root}/{r}" for r in expected)


def test_a_re_yielded_execution_changes_nothing_at_the_destination(sb, insights_conn, recurring, tmp_path, monkeypatch):
    events = watcher_events(sb, insights_conn, recurring, slots=2)
    first = run_on_events(monkeypatch, EXAMPLE, LANDING_DAG, WATCHED_ASSET, events)
    assert first.state == "success", first.task_states
    root = tmp_path / "dynamics_usage_events"
    before = landed_files(root)
    landed_before = len(asset_events_of(LANDED_ASSET))

    # After a triggerer restart the watcher announces the newest execution once more.
    again = run_on_events(monkeypatch, EXAMPLE, LANDING_DAG, WATCHED_ASSET, events[-1:])

    assert again.state == "success", again.task_states
    assert again.xcoms["plan_landing"] == []
    assert again.task_states["announce_landed"] == "skipped"
    assert landed_files(root) == before  # same objects, same bytes, not even rewritten
    assert len(asset_events_of(LANDED_ASSET)) == landed_before  # nothing downstream is told of a change


def test_the_transfer_takes_the_execution_from_the_event_by_template(
    sb, insights_conn, recurring, tmp_path, monkeypatch
):
    monkeypatch.setenv("EVENT_TEMPLATE_REPORT_ID", recurring)
    monkeypatch.setenv("EVENT_TEMPLATE_DESTINATION_ROOT", tmp_path.as_uri())
    [event] = watcher_events(sb, insights_conn, recurring, slots=1)

    result = run_on_events(
        monkeypatch,
        TEST_DAGS_FOLDER / "event_template_dag.py",
        "event_template",
        "event_template_new_execution",
        [event],
    )

    assert result.state == "success", result.task_states
    path = tmp_path / f"date={event['generated_time'][:10]}" / f"{event['execution_id']}.csv"
    assert result.xcoms["land"]["uri"] == f"{tmp_path.as_uri()}/{path.relative_to(tmp_path)}"
    served = sb.admin.expected_sha256("mpn", recurring, event["execution_id"])
    assert hashlib.sha256(BOM + path.read_bytes()).hexdigest() == served
