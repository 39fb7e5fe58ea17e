"""The sync hook against the sandbox over HTTPS: every method on both programs, retries, pagination."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_insights.exceptions import (
    PartnerInsightsApiError,
    PartnerInsightsNotFoundError,
    PartnerInsightsValidationError,
)
from airflow_provider_insights.hooks.insights import PartnerInsightsHook
from airflow_provider_insights.models import ExecutionStatus

pytestmark = pytest.mark.integration

PROGRAMS = ["mpn", "cmp"]
DATASETS = {"mpn": "CustomersAndTenants", "cmp": "ISVUsage"}


def _requests_to(stats: dict, fragment: str, method: str = "GET") -> int:
    """How many requests the sandbox counted on routes containing ``fragment``."""
    return sum(
        count
        for route, count in stats["requests"].items()
        if route.startswith(f"{method} ") and route.endswith(fragment)
    )


def _token_requests(stats: dict) -> int:
    return int(stats.get("token_requests") or sum(stats.get("tokens", {}).values()))


def _query_text(hook: PartnerInsightsHook, program: str) -> str:
    dataset = hook.get_dataset(DATASETS[program])
    columns = ", ".join(dataset.selectable_columns[:2])
    return f"SELECT {columns} FROM {dataset.name} TIMESPAN {dataset.available_date_ranges[0]}"


def _sandbox_now(sb) -> datetime:
    return datetime.fromtimestamp(sb.admin.now(), tz=timezone.utc)


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


# -- datasets ------------------------------------------------------------------------------------


@pytest.mark.parametrize("program", PROGRAMS)
def test_datasets(make_hook, program):
    hook = make_hook(program=program)
    datasets = hook.list_datasets()
    names = {dataset.name for dataset in datasets}
    assert DATASETS[program] in names
    assert hook.settings.api_base_url.endswith({"mpn": "/insights/v1/mpn", "cmp": "/insights/v1.1/cmp"}[program])

    found = hook.get_dataset(DATASETS[program].upper())
    assert found.name == DATASETS[program]
    assert found.selectable_columns

    with pytest.raises(PartnerInsightsValidationError) as caught:
        hook.get_dataset(DATASETS[program] + "x")
    assert caught.value.field == "dataset"
    assert set(caught.value.allowed) == names
    assert DATASETS[program] in caught.value.suggestions


# -- queries -------------------------------------------------------------------------------------


@pytest.mark.parametrize("program", PROGRAMS)
def test_query_lifecycle(make_hook, program):
    hook = make_hook(program=program)
    text = _query_text(hook, program)
    name = _unique("hooktest")
    created = hook.create_query(name=name, query=text, description="made by the hook tests")
    assert created.query_id
    assert created.name == name
    assert not created.is_system

    listed = hook.list_queries(query_id=created.query_id)
    assert [query.query_id for query in listed] == [created.query_id]
    assert [query.query_id for query in hook.list_queries(query_name=name)] == [created.query_id]
    system_only = hook.list_queries(include_only_system_queries=True)
    assert system_only
    assert all(query.is_system for query in system_only)
    user_only = hook.list_queries(include_system_queries=False)
    assert created.query_id in {query.query_id for query in user_only}
    assert not any(query.is_system for query in user_only)

    rows = hook.test_query(query=text)
    assert 0 < len(rows) <= 100
    assert set(rows[0]) == {column.strip() for column in text.split("SELECT ")[1].split(" FROM")[0].split(",")}
    assert hook.test_query(query_id=created.query_id)
    frame = hook.test_query_dataframe(query=text)
    assert list(frame.columns) == list(rows[0])
    assert len(frame) == len(rows)

    deleted = hook.delete_query(created.query_id)
    assert deleted is not None
    assert deleted.query_id == created.query_id
    assert hook.delete_query(created.query_id) is None
    assert hook.list_queries(query_id=created.query_id) == []


def test_test_query_needs_exactly_one_source(make_hook):
    hook = make_hook()
    with pytest.raises(PartnerInsightsValidationError):
        hook.test_query()
    with pytest.raises(PartnerInsightsValidationError):
        hook.test_query(query="SELECT A FROM B", query_id="x")


def test_mpn_test_query_with_time_window(make_hook, sb):
    hook = make_hook(program="mpn")
    end = datetime.now(timezone.utc)
    rows = hook.test_query(query=_query_text(hook, "mpn"), start_time=end - timedelta(days=30), end_time=end)
    assert isinstance(rows, list)


# -- reports and executions ----------------------------------------------------------------------


@pytest.mark.parametrize("program", PROGRAMS)
def test_report_and_execution_lifecycle(make_hook, sb, sandbox_config, program):
    sandbox_config(pending_s=600, running_s=600)  # stays Pending until the clock is advanced
    hook = make_hook(program=program)
    query = hook.create_query(name=_unique("hookrep"), query=_query_text(hook, program))
    start = _sandbox_now(sb) + timedelta(hours=5)  # the sandbox clock runs ahead of ours
    name = _unique("hookreport")
    report = hook.create_report(
        report_name=name,
        query_id=query.query_id,
        description="hook test",
        execute_now=True,
        start_time=start,
        recurrence_interval=24,
        recurrence_count=1,
        format="csv",
    )
    assert report.report_id
    assert report.report_name == name
    assert report.query_id == query.query_id
    assert [item.report_id for item in hook.list_reports(report_id=report.report_id)] == [report.report_id]
    assert report.report_id in {item.report_id for item in hook.list_reports(report_name=name)}
    assert report.report_id in {item.report_id for item in hook.list_reports(query_id=query.query_id)}

    # Nothing completed yet: the documented 404 is an empty result, not an error.
    assert hook.list_executions(report.report_id) == []
    waiting = hook.list_executions(
        report.report_id, statuses=[ExecutionStatus.PENDING, ExecutionStatus.RUNNING], latest=False
    )
    assert len(waiting) == 1
    execution_id = waiting[0].execution_id
    assert waiting[0].is_waiting
    assert hook.get_execution(report.report_id, execution_id).execution_id == execution_id

    sb.admin.advance_clock(3600)
    latest = hook.get_latest_execution(report.report_id)
    assert latest is not None
    assert latest.execution_id == execution_id
    assert latest.is_completed
    assert latest.report_access_secure_link
    completed = hook.list_executions(report.report_id, execution_id=[execution_id], statuses="Completed")
    assert [item.execution_id for item in completed] == [execution_id]
    assert hook.get_execution(report.report_id, "00000000-0000-0000-0000-000000000000") is None

    paused = hook.pause_report(report.report_id)
    assert paused.report_status == "Paused"
    resumed = hook.resume_report(report.report_id)
    assert resumed.report_status == "Active"
    updated = hook.update_report(
        report.report_id,
        report_name=name + "-renamed",
        start_time=_sandbox_now(sb) + timedelta(hours=5),
        recurrence_interval=48,
        description="changed",
    )
    assert updated.report_name == name + "-renamed"

    deleted = hook.delete_report(report.report_id)
    assert deleted is not None
    assert deleted.report_id == report.report_id
    assert hook.delete_report(report.report_id) is None
    # A deleted report is not "not run yet": waiting on it must fail, not poll forever.
    with pytest.raises(PartnerInsightsNotFoundError):
        hook.list_executions(report.report_id)
    hook.delete_query(query.query_id)


def test_report_body_is_validated_before_sending(make_hook, sb):
    hook = make_hook()
    sb.admin.reset_stats()
    with pytest.raises(PartnerInsightsValidationError) as caught:
        hook.create_report(report_name="x", query_id="q", format="xlsx")
    assert caught.value.field == "format"
    with pytest.raises(PartnerInsightsValidationError) as caught:
        hook.update_report("r", query_id="q")
    assert caught.value.field == "query_id"
    with pytest.raises(PartnerInsightsValidationError):
        hook.create_report(report_name="x", query_id="q", start_time="tomorrow morning")
    assert _requests_to(sb.admin.stats(), "ScheduledReport", "POST") == 0


def test_failed_execution_is_returned_with_its_message(make_hook, sb):
    hook = make_hook()
    query = hook.create_query(name=_unique("hookfail"), query=_query_text(hook, "mpn"))
    sb.admin.set_faults([{"kind": "fail_execution"}])
    report = hook.create_report(report_name=_unique("hookfail"), query_id=query.query_id, execute_now=True)
    sb.admin.advance_clock(3600)
    latest = hook.get_latest_execution(report.report_id)
    assert latest is not None
    assert latest.execution_status == "Failed"
    assert latest.message
    assert hook.get_execution(report.report_id, latest.execution_id).execution_status == "Failed"


def test_filtered_lists_answered_404_are_empty(make_hook, sandbox_config):
    hook = make_hook()
    sandbox_config(empty_list_status=404)
    assert hook.list_reports(report_name="no such report") == []
    assert hook.list_queries(query_name="no such query") == []


# -- retries -------------------------------------------------------------------------------------


def test_429_is_retried_honouring_retry_after(make_hook, sb):
    hook = make_hook()
    sb.admin.set_faults([{"kind": "status", "status": 429, "retry_after": 0, "path": "ScheduledDataset"}])
    assert hook.list_datasets()
    stats = sb.admin.stats()
    assert _requests_to(stats, "ScheduledDataset") == 2


def test_503_is_retried(make_hook, sb):
    hook = make_hook()
    sb.admin.set_faults([{"kind": "status", "status": 503, "path": "ScheduledQueries", "count": 2}])
    assert hook.list_queries(include_only_system_queries=True)
    assert _requests_to(sb.admin.stats(), "ScheduledQueries") == 3


def test_retries_stop_at_max_retries(make_hook, sb):
    hook = make_hook(max_retries=2)
    sb.admin.set_faults([{"kind": "status", "status": 503, "path": "ScheduledDataset", "count": None}])
    with pytest.raises(PartnerInsightsApiError) as caught:
        hook.list_datasets()
    assert caught.value.status_code == 503
    assert caught.value.request_id
    assert caught.value.correlation_id
    assert _requests_to(sb.admin.stats(), "ScheduledDataset") == 3


def test_other_4xx_is_not_retried(make_hook, sb):
    hook = make_hook()
    sb.admin.set_faults([{"kind": "status", "status": 400, "path": "ScheduledDataset"}])
    with pytest.raises(PartnerInsightsApiError) as caught:
        hook.list_datasets()
    assert caught.value.status_code == 400
    assert _requests_to(sb.admin.stats(), "ScheduledDataset") == 1


def test_timeout_is_retried(make_hook, sb):
    hook = make_hook(timeout=0.5)
    sb.admin.set_faults([{"kind": "delay", "seconds": 3, "path": "ScheduledDataset"}])
    assert hook.list_datasets()
    assert _requests_to(sb.admin.stats(), "ScheduledDataset") >= 1  # the slow one may not be counted


def test_connection_reset_is_retried(make_hook, sb, flaky_proxy):
    proxy = flaky_proxy(drops=2)
    hook = make_hook(api_base_url=f"https://127.0.0.1:{proxy.port}/insights/v1/mpn")
    assert hook.list_datasets()
    assert proxy.accepted == 3
    assert _requests_to(sb.admin.stats(), "ScheduledDataset") == 1


def test_connection_resets_beyond_max_retries_fail_with_ids(make_hook, flaky_proxy):
    proxy = flaky_proxy(drops=10)
    hook = make_hook(api_base_url=f"https://127.0.0.1:{proxy.port}/insights/v1/mpn", max_retries=1)
    with pytest.raises(PartnerInsightsApiError) as caught:
        hook.list_datasets()
    assert caught.value.status_code == 0
    assert caught.value.request_id
    assert caught.value.correlation_id
    assert proxy.accepted == 2


def test_error_envelope_is_raised_not_retried(make_hook, sb):
    hook = make_hook()
    sb.admin.set_faults(
        [{"kind": "error_envelope", "status": 400, "message": "Invalid table name", "path": "ScheduledDataset"}]
    )
    with pytest.raises(PartnerInsightsApiError) as caught:
        hook.list_datasets()
    assert caught.value.status_code == 400
    assert "Invalid table name" in str(caught.value)
    assert "MS-RequestId=" in str(caught.value)
    assert _requests_to(sb.admin.stats(), "ScheduledDataset") == 1


def test_401_renews_the_token_once(make_hook, sb):
    hook = make_hook()
    hook.list_datasets()
    first_token = hook.token_provider().get_token()
    sb.admin.reset_stats()
    sb.admin.set_faults([{"kind": "expire_token"}])
    assert hook.list_datasets()
    stats = sb.admin.stats()
    assert _token_requests(stats) == 1
    assert _requests_to(stats, "ScheduledDataset") == 2
    assert hook.token_provider().get_token() != first_token


# -- pagination ----------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["absolute", "relative", "alternate"])
def test_next_link_is_followed(make_hook, sb, sandbox_config, style):
    hook = make_hook()
    everything = {query.query_id for query in hook.list_queries()}
    assert len(everything) > 3
    sandbox_config(page_size=2, next_link_style=style)
    sb.admin.reset_stats()
    paged = hook.list_queries()
    assert {query.query_id for query in paged} == everything
    assert len(paged) == len(everything)
    assert _requests_to(sb.admin.stats(), "ScheduledQueries") == (len(everything) + 1) // 2


def test_page_cap(make_hook, sandbox_config):
    hook = make_hook()
    total = len(hook.list_queries())
    sandbox_config(page_size=1)
    capped = PartnerInsightsHook(hook.partner_insights_conn_id, max_pages=2)
    assert len(capped.list_queries()) == 2 < total


def test_next_link_to_another_host_is_refused(sb, reference_api, monkeypatch, tmp_path):
    # The sandbox builds links from the Host header, so use the reference API server, whose absolute
    # links always name 127.0.0.1: reached as "localhost", its next page is on another host.
    conn = reference_api.connection(sb.connection(program="mpn"), bundle_dir=tmp_path)
    conn["extra"]["api_base_url"] = reference_api.base_url.replace("127.0.0.1", "localhost")
    monkeypatch.setenv("AIRFLOW_CONN_INSIGHTS_FOREIGN_LINK", json.dumps(conn))
    reference_api.configure(page_size=1, next_link="absolute")
    hook = PartnerInsightsHook("insights_foreign_link", backoff_base=0.01)
    with pytest.raises(PartnerInsightsValidationError) as caught:
        hook.list_datasets()
    assert caught.value.field == "nextLink"
    assert "127.0.0.1" in str(caught.value)
    assert len(reference_api.requests.matching("GET", "/ScheduledDataset")) == 1


# -- test_connection -----------------------------------------------------------------------------


@pytest.mark.parametrize("program", PROGRAMS)
def test_test_connection_succeeds(make_hook, sb, program):
    ok, message = make_hook(program=program).test_connection()
    assert ok, message
    assert program in message
    assert _requests_to(sb.admin.stats(), "ScheduledDataset") == 1


def test_test_connection_fails_without_secrets(make_hook):
    wrong = "wrong-secret-value-1234"
    ok, message = make_hook(password=wrong).test_connection()
    assert not ok
    assert message
    assert wrong not in message


def test_test_connection_reports_api_errors(make_hook, sb):
    sb.admin.set_faults([{"kind": "status", "status": 403, "path": "ScheduledDataset"}])
    ok, message = make_hook().test_connection()
    assert not ok
    assert "403" in message


def test_test_connection_on_a_missing_connection():
    ok, message = PartnerInsightsHook("no_such_insights_conn").test_connection()
    assert not ok
    assert "no_such_insights_conn" in message


# -- connection UI -------------------------------------------------------------------------------


def test_ui_field_behaviour_is_the_declared_one():
    from airflow_provider_insights import UI_FIELD_BEHAVIOUR

    behaviour = PartnerInsightsHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == UI_FIELD_BEHAVIOUR["hidden-fields"]
    assert set(behaviour["hidden_fields"]) == {"schema", "port", "host"}
    assert behaviour["relabeling"] == {"login": "Client ID", "password": "Client secret"}
    assert behaviour["placeholders"] == UI_FIELD_BEHAVIOUR["placeholders"]
    assert "tenant_id" in behaviour["placeholders"]


def test_legacy_form_fields_are_derived_from_the_declared_conn_fields():
    # What get_connection_form_widgets turns into wtforms fields (wtforms is only in the web UI's env).
    from airflow_provider_insights import CONNECTION_FIELDS, connection_form_fields

    fields = {name: (label, secret) for name, label, secret in connection_form_fields()}
    assert set(fields) == set(CONNECTION_FIELDS)
    assert {name for name, (_label, secret) in fields.items() if secret} == {
        "user_password",
        "refresh_token",
        "certificate_data",
        "proxies",
    }
    assert fields["tenant_id"] == ("Tenant ID", False)
    assert "proxies" in fields


def test_connection_form_widgets_use_password_fields_for_secrets(monkeypatch):
    # wtforms, flask_appbuilder and flask_babel live only in the web UI's environment (not installed
    # here): stand-ins record what the hook builds from CONNECTION_FIELDS.
    import sys
    import types

    from airflow_provider_insights import CONNECTION_FIELDS

    class Field:
        def __init__(self, label, widget=None):
            self.label, self.widget = label, widget

    class StringField(Field):
        pass

    class PasswordField(Field):
        pass

    stand_ins = {
        "wtforms": {"StringField": StringField, "PasswordField": PasswordField},
        "flask_babel": {"lazy_gettext": lambda text: text},
        "flask_appbuilder": {},
        "flask_appbuilder.fieldwidgets": {"BS3TextFieldWidget": lambda: "text", "BS3PasswordFieldWidget": lambda: "pw"},
    }
    for name, attributes in stand_ins.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)

    widgets = PartnerInsightsHook.get_connection_form_widgets()

    assert set(widgets) == set(CONNECTION_FIELDS)
    for name, field in CONNECTION_FIELDS.items():
        secret = field["schema"].get("format") == "password"
        assert isinstance(widgets[name], PasswordField if secret else StringField), name
        assert widgets[name].widget == ("pw" if secret else "text")
        assert widgets[name].label == field["label"]


def test_hook_attributes_and_no_io_in_constructor(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_PARTNER_INSIGHTS_DEFAULT", raising=False)
    hook = PartnerInsightsHook()  # no connection defined: must not fail before first use
    assert hook.partner_insights_conn_id == "partner_insights_default"
    assert PartnerInsightsHook.conn_type == "partner_insights"
    assert PartnerInsightsHook.conn_name_attr == "partner_insights_conn_id"
