"""The two backfills of docs/content/backfills.md, run as written, cost the API calls the page states.

The DAGs are taken from the page (as tests/test_docs_dags.py does, destinations moved to a local
folder) and run through Airflow (``dag.test()``) against the HTTPS sandbox, whose request counter
(``GET /_sandbox/stats``) does the counting. Reports complete at once here (``pending_s=0``,
``running_s=0``): the counts are those of a report ready at the sensor's first check, as the page
says.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.fixtures.airflow_env import collect_run_result, dags_folder_set_to
from tests.test_docs_dags import dag_blocks, with_local_destination

pytestmark = pytest.mark.integration

PAGE = REPO_ROOT / "docs" / "content" / "backfills.md"
#: API requests of one daily run, and of the one range run, once the query exists (the page's table).
PER_DAY = 8
RANGE = 8
FIRST_DAY = datetime(2026, 8, 3, tzinfo=timezone.utc)


def _page_dags(tmp_path: Path) -> dict[str, object]:
    from airflow.dag_processing.dagbag import DagBag

    dags = {}
    for index, (where, code) in enumerate(dag_blocks()):
        if not where.startswith("docs/content/backfills.md:"):
            continue
        folder = tmp_path / f"dags{index}"
        folder.mkdir()
        (folder / "page_dag.py").write_text(with_local_destination(code, tmp_path / "output"), encoding="utf-8")
        bag = DagBag(dag_folder=str(folder / "page_dag.py"))
        assert bag.import_errors == {}, where
        dags.update({dag_id: (dag, folder) for dag_id, dag in bag.dags.items()})
    return dags


def _run(sb, dag_and_folder, logical_date: datetime) -> tuple[Counter[str], dict]:
    dag, folder = dag_and_folder
    sb.admin.reset_stats()
    with dags_folder_set_to(folder):
        dag_run = dag.test(logical_date=logical_date)
    result = collect_run_result(dag.dag_id, dag_run.run_id)
    assert set(result.task_states.values()) == {"success"}, result.task_states
    return Counter(sb.admin.stats()["requests"]), result.xcoms


def _api_calls(requests: Counter[str]) -> Counter[str]:
    return Counter({route: count for route, count in requests.items() if "/insights/" in route})


def _downloads(requests: Counter[str]) -> int:
    return sum(count for route, count in requests.items() if "/_blob/" in route)


def test_each_way_costs_what_the_page_says(tmp_path, airflow_db, sb, insights_conn):
    sb.admin.configure(pending_s=0, running_s=0, report_rows=1800)
    dags = _page_dags(tmp_path)

    per_day = []
    for offset in range(3):
        requests, xcoms = _run(sb, dags["partner_insights_ms_learn_daily"], FIRST_DAY + timedelta(days=offset))
        per_day.append(_api_calls(requests))
        assert _downloads(requests) == 1
        assert [p["date"] for p in xcoms["transfer"]["partitions"]] == [
            f"{FIRST_DAY + timedelta(days=offset):%Y-%m-%d}"
        ]
    requests, xcoms = _run(sb, dags["partner_insights_ms_learn_backfill"], FIRST_DAY)
    whole_range = _api_calls(requests)

    print("one daily run:", dict(per_day[0]), "\nthe range run:", dict(whole_range))
    # Every day costs the same, but for the query's creation on the very first run.
    assert per_day[1] == per_day[2] == per_day[0] - Counter({"POST /insights/v1/mpn/ScheduledQueries": 1})
    assert sum(per_day[1].values()) == PER_DAY
    assert per_day[1] == whole_range  # the same calls, once per day instead of once
    assert sum(whole_range.values()) == RANGE and _downloads(requests) == 1
    landed = xcoms["transfer"]
    assert len(landed["partitions"]) == 90 and sum(p["rows"] for p in landed["partitions"]) == landed["rows"] == 1800
    page = PAGE.read_text(encoding="utf-8")
    assert re.search(rf"\| one report per day \| {PER_DAY} \| {PER_DAY * 90} \|", page)
    assert re.search(rf"\| one report for the range, partitioned \| \| {RANGE} \|", page)
