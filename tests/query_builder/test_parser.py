"""Tests of the parser: the documented queries parse, and what the grammar refuses names its token."""

from __future__ import annotations

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.query_builder import TIMESPANS, Filter, ParsedQuery, parse_query
from tests.query_builder.helpers import syntax_error

DOCUMENTED_EXAMPLES = [
    "SELECT UsageDate, NormalizedUsage, EstimatedExtendedChargePC FROM ISVUsage WHERE SKUBillingType = 'Paid' "
    "ORDER BY UsageDate DESC TIMESPAN LAST_MONTH",
    "SELECT CustomerName, Product, BilledRevenueUSD FROM CustomersAndTenants ORDER BY BilledRevenueUSD LIMIT 10 "
    "TIMESPAN LAST_MONTH",
    "SELECT MarketplaceSubscriptionId, MonthStartDate, NormalizedUsage FROM ISVUsage WHERE CustomerId IN "
    "('2a31c234-1f4e-4c60-909e-76d234f93161', '80780748-3f9a-11eb-b378-0242ac130002')",
    "SELECT CustomerName, CustomerTpid, SKU, Month, BilledRevenueUSD FROM CustomersAndTenants WHERE "
    "SKU='MICROSOFT 365 BUSINESS STANDARD' AND BilledRevenueUSD>20000 TIMESPAN LAST_6_MONTHS",
    "SELECT MPNId, PartnerName FROM Profile WHERE Country='United States'",
]

SPECIFICATION_EXAMPLES = [
    "SELECT CustomerTenantId, PaidAvailableUnits FROM OfficeUsage TIMESPAN LAST_MONTH",
    "SELECT CustomerTenantId, PaidAvailableUnits FROM OfficeUsage ORDER BY PaidAvailableUnits LIMIT 10",
    "SELECT CustomerTenantId, PaidAvailableUnits, MonthlyActiveUsers FROM OfficeUsage WHERE MonthlyActiveUsers "
    "> 100000 ORDER BY MonthlyActiveUsers TIMESPAN LAST_6_MONTHS",
    "SELECT DISTINCT MarketplaceSubscriptionId, OfferType FROM ISVUsage",
    "SELECT a FROM ISVCustomer WHERE CustomerName LIKE '%Contoso%'",
    "SELECT a FROM ISVCustomer WHERE CustomerId NOT IN (1000, 1001, 1002)",
    "SELECT a FROM ISVOrder WHERE OrderQuantity=100",
    "SELECT a FROM ISVOrder WHERE OrderQuantity='100'",
    "SELECT a FROM OfficeUsage WHERE CustomerTenantId='7b487ac0-ce12-b732-dcd6-91a1e4e74a50' "
    "AND CustomerTpId=' 0f8b7fa0-eb83-a183-1225-ca153ef807aa'",
    "SELECT a FROM OfficeUsage ORDER BY MonthlyActiveUsers ASC, Month DESC",
    "SELECT SubscriptionId from DynamicsUsage ",  # the MPN walkthrough's query, lower-case from, trailing space
]


# ---------------------------------------------------------------------------------------------------
# Grammar: accepted
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", DOCUMENTED_EXAMPLES + SPECIFICATION_EXAMPLES)
def test_documented_examples_parse_and_their_canonical_text_parses_to_the_same(text: str) -> None:
    parsed = parse_query(text)
    assert parse_query(parsed.to_text()) == parsed


def test_parse_extracts_every_part() -> None:
    parsed = parse_query(DOCUMENTED_EXAMPLES[3])
    assert parsed == ParsedQuery(
        dataset="CustomersAndTenants",
        columns=("CustomerName", "CustomerTpid", "SKU", "Month", "BilledRevenueUSD"),
        filters=(
            Filter("SKU", "=", "MICROSOFT 365 BUSINESS STANDARD"),
            Filter("BilledRevenueUSD", ">", 20000),
        ),
        timespan="LAST_6_MONTHS",
    )
    assert parsed.distinct is False
    assert parsed.limit is None
    assert parsed.order_by == ()


