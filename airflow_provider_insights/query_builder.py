"""Build and check Insights report queries before they reach the service.

The Insights query language is a small SQL-like grammar (one dataset, ``AND``-only filters, fixed
``TIMESPAN`` keywords)::

    SELECT [DISTINCT] name (, name)* FROM dataset
    [WHERE name op value (AND name op value)*]
    [ORDER BY name [ASC|DESC] (, name [ASC|DESC])*]
    [LIMIT n] [TIMESPAN keyword]

The service answers a bad query with terse errors ("Incorrect column name") or, worse, silently
with an empty report, so this module parses the text itself and names the offending token, its
position and what would be accepted there. It does no I/O: checking against the live catalog
takes :class:`~airflow_provider_insights.models.Dataset` objects the caller fetched.

Deliberate readings of the documentation (``analytics-custom-query-specification.md``):

* String literals accept any character, ``''`` escaping a quote. The documented
  ``'[a-zA-Z0-9_]*'`` is narrower than the documented examples (GUIDs, spaces, ``%``).
* ``IN`` / ``NOT IN`` need a parenthesised list, and a list is refused with any other operator.
  A list holds only numbers or only strings, as the grammar's two list kinds do.
* ``ORDER BY`` without a direction means ``DESC`` (the service's default); the canonical text
  spells it out.
* Keywords, names and values are case-insensitive, as the service documents.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeAlias

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.models import Dataset

__all__ = [
    "COMPARISON_OPERATORS",
    "LIST_OPERATORS",
    "OPERATORS",
    "TIMESPANS",
    "Filter",
    "InsightsQuery",
    "ParsedQuery",
    "Token",
    "parse_query",
    "tokenize",
    "validate_query",
]

COMPARISON_OPERATORS = ("=", ">", "<", ">=", "<=", "!=", "LIKE", "NOT LIKE")
LIST_OPERATORS = ("IN", "NOT IN")
OPERATORS = COMPARISON_OPERATORS + LIST_OPERATORS
TIMESPANS = (
    "TODAY",
    "YESTERDAY",
    "LAST_7_DAYS",
    "LAST_14_DAYS",
    "LAST_30_DAYS",
    "LAST_90_DAYS",
    "LAST_180_DAYS",
    "LAST_365_DAYS",
    "LAST_MONTH",
    "LAST_3_MONTHS",
    "LAST_6_MONTHS",
    "LAST_1_YEAR",
    "LIFETIME",
)
DIRECTIONS = ("ASC", "DESC")
DEFAULT_DIRECTION = "DESC"  # the service's documented default, made explicit in canonical text

# Clauses in the only order the grammar allows; ORDER stands for ORDER BY.
_CLAUSES = ("SELECT", "FROM", "WHERE", "ORDER", "LIMIT", "TIMESPAN")
_CLAUSE_TITLES = {"ORDER": "ORDER BY"}
_GRAMMAR_KEYWORDS = frozenset(
    {
        "SELECT",
        "DISTINCT",
        "FROM",
        "WHERE",
        "AND",
        "NOT",
        "LIKE",
        "IN",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "LIMIT",
        "TIMESPAN",
    }
)

_JOINS = "joins are not supported: a query reads exactly one dataset"
# SQL that people reasonably try, with the reason the Insights grammar refuses it.
_UNSUPPORTED = {
    "OR": "OR is not supported: combine conditions with AND, or use IN (...) for alternatives of one column",
    "GROUP": "GROUP BY is not supported: metrics are already aggregated over the selected non-metric columns",
    "HAVING": "HAVING is not supported: filter metrics in WHERE",
    "AS": "aliases are not supported",
    "JOIN": _JOINS,
    "INNER": _JOINS,
    "LEFT": _JOINS,
    "RIGHT": _JOINS,
    "FULL": _JOINS,
    "CROSS": _JOINS,
    "UNION": "UNION is not supported: a query is a single SELECT",
    "BETWEEN": "BETWEEN is not supported: use two conditions, e.g. x >= 1 AND x <= 9",
    "IS": "IS [NOT] NULL is not supported",
    "OFFSET": "OFFSET is not supported",
    "TOP": "TOP is not supported: use LIMIT",
}
_RESERVED = _GRAMMAR_KEYWORDS | frozenset(_UNSUPPORTED)

_CHARACTER_HINTS = {
    ";": "statement terminators are not supported: remove the ';'",
    '"': "string literals use single quotes ('...')",
    "\u2018": "typographic quote: use a straight single quote (')",
    "\u2019": "typographic quote: use a straight single quote (')",
    "\u201c": "typographic quote: use a straight single quote (')",
    "\u201d": "typographic quote: use a straight single quote (')",
    ".": "qualified names (a.b) and numbers without a leading digit are not supported",
    "`": "quoted names are not supported: names are plain letters, digits and _",
    "[": "quoted names are not supported: names are plain letters, digits and _",
}

# Token kinds.
NAME, NUMBER, STRING, OPERATOR, COMMA, LPAREN, RPAREN, STAR, END, CHARACTER = (
    "name",
    "number",
    "string",
    "operator",
    "comma",
    "lparen",
    "rparen",
    "star",
    "end",
    "character",
)
_PUNCTUATION = {",": COMMA, "(": LPAREN, ")": RPAREN, "*": STAR}

Scalar: TypeAlias = str | int | float | Decimal
FilterValue: TypeAlias = Scalar | tuple[Scalar, ...]


# --------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """One lexical token of a query.

    :param kind: ``name``, ``number``, ``string``, ``operator``, ``comma``, ``lparen``, ``rparen``,
        ``star`` or ``end``.
    :param text: the token exactly as written (a string keeps its quotes).
    :param pos: 0-based offset of its first character in the query.
    :param value: the decoded value: a string's content, a number as ``int`` or ``Decimal``.
    """

    kind: str
    text: str
    pos: int
    value: str | int | Decimal | None = None

    @property
    def end(self) -> int:
        """Offset just after the token."""
        return self.pos + len(self.text)

    @property
    def keyword(self) -> str | None:
        """The upper-cased word if this is a name, else ``None`` (keywords are case-insensitive)."""
        return self.text.upper() if self.kind == NAME else None


def _describe(token: Token) -> str:
    if token.kind == END:
        return "end of query"
    text = token.text if len(token.text) <= 40 else token.text[:37] + "..."
    if token.kind == STRING:
        return f"string {text}"
    return f'"{text}"' if "'" in text else f"'{text}'"


def _syntax_error(
    token: Token, why: str, allowed: Iterable[str] | None = None, suggestions: Iterable[str] | None = None
) -> PartnerInsightsValidationError:
    """The one way a grammar problem is reported: token, 1-based position, reason, what fits there."""
    problem = f"{_describe(token)} at position {token.pos + 1}: {why}"
    return PartnerInsightsValidationError("query", problem, allowed=allowed, suggestions=suggestions)


def tokenize(text: str) -> list[Token]:
    """Split query text into tokens, ending with an ``end`` token.

    :param text: the query text.
    :raises PartnerInsightsValidationError: on a character the grammar has no use for, or an
        unterminated string.
    """
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        token = _read_token(text, pos)
        tokens.append(token)
        pos = token.end
    tokens.append(Token(END, "", len(text)))
    return tokens


def _read_token(text: str, pos: int) -> Token:
    char = text[pos]
    if char.isalpha() or char == "_":
        return _read_name(text, pos)
    if _is_digit(char) or (char == "-" and _is_digit(text[pos + 1 : pos + 2])):
        return _read_number(text, pos)
    if char == "'":
        return _read_string(text, pos)
    if char in "=<>!":
        return _read_operator(text, pos)
    if char in _PUNCTUATION:
        return Token(_PUNCTUATION[char], char, pos)
    hint = _CHARACTER_HINTS.get(char, "this character is not part of the query language")
    raise _syntax_error(Token(CHARACTER, char, pos), hint)


def _is_digit(char: str) -> bool:
    return len(char) == 1 and "0" <= char <= "9"


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _read_name(text: str, pos: int) -> Token:
    end = pos
    while end < len(text) and _is_name_char(text[end]):
        end += 1
    return Token(NAME, text[pos:end], pos)


def _read_number(text: str, pos: int) -> Token:
    end = pos + 1
    while end < len(text) and _is_digit(text[end]):
        end += 1
    is_decimal = text[end : end + 1] == "." and _is_digit(text[end + 1 : end + 2])
    if is_decimal:
        end += 1
        while end < len(text) and _is_digit(text[end]):
            end += 1
    literal = text[pos:end]
    return Token(NUMBER, literal, pos, Decimal(literal) if is_decimal else int(literal))


def _read_string(text: str, pos: int) -> Token:
    chars: list[str] = []
    index = pos + 1
    while index < len(text):
        if text[index] != "'":
            chars.append(text[index])
            index += 1
        elif text[index + 1 : index + 2] == "'":  # '' is an escaped quote inside the literal
            chars.append("'")
            index += 2
        else:
            return Token(STRING, text[pos : index + 1], pos, "".join(chars))
    raise _syntax_error(Token(CHARACTER, "'", pos), "unterminated string literal (write '' for a quote inside it)")


def _read_operator(text: str, pos: int) -> Token:
    pair = text[pos : pos + 2]
    if pair in (">=", "<=", "!="):
        return Token(OPERATOR, pair, pos)
    if pair == "<>":
        raise _syntax_error(Token(OPERATOR, pair, pos), "write != for 'not equal'", allowed=OPERATORS)
    if pair == "==":
        raise _syntax_error(Token(OPERATOR, pair, pos), "write a single = for 'equal'", allowed=OPERATORS)
    if text[pos] == "!":
        raise _syntax_error(Token(CHARACTER, "!", pos), "'!' only appears in !=", allowed=OPERATORS)
    return Token(OPERATOR, text[pos], pos)


# --------------------------------------------------------------------------------------------------
# The parsed form
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filter:
    """One ``WHERE`` condition.

    Construction normalises and checks: the operator is upper-cased (``not like`` -> ``NOT LIKE``),
    a float becomes a ``Decimal`` (so it renders without exponent), and a list becomes a tuple.

    :param column: the column or metric filtered on.
    :param operator: one of :data:`OPERATORS`.
    :param value: a string, an int, a float/Decimal, or for ``IN``/``NOT IN`` a non-empty list of
        only strings or only numbers.
    """

    column: str
    operator: str
    value: FilterValue

    def __post_init__(self) -> None:
        _check_name("filters", self.column)
        operator = _normalize_operator(self.operator)
        object.__setattr__(self, "operator", operator)
        object.__setattr__(self, "value", _normalize_filter_value(self.column, operator, self.value))

    def to_text(self) -> str:
        """Render as query text, e.g. ``SKU IN ('a', 'b')``."""
        return f"{self.column} {self.operator} {_render_value(self.value)}"


@dataclass(frozen=True, kw_only=True)
class ParsedQuery:
    """A query that satisfies the grammar; ``to_text()`` gives its canonical text.

    :param dataset: the dataset read (``FROM``).
    :param columns: selected columns and metrics, in order.
    :param distinct: whether ``SELECT DISTINCT`` was asked for.
    :param filters: the ``WHERE`` conditions, all joined by ``AND``.
    :param order_by: ``(column, "ASC" | "DESC")`` pairs.
    :param limit: the ``LIMIT``, a positive integer, or ``None``.
    :param timespan: the ``TIMESPAN`` keyword (upper case) or ``None`` (the service then uses 6 months).
    """

    dataset: str
    columns: tuple[str, ...]
    distinct: bool = False
    filters: tuple[Filter, ...] = ()
    order_by: tuple[tuple[str, str], ...] = ()
    limit: int | None = None
    timespan: str | None = None

    def __post_init__(self) -> None:
        # Checked here too, so that text rendered from any ParsedQuery always parses again.
        _check_name("dataset", self.dataset)
        object.__setattr__(self, "columns", _checked_columns(self.columns))
        object.__setattr__(self, "filters", _checked_filters(self.filters))
        object.__setattr__(self, "order_by", _checked_order_by(self.order_by))
        _check_limit(self.limit)
        object.__setattr__(self, "timespan", _checked_timespan(self.timespan))

    def to_text(self) -> str:
        """Render the canonical query text (upper-case keywords, explicit sort directions)."""
        parts = ["SELECT DISTINCT" if self.distinct else "SELECT", ", ".join(self.columns), "FROM", self.dataset]
        if self.filters:
            parts += ["WHERE", " AND ".join(condition.to_text() for condition in self.filters)]
        if self.order_by:
            parts += ["ORDER BY", ", ".join(f"{column} {direction}" for column, direction in self.order_by)]
        if self.limit is not None:
            parts += ["LIMIT", str(self.limit)]
        if self.timespan is not None:
            parts += ["TIMESPAN", self.timespan]
        return " ".join(parts)

    @property
    def referenced_columns(self) -> tuple[str, ...]:
        """Every column named anywhere in the query, first mention first, without repeats."""
        names = [*self.columns, *(f.column for f in self.filters), *(column for column, _ in self.order_by)]
        return tuple(dict.fromkeys(names))


def _check_name(field: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise PartnerInsightsValidationError(field, f"expected a non-empty name, got {name!r}")
    if not (name[0].isalpha() or name[0] == "_") or not all(_is_name_char(char) for char in name):
        raise PartnerInsightsValidationError(
            field, f"{name!r} is not a valid name", allowed="letters, digits and _, not starting with a digit"
        )
    if name.upper() in _RESERVED:
        raise PartnerInsightsValidationError(field, f"{name!r} is a reserved keyword, not a name")
    return name


def _checked_columns(columns: Iterable[str]) -> tuple[str, ...]:
    if isinstance(columns, str):
        raise PartnerInsightsValidationError("columns", f"expected a list of names, got the string {columns!r}")
    names = tuple(columns)
    if not names:
        raise PartnerInsightsValidationError("columns", "select at least one column or metric")
    seen: set[str] = set()
    for name in names:
        _check_name("columns", name)
        if name.lower() in seen:
            raise PartnerInsightsValidationError("columns", f"column {name!r} is selected twice")
        seen.add(name.lower())
    return names


def _checked_filters(filters: Iterable[Filter]) -> tuple[Filter, ...]:
    checked = tuple(filters)
    for condition in checked:
        if not isinstance(condition, Filter):
            raise PartnerInsightsValidationError("filters", f"expected Filter objects, got {condition!r}")
    return checked


def _checked_order_by(order_by: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    checked = []
    for entry in order_by:
        if not (isinstance(entry, tuple) and len(entry) == 2):
            raise PartnerInsightsValidationError("order_by", f"expected (column, direction), got {entry!r}")
        column, direction = entry
        checked.append((_check_name("order_by", column), _checked_direction(direction)))
    return tuple(checked)


def _checked_direction(direction: object) -> str:
    normalized = direction.upper() if isinstance(direction, str) else direction
    if normalized not in DIRECTIONS:
        raise PartnerInsightsValidationError("order_by", f"unknown sort direction {direction!r}", allowed=DIRECTIONS)
    return str(normalized)


def _check_limit(limit: object) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise PartnerInsightsValidationError(
            "limit", f"{limit!r} is not a positive whole number", allowed="1, 2, 3, ..."
        )


def _checked_timespan(timespan: object) -> str | None:
    if timespan is None:
        return None
    normalized = timespan.upper() if isinstance(timespan, str) else ""
    if normalized not in TIMESPANS:
        raise PartnerInsightsValidationError(
            "timespan", f"unknown TIMESPAN {timespan!r}", allowed=TIMESPANS, suggestions=_closest(normalized, TIMESPANS)
        )
    return normalized


def _normalize_operator(operator: object) -> str:
    normalized = " ".join(operator.upper().split()) if isinstance(operator, str) else ""
    if normalized == "<>":
        normalized = "!="
    if normalized not in OPERATORS:
        raise PartnerInsightsValidationError("filters", f"unknown operator {operator!r}", allowed=OPERATORS)
    return normalized


def _normalize_filter_value(column: str, operator: str, value: object) -> FilterValue:
    is_list = isinstance(value, (list, tuple, set, frozenset))
    if operator in LIST_OPERATORS:
        if not is_list:
            raise PartnerInsightsValidationError(
                "filters", f"{column} {operator} needs a list of values, got {value!r}", allowed="a list or tuple"
            )
        return _normalize_list(column, operator, value)  # type: ignore[arg-type]
    if is_list:
        raise PartnerInsightsValidationError(
            "filters",
            f"{column} {operator}: a list of values is only allowed with IN or NOT IN",
            allowed=LIST_OPERATORS,
        )
    return _normalize_scalar(column, value)


def _normalize_list(column: str, operator: str, values: Iterable[object]) -> tuple[Scalar, ...]:
    # Sets have no order; sorting keeps the rendered text (and so query names/ids) stable.
    ordered = sorted(values, key=str) if isinstance(values, (set, frozenset)) else list(values)
    if not ordered:
        raise PartnerInsightsValidationError("filters", f"{column} {operator} needs at least one value")
    normalized = tuple(_normalize_scalar(column, item) for item in ordered)
    if len({isinstance(item, str) for item in normalized}) > 1:
        raise PartnerInsightsValidationError(
            "filters", f"{column} {operator}: a list holds only numbers or only strings, not both"
        )
    return normalized


def _normalize_scalar(column: str, value: object) -> Scalar:
    if isinstance(value, bool):
        # True renders as 'True', which matches nothing in columns that hold 0/1 (the empty-result trap).
        raise PartnerInsightsValidationError(
            "filters", f"{column}: booleans are ambiguous here", allowed="0 or 1, or a string"
        )
    if isinstance(value, (str, int)):
        return value
    if isinstance(value, (float, Decimal)):
        if not math.isfinite(value):
            raise PartnerInsightsValidationError("filters", f"{column}: {value!r} is not a finite number")
        return Decimal(repr(value)) if isinstance(value, float) else value
    raise PartnerInsightsValidationError(
        "filters", f"{column}: unsupported value {value!r}", allowed="str, int, float, Decimal"
    )


def _render_value(value: FilterValue) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_render_scalar(item) for item in value) + ")"
    return _render_scalar(value)


def _render_scalar(value: Scalar) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, Decimal):
        return format(value, "f")  # never an exponent, which the grammar has no room for
    return str(value)


# --------------------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------------------


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
        why = _UNSUPPORTED.get(token.keyword or "", f"expected {expected}")
        return _syntax_error(token, why, allowed)

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
                raise _syntax_error(token, f"column {token.text} is selected twice")
            seen.add(token.text.lower())
        return tuple(token.text for token in names)

    def _check_select_end(self, last: Token) -> None:
        token = self._peek()
        if token.keyword == "FROM":
            return
        if token.kind == END:
            raise _syntax_error(token, "missing FROM: name the dataset after the column list", ["FROM"])
        if token.keyword in _CLAUSES[2:]:
            raise _syntax_error(token, f"{_clause_title(token)} must come after FROM <dataset>", ["','", "FROM"])
        if token.kind == NAME and token.keyword not in _RESERVED:
            why = f"aliases are not supported (or a comma is missing between {last.text} and {token.text})"
            raise _syntax_error(token, why, ["','", "FROM"])
        raise self._unexpected(token, "',' or FROM after a column", ["','", "FROM"])

    def _name(self, clause: str) -> Token:
        """A column/metric name (or the dataset name in FROM), refusing what looks like richer SQL."""
        token = self._next()
        what = "a dataset name" if clause == "FROM" else "a column or metric name"
        if token.kind == STAR:
            raise _syntax_error(token, "SELECT * is not supported: list the columns and metrics to export", [what])
        if token.kind == LPAREN:
            raise _syntax_error(token, self._why_parenthesis(clause), [what])
        if token.kind != NAME or token.keyword in _RESERVED:
            raise self._unexpected(token, f"{what} in {clause}", [what])
        if self._peek().kind == LPAREN:
            why = (
                f"functions such as {token.text.upper()}(...) are not supported: "
                "select metric columns, which the service aggregates"
            )
            raise _syntax_error(token, why, [what])
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
            raise _syntax_error(self._peek(), _JOINS)
        return dataset.text

    def _optional_clauses(self) -> dict[str, Any]:
        parsed: dict[str, Any] = {}
        last = "FROM"
        while self._peek().kind != END:
            token = self._peek()
            keyword = token.keyword or ""
            if keyword not in _CLAUSES:
                raise self._unexpected(token, "the next clause or the end of the query", _allowed_after(last))
            if keyword in parsed or keyword in ("SELECT", "FROM"):
                raise _syntax_error(token, f"duplicate {_clause_title(token)}: each clause may appear only once")
            if _CLAUSES.index(keyword) < _CLAUSES.index(last):
                why = f"{_clause_title(token)} must come before {_CLAUSE_TITLES.get(last, last)}"
                raise _syntax_error(token, why, ["SELECT, FROM, WHERE, ORDER BY, LIMIT, TIMESPAN in this order"])
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
            raise _syntax_error(token, why, LIST_OPERATORS)
        if token.kind == NAME and token.keyword not in _RESERVED:
            why = f"expected a number or a quoted string; text values need quotes: '{token.text}'"
            raise _syntax_error(token, why, ["a number", "a 'quoted string'"])
        raise self._unexpected(token, "a number or a quoted string", ["a number", "a 'quoted string'"])

    def _list(self, operator: str) -> tuple[Scalar, ...]:
        opening = self._next()
        if opening.kind != LPAREN:
            raise _syntax_error(opening, f"{operator} needs a parenthesised list, e.g. {operator} ('a', 'b')", ["'('"])
        if self._peek().keyword == "SELECT":
            raise _syntax_error(self._peek(), "subqueries are not supported")
        items = [self._list_item()]
        while self._accept_kind(COMMA):
            items.append(self._list_item())
        closing = self._next()
        if closing.kind != RPAREN:
            raise self._unexpected(closing, "',' or ')' in the list", ["','", "')'"])
        if len({token.kind for token in items}) > 1:
            raise _syntax_error(opening, "a list holds only numbers or only strings, not both")
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
                raise _syntax_error(self._peek(), f"{column.text} already has the direction {direction}")
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
            suggestions = _closest(keyword, TIMESPANS) if token.kind == NAME else []
            raise _syntax_error(token, "unknown TIMESPAN", TIMESPANS, suggestions)
        return keyword


def _clause_title(token: Token) -> str:
    keyword = token.keyword or token.text
    return _CLAUSE_TITLES.get(keyword, keyword)


def _allowed_after(clause: str) -> list[str]:
    continuation = {"WHERE": ["AND"], "ORDER": ["','", "ASC", "DESC"]}.get(clause, [])
    later = [_CLAUSE_TITLES.get(name, name) for name in _CLAUSES[_CLAUSES.index(clause) + 1 :]]
    return [*continuation, *later, "end of query"]


# --------------------------------------------------------------------------------------------------
# Builder
# --------------------------------------------------------------------------------------------------

FilterSpec: TypeAlias = Filter | tuple[str, str, Any]
OrderSpec: TypeAlias = str | tuple[str, str]


class InsightsQuery:
    """Build a query from parts; it renders valid, canonically quoted text.

    Inputs are checked at construction, so a bad operator or a list with ``=`` fails where it was
    written rather than at the service. Instances are immutable: the fluent methods return copies.

    >>> InsightsQuery(dataset="DynamicsUsage", columns=["SKU", "TotalSoldSeats"]).where(
    ...     "SKU", "like", "%Dynamics%").to_text()
    "SELECT SKU, TotalSoldSeats FROM DynamicsUsage WHERE SKU LIKE '%Dynamics%'"

    :param dataset: the dataset to read.
    :param columns: the columns and metrics to select.
    :param filters: ``Filter`` objects or ``(column, operator, value)`` tuples, joined by AND.
    :param order_by: column names (sorted DESC, the service's default) or ``(column, "ASC"|"DESC")``.
    :param limit: the maximum number of rows, or ``None``.
    :param timespan: one of :data:`TIMESPANS` (any case), or ``None`` for the service's 6 months.
    :param distinct: whether to ``SELECT DISTINCT``.
    """

    def __init__(
        self,
        *,
        dataset: str,
        columns: Iterable[str],
        filters: Iterable[FilterSpec] = (),
        order_by: Iterable[OrderSpec] = (),
        limit: int | None = None,
        timespan: str | None = None,
        distinct: bool = False,
    ):
        self._parsed = ParsedQuery(
            dataset=dataset,
            columns=tuple(columns) if not isinstance(columns, str) else (columns,),
            distinct=bool(distinct),
            filters=tuple(_as_filter(spec) for spec in filters),
            order_by=tuple(_as_order_key(spec) for spec in order_by),
            limit=limit,
            timespan=timespan,
        )

    @classmethod
    def from_parsed(cls, parsed: ParsedQuery) -> InsightsQuery:
        """Wrap a parsed query, e.g. to add a filter to an existing (system) query.

        :param parsed: the result of :func:`parse_query`.
        """
        instance = cls.__new__(cls)
        instance._parsed = parsed
        return instance

    @classmethod
    def from_text(cls, text: str) -> InsightsQuery:
        """Parse query text into a builder.

        :param text: the query text.
        """
        return cls.from_parsed(parse_query(text))

    @property
    def dataset(self) -> str:
        """The dataset read."""
        return self._parsed.dataset

    @property
    def columns(self) -> tuple[str, ...]:
        """Selected columns and metrics."""
        return self._parsed.columns

    @property
    def distinct(self) -> bool:
        """Whether ``SELECT DISTINCT`` is used."""
        return self._parsed.distinct

    @property
    def filters(self) -> tuple[Filter, ...]:
        """The ``WHERE`` conditions."""
        return self._parsed.filters

    @property
    def order_by(self) -> tuple[tuple[str, str], ...]:
        """``(column, direction)`` pairs."""
        return self._parsed.order_by

    @property
    def limit(self) -> int | None:
        """The ``LIMIT`` or ``None``."""
        return self._parsed.limit

    @property
    def timespan(self) -> str | None:
        """The ``TIMESPAN`` keyword or ``None``."""
        return self._parsed.timespan

    def where(self, column: str, operator: str, value: Any) -> InsightsQuery:
        """Return a copy with one more ``AND`` condition.

        :param column: the column or metric to filter on.
        :param operator: one of :data:`OPERATORS` (any case).
        :param value: a scalar, or a list for ``IN``/``NOT IN``.
        """
        return self._with(filters=(*self.filters, Filter(column, operator, value)))

    def order(self, column: str, direction: str = DEFAULT_DIRECTION) -> InsightsQuery:
        """Return a copy with one more sort key.

        :param column: the column or metric to sort on.
        :param direction: ``ASC`` or ``DESC``.
        """
        return self._with(order_by=(*self.order_by, (column, direction)))

    def with_limit(self, limit: int | None) -> InsightsQuery:
        """Return a copy with another ``LIMIT``.

        :param limit: a positive integer or ``None``.
        """
        return self._with(limit=limit)

    def with_timespan(self, timespan: str | None) -> InsightsQuery:
        """Return a copy with another ``TIMESPAN``.

        :param timespan: one of :data:`TIMESPANS` or ``None``.
        """
        return self._with(timespan=timespan)

    def to_parsed(self) -> ParsedQuery:
        """The query's parts as a :class:`ParsedQuery`."""
        return self._parsed

    def to_text(self) -> str:
        """Render the query text."""
        return self._parsed.to_text()

    def _with(self, **changes: Any) -> InsightsQuery:
        return InsightsQuery.from_parsed(dataclasses.replace(self._parsed, **changes))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InsightsQuery) and other._parsed == self._parsed

    def __hash__(self) -> int:
        return hash(self._parsed)

    def __repr__(self) -> str:
        return f"InsightsQuery({self.to_text()!r})"

    def __str__(self) -> str:
        return self.to_text()


