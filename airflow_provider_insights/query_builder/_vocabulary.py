"""The words of the Insights query language, and the reasons common SQL is refused.

Owns every fixed word the lexer, the parser and the checks of :class:`ParsedQuery` agree on:
operators, ``TIMESPAN`` keywords, sort directions, clauses in their only allowed order, reserved
words, the explanation given for SQL the grammar refuses (``UNSUPPORTED``), and :func:`closest`,
the one way a misspelt word gets suggestions.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

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
CLAUSES = ("SELECT", "FROM", "WHERE", "ORDER", "LIMIT", "TIMESPAN")
CLAUSE_TITLES = {"ORDER": "ORDER BY"}
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

JOINS = "joins are not supported: a query reads exactly one dataset"
# SQL that people reasonably try, with the reason the Insights grammar refuses it.
UNSUPPORTED = {
    "OR": "OR is not supported: combine conditions with AND, or use IN (...) for alternatives of one column",
    "GROUP": "GROUP BY is not supported: metrics are already aggregated over the selected non-metric columns",
    "HAVING": "HAVING is not supported: filter metrics in WHERE",
    "AS": "aliases are not supported",
    "JOIN": JOINS,
    "INNER": JOINS,
    "LEFT": JOINS,
    "RIGHT": JOINS,
    "FULL": JOINS,
    "CROSS": JOINS,
    "UNION": "UNION is not supported: a query is a single SELECT",
    "BETWEEN": "BETWEEN is not supported: use two conditions, e.g. x >= 1 AND x <= 9",
    "IS": "IS [NOT] NULL is not supported",
    "OFFSET": "OFFSET is not supported",
    "TOP": "TOP is not supported: use LIMIT",
}
RESERVED = _GRAMMAR_KEYWORDS | frozenset(UNSUPPORTED)


def closest(word: str, candidates: Iterable[str], count: int = 3) -> list[str]:
    """Closest candidates to ``word`` ignoring case, spelled as the candidates are."""
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=count, cutoff=0.6)
    return [by_lower[match] for match in matches]