def test_in_list_of_guids_keeps_values_and_order() -> None:
    parsed = parse_query(DOCUMENTED_EXAMPLES[2])
    assert parsed.filters == (
        Filter("CustomerId", "IN", ("2a31c234-1f4e-4c60-909e-76d234f93161", "80780748-3f9a-11eb-b378-0242ac130002")),
    )


def test_keywords_and_timespan_are_case_insensitive_and_canonicalised() -> None:
    parsed = parse_query(
        "select distinct SKU, TotalSoldSeats from DynamicsUsage where SKU not like '%trial%' and SKU in ('a') "
        "order by TotalSoldSeats asc limit 5 timespan last_3_months"
    )
    assert parsed.distinct is True
    assert parsed.filters == (Filter("SKU", "NOT LIKE", "%trial%"), Filter("SKU", "IN", ("a",)))
    assert parsed.order_by == (("TotalSoldSeats", "ASC"),)
    assert parsed.limit == 5
    assert parsed.timespan == "LAST_3_MONTHS"
    assert parsed.to_text() == (
        "SELECT DISTINCT SKU, TotalSoldSeats FROM DynamicsUsage WHERE SKU NOT LIKE '%trial%' AND SKU IN ('a') "
        "ORDER BY TotalSoldSeats ASC LIMIT 5 TIMESPAN LAST_3_MONTHS"
    )


def test_order_by_without_direction_means_desc() -> None:
    parsed = parse_query("SELECT a, b FROM d ORDER BY a, b ASC")
    assert parsed.order_by == (("a", "DESC"), ("b", "ASC"))


@pytest.mark.parametrize("operator", ["=", ">", "<", ">=", "<=", "!=", "LIKE", "NOT LIKE"])
def test_every_comparison_operator_is_accepted(operator: str) -> None:
    parsed = parse_query(f"SELECT a FROM d WHERE a {operator} 5")
    assert parsed.filters == (Filter("a", operator, 5),)


@pytest.mark.parametrize("timespan", TIMESPANS)
def test_every_grammar_timespan_is_accepted(timespan: str) -> None:
    assert parse_query(f"SELECT a FROM d TIMESPAN {timespan.lower()}").timespan == timespan


# ---------------------------------------------------------------------------------------------------
# Grammar: rejected, naming the token, its position and what is allowed there
# ---------------------------------------------------------------------------------------------------


def test_select_star_is_rejected() -> None:
    error = syntax_error("SELECT * FROM DynamicsUsage")
    assert error.problem.startswith("'*' at position 8: SELECT * is not supported")
    assert error.allowed == ["a column or metric name"]


def test_or_is_rejected_with_what_may_follow() -> None:
    error = syntax_error("SELECT a FROM d WHERE a = 1 OR b = 2")
    assert error.problem.startswith("'OR' at position 29: OR is not supported")
    assert error.allowed == ["AND", "ORDER BY", "LIMIT", "TIMESPAN", "end of query"]


def test_parentheses_in_where_are_rejected() -> None:
    error = syntax_error("SELECT a FROM d WHERE (a = 1)")
    assert error.problem.startswith("'(' at position 23: parentheses are not supported in WHERE")


def test_parentheses_after_and_are_rejected() -> None:
    error = syntax_error("SELECT a FROM d WHERE a = 1 AND (b = 2)")
    assert "position 33" in error.problem
    assert "parentheses are not supported in WHERE" in error.problem


def test_group_by_is_rejected() -> None:
    error = syntax_error("SELECT SKU, TotalSoldSeats FROM DynamicsUsage GROUP BY SKU")
    assert error.problem.startswith("'GROUP' at position 47: GROUP BY is not supported")


def test_having_is_rejected() -> None:
    error = syntax_error("SELECT a FROM d HAVING a > 1")
    assert error.problem.startswith("'HAVING' at position 17: HAVING is not supported")