def _as_filter(spec: FilterSpec) -> Filter:
    if isinstance(spec, Filter):
        return spec
    if isinstance(spec, (tuple, list)) and len(spec) == 3:
        return Filter(*spec)
    raise PartnerInsightsValidationError("filters", f"expected a Filter or (column, operator, value), got {spec!r}")


def _as_order_key(spec: OrderSpec) -> tuple[str, str]:
    if isinstance(spec, str):
        column, _, direction = spec.strip().partition(" ")
        return column, direction.strip() or DEFAULT_DIRECTION
    if isinstance(spec, (tuple, list)) and len(spec) == 2:
        return spec[0], spec[1] or DEFAULT_DIRECTION
    raise PartnerInsightsValidationError("order_by", f"expected a column or (column, direction), got {spec!r}")


# --------------------------------------------------------------------------------------------------
# Validation against the catalog
# --------------------------------------------------------------------------------------------------


def validate_query(
    query: str | InsightsQuery | ParsedQuery,
    dataset: Dataset | None = None,
    catalog: Sequence[Dataset] | None = None,
) -> ParsedQuery:
    """Check a query against the grammar and, when given, the live dataset catalog.

    Names are compared case-insensitively, as the service does. With a dataset, the returned query
    spells the dataset and column names as the catalog does.

    :param query: the query text, a builder, or a parsed query.
    :param dataset: the dataset the query must read; its columns, metrics and date ranges are checked.
    :param catalog: every dataset available (``GET ScheduledDataset``); the query's dataset must be one.
    :raises PartnerInsightsValidationError: ``field`` is ``query`` (grammar), ``dataset`` (unknown
        dataset), ``columns`` (unknown column or metric) or ``timespan`` (range not offered).
    """
    parsed = _parse_any(query)
    target = _resolve_dataset(parsed.dataset, dataset, catalog)
    if target is None:
        return parsed
    _check_columns(parsed, target)
    _check_timespan(parsed, target)
    return _with_catalog_spelling(parsed, target)


