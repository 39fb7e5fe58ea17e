"""Build and check Insights report queries before they reach the service.

The Insights query language is a small SQL-like grammar (one dataset, ``AND``-only filters, fixed
``TIMESPAN`` keywords)::

    SELECT [DISTINCT] name (, name)* FROM dataset
    [WHERE name op value (AND name op value)*]
    [ORDER BY name [ASC|DESC] (, name [ASC|DESC])*]
    [LIMIT n] [TIMESPAN keyword]

The service answers a bad query with terse errors ("Incorrect column name") or, worse, silently
with an empty report, so this package parses the text itself and names the offending token, its
position and what would be accepted there. It does no I/O: checking against the live catalog
takes :class:`~airflow_provider_insights.models.Dataset` objects the caller fetched.

This module is the public face; import from here. Each private module owns one step:

* ``_vocabulary``: the fixed words (operators, timespans, clauses, reserved words);
* ``_lexer``: text to tokens (:func:`tokenize`, :class:`Token`), and how syntax errors are worded;
* ``_parsed``: the parsed form (:class:`Filter`, :class:`ParsedQuery`), checked and rendered;
* ``_parser``: tokens to the parsed form (:func:`parse_query`);
* ``_builder``: the parsed form built from Python (:class:`InsightsQuery`);
* ``_validator``: the grammar, then the live catalog (:func:`validate_query`).

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

from airflow_provider_insights.query_builder._builder import FilterSpec as FilterSpec
from airflow_provider_insights.query_builder._builder import InsightsQuery
from airflow_provider_insights.query_builder._builder import OrderSpec as OrderSpec
from airflow_provider_insights.query_builder._lexer import Token, tokenize
from airflow_provider_insights.query_builder._parsed import Filter, ParsedQuery
from airflow_provider_insights.query_builder._parsed import FilterValue as FilterValue
from airflow_provider_insights.query_builder._parsed import Scalar as Scalar
from airflow_provider_insights.query_builder._parser import parse_query
from airflow_provider_insights.query_builder._validator import validate_query
from airflow_provider_insights.query_builder._vocabulary import (
    COMPARISON_OPERATORS,
    LIST_OPERATORS,
    OPERATORS,
    TIMESPANS,
)
from airflow_provider_insights.query_builder._vocabulary import DEFAULT_DIRECTION as DEFAULT_DIRECTION
from airflow_provider_insights.query_builder._vocabulary import DIRECTIONS as DIRECTIONS

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
