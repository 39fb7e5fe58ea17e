"""Where a watch of a report's executions stands, and which Completed executions come after it.

The position is an execution's (generation time, id), a total order, so that a watcher yields each
execution once and in the order the service generated them, however the service lists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow_provider_insights.datetimes import parse_datetime
from airflow_provider_insights.exceptions import PartnerInsightsValidationError
from airflow_provider_insights.models import Execution, ExecutionState, counts_as_new

#: Key, in the watched asset's state store, under which a watcher keeps the newest execution it
#: yielded (followed by ``:<report id>``).
WATERMARK_KEY = "partner_insights_newest_execution"


@dataclass(frozen=True, order=True)
class Watermark:
    """Where a watch stands: an execution's generation time, then its id (a total order).

    :param generated: when the service generated the execution's file (aware UTC).
    :param execution_id: the execution's id, lower-cased (ids are compared without case).
    """

    generated: datetime
    execution_id: str

    @classmethod
    def of(cls, execution: Execution) -> Watermark | None:
        """The mark of ``execution``; ``None`` when its generation time is unknown (it cannot be placed).

        :param execution: an execution.
        """
        generated = execution.generated_at
        return cls(generated, execution.execution_id.lower()) if generated is not None else None

    def to_json(self) -> dict[str, Any]:
        """A JSON value for the asset state store: ids and a time, nothing secret."""
        return {"execution_id": self.execution_id, "generated": self.generated.isoformat()}

    @classmethod
    def from_json(cls, value: Any) -> Watermark | None:
        """Read :meth:`to_json`'s value; ``None`` for nothing stored or a value this version cannot read.

        :param value: what the store held.
        """
        if not isinstance(value, dict) or not value.get("execution_id"):
            return None
        try:
            generated = parse_datetime("generated", value.get("generated"))
        except PartnerInsightsValidationError:
            return None
        return cls(generated, str(value["execution_id"]).lower()) if generated is not None else None


def completed_in_order(
    executions: Iterable[Execution | None],
    *,
    after: Watermark | None,
    inclusive: bool = False,
    ignore_before: datetime | None = None,
) -> list[Execution]:
    """The Completed executions past ``after``, each once, in the order they were generated.

    Completed is :attr:`Execution.state <airflow_provider_insights.models.Execution.state>` ``DONE``
    and "generated after ``ignore_before``" is :func:`~airflow_provider_insights.models.counts_as_new`:
    the rules every other waiter follows. An execution without a generation time cannot be placed
    in the order and is left out.

    :param executions: executions as listed, in any order, possibly repeated.
    :param after: only executions past this mark; ``None`` for all.
    :param inclusive: also the execution at ``after`` itself.
    :param ignore_before: only executions generated after this moment; ``None`` for all.
    """
    chosen: dict[Watermark, Execution] = {}
    for execution in executions:
        if execution is None or execution.state is not ExecutionState.DONE:
            continue
        mark = Watermark.of(execution)
        if mark is None or not counts_as_new(execution, ignore_before):
            continue
        if after is None or mark > after or (inclusive and mark == after):
            chosen.setdefault(mark, execution)
    return [chosen[mark] for mark in sorted(chosen)]
