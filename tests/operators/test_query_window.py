"""The one-off report's data window: from the DAG run by default, refused when empty. No server needed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.operators._query_window import resolve_query_window, run_period_window
from airflow_provider_insights.operators.reports import RUN_PERIOD, PartnerInsightsCreateReportOperator
from tests.fixtures.airflow_compat import CronTriggerTimetable, MultipleCronTriggerTimetable
from tests.operators.helpers import task_context
from tests.operators.scripted import ScriptedHook

UTC = timezone.utc


def run_context(schedule, start, end=None):
    """A task context of a run of a DAG with ``schedule`` whose data interval is ``start`` .. ``end``."""
    context = task_context(logical_date=start)
    context.update(
        dag=DAG("window_test", schedule=schedule, start_date=pendulum.datetime(2026, 1, 1)),
        data_interval_start=pendulum.instance(start),
        data_interval_end=pendulum.instance(end or start),
    )
    return context


def window(context, start=RUN_PERIOD, end=RUN_PERIOD):
    found = resolve_query_window(start, end, context)
    return found.start, found.end


def test_airflow_3_daily_run_covers_the_day_before_it():
    # schedule="@daily" on Airflow 3: data_interval_start == data_interval_end == the fire time.
    context = run_context("@daily", datetime(2026, 11, 2, tzinfo=UTC))

    assert window(context) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 1, 23, 59, 59, tzinfo=UTC))


def test_consecutive_daily_runs_neither_overlap_nor_leave_a_gap():
    first = window(run_context("@daily", datetime(2026, 11, 2, tzinfo=UTC)))
    second = window(run_context("@daily", datetime(2026, 11, 3, tzinfo=UTC)))

    assert first[1] < second[0]  # no shared second if QueryEndTime is inclusive
    assert second[0] - first[1] == timedelta(seconds=1)  # and nothing between them


def test_a_data_interval_with_width_is_used_ending_one_second_early():
    schedule = CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1))
    context = run_context(schedule, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))

    assert window(context) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 1, 23, 59, 59, tzinfo=UTC))


def test_a_manual_run_in_the_afternoon_takes_the_last_whole_day():
    context = run_context("@daily", datetime(2026, 11, 2, 14, 37, tzinfo=UTC))

    assert window(context) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 1, 23, 59, 59, tzinfo=UTC))


def test_a_weekday_schedule_covers_the_weekend_on_monday():
    context = run_context("0 6 * * 1-5", datetime(2026, 11, 2, 6, tzinfo=UTC))  # a Monday

    assert window(context) == (datetime(2026, 10, 30, 6, tzinfo=UTC), datetime(2026, 11, 2, 5, 59, 59, tzinfo=UTC))


@pytest.mark.parametrize("schedule", [None, "@once"])
def test_a_run_without_a_scheduled_period_uses_the_timespan(schedule):
    context = run_context(schedule, datetime(2026, 11, 2, 9, tzinfo=UTC))

    assert window(context) == (None, None)


def test_a_context_without_a_data_interval_uses_the_timespan():
    assert window(task_context()) == (None, None)


def test_none_given_explicitly_means_the_timespan_even_in_a_daily_dag():
    context = run_context("@daily", datetime(2026, 11, 2, tzinfo=UTC))

    assert window(context, None, None) == (None, None)


@pytest.mark.parametrize("field", ["query_start_time", "query_end_time"])
def test_a_window_that_rendered_to_an_empty_string_is_refused(field):
    given = {"query_start_time": "2026-11-01T00:00:00Z", "query_end_time": "2026-11-02T00:00:00Z", field: ""}

    with pytest.raises(PartnerInsightsValidationError) as raised:
        resolve_query_window(given["query_start_time"], given["query_end_time"], task_context())

    assert raised.value.field == field


def test_an_empty_window_shows_both_values_the_cause_and_the_fix():
    with pytest.raises(PartnerInsightsValidationError) as raised:
        resolve_query_window("2026-11-02T00:00:00+00:00", "2026-11-02T00:00:00+00:00", task_context())

    message = str(raised.value)
    assert raised.value.field == "query_end_time"
    assert message.count("2026-11-02T00:00:00Z") == 2
    assert "empty" in message
    assert 'schedule="@daily"' in message  # the likely cause
    assert "leave query_start_time and query_end_time unset" in message  # the fixes
    assert 'CronTriggerTimetable("0 0 * * *", timezone="UTC", interval=timedelta(days=1))' in message


def test_an_inverted_window_shows_both_values():
    with pytest.raises(PartnerInsightsValidationError, match="inverted") as raised:
        resolve_query_window("2026-11-02", "2026-11-01", task_context())

    assert "2026-11-02T00:00:00Z .. 2026-11-01T00:00:00Z" in str(raised.value)


def test_a_schedule_without_one_period_is_refused_naming_the_schedule_to_use():
    schedule = MultipleCronTriggerTimetable("0 0 * * *", "0 12 * * *", timezone="UTC")
    context = run_context(schedule, datetime(2026, 11, 2, tzinfo=UTC))

    with pytest.raises(PartnerInsightsValidationError, match="CronTriggerTimetable") as raised:
        run_period_window(context)

    assert raised.value.field == "query_start_time"


def report_operator(hook, **kwargs):
    operator = PartnerInsightsCreateReportOperator(task_id="create_report", report_name="daily", query_id="q", **kwargs)
    operator.__dict__["hook"] = hook  # the scripted hook, instead of a connection
    return operator


def test_the_operator_sends_the_run_period_as_the_window():
    hook = ScriptedHook()
    context = run_context("@daily", datetime(2026, 11, 2, tzinfo=UTC))

    report_operator(hook).execute(context)

    [(_, created)] = hook.called("create_report")
    assert (created["query_start_time"], created["query_end_time"]) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 1, 23, 59, 59, tzinfo=UTC),
    )


def test_an_empty_window_is_refused_before_any_call():
    hook = ScriptedHook()
    context = run_context("@daily", datetime(2026, 11, 2, tzinfo=UTC))

    # What "{{ data_interval_start }}" and "{{ data_interval_end }}" render to in that run.
    operator = report_operator(
        hook,
        query_start_time=context["data_interval_start"].isoformat(),
        query_end_time=context["data_interval_end"].isoformat(),
    )

    with pytest.raises(PartnerInsightsValidationError, match="empty"):
        operator.execute(context)

    assert hook.calls == []


def test_a_recurring_report_takes_no_window_by_default():
    hook = ScriptedHook()
    start = datetime.now(UTC) + timedelta(hours=5)

    report_operator(hook, execute_now=False, start_time=start, recurrence_interval=24).execute(task_context())

    [(_, created)] = hook.called("create_report")
    assert (created["query_start_time"], created["query_end_time"]) == (None, None)


def test_the_default_survives_copies_and_pickling_as_the_same_sentinel():
    import copy
    import pickle

    operator = PartnerInsightsCreateReportOperator(task_id="r", report_name="n", query_id="q")

    for clone in (copy.deepcopy(operator.query_start_time), pickle.loads(pickle.dumps(operator.query_start_time))):
        assert clone is RUN_PERIOD
    assert copy.deepcopy(operator).query_end_time is RUN_PERIOD
