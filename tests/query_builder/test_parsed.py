"""Tests of the parsed form: every part is checked and normalised where it is written."""

from __future__ import annotations

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.query_builder import OPERATORS, Filter, InsightsQuery


@pytest.mark.parametrize(
    "kwargs, field, problem",
    [
        (
            {"filters": [("SKU", "=", ["a", "b"])]},
            "filters",
            "SKU =: a list of values is only allowed with IN or NOT IN",
        ),
        ({"filters": [("SKU", "in", "a")]}, "filters", "SKU IN needs a list of values, got 'a'"),
        ({"filters": [("SKU", "IN", [])]}, "filters", "SKU IN needs at least one value"),
        ({"filters": [("SKU", "IN", ["a", 1])]}, "filters", "SKU IN: a list holds only numbers or only strings"),
        ({"filters": [("SKU", "~", "a")]}, "filters", "unknown operator '~'"),
        ({"filters": [("SKU", "=", True)]}, "filters", "SKU: booleans are ambiguous here"),
        ({"filters": [("SKU", "=", float("nan"))]}, "filters", "SKU: nan is not a finite number"),
        ({"filters": [("SKU", "=", None)]}, "filters", "SKU: unsupported value None"),
        ({"filters": [("SKU", "=")]}, "filters", "expected a Filter or (column, operator, value)"),
        ({"filters": [("bad name", "=", 1)]}, "filters", "'bad name' is not a valid name"),
        ({"columns": []}, "columns", "select at least one column or metric"),
        ({"columns": ["*"]}, "columns", "'*' is not a valid name"),
        ({"columns": ["SUM(TotalSoldSeats)"]}, "columns", "'SUM(TotalSoldSeats)' is not a valid name"),
        ({"columns": ["SKU", "sku"]}, "columns", "column 'sku' is selected twice"),
        ({"columns": ["Order"]}, "columns", "'Order' is a reserved keyword, not a name"),
        ({"dataset": "Dynamics Usage"}, "dataset", "'Dynamics Usage' is not a valid name"),
        ({"dataset": ""}, "dataset", "expected a non-empty name, got ''"),
        ({"order_by": [("SKU", "UP")]}, "order_by", "unknown sort direction 'UP'"),
        ({"limit": 0}, "limit", "0 is not a positive whole number"),
        ({"limit": 2.5}, "limit", "2.5 is not a positive whole number"),
        ({"timespan": "LAST_2_WEEKS"}, "timespan", "unknown TIMESPAN 'LAST_2_WEEKS'"),
    ],
)
def test_builder_validates_its_inputs(kwargs: dict, field: str, problem: str) -> None:
    arguments = {"dataset": "DynamicsUsage", "columns": ["SKU"], **kwargs}
    with pytest.raises(PartnerInsightsValidationError) as caught:
        InsightsQuery(**arguments)
    assert caught.value.field == field
    assert caught.value.problem.startswith(problem)


def test_builder_operator_errors_list_the_allowed_operators() -> None:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        InsightsQuery(dataset="d", columns=["a"]).where("a", "==", 1)
    assert caught.value.allowed == list(OPERATORS)


def test_builder_accepts_the_sql_not_equal_spelling() -> None:
    assert Filter("a", "<>", 1).operator == "!="
