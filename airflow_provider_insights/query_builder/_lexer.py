"""The lexer: query text to :class:`Token` objects, each with its position.

Owns the token kinds, how names, numbers, string literals and operators are read, and
:func:`syntax_error`, the one way any grammar problem is reported (token, 1-based position, reason,
what fits there). String literals accept any character, ``''`` escaping a quote: the documented
``'[a-zA-Z0-9_]*'`` is narrower than the documented examples (GUIDs, spaces, ``%``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.query_builder._vocabulary import OPERATORS

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


def syntax_error(
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
    raise syntax_error(Token(CHARACTER, char, pos), hint)


def _is_digit(char: str) -> bool:
    return len(char) == 1 and "0" <= char <= "9"


def is_name_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _read_name(text: str, pos: int) -> Token:
    end = pos
    while end < len(text) and is_name_char(text[end]):
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
    raise syntax_error(Token(CHARACTER, "'", pos), "unterminated string literal (write '' for a quote inside it)")


def _read_operator(text: str, pos: int) -> Token:
    pair = text[pos : pos + 2]
    if pair in (">=", "<=", "!="):
        return Token(OPERATOR, pair, pos)
    if pair == "<>":
        raise syntax_error(Token(OPERATOR, pair, pos), "write != for 'not equal'", allowed=OPERATORS)
    if pair == "==":
        raise syntax_error(Token(OPERATOR, pair, pos), "write a single = for 'equal'", allowed=OPERATORS)
    if text[pos] == "!":
        raise syntax_error(Token(CHARACTER, "!", pos), "'!' only appears in !=", allowed=OPERATORS)
    return Token(OPERATOR, text[pos], pos)
