"""Run a DAG through ``dag.test()`` with real asset events from a watcher, as the scheduler would.

What runs for real: the DAG files are parsed and written to the metadata database (assets, their
watchers and the watchers' Trigger rows); each event goes through ``Trigger.submit_event``, the
triggerer's own path, which records the asset event with ``extra={"from_trigger": True, "payload":
...}``; the tasks run through ``dag.test()`` and read the events from their context.

What stands in for the scheduler (which ``dag.test()`` does not run): the run ``dag.test()``
creates is given the submitted events as its consumed asset events, the link the scheduler makes
when it creates an asset-triggered run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.airflow_env import DagRunResult, collect_run_result, dags_folder_set_to, load_dag


def sync_dags_folder(folder: Path) -> None:
    """Parse ``folder`` and write its DAGs, assets and watchers to the database, as the DAG processor does."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    with dags_folder_set_to(folder):
        manager = DagBundlesManager()
        manager.sync_bundles_to_db()
        for bundle in manager.get_all_dag_bundles():
            if not bundle.is_initialized:
                bundle.initialize()
            bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
            assert not bag.import_errors, bag.import_errors
            sync_bag_to_db(bag, bundle.name, bundle.version)


def unpause_and_sync(folder: Path, dag_id: str) -> None:
    """Sync ``folder``, unpause ``dag_id`` as its user would, and sync again.

    Airflow keeps an asset's watchers (and creates their Trigger rows) only while a DAG scheduled on
    the asset is unpaused; new DAGs start paused.
    """
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    sync_dags_folder(folder)
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(is_paused=False))
    sync_dags_folder(folder)


def submit_watcher_events(asset_name: str, payloads: list[dict[str, Any]]) -> list[int]:
    """Submit each payload as the asset's watcher trigger firing; return the asset events' ids."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.trigger import Trigger
    from airflow.triggers.base import TriggerEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalars(select(AssetModel).where(AssetModel.name == asset_name)).one()
        [watcher] = asset.watchers
        before = session.scalar(select(AssetEvent.id).order_by(AssetEvent.id.desc()).limit(1)) or 0
        for payload in payloads:
            Trigger.submit_event(watcher.trigger_id, TriggerEvent(payload), session=session)
        session.flush()
        return list(
            session.scalars(
                select(AssetEvent.id)
                .where(AssetEvent.asset_id == asset.id, AssetEvent.id > before)
                .order_by(AssetEvent.id)
            )
        )


@contextmanager
def runs_consuming(monkeypatch: pytest.MonkeyPatch, event_ids: list[int]) -> Iterator[None]:
    """Make the run ``dag.test()`` creates consume these asset events (the scheduler's step)."""
    import airflow.models.dagrun as dagrun_module
    from airflow.models.asset import AssetEvent
    from sqlalchemy import select

    original = dagrun_module.get_or_create_dagrun

    def with_events(*, session: Any, **kwargs: Any) -> Any:
        dag_run = original(session=session, **kwargs)
        events = session.scalars(select(AssetEvent).where(AssetEvent.id.in_(event_ids))).all()
        dag_run.consumed_asset_events.extend(events)
        session.commit()
        return dag_run

    with monkeypatch.context() as patch:
        patch.setattr(dagrun_module, "get_or_create_dagrun", with_events)
        yield


def run_on_events(
    monkeypatch: pytest.MonkeyPatch, dag_file: Path, dag_id: str, asset_name: str, payloads: list[dict[str, Any]]
) -> DagRunResult:
    """Submit ``payloads`` as the watcher's events, then run ``dag_id`` once, triggered by them."""
    unpause_and_sync(dag_file.parent, dag_id)
    event_ids = submit_watcher_events(asset_name, payloads)
    dag = load_dag(dag_file, dag_id)
    with runs_consuming(monkeypatch, event_ids), dags_folder_set_to(dag_file.parent):
        dag_run = dag.test(logical_date=None)
    return collect_run_result(dag.dag_id, dag_run.run_id)


def asset_events_of(asset_name: str) -> list[dict[str, Any]]:
    """The extras of every event of an asset, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        events = session.scalars(query.where(AssetModel.name == asset_name).order_by(AssetEvent.id)).all()
        return [dict(event.extra or {}) for event in events]
