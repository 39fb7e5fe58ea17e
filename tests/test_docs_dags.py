"""Every DAG written out in README.md and docs/content/*.md runs as written, through Airflow, against the sandbox.

Only the destination changes: each ``destination="..."`` becomes the same path under a local folder
(``file://``), and its ``destination_conn_id`` becomes ``None``. Everything else (the schedule, the
report's window, the clean-up) is what a user copies. Blocks included from ``dags_examples/``
(``--8<--``) are run by tests/test_example_dags.py (``make demo``).

Real parts: the sandbox over HTTPS, Airflow's own metadata database and ``dag.test()`` (a deferred
sensor's trigger runs in-process), the local filesystem. Airflow 3 defaults: ``schedule="@daily"``
is a ``CronTriggerTimetable`` whose runs have an empty data interval.
"""

from __future__ import annotations

import re
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO_ROOT
from tests.fixtures.airflow_env import collect_run_result, dags_folder_set_to
from tests.operators.helpers import PROGRAM, items_of

DOC_FILES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs" / "content").glob("*.md"))]
PYTHON_BLOCK = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
DEFINES_A_DAG = re.compile(r"\bDAG\(|@dag\b")
DESTINATION = re.compile(r"""\bdestination=(?P<quote>["'])(?P<uri>.*?)(?P=quote)""")
DESTINATION_CONN_ID = re.compile(r"""\bdestination_conn_id=(["']).*?\1""")
LOGICAL_DATE = datetime(2026, 11, 2, tzinfo=timezone.utc)


def dag_blocks() -> list[tuple[str, str]]:
    """``(where, code)`` of every Python block of the docs that defines a DAG."""
    blocks = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for match in PYTHON_BLOCK.finditer(text):
            body = textwrap.dedent(match["body"])
            if "--8<--" in body or not DEFINES_A_DAG.search(body):
                continue
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((f"{path.relative_to(REPO_ROOT)}:{line}", body))
    return blocks


def with_local_destination(code: str, folder: Path) -> str:
    """``code`` with every destination moved under ``folder`` (same path after the bucket), no store connection."""

    def local(match: re.Match[str]) -> str:
        path = urlsplit(match["uri"]).path.lstrip("/")
        return f'destination="{folder.as_uri()}/{path}"'

    code, moved = DESTINATION.subn(local, code)
    assert moved, "the DAG writes nowhere"
    return DESTINATION_CONN_ID.sub("destination_conn_id=None", code)


def test_readme_has_a_dag_and_the_extraction_finds_it():
    where = [where for where, _ in dag_blocks()]
    assert any(name.startswith("README.md:") for name in where)
    assert any(name.startswith("docs/content/getting-started.md:") for name in where)


def test_swapping_the_destination_changes_nothing_else(tmp_path):
    code = 'X(destination="s3://bucket/a/{{ ds }}.csv", destination_conn_id="aws_default", other="s3://keep")'
    assert with_local_destination(code, tmp_path) == (
        f'X(destination="{tmp_path.as_uri()}/a/{{{{ ds }}}}.csv", destination_conn_id=None, other="s3://keep")'
    )


def test_airflow_3_defaults_make_daily_an_empty_interval():
    from airflow.configuration import conf

    assert conf.getboolean("scheduler", "create_cron_data_intervals") is False


@pytest.mark.integration
@pytest.mark.timeout(300)
@pytest.mark.parametrize(("where", "code"), dag_blocks(), ids=[where for where, _ in dag_blocks()])
def test_documented_dag_runs_as_written(where, code, tmp_path, airflow_db, sb, insights_conn):
    from tests.fixtures.airflow_compat import DagBag

    output = tmp_path / "output"
    dag_folder = tmp_path / "dags"
    dag_folder.mkdir()
    dag_file = dag_folder / "documented_dag.py"
    dag_file.write_text(with_local_destination(code, output), encoding="utf-8")
    reports_before = {report["reportId"] for report in items_of(sb.admin.reports(PROGRAM))}

    dagbag = DagBag(dag_folder=str(dag_file))
    assert dagbag.import_errors == {}, where
    assert dagbag.dags, where
    for dag in dagbag.dags.values():
        with dags_folder_set_to(dag_folder):
            dag_run = dag.test(logical_date=LOGICAL_DATE)
        result = collect_run_result(dag.dag_id, dag_run.run_id)
        assert result.state == "success", (where, result.task_states)
        assert set(result.task_states.values()) == {"success"}, (where, result.task_states)

    written = [path for path in output.rglob("*") if path.is_file()]
    assert written and all(path.stat().st_size > 0 for path in written), where
    # The one-off report was cleaned up: the sandbox holds no report the run created.
    reports_after = {report["reportId"] for report in items_of(sb.admin.reports(PROGRAM))}
    assert reports_after <= reports_before, where
