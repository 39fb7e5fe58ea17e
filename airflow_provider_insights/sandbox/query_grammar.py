"""The report query language, checked the way the service documents it.

``SELECT [DISTINCT] cols FROM dataset [WHERE c (AND c)*] [ORDER BY col [ASC|DESC], ...] [LIMIT n]
[TIMESPAN range]``, case-insensitive, no ``*``, no ``OR``, no ``GROUP BY``, no functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from airflow_provider_insights.sandbox.catalog import DatasetSpec, find_dataset

INVALID_TABLE = "Invalid table name"
INCORRECT_COLUMN = "Incorrect column name"
_FUNCTIONS = frozenset({"sum", "count", "avg", "min", "max", "distinctcount"})
_OPERATORS = ("=", ">", "<", ">=", "<=", "!=", "like", "not like", "in", "not in")
_TIMESPANS = frozenset(
    {
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
    }
)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\([A-Za-z0-9_]*\))?)
      | (?P<op>>=|<=|!=|<>|=|>|<)
      | (?P<punct>[,()*;])
    )""",
    re.VERBOSE,
)


class QueryError(ValueError):
    """A query the service would refuse; ``str()`` is the service's message."""


@dataclass(frozen=True)
class Token:
    """One lexical token: ``kind`` in string/number/ident/op/punct."""

    kind: str
    text: str

    @property
    def upper(self) -> str:
        """The text upper-cased (keywords are case-insensitive)."""
        return self.text.upper()


@dataclass(frozen=True)
class ParsedQuery:
    """A valid query, columns spelled as the dataset spells them."""

    dataset: DatasetSpec
    columns: tuple[str, ...]
    distinct: bool
    filters: tuple[tuple[str, str, tuple[str, ...]], ...]
    order_by: tuple[tuple[str, str], ...]
    limit: int | None
    timespan: str


