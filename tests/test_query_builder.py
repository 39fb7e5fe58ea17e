"""Tests of the Insights query grammar, the builder and the catalog checks (pure Python, no I/O)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.models import Dataset
from airflow_provider_insights.query_builder import (
    OPERATORS,
    TIMESPANS,
    Filter,
    InsightsQuery,
    ParsedQuery,
    parse_query,
    tokenize,
    validate_query,
)
from tests.seed_data import DYNAMICS_USAGE_ITEM

# insights-api.md §3.4, verbatim (the '…' GUID placeholders filled in with the spec page's GUIDs).
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

# More examples of the custom-query specification pages (the FROM/WHERE fragments made whole).
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


@pytest.fixture
def dynamics() -> Dataset:
    return Dataset.from_api(DYNAMICS_USAGE_ITEM)


@pytest.fixture
def catalog(dynamics: Dataset) -> list[Dataset]:
    others = [Dataset(name=name) for name in ("CustomersAndTenants", "DynamicsCRMUsage", "OfficeUsage", "Profile")]
    return [dynamics, *others]


def syntax_error(text: str) -> PartnerInsightsValidationError:
    with pytest.raises(PartnerInsightsValidationError) as caught:
        parse_query(text)
    assert caught.value.field == "query"
    return caught.value


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


def test_operators_without_spaces() -> None:
    parsed = parse_query("SELECT a FROM d WHERE a>=1 AND b<=2 AND c!=3 AND e<4 AND f>5 AND g=6")
    assert [f.operator for f in parsed.filters] == [">=", "<=", "!=", "<", ">", "="]


def test_numbers_negative_and_decimal_keep_their_text() -> None:
    parsed = parse_query("SELECT a FROM d WHERE a > -5 AND b < 20000.10 AND c IN (1, -2, 3.0)")
    assert [f.value for f in parsed.filters] == [-5, Decimal("20000.10"), (1, -2, Decimal("3.0"))]
    assert parsed.to_text().endswith("WHERE a > -5 AND b < 20000.10 AND c IN (1, -2, 3.0)")


@pytest.mark.parametrize(
    "literal, value",
    [
        ("'MICROSOFT 365 BUSINESS STANDARD'", "MICROSOFT 365 BUSINESS STANDARD"),
        ("'%Contoso%'", "%Contoso%"),
        ("' 0f8b7fa0-eb83-a183-1225-ca153ef807aa'", " 0f8b7fa0-eb83-a183-1225-ca153ef807aa"),
        ("'Zürich \u2013 Genève 東京'", "Zürich \u2013 Genève 東京"),
        ("'O''Brien'", "O'Brien"),
        ("''", ""),
        ("'a, b (c) AND d OR e; f'", "a, b (c) AND d OR e; f"),
    ],
)
def test_string_literals_accept_the_real_world_superset(literal: str, value: str) -> None:
    parsed = parse_query(f"SELECT a FROM d WHERE a = {literal}")
    assert parsed.filters[0].value == value
    assert parse_query(parsed.to_text()) == parsed


def test_whitespace_and_newlines_between_tokens() -> None:
    parsed = parse_query("\n  SELECT\ta ,b\nFROM   d\n WHERE a='x'\n")
    assert (parsed.columns, parsed.dataset) == (("a", "b"), "d")


@pytest.mark.parametrize("timespan", TIMESPANS)
def test_every_grammar_timespan_is_accepted(timespan: str) -> None:
    assert parse_query(f"SELECT a FROM d TIMESPAN {timespan.lower()}").timespan == timespan


def test_tokenizer_reports_positions() -> None:
    tokens = tokenize("SELECT a FROM d WHERE x >= 'it''s'")
    assert [(t.kind, t.text, t.pos) for t in tokens] == [
        ("name", "SELECT", 0),
        ("name", "a", 7),
        ("name", "FROM", 9),
        ("name", "d", 14),
        ("name", "WHERE", 16),
        ("name", "x", 22),
        ("operator", ">=", 24),
        ("string", "'it''s'", 27),
        ("end", "", 34),
    ]
    assert tokens[7].value == "it's"


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


def test_trailing_semicolon_is_rejected_with_a_hint() -> None:
    error = syntax_error("SELECT a FROM d;")
    assert error.problem == "';' at position 16: statement terminators are not supported: remove the ';'"


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
        ("SELECT a FROM d WHERE a <> 1", "'<>' at position 25: write != for 'not equal'"),
        ("SELECT a FROM d WHERE a == 1", "'==' at position 25: write a single = for 'equal'"),
        ('SELECT a FROM d WHERE a = "x"', "'\"' at position 27: string literals use single quotes"),
        ("SELECT a FROM d WHERE a = \u2018x\u2019", "'\u2018' at position 27: typographic quote"),
        ("SELECT a FROM d WHERE a = 'open", '"\'" at position 27: unterminated string literal'),
        ("SELECT d.a FROM d", "'.' at position 9: qualified names"),
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


def test_error_message_carries_field_problem_and_allowed() -> None:
    error = syntax_error("SELECT a FROM d WHERE a ~ 1")
    assert str(error).startswith("query: '~' at position 25")


def test_parse_query_rejects_non_text() -> None:
    with pytest.raises(PartnerInsightsValidationError, match="expected the query text, got int"):
        parse_query(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------
# validate_query: grammar first, then the live catalog
# ---------------------------------------------------------------------------------------------------


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
