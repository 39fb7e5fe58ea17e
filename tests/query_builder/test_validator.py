"""Tests of validate_query: grammar first, then the live catalog (datasets, columns, timespans)."""

from __future__ import annotations

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.models import Dataset
from airflow_provider_insights.query_builder import Filter, InsightsQuery, validate_query
from tests.seed_data import DYNAMICS_USAGE_ITEM


@pytest.fixture
def dynamics() -> Dataset:
    return Dataset.from_api(DYNAMICS_USAGE_ITEM)


@pytest.fixture
def catalog(dynamics: Dataset) -> list[Dataset]:
    others = [Dataset(name=name) for name in ("CustomersAndTenants", "DynamicsCRMUsage", "OfficeUsage", "Profile")]
    return [dynamics, *others]


def test_validate_without_catalog_is_the_grammar_check() -> None:
    parsed = validate_query("SELECT Anything FROM Whatever")
    assert (parsed.dataset, parsed.columns) == ("Whatever", ("Anything",))
    with pytest.raises(PartnerInsightsValidationError) as caught:
        validate_query("SELECT * FROM Whatever")
    assert caught.value.field == "query"


def test_validate_accepts_a_good_query_and_returns_catalog_spelling(catalog: list[Dataset]) -> None:
    parsed = validate_query(
        "select subscriptionid, totalsoldseats from dynamicsusage where sku like '%365%' "
        "order by TOTALSOLDSEATS timespan last_1_year",
        catalog=catalog,
    )
    assert parsed.dataset == "DynamicsUsage"
    assert parsed.columns == ("SubscriptionId", "TotalSoldSeats")
    assert parsed.filters == (Filter("SKU", "LIKE", "%365%"),)
    assert parsed.order_by == (("TotalSoldSeats", "DESC"),)
    assert parsed.timespan == "LAST_1_YEAR"


def test_validate_accepts_a_builder(dynamics: Dataset) -> None:
    query = InsightsQuery(dataset="DynamicsUsage", columns=["SKU", "CustomerCount"], timespan="LAST_MONTH")
    assert validate_query(query, dataset=dynamics) == query.to_parsed()


def test_unknown_dataset_lists_the_catalog_and_suggests(catalog: list[Dataset]) -> None:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        validate_query("SELECT SKU FROM DynamicUsage", catalog=catalog)
    error = caught.value
    assert error.field == "dataset"
    assert error.problem == "unknown dataset 'DynamicUsage'"
    assert error.allowed == ["DynamicsUsage", "CustomersAndTenants", "DynamicsCRMUsage", "OfficeUsage", "Profile"]
    assert error.suggestions[0] == "DynamicsUsage"
    assert "DynamicsCRMUsage" in error.suggestions
    assert "Profile" not in error.suggestions


def test_dataset_suggestions_ignore_case(catalog: list[Dataset]) -> None:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        validate_query("SELECT SKU FROM OFFICEUSAGES", catalog=catalog)
    assert caught.value.suggestions == ["OfficeUsage"]


def test_unknown_column_suggests_the_closest_columns_and_metrics(dynamics: Dataset) -> None:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        validate_query("SELECT SubscriptonId, TotalSoldSeat FROM DynamicsUsage", dataset=dynamics)
    error = caught.value
    assert error.field == "columns"
    assert error.problem == (
        "'SubscriptonId' (SELECT), 'TotalSoldSeat' (SELECT) are not a column or metric of dataset DynamicsUsage"
    )
    assert error.suggestions[0] == "SubscriptionId"
    assert "TotalSoldSeats" in error.suggestions  # a metric
    assert error.allowed == list(dynamics.fields)


def test_unknown_columns_in_where_and_order_by_are_reported_with_their_clause(dynamics: Dataset) -> None:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        validate_query(
            "SELECT SKU FROM DynamicsUsage WHERE Country = 'FR' AND SKU = 'x' ORDER BY Revenue", dataset=dynamics
        )
    assert caught.value.problem.startswith("'Country' (WHERE), 'Revenue' (ORDER BY) are not")


def test_a_column_in_several_clauses_is_reported_once(dynamics: Dataset) -> None:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        validate_query(
            "SELECT SalesModle FROM DynamicsUsage WHERE SalesModle = 'x' ORDER BY SalesModle", dataset=dynamics
        )
    assert caught.value.problem == (
        "'SalesModle' (SELECT, WHERE, ORDER BY) is not a column or metric of dataset DynamicsUsage"
    )
    assert caught.value.suggestions[0] == "SalesModel"


def test_timespan_must_be_one_of_the_dataset_ranges(dynamics: Dataset) -> None:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        validate_query("SELECT SKU FROM DynamicsUsage TIMESPAN LAST_7_DAYS", dataset=dynamics)
    error = caught.value
    assert error.field == "timespan"
    assert error.problem == "TIMESPAN LAST_7_DAYS is not offered by dataset DynamicsUsage"
    assert error.allowed == ["LAST_MONTH", "LAST_3_MONTHS", "LAST_6_MONTHS", "LAST_1_YEAR", "LIFETIME"]


def test_timespan_check_is_skipped_when_the_catalog_lists_no_ranges() -> None:
    dataset = Dataset(name="Profile", selectable_columns=("MPNId",))
    assert validate_query("SELECT MPNId FROM Profile TIMESPAN TODAY", dataset=dataset).timespan == "TODAY"


def test_grammar_is_checked_before_the_catalog(catalog: list[Dataset]) -> None:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        validate_query("SELECT * FROM Nowhere", catalog=catalog)
    assert caught.value.field == "query"


def test_dataset_argument_must_match_from(dynamics: Dataset, catalog: list[Dataset]) -> None:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        validate_query("SELECT MPNId FROM Profile", dataset=dynamics)
    assert caught.value.field == "dataset"
    assert caught.value.problem == "the query reads from 'Profile', not from 'DynamicsUsage'"
    with pytest.raises(PartnerInsightsValidationError):
        validate_query("SELECT MPNId FROM Profile", dataset=dynamics, catalog=catalog)


def test_validate_rejects_other_types() -> None:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        validate_query(None)  # type: ignore[arg-type]
    assert caught.value.field == "query"