@pytest.mark.parametrize("function", ["SUM", "COUNT", "avg", "Max"])
def test_functions_are_rejected(function: str) -> None:
    error = syntax_error(f"SELECT {function}(TotalSoldSeats) FROM d")
    assert error.problem.startswith(f"'{function}' at position 8: functions such as {function.upper()}(...)")


def test_function_in_where_is_rejected() -> None:
    error = syntax_error("SELECT a FROM d WHERE LOWER(a) = 'x'")
    assert error.problem.startswith("'LOWER' at position 23: functions")


@pytest.mark.parametrize(
    "text, token, position",
    [("SELECT a AS b FROM d", "AS", 10), ("SELECT a b FROM d", "b", 10)],
)
def test_aliases_are_rejected(text: str, token: str, position: int) -> None:
    error = syntax_error(text)
    assert error.problem.startswith(f"'{token}' at position {position}: aliases are not supported")
    assert error.allowed == ["','", "FROM"]


@pytest.mark.parametrize(
    "text, prefix",
    [
        ("SELECT a FROM d JOIN e", "'JOIN' at position 17"),
        ("SELECT a FROM d INNER JOIN e", "'INNER' at position 17"),
        ("SELECT a FROM d, e", "',' at position 16"),
    ],
)
def test_joins_are_rejected(text: str, prefix: str) -> None:
    assert syntax_error(text).problem.startswith(f"{prefix}: joins are not supported")


@pytest.mark.parametrize(
    "text, position",
    [("SELECT a FROM (SELECT a FROM d)", 15), ("SELECT a FROM d WHERE a IN (SELECT a FROM e)", 29)],
)
def test_subqueries_are_rejected(text: str, position: int) -> None:
    error = syntax_error(text)
    assert f"at position {position}: subqueries are not supported" in error.problem


@pytest.mark.parametrize("operator", ["=", "!=", ">", "LIKE", "NOT LIKE"])
def test_a_list_is_rejected_with_a_comparison_operator(operator: str) -> None:
    error = syntax_error(f"SELECT a FROM d WHERE a {operator} ('x', 'y')")
    assert "a parenthesised list is only allowed with IN or NOT IN" in error.problem
    assert error.allowed == ["IN", "NOT IN"]


@pytest.mark.parametrize("operator", ["IN", "NOT IN"])
def test_in_needs_a_list(operator: str) -> None:
    error = syntax_error(f"SELECT a FROM d WHERE a {operator} 'x'")
    position = 26 + len(operator)
    assert error.problem.startswith(f"string 'x' at position {position}: {operator} needs a parenthesised list")


def test_empty_and_mixed_lists_are_rejected() -> None:
    assert "expected a number or a quoted string in the list" in syntax_error("SELECT a FROM d WHERE a IN ()").problem
    assert "only numbers or only strings" in syntax_error("SELECT a FROM d WHERE a IN ('x', 1)").problem


@pytest.mark.parametrize("limit", ["0", "-1", "1.5", "'10'", "ten", "TIMESPAN"])
def test_limit_must_be_a_positive_integer(limit: str) -> None:
    error = syntax_error(f"SELECT a FROM d LIMIT {limit}")
    assert "at position 23: expected a whole number greater than 0 after LIMIT" in error.problem
    assert error.allowed == ["1, 2, 3, ..."]


def test_limit_without_a_number_points_at_the_end() -> None:
    assert syntax_error("SELECT a FROM d LIMIT").problem.startswith("end of query at position 22: expected a whole")


def test_unknown_timespan_lists_the_thirteen_and_suggests() -> None:
    error = syntax_error("SELECT a FROM d TIMESPAN LAST_6_MONTH")
    assert error.problem == "'LAST_6_MONTH' at position 26: unknown TIMESPAN"
    assert error.allowed == list(TIMESPANS)
    assert len(error.allowed) == 13
    assert error.suggestions[0] == "LAST_6_MONTHS"


