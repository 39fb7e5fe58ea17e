"""Report operators against the sandbox: create (one-off, recurring, reuse), delete, pause, resume."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.operators.queries import PartnerInsightsCreateQueryOperator
from airflow_provider_insights.operators.reports import (
    REPORT_ID_STATE_KEY,
    PartnerInsightsCreateReportOperator,
    PartnerInsightsDeleteReportOperator,
    PartnerInsightsPauseReportOperator,
    PartnerInsightsResumeReportOperator,
)
from tests.operators.helpers import (
    PROGRAM,
    QUERY_TEXT,
    MemoryStateStore,
    StubTaskInstance,
    future_start,
    items_of,
    state_changing_calls,
    task_context,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def query_id(sb, insights_conn):
    """A query of its own for each test (the sandbox keeps state between tests), on CustomersAndTenants
    (minimumRecurrenceInterval 24 in the sandbox)."""
    return PartnerInsightsCreateQueryOperator(
        task_id="q",
        name=f"report test {uuid.uuid4().hex[:8]}",
        query=QUERY_TEXT,
        partner_insights_conn_id=insights_conn,
    ).execute(task_context())


def report_op(conn_id, query_id, **kwargs):
    # Named after the query so that tests never see each other's reports.
    kwargs.setdefault("report_name", f"daily revenue {query_id[:8]}")
    return PartnerInsightsCreateReportOperator(
        task_id="create_report", query_id=query_id, partner_insights_conn_id=conn_id, **kwargs
    )


def reports(sb, query_id):
    """The sandbox's reports for this test's query."""
    return [r for r in items_of(sb.admin.reports(PROGRAM)) if r.get("queryId") == query_id]


def test_one_off_report_with_data_window(sb, insights_conn, query_id):
    context = task_context()
    report_id = report_op(
        insights_conn,
        query_id,
        query_start_time="2024-01-01T00:00:00+00:00",
        query_end_time=datetime(2024, 1, 2, tzinfo=timezone.utc),
    ).execute(context)

    [report] = [r for r in reports(sb, query_id) if r["reportId"] == report_id]
    assert report["queryId"] == query_id
    assert report["reportName"].startswith(f"daily revenue {query_id[:8]}-")  # parts joined with "-"
    assert context["ti"].xcoms["report_id"] == report_id


def test_retry_reuses_the_report(sb, insights_conn, query_id):
    first = report_op(insights_conn, query_id).execute(task_context())
    sb.admin.reset_stats()
    retry = report_op(insights_conn, query_id).execute(task_context(ti=StubTaskInstance(try_number=2)))

    assert retry == first
    assert len(reports(sb, query_id)) == 1
    assert state_changing_calls(sb.admin.stats()) == 0


def test_retry_reuses_the_remembered_report(sb, insights_conn, query_id):
    store = MemoryStateStore()
    first = report_op(insights_conn, query_id).execute(task_context(state_store=store))
    retry = report_op(insights_conn, query_id).execute(task_context(state_store=store))

    assert store.values[REPORT_ID_STATE_KEY] == first == retry
    assert len(reports(sb, query_id)) == 1


def test_another_logical_date_gets_another_report(sb, insights_conn, query_id):
    first = report_op(insights_conn, query_id).execute(task_context())
    other = report_op(insights_conn, query_id).execute(
        task_context(logical_date=datetime(2024, 1, 3, tzinfo=timezone.utc))
    )

    assert other != first
    assert len(reports(sb, query_id)) == 2


def test_a_failed_one_off_report_is_replaced_on_retry(sb, insights_conn, query_id):
    sb.admin.configure(pending_s=0, running_s=0)
    sb.admin.set_faults([{"kind": "fail_execution"}])
    failed = report_op(insights_conn, query_id).execute(task_context())

    retry = report_op(insights_conn, query_id).execute(task_context())

    assert retry != failed
    assert [r["reportId"] for r in reports(sb, query_id)] == [retry]


def test_recurring_report(sb, insights_conn, query_id):
    start = future_start(sb)
    report_id = report_op(
        insights_conn,
        query_id,
        report_name=f"weekly revenue {query_id[:8]}",
        execute_now=False,
        start_time=start.isoformat(),
        recurrence_interval="168",
        recurrence_count=4,
        format="TSV",
    ).execute(task_context())

    [report] = reports(sb, query_id)
    assert report["reportId"] == report_id
    assert report["reportName"] == f"weekly revenue {query_id[:8]}"  # a recurring report keeps its name across runs
    assert report["recurrenceInterval"] == 168
    assert str(report["format"]).lower() == "tsv"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"report_name": ""}, "report_name"),
        ({"execute_now": False, "start_time": "+1h", "recurrence_interval": 24}, "start_time"),
        ({"execute_now": False, "start_time": "+3h", "recurrence_interval": 24}, "start_time"),
        ({"execute_now": False, "start_time": "+5h", "recurrence_interval": 3}, "recurrence_interval"),
        ({"execute_now": False, "start_time": "+5h", "recurrence_interval": 2161}, "recurrence_interval"),
        ({"execute_now": False, "start_time": "+5h", "recurrence_interval": 12}, "recurrence_interval"),
        (
            {"execute_now": False, "start_time": "+5h", "recurrence_interval": 24, "recurrence_count": 0},
            "recurrence_count",
        ),
        ({"format": "xlsx"}, "format"),
        ({"callback_method": "PATCH"}, "callback_method"),
        ({"callback_url": "ftp://example.com/x"}, "callback_url"),
        ({"query_start_time": "2024-01-02", "query_end_time": "2024-01-01"}, "query_end_time"),
        ({"query_start_time": "yesterday"}, "query_start_time"),
    ],
    ids=[
        "empty name",
        "start in 1h",
        "start in 3h",
        "interval below 4",
        "interval above 2160",
        "interval below the dataset minimum",
        "count 0",
        "format",
        "callback method",
        "callback url",
        "window reversed",
        "unparseable time",
    ],
)
def test_bad_input_fails_before_any_state_change(sb, insights_conn, query_id, kwargs, field):
    if str(kwargs.get("start_time", "")).startswith("+"):
        hours = int(kwargs["start_time"][1:-1])
        kwargs["start_time"] = datetime.now(timezone.utc) + timedelta(hours=hours)  # real clock: checked locally
    sb.admin.reset_stats()

    with pytest.raises(PartnerInsightsValidationError) as raised:
        report_op(insights_conn, query_id, **kwargs).execute(task_context())

    assert raised.value.field == field
    assert state_changing_calls(sb.admin.stats()) == 0


def test_interval_error_names_the_dataset_minimum(sb, insights_conn, query_id):
    with pytest.raises(PartnerInsightsValidationError, match="24") as raised:
        report_op(
            insights_conn,
            query_id,
            execute_now=False,
            recurrence_interval=12,
            start_time=future_start(sb),
        ).execute(task_context())

    assert "CustomersAndTenants" in str(raised.value)


def test_pause_resume_delete(sb, insights_conn, query_id):
    report_id = report_op(
        insights_conn,
        query_id,
        execute_now=False,
        recurrence_interval=24,
        start_time=future_start(sb),
    ).execute(task_context())

    def run(operator_class):
        return operator_class(task_id="op", report_id=report_id, partner_insights_conn_id=insights_conn).execute(
            task_context()
        )

    assert run(PartnerInsightsPauseReportOperator) == "Paused"
    assert run(PartnerInsightsResumeReportOperator) == "Active"
    run(PartnerInsightsDeleteReportOperator)
    run(PartnerInsightsDeleteReportOperator)  # already gone: fine
    assert reports(sb, query_id) == []


def recurring_op(sb, conn_id, query_id, **kwargs):
    kwargs.setdefault("start_time", future_start(sb))
    kwargs.setdefault("recurrence_interval", 24)
    return report_op(conn_id, query_id, execute_now=False, **kwargs)


def test_a_retry_after_the_start_time_came_close_reuses_the_recurring_report(sb, insights_conn, query_id):
    first = recurring_op(sb, insights_conn, query_id).execute(task_context())
    sb.admin.reset_stats()
    # The same rendered start time, but the retry runs hours later: under 4 hours away by now.
    close_start = datetime.now(timezone.utc) + timedelta(hours=1)

    retry = recurring_op(sb, insights_conn, query_id, start_time=close_start).execute(task_context())

    assert retry == first
    assert state_changing_calls(sb.admin.stats()) == 0


def test_the_start_rule_still_applies_when_creating(sb, insights_conn, query_id):
    close_start = datetime.now(timezone.utc) + timedelta(hours=1)

    with pytest.raises(PartnerInsightsValidationError, match="less than 4 hours") as raised:
        recurring_op(sb, insights_conn, query_id, start_time=close_start).execute(task_context())

    assert raised.value.field == "start_time"
    assert reports(sb, query_id) == []


def test_the_remembered_id_finds_the_report_even_renamed(sb, insights_conn, query_id):
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    store = MemoryStateStore()
    first = recurring_op(sb, insights_conn, query_id).execute(task_context(state_store=store))
    PartnerInsightsHook(partner_insights_conn_id=insights_conn).update_report(
        first, report_name=f"renamed {query_id[:8]}", start_time=future_start(sb), recurrence_interval=24
    )

    retry = recurring_op(sb, insights_conn, query_id).execute(task_context(state_store=store))

    assert retry == first
    assert [r["reportId"] for r in reports(sb, query_id)] == [first]


def test_a_remembered_report_that_is_gone_falls_back_to_the_name(sb, insights_conn, query_id):
    store = MemoryStateStore()
    store.set(REPORT_ID_STATE_KEY, "00000000-0000-0000-0000-000000000000")
    first = report_op(insights_conn, query_id).execute(task_context())

    retry = report_op(insights_conn, query_id).execute(task_context(state_store=store))

    assert retry == first
    assert store.values[REPORT_ID_STATE_KEY] == first


def test_a_one_off_report_for_another_query_is_replaced(sb, insights_conn, query_id):
    other_query_id = PartnerInsightsCreateQueryOperator(
        task_id="q2",
        name=f"report test other {uuid.uuid4().hex[:8]}",
        query=QUERY_TEXT.replace("LAST_MONTH", "LAST_3_MONTHS"),
        partner_insights_conn_id=insights_conn,
    ).execute(task_context())
    name = f"switching query {query_id[:8]}"
    first = report_op(insights_conn, query_id, report_name=name).execute(task_context())

    replaced = report_op(insights_conn, other_query_id, report_name=name).execute(task_context())

    assert replaced != first
    assert reports(sb, query_id) == []
    assert [r["reportId"] for r in reports(sb, other_query_id)] == [replaced]


def test_a_recurring_report_for_another_query_is_refused_not_deleted(sb, insights_conn, query_id):
    other_query_id = PartnerInsightsCreateQueryOperator(
        task_id="q2",
        name=f"report test other {uuid.uuid4().hex[:8]}",
        query=QUERY_TEXT.replace("LAST_MONTH", "LAST_3_MONTHS"),
        partner_insights_conn_id=insights_conn,
    ).execute(task_context())
    name = f"switching recurring {query_id[:8]}"
    first = recurring_op(sb, insights_conn, query_id, report_name=name).execute(task_context())

    with pytest.raises(PartnerInsightsValidationError, match="runs another query"):
        recurring_op(sb, insights_conn, other_query_id, report_name=name).execute(task_context())

    assert [r["reportId"] for r in reports(sb, query_id)] == [first]


def test_recurring_report_on_a_system_query_outside_the_strict_grammar(sb, make_insights_conn):
    # A CMP system query selects a column named ``Offset``, which the strict grammar refuses; its id
    # is given upper-cased, as ids compare case-insensitively on the service.
    from airflow_provider_insights.query_builder import parse_query

    conn_id = make_insights_conn(program="cmp", conn_id="insights_cmp_reports")
    system_query_id = "6d37d057-06f3-45aa-a971-3a34415e8511"
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    [system_query] = PartnerInsightsHook(partner_insights_conn_id=conn_id).list_queries(query_id=system_query_id)
    with pytest.raises(PartnerInsightsValidationError):
        parse_query(system_query.query)

    report_id = recurring_op(
        sb, conn_id, system_query_id.upper(), report_name=f"retention {uuid.uuid4().hex[:8]}"
    ).execute(task_context())

    assert [r["reportId"] for r in items_of(sb.admin.reports("cmp")) if r["reportId"] == report_id] == [report_id]


def test_a_daily_run_sends_the_day_before_it_as_the_window(sb, insights_conn, query_id):
    # Airflow 3's schedule="@daily": the run's data interval is empty (start == end == the fire time).
    import pendulum
    from airflow.sdk import DAG

    fire_time = pendulum.datetime(2026, 11, 2, tz="UTC")
    context = task_context(logical_date=fire_time)
    context.update(
        dag=DAG("daily_window", schedule="@daily", start_date=pendulum.datetime(2026, 1, 1)),
        data_interval_start=fire_time,
        data_interval_end=fire_time,
    )

    report_id = report_op(insights_conn, query_id).execute(context)

    [report] = [r for r in reports(sb, query_id) if r["reportId"] == report_id]
    assert (report["queryStartTime"], report["queryEndTime"]) == ("2026-11-01T00:00:00Z", "2026-11-01T23:59:59Z")


def test_a_window_given_as_none_runs_over_the_timespan(sb, insights_conn, query_id):
    report_id = report_op(insights_conn, query_id, query_start_time=None, query_end_time=None).execute(task_context())

    [report] = [r for r in reports(sb, query_id) if r["reportId"] == report_id]
    assert (report["queryStartTime"], report["queryEndTime"]) == (None, None)


def test_a_recurring_report_with_another_interval_is_updated_in_place(sb, insights_conn, query_id):
    first = recurring_op(sb, insights_conn, query_id, recurrence_interval=24).execute(task_context())

    again = recurring_op(sb, insights_conn, query_id, recurrence_interval=48, format="tsv").execute(task_context())

    assert again == first
    [report] = reports(sb, query_id)
    assert report["recurrenceInterval"] == 48
    assert str(report["format"]).lower() == "tsv"


def test_a_paused_recurring_report_is_left_and_a_new_one_made(sb, insights_conn, query_id):
    first = recurring_op(sb, insights_conn, query_id).execute(task_context())
    PartnerInsightsPauseReportOperator(task_id="p", report_id=first, partner_insights_conn_id=insights_conn).execute(
        task_context()
    )

    again = recurring_op(sb, insights_conn, query_id).execute(task_context())

    assert again != first
    statuses = {r["reportId"]: r["reportStatus"] for r in reports(sb, query_id)}
    assert statuses == {first: "Paused", again: "Active"}


def test_a_callback_method_is_refused_on_a_cmp_connection_before_any_change(sb, make_insights_conn):
    conn_id = make_insights_conn(program="cmp", conn_id="insights_cmp_callbacks")
    sb.admin.reset_stats()

    with pytest.raises(PartnerInsightsValidationError) as raised:
        PartnerInsightsCreateReportOperator(
            task_id="r",
            report_name="cmp callback",
            query_id="6d37d057-06f3-45aa-a971-3a34415e8511",
            callback_url="https://hooks.example.com/ready",
            callback_method="GET",
            partner_insights_conn_id=conn_id,
        ).execute(task_context())

    assert raised.value.field == "callback_method"
    assert state_changing_calls(sb.admin.stats()) == 0