def tokenize(text: str) -> list[Token]:
    """Split query text into tokens, refusing characters the grammar has no place for.

    :param text: the query text.
    """
    tokens: list[Token] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if not match or match.end() == position:
            raise QueryError(f"Invalid query: unexpected character at position {position}")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, program: str, tokens: list[Token]) -> None:
        self.program = program
        self.tokens = tokens
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def peek_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "ident" and token.upper in words

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise QueryError("Invalid query: unexpected end of query")
        self.index += 1
        return token

    def expect_keyword(self, word: str) -> None:
        token = self.take()
        if token.kind != "ident" or token.upper != word:
            raise QueryError(f"Invalid query: expected {word} but found '{token.text}'")

    def parse(self) -> ParsedQuery:
        self.expect_keyword("SELECT")
        distinct = False
        if self.peek_keyword("DISTINCT"):
            self.take()
            distinct = True
        raw_columns = self.parse_select_list()
        self.expect_keyword("FROM")
        dataset_token = self.take()
        dataset = find_dataset(self.program, dataset_token.text) if dataset_token.kind == "ident" else None
        if dataset is None:
            raise QueryError(INVALID_TABLE)
        columns = tuple(self.resolve_column(dataset, name) for name in raw_columns)
        filters = self.parse_where(dataset) if self.peek_keyword("WHERE") else ()
        self.refuse_unsupported()
        order_by = self.parse_order_by(dataset) if self.peek_keyword("ORDER") else ()
        limit = self.parse_limit() if self.peek_keyword("LIMIT") else None
        timespan = self.parse_timespan(dataset) if self.peek_keyword("TIMESPAN") else "LAST_6_MONTHS"
        if self.peek() is not None:
            raise QueryError(f"Invalid query: unexpected '{self.take().text}'")
        return ParsedQuery(dataset, columns, distinct, filters, order_by, limit, timespan)

    def parse_select_list(self) -> list[str]:
        names = []
        while True:
            token = self.take()
            if token.text == "*":
                raise QueryError("Invalid query: SELECT * is not supported; name the columns")
            if token.kind != "ident" or token.upper == "FROM":
                raise QueryError(f"Invalid query: expected a column name but found '{token.text}'")
            self.refuse_function(token)
            names.append(token.text)
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                continue
            return names

    def refuse_function(self, token: Token) -> None:
        head = token.text.split("(", 1)[0].lower()
        follows_paren = self.peek() is not None and self.peek().text == "("  # type: ignore[union-attr]
        if head in _FUNCTIONS and ("(" in token.text or follows_paren):
            raise QueryError(f"Invalid query: functions such as {head.upper()}() are not supported")
        if follows_paren:
            raise QueryError(f"Invalid query: unexpected '(' after '{token.text}'")

    def refuse_unsupported(self) -> None:
        if self.peek_keyword("GROUP"):
            raise QueryError("Invalid query: GROUP BY is not supported; metrics are aggregated automatically")
        if self.peek_keyword("OR"):
            raise QueryError("Invalid query: OR is not supported; combine conditions with AND")

    @staticmethod
    def resolve_column(dataset: DatasetSpec, name: str) -> str:
        wanted = name.lower()
        for field in dataset.fields:
            if field.lower() == wanted:
                return field
        raise QueryError(f"{INCORRECT_COLUMN}: {name}")

    def parse_where(self, dataset: DatasetSpec) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        self.take()
        conditions = [self.parse_condition(dataset)]
        while True:
            self.refuse_unsupported()
            if not self.peek_keyword("AND"):
                return tuple(conditions)
            self.take()
            conditions.append(self.parse_condition(dataset))

    def parse_condition(self, dataset: DatasetSpec) -> tuple[str, str, tuple[str, ...]]:
        column_token = self.take()
        if column_token.kind != "ident":
            raise QueryError(f"Invalid query: expected a column name but found '{column_token.text}'")
        self.refuse_function(column_token)
        column = self.resolve_column(dataset, column_token.text)
        operator = self.parse_operator()
        if operator in ("in", "not in"):
            return column, operator, self.parse_list()
        value = self.take()
        if value.kind not in ("string", "number"):
            raise QueryError(f"Invalid query: expected a value after {operator.upper()} but found '{value.text}'")
        return column, operator, (value.text,)

    def parse_operator(self) -> str:
        token = self.take()
        if token.kind == "op":
            return "!=" if token.text == "<>" else token.text
        word = token.text.lower()
        if word == "not" and self.peek_keyword("LIKE", "IN"):
            word = f"not {self.take().text.lower()}"
        if word not in _OPERATORS:
            raise QueryError(f"Invalid query: unsupported operator '{token.text}'")
        return word

    def parse_list(self) -> tuple[str, ...]:
        if self.take().text != "(":
            raise QueryError("Invalid query: IN expects a parenthesised list")
        values = []
        while True:
            token = self.take()
            if token.kind not in ("string", "number"):
                raise QueryError(f"Invalid query: unexpected '{token.text}' in a value list")
            values.append(token.text)
            closing = self.take()
            if closing.text == ")":
                return tuple(values)
            if closing.text != ",":
                raise QueryError(f"Invalid query: unexpected '{closing.text}' in a value list")

    def parse_order_by(self, dataset: DatasetSpec) -> tuple[tuple[str, str], ...]:
        self.take()
        self.expect_keyword("BY")
        keys = []
        while True:
            token = self.take()
            if token.kind != "ident":
                raise QueryError(f"Invalid query: expected a column name but found '{token.text}'")
            column = self.resolve_column(dataset, token.text)
            direction = "DESC"  # documented default
            if self.peek_keyword("ASC", "DESC"):
                direction = self.take().upper
            keys.append((column, direction))
            if self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                continue
            return tuple(keys)

    def parse_limit(self) -> int:
        self.take()
        token = self.take()
        if token.kind != "number" or not token.text.isdigit() or int(token.text) <= 0:
            raise QueryError("Invalid query: LIMIT must be a positive integer")
        return int(token.text)

    def parse_timespan(self, dataset: DatasetSpec) -> str:
        self.take()
        token = self.take()
        value = token.upper
        if value not in _TIMESPANS or value not in dataset.ranges:
            raise QueryError(
                f"Invalid query: TIMESPAN {token.text} is not available for {dataset.name}; "
                f"allowed values are {', '.join(dataset.ranges)}"
            )
        return value


def parse_query(program: str, text: str) -> ParsedQuery:
    """Check ``text`` against the grammar and ``program``'s catalog.

    :param program: ``mpn`` or ``cmp``.
    :param text: the query text.
    :raises QueryError: with the service's message when the query is refused.
    """
    if not text or not text.strip():
        raise QueryError("Null or missing value")
    return _Parser(program, tokenize(text)).parse()