def _parse_any(query: str | InsightsQuery | ParsedQuery) -> ParsedQuery:
    if isinstance(query, (InsightsQuery, ParsedQuery)):
        # Re-parse the rendered text: proves the builder emits what the grammar accepts.
        return parse_query(query.to_text())
    return parse_query(query)


def _resolve_dataset(name: str, dataset: Dataset | None, catalog: Sequence[Dataset] | None) -> Dataset | None:
    if catalog is not None:
        found = _find_dataset(name, catalog)
        if dataset is not None and dataset.name.lower() != found.name.lower():
            raise _wrong_dataset(name, dataset)
        return dataset or found
    if dataset is not None and dataset.name.lower() != name.lower():
        raise _wrong_dataset(name, dataset)
    return dataset


def _find_dataset(name: str, catalog: Sequence[Dataset]) -> Dataset:
    for candidate in catalog:
        if candidate.name.lower() == name.lower():
            return candidate
    names = [candidate.name for candidate in catalog]
    raise PartnerInsightsValidationError(
        "dataset", f"unknown dataset {name!r}", allowed=names, suggestions=_closest(name, names)
    )


def _wrong_dataset(name: str, dataset: Dataset) -> PartnerInsightsValidationError:
    return PartnerInsightsValidationError(
        "dataset", f"the query reads from {name!r}, not from {dataset.name!r}", allowed=[dataset.name]
    )