def test_trailing_garbage_is_rejected() -> None:
    error = syntax_error("SELECT a FROM d TIMESPAN LIFETIME extra")
    assert error.problem.startswith("'extra' at position 35: expected the next clause or the end of the query")
    assert error.allowed == ["end of query"]


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_query_is_rejected(text: str) -> None:
    assert syntax_error(text).problem == "the query is empty"


def test_query_must_start_with_select() -> None:
    error = syntax_error("FROM d SELECT a")
    assert error.problem.startswith("'FROM' at position 1: expected SELECT")
    assert error.allowed == ["SELECT"]


def test_missing_from_is_rejected() -> None:
    error = syntax_error("SELECT a, b")
    assert error.problem == "end of query at position 12: missing FROM: name the dataset after the column list"
    assert error.allowed == ["FROM"]


def test_where_before_from_is_out_of_order() -> None:
    error = syntax_error("SELECT a WHERE a = 1 FROM d")
    assert error.problem == "'WHERE' at position 10: WHERE must come after FROM <dataset>"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("SELECT a FROM d LIMIT 5 ORDER BY a", "'ORDER' at position 25: ORDER BY must come before LIMIT"),
        ("SELECT a FROM d TIMESPAN LIFETIME WHERE a = 1", "'WHERE' at position 35: WHERE must come before TIMESPAN"),
        ("SELECT a FROM d ORDER BY a WHERE a = 1", "'WHERE' at position 28: WHERE must come before ORDER BY"),
    ],
)
def test_clauses_out_of_order_are_rejected(text: str, problem: str) -> None:
    assert syntax_error(text).problem == problem


@pytest.mark.parametrize(
    "text, problem",
    [
        ("SELECT a FROM d LIMIT 5 LIMIT 6", "'LIMIT' at position 25: duplicate LIMIT"),
        ("SELECT a FROM d WHERE a = 1 WHERE b = 2", "'WHERE' at position 29: duplicate WHERE"),
        ("SELECT a FROM d TIMESPAN TODAY TIMESPAN TODAY", "'TIMESPAN' at position 32: duplicate TIMESPAN"),
        ("SELECT a FROM d FROM e", "'FROM' at position 17: duplicate FROM"),
        ("SELECT a FROM d ORDER BY a ORDER BY a", "'ORDER' at position 28: duplicate ORDER BY"),
    ],
)
def test_duplicate_clauses_are_rejected(text: str, problem: str) -> None:
    assert syntax_error(text).problem.startswith(problem)


def test_duplicate_selected_column_is_rejected_case_insensitively() -> None:
    assert syntax_error("SELECT SKU, sku FROM d").problem == "'sku' at position 13: column sku is selected twice"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("SELECT a FROM d WHERE a = x", "'x' at position 27: expected a number or a quoted string"),
        ("SELECT a FROM d WHERE a BETWEEN 1 AND 2", "'BETWEEN' at position 25: BETWEEN is not supported"),
        ("SELECT a FROM d WHERE a NOT = 1", "'=' at position 29: expected LIKE or IN after NOT"),
        ("SELECT a FROM d ORDER a", "'a' at position 23: expected BY after ORDER"),
        ("SELECT a FROM d ORDER BY a ASC DESC", "'DESC' at position 32: a already has the direction ASC"),
        ("SELECT FROM d", "'FROM' at position 8: expected a column or metric name in SELECT"),
        ("SELECT a, FROM d", "'FROM' at position 11: expected a column or metric name in SELECT"),
        ("SELECT a FROM", "end of query at position 14: expected a dataset name in FROM"),
    ],
)
def test_other_syntax_errors_name_token_and_position(text: str, problem: str) -> None:
    assert syntax_error(text).problem.startswith(problem)


def test_parse_query_rejects_non_text() -> None:
    with pytest.raises(PartnerInsightsValidationError, match="expected the query text, got int"):
        parse_query(42)  # type: ignore[arg-type]
