"""Figures the benches hand to ``run_all.py``: one record per measure, with every run's value.

Each bench prints its own table and, given ``--json PATH``, also writes its figures there as a
list of :class:`Figure` dictionaries, so that ``make bench`` can print them all in one table (min,
median and max of each) and write ``docs/content/performance.md``.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    """One measure: its values over the runs, and the baseline's beside it when there is one.

    :param name: what is measured (``file:// 1000 MB vs curl``).
    :param unit: the values' unit (``MB/s``, ``ms``, ``MB``, ``CPU-s/GB``...).
    :param values: one value per measured run.
    :param baseline: the baseline's name (``curl``), or empty when there is none.
    :param baseline_values: the baseline's value per run, measured alternately with ours.
    :param goal: the goal, as text (``>= 0.90x``, ``< 100 ms``).
    :param met: whether the goal is met (``None`` when there is no goal).
    :param higher_is_better: for the ratio's direction (throughput yes, stalls and memory no).
    """

    name: str
    unit: str
    values: list[float]
    baseline: str = ""
    baseline_values: list[float] = field(default_factory=list)
    goal: str = ""
    met: bool | None = None
    higher_is_better: bool = True

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def baseline_median(self) -> float | None:
        return statistics.median(self.baseline_values) if self.baseline_values else None

    @property
    def ratio(self) -> float | None:
        """Ours over the baseline's median (both medians), or ``None`` without a baseline."""
        base = self.baseline_median
        if not base:
            return None
        return self.median / base


def write_figures(path: str | None, figures: list[Figure]) -> None:
    """Write ``figures`` as JSON to ``path`` (nothing when ``path`` is empty)."""
    if path:
        Path(path).write_text(json.dumps([asdict(figure) for figure in figures], indent=1))


def read_figures(path: Path) -> list[Figure]:
    """The figures a bench wrote with :func:`write_figures`."""
    records: list[dict[str, Any]] = json.loads(path.read_text())
    return [Figure(**record) for record in records]


def table_rows(figures: list[Figure]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The header and one row per figure: min, median, max of ours, the baseline's median, the ratio."""
    header = ("measure", "unit", "min", "median", "max", "baseline (median)", "ratio", "goal", "result")
    rows = []
    for figure in figures:
        base = figure.baseline_median
        ratio = figure.ratio
        rows.append(
            (
                figure.name,
                figure.unit,
                _number(min(figure.values)),
                _number(figure.median),
                _number(max(figure.values)),
                f"{_number(base)} {figure.baseline}" if base is not None else "",
                f"{ratio:.2f}x" if ratio is not None else "",
                figure.goal,
                "" if figure.met is None else ("met" if figure.met else "MISSED"),
            )
        )
    return header, rows


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(figures: list[Figure]) -> None:
    """Print the figures as an aligned text table."""
    header, rows = table_rows(figures)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * width for width in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def markdown_table(figures: list[Figure]) -> str:
    """The figures as a Markdown table."""
    header, rows = table_rows(figures)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)