def _check_columns(parsed: ParsedQuery, dataset: Dataset) -> None:
    known = {name.lower() for name in dataset.fields}
    unknown = [name for name in parsed.referenced_columns if name.lower() not in known]
    if not unknown:
        return
    suggestions = dict.fromkeys(match for name in unknown for match in _closest(name, dataset.fields))
    listed = ", ".join(f"{name!r} ({_clauses_using(parsed, name)})" for name in unknown)
    verb = "is" if len(unknown) == 1 else "are"
    raise PartnerInsightsValidationError(
        "columns",
        f"{listed} {verb} not a column or metric of dataset {dataset.name}",
        allowed=dataset.fields,
        suggestions=suggestions,
    )


def _clauses_using(parsed: ParsedQuery, name: str) -> str:
    uses = {
        "SELECT": name in parsed.columns,
        "WHERE": any(f.column == name for f in parsed.filters),
        "ORDER BY": any(column == name for column, _ in parsed.order_by),
    }
    return ", ".join(clause for clause, used in uses.items() if used)


def _check_timespan(parsed: ParsedQuery, dataset: Dataset) -> None:
    ranges = dataset.available_date_ranges
    # An empty list means the catalog did not say, not that nothing is allowed.
    if parsed.timespan is None or not ranges:
        return
    if parsed.timespan.upper() not in {value.upper() for value in ranges}:
        raise PartnerInsightsValidationError(
            "timespan", f"TIMESPAN {parsed.timespan} is not offered by dataset {dataset.name}", allowed=ranges
        )


def _with_catalog_spelling(parsed: ParsedQuery, dataset: Dataset) -> ParsedQuery:
    spelling = {name.lower(): name for name in dataset.fields}

    def spelled(name: str) -> str:
        return spelling.get(name.lower(), name)

    return dataclasses.replace(
        parsed,
        dataset=dataset.name,
        columns=tuple(spelled(name) for name in parsed.columns),
        filters=tuple(dataclasses.replace(f, column=spelled(f.column)) for f in parsed.filters),
        order_by=tuple((spelled(column), direction) for column, direction in parsed.order_by),
    )


def _closest(word: str, candidates: Iterable[str], count: int = 3) -> list[str]:
    """Closest candidates to ``word`` ignoring case, spelled as the candidates are."""
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=count, cutoff=0.6)
    return [by_lower[match] for match in matches]
