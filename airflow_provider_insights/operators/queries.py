"""Operators managing Partner Center Insights report queries (``ScheduledQueries``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_insights.connection import DEFAULT_CONN_ID
from airflow_provider_insights.exceptions import PartnerInsightsApiError
from airflow_provider_insights.operators._base import PartnerInsightsHookMixin
from airflow_provider_insights.validation import query_text, require_text, same_query_text

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_insights.models import Query
    from airflow_provider_insights.query_builder import InsightsQuery


class PartnerInsightsCreateQueryOperator(PartnerInsightsHookMixin, BaseOperator):
    """Get or create a report query by name; return its id.

    A user-defined query with the same name and the same text is reused. If the text changed, a
    query with the new text is created and the older ones of that name are deleted, so a name
    always means its current definition (creating first keeps a crash in between harmless: the
    next run reuses the new query and removes the stale ones). An older query that a report still
    runs (a recurring report, or the report of an overlapping run) is kept, with a warning.

    With ``validate`` the query is checked before any call that changes anything: its grammar
    (no ``OR``, known ``TIMESPAN``...), then its dataset, columns and timespan against the live
    catalog (``ScheduledDataset``). Problems raise
    :class:`~airflow_provider_insights.exceptions.PartnerInsightsValidationError` naming the field.

    :param name: the query's name, its key for reuse (templated).
    :param query: the query text, or an :class:`~airflow_provider_insights.query_builder.InsightsQuery`
        (templated when text).
    :param description: a description stored with the query (templated).
    :param validate: check grammar and catalog before creating.
    :param partner_insights_conn_id: the ``partner_insights`` connection (templated).
    """

    template_fields: Sequence[str] = ("name", "query", "description", "partner_insights_conn_id")
    template_fields_renderers = {"query": "sql"}

    def __init__(
        self,
        *,
        name: str,
        query: str | InsightsQuery,
        description: str | None = None,
        validate: bool = True,
        partner_insights_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.query = query
        self.description = description
        self.validate = validate
        self.partner_insights_conn_id = partner_insights_conn_id

    def execute(self, context: Context) -> str:
        """Validate, then reuse or create the query; return its id."""
        name = require_text("name", self.name)
        text = query_text("query", self.query)
        if self.validate:
            self._validate(text)
        same_name = self._user_queries_named(name)
        current = next((q for q in same_name if same_query_text(q.query, text)), None)
        if current is None:
            current = self.hook.create_query(name=name, query=text, description=self.description)
            self.log.info("Created query %s named %r", current.query_id, name)
        else:
            self.log.info("Reusing query %s named %r: same text", current.query_id, name)
        self._delete_stale(q for q in same_name if q.query_id != current.query_id)
        return current.query_id

    def _validate(self, text: str) -> None:
        """Grammar first (no I/O), then the dataset's columns and timespans from the live catalog."""
        from airflow_provider_insights.query_builder import parse_query, validate_query

        parsed = parse_query(text)
        dataset = self.hook.get_dataset(parsed.dataset)
        validate_query(text, dataset=dataset)

    def _user_queries_named(self, name: str) -> list[Query]:
        # The name filter's matching rules are undocumented: keep exact, user-defined matches only.
        found = self.hook.list_queries(query_name=name, include_system_queries=False)
        return [q for q in found if q.name == name and not q.is_system]

    def _delete_stale(self, stale: Iterable[Query]) -> None:
        for query in stale:
            if self._used_by_a_report(query):
                continue
            self.log.info("Deleting query %s: an older definition of %r", query.query_id, query.name)
            try:
                self.hook.delete_query(query.query_id)
            except PartnerInsightsApiError as err:
                # The new definition exists anyway, so do not fail.
                self.log.warning("Could not delete the older query %s: %s", query.query_id, err)

    def _used_by_a_report(self, query: Query) -> bool:
        # Deleting it would break that report's next run; the owner of the report decides.
        found = self.hook.list_reports(query_id=query.query_id)
        users = [r for r in found if r.query_id.lower() == query.query_id.lower()]
        if not users:
            return False
        self.log.warning(
            "Keeping the older query %s of %r: report(s) %s still run it",
            query.query_id,
            query.name,
            ", ".join(r.report_id for r in users),
        )
        return True


class PartnerInsightsDeleteQueryOperator(PartnerInsightsHookMixin, BaseOperator):
    """Delete a user-defined report query. A query that is already gone is fine.

    :param query_id: the query to delete (templated).
    :param partner_insights_conn_id: the ``partner_insights`` connection (templated).
    """

    template_fields: Sequence[str] = ("query_id", "partner_insights_conn_id")

    def __init__(
        self,
        *,
        query_id: str,
        partner_insights_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.query_id = query_id
        self.partner_insights_conn_id = partner_insights_conn_id

    def execute(self, context: Context) -> None:
        """Delete the query, treating "not found" as already done."""
        query_id = require_text("query_id", self.query_id)
        if self.hook.delete_query(query_id) is None:
            self.log.info("Query %s was already gone", query_id)
        else:
            self.log.info("Deleted query %s", query_id)
