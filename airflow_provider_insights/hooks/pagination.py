"""Listings that span pages: follow ``nextLink`` on the API host, collect every page's ``value``.

It owns how far a listing goes (:data:`DEFAULT_MAX_PAGES`), which links are followed (the API's
own origin only: the bearer token goes with every page), and what ends a listing (no link, a link
already read, a 404 after the first page). Each page is one :func:`~airflow_provider_insights.hooks.flow.request_flow`.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_provider_insights.hooks.flow import ApiRequest, Flow, request_flow
from airflow_provider_insights.hooks.redaction import redact_url
from airflow_provider_insights.hooks.request_parts import resolve_next_link
from airflow_provider_insights.hooks.retry import RetryPolicy

log = logging.getLogger(__name__)

#: The community client stops after 100 pages; a service loop must not make us loop forever.
DEFAULT_MAX_PAGES = 100


def paginated_flow(
    request: ApiRequest,
    *,
    base_url: str,
    correlation_id: str,
    policy: RetryPolicy,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> Flow[list[Any] | None]:
    """Collect ``value`` over every page, following ``nextLink`` on the API host only.

    Returns ``None`` when the first page is a 404 that ``request.not_found_ok`` accepts.

    :param request: the first page's request.
    :param base_url: the API base URL (relative links resolve against it; other hosts are refused).
    :param correlation_id: the operation's ``MS-CorrelationId``, shared by every page.
    :param policy: the retry policy.
    :param max_pages: the most pages read.
    """
    items: list[Any] = []
    seen = {request.url}
    page_request = request
    for page in range(max_pages):
        envelope = yield from request_flow(page_request, correlation_id=correlation_id, policy=policy)
        if envelope is None:
            return None if page == 0 else items
        items.extend(envelope.value)
        if not envelope.next_link:
            return items
        url = resolve_next_link(base_url, envelope.next_link)
        if url in seen:
            log.warning(
                "The service returned a nextLink already read (%s); stopping [MS-CorrelationId=%s]",
                redact_url(url),
                correlation_id,
            )
            return items
        seen.add(url)
        # The next link carries its own query string; a later 404 just ends the listing.
        page_request = ApiRequest("GET", url, not_found_ok=lambda _message: True)
    log.warning(
        "Stopped after %d pages of %s; more pages were announced [MS-CorrelationId=%s]",
        max_pages,
        redact_url(request.url),
        correlation_id,
    )
    return items
