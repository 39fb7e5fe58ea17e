"""Tests of the lexer: tokens, their positions, literals, and characters outside the language."""

from __future__ import annotations

from decimal import Decimal

import pytest

from airflow_provider_insights.query_builder import parse_query, tokenize
from tests.query_builder.helpers import syntax_error


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


def test_trailing_semicolon_is_rejected_with_a_hint() -> None:
    error = syntax_error("SELECT a FROM d;")
    assert error.problem == "';' at position 16: statement terminators are not supported: remove the ';'"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("SELECT a FROM d WHERE a <> 1", "'<>' at position 25: write != for 'not equal'"),
        ("SELECT a FROM d WHERE a == 1", "'==' at position 25: write a single = for 'equal'"),
        ('SELECT a FROM d WHERE a = "x"', "'\"' at position 27: string literals use single quotes"),
        ("SELECT a FROM d WHERE a = \u2018x\u2019", "'\u2018' at position 27: typographic quote"),
        ("SELECT a FROM d WHERE a = 'open", '"\'" at position 27: unterminated string literal'),
        ("SELECT d.a FROM d", "'.' at position 9: qualified names"),
    ],
)
def test_lexical_errors_name_token_and_position(text: str, problem: str) -> None:
    assert syntax_error(text).problem.startswith(problem)


def test_error_message_carries_field_problem_and_allowed() -> None:
    error = syntax_error("SELECT a FROM d WHERE a ~ 1")
    assert str(error).startswith("query: '~' at position 25")
