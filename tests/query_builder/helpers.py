"""Helpers shared by the query builder tests."""

from __future__ import annotations

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.query_builder import parse_query


def syntax_error(text: str) -> PartnerInsightsValidationError:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        parse_query(text)
    assert caught.value.field == "query"
    return caught.value
