"""The shared input checks: each names the field and what is allowed."""

from __future__ import annotations

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.validation import (
    check_callback_method,
    check_callback_url,
    check_report_format,
    optional_int,
    query_text,
    require_text,
    same_query_text,
)


def refused(call, *args, **kwargs) -> PartnerInsightsValidationError:
    with pytest.raises(PartnerInsightsValidationError) as info:
        call(*args, **kwargs)
    return info.value


@pytest.mark.parametrize("value", [None, "", "  ", True, 1.5])
def test_require_text_refuses_missing_ids(value):
    assert refused(require_text, "report_id", value).field == "report_id"


def test_require_text_strips():
    assert require_text("report_id", " r1 ") == "r1"


def test_report_format():
    assert check_report_format("format", "tsv") == "TSV"
    assert refused(check_report_format, "format", "json").allowed == ["CSV", "TSV"]


def test_callback_method_only_where_documented():
    assert check_callback_method("callback_method", "get", program="mpn") == "GET"
    assert refused(check_callback_method, "callback_method", "PUT").field == "callback_method"
    assert "cmp" in str(refused(check_callback_method, "callback_method", "POST", program="cmp"))


def test_callback_url_https_for_cmp():
    assert check_callback_url("callback_url", "http://example.com/cb", program="mpn") == "http://example.com/cb"
    assert refused(check_callback_url, "callback_url", "http://example.com/cb", program="cmp").field == "callback_url"
    assert refused(check_callback_url, "callback_url", "example.com/cb").field == "callback_url"


def test_optional_int_reads_rendered_text_and_checks_bounds():
    assert optional_int("recurrence_interval", None) is None
    assert optional_int("recurrence_interval", " 24 ") == 24
    assert refused(optional_int, "recurrence_interval", "", minimum=4).field == "recurrence_interval"
    assert refused(optional_int, "recurrence_interval", 2, minimum=4).allowed == ["4 to inf"]
    assert refused(optional_int, "recurrence_count", True).field == "recurrence_count"


class Built:
    def to_text(self) -> str:
        return "SELECT  A\nFROM B"


def test_query_text_from_text_or_builder():
    assert query_text("query", Built()) == "SELECT A FROM B"
    assert refused(query_text, "query", None).field == "query"
    assert refused(query_text, "query", "   ").field == "query"
    assert same_query_text("select a from b", "SELECT  A FROM B")
