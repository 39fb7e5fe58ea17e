"""Tests of the builder: canonical text, round trips through the parser, immutable fluent copies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_insights.query_builder import Filter, InsightsQuery, parse_query


def test_builder_renders_canonical_text() -> None:
    query = InsightsQuery(
        dataset="DynamicsUsage",
        columns=["CustomerName", "SKU", "TotalSoldSeats"],
        filters=[("SKU", "like", "%Business%"), Filter("CustomerName", "NOT IN", ("O'Brien Ltd", "Contoso"))],
        order_by=["TotalSoldSeats", ("CustomerName", "asc")],
        limit=100,
        timespan="last_month",
        distinct=True,
    )
    assert query.to_text() == (
        "SELECT DISTINCT CustomerName, SKU, TotalSoldSeats FROM DynamicsUsage "
        "WHERE SKU LIKE '%Business%' AND CustomerName NOT IN ('O''Brien Ltd', 'Contoso') "
        "ORDER BY TotalSoldSeats DESC, CustomerName ASC LIMIT 100 TIMESPAN LAST_MONTH"
    )


def test_builder_round_trips_through_the_parser() -> None:
    query = InsightsQuery(
        dataset="DynamicsUsage",
        columns=["SKU", "ActiveUsagePercent"],
        filters=[
            ("ActiveUsagePercent", ">=", 0.1),
            ("AvailableSeats", "in", [10, 20]),
            ("CustomerName", "=", "Zürich 'GmbH' \u2013 100%"),
            ("TotalRevenueAndACR", "<", Decimal("1E+3")),
            ("SKUId", "not in", {"b", "a"}),
        ],
        order_by=["SKU asc"],
        timespan="LIFETIME",
    )
    reparsed = parse_query(query.to_text())
    assert reparsed == query.to_parsed()
    assert InsightsQuery.from_text(query.to_text()) == query
    assert "ActiveUsagePercent >= 0.1 " in query.to_text()  # a float never renders with an exponent
    assert "TotalRevenueAndACR < 1000 " in query.to_text()
    assert "SKUId NOT IN ('a', 'b')" in query.to_text()  # sets are rendered in a stable order


def test_fluent_methods_return_new_instances() -> None:
    base = InsightsQuery(dataset="DynamicsUsage", columns=["SKU", "TotalSoldSeats"])
    refined = (
        base.where("SKU", "like", "%Dynamics%")
        .where("TotalSoldSeats", ">", 5)
        .order("TotalSoldSeats")
        .with_limit(10)
        .with_timespan("last_3_months")
    )
    assert base.to_text() == "SELECT SKU, TotalSoldSeats FROM DynamicsUsage"
    assert refined.to_text() == (
        "SELECT SKU, TotalSoldSeats FROM DynamicsUsage WHERE SKU LIKE '%Dynamics%' AND TotalSoldSeats > 5 "
        "ORDER BY TotalSoldSeats DESC LIMIT 10 TIMESPAN LAST_3_MONTHS"
    )
    assert refined.with_limit(None).limit is None
    assert str(refined) == refined.to_text()
    assert repr(base) == "InsightsQuery('SELECT SKU, TotalSoldSeats FROM DynamicsUsage')"


def test_builder_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        InsightsQuery("DynamicsUsage", ["SKU"])  # type: ignore[misc]


def test_builder_extends_a_parsed_system_query() -> None:
    system = "SELECT SKUId, FreeVsPaidSKU, SalesModel FROM DynamicsUsage TIMESPAN LAST_6_MONTHS"
    query = InsightsQuery.from_text(system).where("SalesModel", "=", "Direct")
    assert query.to_text() == (
        "SELECT SKUId, FreeVsPaidSKU, SalesModel FROM DynamicsUsage WHERE SalesModel = 'Direct' TIMESPAN LAST_6_MONTHS"
    )
