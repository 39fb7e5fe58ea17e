"""Size limits that keep the provider readable: no module over 500 lines, no function over 60.

The sandbox (an emulator, not the provider) is exempt. A failure names the offender and its size.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "airflow_provider_insights"
MAX_MODULE_LINES = 500
MAX_FUNCTION_BODY_LINES = 60


def provider_modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "sandbox" not in path.relative_to(PACKAGE).parts)


def function_bodies(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            # The docstring is documentation, not logic.
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                body = body[1:] or body
            first, last = body[0].lineno, max(getattr(n, "end_lineno", n.lineno) or n.lineno for n in body)
            yield node.name, node.lineno, last - first + 1


@pytest.mark.parametrize("path", provider_modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_module_is_small_enough_to_read(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.name} has {lines} lines"


@pytest.mark.parametrize("path", provider_modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_functions_are_short(path):
    long = [
        f"{name} (line {line}): {size} lines"
        for name, line, size in function_bodies(ast.parse(path.read_text()))
        if size > MAX_FUNCTION_BODY_LINES
    ]
    assert not long, f"{path.name}: " + "; ".join(long)
