"""PartnerInsightsCreateQueryOperator / PartnerInsightsDeleteQueryOperator against the sandbox."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.operators.queries import (
    PartnerInsightsCreateQueryOperator,
    PartnerInsightsDeleteQueryOperator,
)
from tests.operators.helpers import PROGRAM, QUERY_TEXT, items_of, request_counts, state_changing_calls, task_context

pytestmark = pytest.mark.integration


def user_queries_named(sb, name):
    return [q for q in items_of(sb.admin.queries(PROGRAM)) if q.get("name") == name]


@pytest.fixture
def name():
    """A query name of its own for each test: the sandbox keeps state between tests."""
    return f"revenue by customer {uuid.uuid4().hex[:8]}"


def create_query_op(conn_id, **kwargs):
    kwargs.setdefault("query", QUERY_TEXT)
    return PartnerInsightsCreateQueryOperator(task_id="create_query", partner_insights_conn_id=conn_id, **kwargs)


def test_import_is_cheap():
    # In a fresh interpreter: other tests of this session have imported the heavy modules already.
    code = (
        "import sys, airflow_provider_insights.operators.queries, airflow_provider_insights.operators.reports, "
        "airflow_provider_insights.sensors.report_execution, airflow_provider_insights.triggers.report_execution;"
        "print([m for m in ('pandas','pyarrow','msal','aiohttp') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_creates_then_reuses_the_same_query(sb, insights_conn, name):
    first = create_query_op(insights_conn, name=name).execute(task_context())
    sb.admin.reset_stats()
    second = create_query_op(insights_conn, name=name, query=QUERY_TEXT.lower().replace(" ", "  ")).execute(
        task_context()
    )

    assert first == second
    assert [q["queryId"] for q in user_queries_named(sb, name)] == [first]
    assert state_changing_calls(sb.admin.stats()) == 0


def test_changed_text_replaces_the_query(sb, insights_conn, name):
    first = create_query_op(insights_conn, name=name).execute(task_context())
    changed = QUERY_TEXT.replace("LAST_MONTH", "LAST_3_MONTHS")
    second = create_query_op(insights_conn, name=name, query=changed).execute(task_context())

    assert second != first
    remaining = user_queries_named(sb, name)
    assert [q["queryId"] for q in remaining] == [second]
    assert "LAST_3_MONTHS" in remaining[0]["query"]


def test_accepts_a_builder(sb, insights_conn, name):
    from airflow_provider_insights.query_builder import InsightsQuery

    builder = InsightsQuery(
        dataset="CustomersAndTenants", columns=("CustomerName", "BilledRevenueUSD"), timespan="LAST_MONTH"
    )
    query_id = create_query_op(insights_conn, name=name, query=builder).execute(task_context())

    assert [q["queryId"] for q in user_queries_named(sb, name)] == [query_id]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"name": "  "}, "name"),
        ({"query": "SELECT Nope FROM NoSuchDataset"}, "dataset"),
        ({"query": "SELECT NoSuchColumn FROM CustomersAndTenants"}, "columns"),
        ({"query": "SELECT CustomerName FROM CustomersAndTenants TIMESPAN LAST_2_DAYS"}, "query"),
        ({"query": "SELECT CustomerName FROM CustomersAndTenants TIMESPAN LAST_7_DAYS"}, "timespan"),
        ({"query": "SELECT CustomerName FROM CustomersAndTenants WHERE SKU = 'a' OR SKU = 'b'"}, "query"),
    ],
    ids=["empty name", "unknown dataset", "unknown column", "bad timespan", "timespan not offered", "OR"],
)
def test_bad_input_fails_before_any_state_change(sb, insights_conn, name, kwargs, field):
    kwargs.setdefault("name", name)
    with pytest.raises(PartnerInsightsValidationError) as raised:
        create_query_op(insights_conn, **kwargs).execute(task_context())

    assert raised.value.field == field
    assert state_changing_calls(sb.admin.stats()) == 0


def test_validate_false_skips_the_catalog(sb, insights_conn, name):
    create_query_op(insights_conn, name=name, validate=False).execute(task_context())

    stats = str(sb.admin.stats())
    assert "ScheduledDataset" not in stats


def test_delete_query_and_delete_again(sb, insights_conn, name):
    query_id = create_query_op(insights_conn, name=name).execute(task_context())
    delete = PartnerInsightsDeleteQueryOperator(
        task_id="delete_query", query_id=query_id, partner_insights_conn_id=insights_conn
    )

    delete.execute(task_context())
    delete.execute(task_context())  # already gone: fine

    assert user_queries_named(sb, name) == []


def test_an_older_query_a_report_still_runs_is_kept(sb, insights_conn, name):
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    first = create_query_op(insights_conn, name=name).execute(task_context())
    report = PartnerInsightsHook(partner_insights_conn_id=insights_conn).create_report(
        report_name=f"uses {name}", query_id=first, execute_now=True
    )
    sb.admin.reset_stats()
    changed = QUERY_TEXT.replace("LAST_MONTH", "LAST_3_MONTHS")

    second = create_query_op(insights_conn, name=name, query=changed).execute(task_context())

    assert second != first
    assert sorted(q["queryId"] for q in user_queries_named(sb, name)) == sorted([first, second])
    assert not any(method == "DELETE" for method, _ in request_counts(sb.admin.stats()))
    assert report.query_id == first
