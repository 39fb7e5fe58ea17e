"""The hook's two building blocks, as flows: read a listing, send a call that answers with one item.

A flow is a generator of commands run by the sync or the async runner (see
:mod:`airflow_provider_insights.hooks.http`). Both blocks return what the service said as values:
a listing says whether the service answered "nothing matches" (its 404) and whether it flagged
``dataRedacted``, so no caller needs a side channel to learn either.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from airflow_provider_insights.exceptions import PartnerInsightsApiError, PartnerInsightsNotFoundError
from airflow_provider_insights.hooks.http import (
    ApiRequest,
    Envelope,
    Flow,
    HttpResponse,
    RetryPolicy,
    Send,
    build_url,
    decode_json,
    new_correlation_id,
    paginated_flow,
    redact_url,
    request_flow,
)
from airflow_provider_insights.models import lookup

log = logging.getLogger(__name__)

T = TypeVar("T")

# The executions endpoint answers 404 with these when nothing matches the filters (documented); the list
# endpoints document 404 too, and answer "No item found" for a filter that matches nothing.
NO_EXECUTIONS_MESSAGES = ("there are no executions", "no item found with given filters")
NO_ITEM_MESSAGE = "no item found with given filters"


def is_empty_result_message(message: str) -> bool:
    """Whether a 404's message is a documented "nothing matches" answer (executions, filtered lists).

    :param message: the 404's message.
    """
    lowered = message.lower()
    return any(text in lowered for text in NO_EXECUTIONS_MESSAGES)


@dataclass(frozen=True)
class ApiContext:
    """What every flow of one hook call needs: where the API is and how to retry.

    :param base_url: the API base URL of the connection's program.
    :param policy: the retry policy.
    :param max_pages: the most ``nextLink`` pages read by one listing.
    :param program: ``mpn`` or ``cmp``.
    """

    base_url: str
    policy: RetryPolicy
    max_pages: int
    program: str = "mpn"


@dataclass(frozen=True)
class Listing:
    """The items of one listing and what the service said about them.

    :param items: the items; empty when the service answered "nothing matches".
    :param empty_answer: the message of that "nothing matches" 404, else ``None``.
    :param data_redacted: whether any page carried ``dataRedacted: true``.
    """

    items: list[dict[str, Any]]
    empty_answer: str | None = None
    data_redacted: bool = False


def list_flow(
    context: ApiContext,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    empty_on_404: bool = False,
    correlation_id: str | None = None,
) -> Flow[Listing]:
    """Read every page of a listing.

    :param context: the API context.
    :param path: the endpoint path relative to the base URL.
    :param params: query parameters (``None`` values left out).
    :param empty_on_404: read a documented "nothing matches" 404 as an empty listing.
    :param correlation_id: the operation's ``MS-CorrelationId`` (a new one by default).
    :raises PartnerInsightsNotFoundError: on any other 404.
    """
    request = ApiRequest("GET", build_url(context.base_url, path, params))
    pages = paginated_flow(
        request,
        base_url=context.base_url,
        correlation_id=correlation_id or new_correlation_id(),
        policy=context.policy,
        max_pages=context.max_pages,
    )
    try:
        items, redacted = yield from noting_redaction(pages)
    except PartnerInsightsNotFoundError as error:
        if not (empty_on_404 and is_empty_result_message(error.message)):
            raise
        return Listing([], empty_answer=error.message)
    return Listing([dict(item) for item in items or [] if isinstance(item, Mapping)], data_redacted=redacted)


def item_flow(context: ApiContext, method: str, path: str, body: Any = None) -> Flow[dict[str, Any]]:
    """Send a call that answers with one item (create, update, pause...) and return that item.

    :param context: the API context.
    :param method: the HTTP method.
    :param path: the endpoint path relative to the base URL.
    :param body: the JSON body, if any.
    :raises PartnerInsightsApiError: if the call fails, or the service answered without an item.
    """
    request = ApiRequest(method, build_url(context.base_url, path), json_body=body)
    envelope = yield from request_flow(request, correlation_id=new_correlation_id(), policy=context.policy)
    return first_item(envelope, request)


def removal_flow(context: ApiContext, path: str) -> Flow[dict[str, Any] | None]:
    """Send a DELETE and return the removed item; ``None`` if it was already gone (404).

    :param context: the API context.
    :param path: the endpoint path relative to the base URL.
    """
    request = ApiRequest("DELETE", build_url(context.base_url, path), not_found_ok=_gone)
    envelope = yield from request_flow(request, correlation_id=new_correlation_id(), policy=context.policy)
    return first_item(envelope, request) if envelope is not None else None


def _gone(_message: str) -> bool:
    return True


def first_item(envelope: Envelope | None, request: ApiRequest) -> dict[str, Any]:
    """The answer's first item.

    :param envelope: the answer (``None`` counts as no item).
    :param request: the request answered, for the error.
    :raises PartnerInsightsApiError: if the answer holds no item.
    """
    items = [item for item in (envelope.value if envelope else []) if isinstance(item, Mapping)]
    if not items:
        raise PartnerInsightsApiError(
            200,
            f"the service answered {request.method} without the item it changed",
            method=request.method,
            url=redact_url(request.url),
        )
    return dict(items[0])


def noting_redaction(flow: Flow[T]) -> Flow[tuple[T, bool]]:
    """Run ``flow`` and tell, with its result, whether any answer carried ``dataRedacted: true``.

    The flag lives in the envelope, which the pagination flow does not return; the answers pass
    through here on their way in, so it is read from them without changing that flow.

    :param flow: the flow to run.
    """
    redacted = False
    reply: Any = None
    while True:
        try:
            command = flow.send(reply)
        except StopIteration as stop:
            return stop.value, redacted
        reply = yield command
        if isinstance(command, Send) and isinstance(reply, HttpResponse) and reply.status < 400:
            redacted = redacted or says_data_redacted(reply.content)


def says_data_redacted(content: bytes) -> bool:
    """Whether a response body's envelope says ``dataRedacted: true`` (any key casing).

    :param content: the raw body.
    """
    if b"redacted" not in content.lower():
        return False  # most answers: no need to decode the body a second time
    body = decode_json(content)
    if not isinstance(body, Mapping):
        return False
    flag = lookup(body, "dataRedacted")
    return flag is True or str(flag).lower() == "true"
