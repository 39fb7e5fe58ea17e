"""The parser: :func:`parse_query`, a recursive descent over the lexer's tokens.

Owns the grammar's rules, one method each: which clause may follow which, and the error that
names the offending token, its position and what would be accepted there, including why the SQL
people reasonably try (``OR``, ``GROUP BY``, functions, aliases, joins...) is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.query_builder._lexer import (
    COMMA,
    END,
    LPAREN,
    NAME,
    NUMBER,
    OPERATOR,
    RPAREN,
    STAR,
    STRING,
    Token,
    syntax_error,
    tokenize,
)
from airflow_provider_insights.query_builder._parsed import Filter, ParsedQuery, Scalar
from airflow_provider_insights.query_builder._vocabulary import (
    CLAUSE_TITLES,
    CLAUSES,
    DEFAULT_DIRECTION,
    DIRECTIONS,
    JOINS,
    LIST_OPERATORS,
    OPERATORS,
    RESERVED,
    TIMESPANS,
    UNSUPPORTED,
    closest,
)


def parse_query(text: str) -> ParsedQuery:
    """Check query text against the grammar and return its parts.

    :param text: the query text.
    :raises PartnerInsightsValidationError: ``field="query"``; the problem names the offending token
        and its 1-based position, ``allowed`` lists what would fit there.
    """
    if not isinstance(text, str):
        raise PartnerInsightsValidationError("query", f"expected the query text, got {type(text).__name__}")
    if not text.strip():
        raise PartnerInsightsValidationError("query", "the query is empty", allowed=["SELECT ... FROM ..."])
    return _Parser(tokenize(text)).parse()


class _Parser:
    """Recursive descent over the token list, one method per grammar rule."""

    def __init__(self, tokens: list[Token]):
        self._tokens = tokens
        self._index = 0

    # -- cursor ------------------------------------------------------------------------------------

    def _peek(self, ahead: int = 0) -> Token:
        return self._tokens[min(self._index + ahead, len(self._tokens) - 1)]

    def _next(self) -> Token:
        token = self._peek()
        self._index = min(self._index + 1, len(self._tokens) - 1)
        return token

    def _accept_keyword(self, word: str) -> bool:
        if self._peek().keyword == word:
            self._next()
            return True
        return False

    def _accept_kind(self, kind: str) -> bool:
        if self._peek().kind == kind:
            self._next()
            return True
        return False

    def _unexpected(self, token: Token, expected: str, allowed: Iterable[str] | None = None) -> Exception:
        why = UNSUPPORTED.get(token.keyword or "", f"expected {expected}")
        return syntax_error(token, why, allowed)

    # -- rules ---------------------------------------------------------------------------------------

    def parse(self) -> ParsedQuery:
        if not self._accept_keyword("SELECT"):
            raise self._unexpected(self._peek(), "SELECT: a query starts with SELECT", ["SELECT"])
        distinct = self._accept_keyword("DISTINCT")
        columns = self._select_list()
        dataset = self._from_clause()
        clauses = self._optional_clauses()
        return ParsedQuery(
            dataset=dataset,
            columns=columns,
            distinct=distinct,
            filters=clauses.get("WHERE", ()),
            order_by=clauses.get("ORDER", ()),
            limit=clauses.get("LIMIT"),
            timespan=clauses.get("TIMESPAN"),
        )

    def _select_list(self) -> tuple[str, ...]:
        names = [self._name("SELECT")]
        while self._accept_kind(COMMA):
            names.append(self._name("SELECT"))
        self._check_select_end(names[-1])
        seen: set[str] = set()
        for token in names:
            if token.text.lower() in seen:
                raise syntax_error(token, f"column {token.text} is selected twice")
            seen.add(token.text.lower())
        return tuple(token.text for token in names)

    def _check_select_end(self, last: Token) -> None:
        token = self._peek()
        if token.keyword == "FROM":
            return
        if token.kind == END:
            raise syntax_error(token, "missing FROM: name the dataset after the column list", ["FROM"])
        if token.keyword in CLAUSES[2:]:
            raise syntax_error(token, f"{_clause_title(token)} must come after FROM <dataset>", ["','", "FROM"])
        if token.kind == NAME and token.keyword not in RESERVED:
            why = f"aliases are not supported (or a comma is missing between {last.text} and {token.text})"
            raise syntax_error(token, why, ["','", "FROM"])
        raise self._unexpected(token, "',' or FROM after a column", ["','", "FROM"])

    def _name(self, clause: str) -> Token:
        """A column/metric name (or the dataset name in FROM), refusing what looks like richer SQL."""
        token = self._next()
        what = "a dataset name" if clause == "FROM" else "a column or metric name"
        if token.kind == STAR:
            raise syntax_error(token, "SELECT * is not supported: list the columns and metrics to export", [what])
        if token.kind == LPAREN:
            raise syntax_error(token, self._why_parenthesis(clause), [what])
        if token.kind != NAME or token.keyword in RESERVED:
            raise self._unexpected(token, f"{what} in {clause}", [what])
        if self._peek().kind == LPAREN:
            why = (
                f"functions such as {token.text.upper()}(...) are not supported: "
                "select metric columns, which the service aggregates"
            )
            raise syntax_error(token, why, [what])
        return token

    def _why_parenthesis(self, clause: str) -> str:
        if self._peek().keyword == "SELECT":
            return "subqueries are not supported"
        if clause == "WHERE":
            return "parentheses are not supported in WHERE, except around the list of IN / NOT IN"
        return "parentheses are not supported here"

    def _from_clause(self) -> str:
        self._next()  # FROM, checked by _check_select_end
        dataset = self._name("FROM")
        if self._peek().kind == COMMA:
            raise syntax_error(self._peek(), JOINS)
        return dataset.text

    def _optional_clauses(self) -> dict[str, Any]:
        parsed: dict[str, Any] = {}
        last = "FROM"
        while self._peek().kind != END:
            token = self._peek()
            keyword = token.keyword or ""
            if keyword not in CLAUSES:
                raise self._unexpected(token, "the next clause or the end of the query", _allowed_after(last))
            if keyword in parsed or keyword in ("SELECT", "FROM"):
                raise syntax_error(token, f"duplicate {_clause_title(token)}: each clause may appear only once")
            if CLAUSES.index(keyword) < CLAUSES.index(last):
                why = f"{_clause_title(token)} must come before {CLAUSE_TITLES.get(last, last)}"
                raise syntax_error(token, why, ["SELECT, FROM, WHERE, ORDER BY, LIMIT, TIMESPAN in this order"])
            self._next()
            parsed[keyword] = self._clause_parsers()[keyword]()
            last = keyword
        return parsed

    def _clause_parsers(self) -> dict[str, Any]:
        return {"WHERE": self._where, "ORDER": self._order_by, "LIMIT": self._limit, "TIMESPAN": self._timespan}

    def _where(self) -> tuple[Filter, ...]:
        conditions = [self._condition()]
        while self._accept_keyword("AND"):
            conditions.append(self._condition())
        return tuple(conditions)

    def _condition(self) -> Filter:
        column = self._name("WHERE")
        operator = self._operator()
        value = self._list(operator) if operator in LIST_OPERATORS else self._scalar(operator)
        return Filter(column.text, operator, value)

    def _operator(self) -> str:
        token = self._next()
        if token.kind == OPERATOR:
            return token.text
        if token.keyword in ("LIKE", "IN"):
            return token.keyword
        if token.keyword == "NOT":
            following = self._next()
            if following.keyword in ("LIKE", "IN"):
                return f"NOT {following.keyword}"
            raise self._unexpected(following, "LIKE or IN after NOT", ["NOT LIKE", "NOT IN"])
        raise self._unexpected(token, "an operator after the column", OPERATORS)

    def _scalar(self, operator: str) -> Scalar:
        token = self._next()
        if token.kind in (NUMBER, STRING):
            assert token.value is not None
            return token.value
        if token.kind == LPAREN:
            why = f"a parenthesised list is only allowed with IN or NOT IN, not with {operator}"
            raise syntax_error(token, why, LIST_OPERATORS)
        if token.kind == NAME and token.keyword not in RESERVED:
            why = f"expected a number or a quoted string; text values need quotes: '{token.text}'"
            raise syntax_error(token, why, ["a number", "a 'quoted string'"])
        raise self._unexpected(token, "a number or a quoted string", ["a number", "a 'quoted string'"])

    def _list(self, operator: str) -> tuple[Scalar, ...]:
        opening = self._next()
        if opening.kind != LPAREN:
            raise syntax_error(opening, f"{operator} needs a parenthesised list, e.g. {operator} ('a', 'b')", ["'('"])
        if self._peek().keyword == "SELECT":
            raise syntax_error(self._peek(), "subqueries are not supported")
        items = [self._list_item()]
        while self._accept_kind(COMMA):
            items.append(self._list_item())
        closing = self._next()
        if closing.kind != RPAREN:
            raise self._unexpected(closing, "',' or ')' in the list", ["','", "')'"])
        if len({token.kind for token in items}) > 1:
            raise syntax_error(opening, "a list holds only numbers or only strings, not both")
        return tuple(token.value for token in items if token.value is not None)

    def _list_item(self) -> Token:
        token = self._next()
        if token.kind not in (NUMBER, STRING):
            raise self._unexpected(token, "a number or a quoted string in the list", ["a number", "a 'quoted string'"])
        return token

    def _order_by(self) -> tuple[tuple[str, str], ...]:
        by = self._next()
        if by.keyword != "BY":
            raise self._unexpected(by, "BY after ORDER", ["BY"])
        keys = [self._order_key()]
        while self._accept_kind(COMMA):
            keys.append(self._order_key())
        return tuple(keys)

    def _order_key(self) -> tuple[str, str]:
        column = self._name("ORDER BY")
        direction = DEFAULT_DIRECTION
        if self._peek().keyword in DIRECTIONS:
            direction = str(self._next().keyword)
            if self._peek().keyword in DIRECTIONS:
                raise syntax_error(self._peek(), f"{column.text} already has the direction {direction}")
        return column.text, direction

    def _limit(self) -> int:
        token = self._next()
        if token.kind != NUMBER or not isinstance(token.value, int) or token.value <= 0:
            raise self._unexpected(token, "a whole number greater than 0 after LIMIT", ["1, 2, 3, ..."])
        return token.value

    def _timespan(self) -> str:
        token = self._next()
        keyword = token.keyword or ""
        if keyword not in TIMESPANS:
            suggestions = closest(keyword, TIMESPANS) if token.kind == NAME else []
            raise syntax_error(token, "unknown TIMESPAN", TIMESPANS, suggestions)
        return keyword


def _clause_title(token: Token) -> str:
    keyword = token.keyword or token.text
    return CLAUSE_TITLES.get(keyword, keyword)


def _allowed_after(clause: str) -> list[str]:
    continuation = {"WHERE": ["AND"], "ORDER": ["','", "ASC", "DESC"]}.get(clause, [])
    later = [CLAUSE_TITLES.get(name, name) for name in CLAUSES[CLAUSES.index(clause) + 1 :]]
    return [*continuation, *later, "end of query"]
