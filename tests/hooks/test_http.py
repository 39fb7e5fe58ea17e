"""Pure decisions of the HTTP layer: backoff, Retry-After, retry classification, URLs, envelope, redaction.

The modules under test: hooks/retry.py, request_parts.py, envelope.py, redaction.py, flow.py.

No network here: the request flow is driven by hand with scripted answers, which is exactly what
the requests and aiohttp runners do with real ones (those are exercised against the sandbox in
test_insights.py and test_async.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import requests

from airflow_provider_insights.exceptions import (
    PartnerInsightsApiError,
    PartnerInsightsNotFoundError,
    PartnerInsightsValidationError,
)
from airflow_provider_insights.hooks.envelope import build_api_error, effective_status, error_message, parse_envelope
from airflow_provider_insights.hooks.flow import (
    ApiRequest,
    GetToken,
    HttpResponse,
    InvalidateToken,
    Send,
    Sleep,
    TransportFailure,
    request_flow,
)
from airflow_provider_insights.hooks.insights import format_api_datetime, is_empty_result_message
from airflow_provider_insights.hooks.redaction import redact_secret_params, redact_url, scrub_text
from airflow_provider_insights.hooks.request_parts import (
    build_headers,
    build_url,
    encode_query,
    resolve_next_link,
    user_agent,
)
from airflow_provider_insights.hooks.retry import (
    Decision,
    RetryPolicy,
    backoff_delay,
    decide,
    is_retryable_exception,
    is_retryable_status,
    parse_retry_after,
    retry_delay,
)
from airflow_provider_insights.hooks.secure_link import check_secure_link, total_length_of

BASE = "https://api.example.test/insights/v1/mpn"


# -- backoff and Retry-After -------------------------------------------------------------------


def test_backoff_is_exponential_full_jitter_and_capped():
    top = [backoff_delay(n, base=0.5, cap=4.0, rand=lambda: 0.999999) for n in range(6)]
    assert [round(value, 3) for value in top] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff_delay(3, base=0.5, cap=4.0, rand=lambda: 0.0) == 0.0
    assert backoff_delay(2, base=0.5, cap=4.0, rand=lambda: 0.5) == pytest.approx(1.0)


def test_retry_after_seconds_and_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("3", now=now) == 3.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:07 GMT", now=now) == pytest.approx(7.0)
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0  # in the past: go now
    assert parse_retry_after("-4", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None


def test_retry_delay_prefers_retry_after_and_clamps_it():
    policy = RetryPolicy(max_retries=3, backoff_base=10.0, backoff_cap=10.0, max_retry_after=60.0)
    assert retry_delay(0, policy, "2", rand=lambda: 0.9) == 2.0
    assert retry_delay(0, policy, "86400", rand=lambda: 0.9) == 60.0
    assert retry_delay(0, policy, None, rand=lambda: 0.5) == pytest.approx(5.0)


# -- what is retried -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status):
    assert is_retryable_status(status)
    assert decide(status=status, error=None, retries_done=0, max_retries=2, token_refreshed=False) is Decision.RETRY
    assert decide(status=status, error=None, retries_done=2, max_retries=2, token_refreshed=False) is Decision.FAIL


@pytest.mark.parametrize("status", [400, 403, 404, 405, 409, 422])
def test_other_client_errors_are_never_retried(status):
    assert not is_retryable_status(status)
    assert decide(status=status, error=None, retries_done=0, max_retries=5, token_refreshed=False) is Decision.FAIL


def test_401_renews_the_token_once():
    assert decide(status=401, error=None, retries_done=0, max_retries=5, token_refreshed=False) is (
        Decision.REFRESH_TOKEN
    )
    assert decide(status=401, error=None, retries_done=0, max_retries=5, token_refreshed=True) is Decision.FAIL


def test_success_is_done():
    assert decide(status=200, error=None, retries_done=0, max_retries=5, token_refreshed=False) is Decision.DONE


def test_connection_errors_and_timeouts_are_retryable_but_tls_errors_are_not():
    import aiohttp

    assert is_retryable_exception(requests.ConnectionError("reset"))
    assert is_retryable_exception(requests.ReadTimeout("slow"))
    assert is_retryable_exception(ConnectionResetError())
    assert is_retryable_exception(TimeoutError())
    assert is_retryable_exception(aiohttp.ServerDisconnectedError())
    assert is_retryable_exception(aiohttp.ClientPayloadError("cut"))
    assert not is_retryable_exception(requests.exceptions.SSLError("bad cert"))
    assert not is_retryable_exception(ValueError("bug"))
    assert (
        decide(status=None, error=ConnectionResetError(), retries_done=0, max_retries=1, token_refreshed=False)
        is Decision.RETRY
    )
    assert (
        decide(status=None, error=ConnectionResetError(), retries_done=1, max_retries=1, token_refreshed=False)
        is Decision.FAIL
    )


# -- URLs, headers, redaction --------------------------------------------------------------------


def test_query_string_keeps_semicolons_and_documented_booleans():
    assert encode_query({"executionStatus": ["Pending", "Running"], "getLatestExecution": False}) == (
        "executionStatus=Pending;Running&getLatestExecution=false"
    )
    assert encode_query({"exportQuery": "SELECT A,B FROM T WHERE X='y'", "queryId": None}) == (
        "exportQuery=SELECT%20A%2CB%20FROM%20T%20WHERE%20X%3D%27y%27"
    )
    assert build_url(BASE + "/", "/ScheduledDataset") == BASE + "/ScheduledDataset"


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (BASE + "/ScheduledQueries?page=2", BASE + "/ScheduledQueries?page=2"),
        ("ScheduledQueries?page=2", BASE + "/ScheduledQueries?page=2"),
        ("/insights/v1/mpn/ScheduledQueries?page=2", BASE + "/ScheduledQueries?page=2"),
        ("insights/v1/mpn/ScheduledQueries?page=2", BASE + "/ScheduledQueries?page=2"),
        ("https://API.example.test:443/insights/v1/mpn/X?p=3", "https://API.example.test:443/insights/v1/mpn/X?p=3"),
    ],
)
def test_next_link_absolute_or_relative(link, expected):
    assert resolve_next_link(BASE, link) == expected


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example.test/insights/v1/mpn/X?p=2",
        "http://api.example.test/insights/v1/mpn/X",
        "https://api.example.test:8443/insights/v1/mpn/X",
        "//evil.example.test/x",
    ],
)
def test_next_link_to_another_origin_is_refused(link):
    with pytest.raises(PartnerInsightsValidationError) as caught:
        resolve_next_link(BASE, link)
    assert caught.value.field == "nextLink"


def test_headers_carry_ids_and_user_agent():
    headers = build_headers(token="tok", correlation_id="c-1", request_id="r-1", has_body=True)
    assert headers["Authorization"] == "Bearer tok"
    assert headers["MS-CorrelationId"] == "c-1"
    assert headers["MS-RequestId"] == "r-1"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("airflow-provider-insights/")
    assert "Authorization" not in build_headers(token=None, correlation_id="c", request_id="r")
    assert user_agent() == headers["User-Agent"]


def test_redact_url_drops_query_string_and_credentials():
    link = "https://user:pw@acct.blob.core.windows.net:8443/c/report.csv?sv=2021&sig=SECRETSIG%3D&se=x"
    assert redact_url(link) == "https://acct.blob.core.windows.net:8443/c/report.csv"
    assert redact_url("https://acct.blob.core.windows.net/c/r.csv#frag") == "https://acct.blob.core.windows.net/c/r.csv"


def test_scrub_text_removes_credentials():
    text = (
        "failed GET https://a.blob.core.windows.net/x.csv?sv=1&sig=ABCDEF123 with Authorization: Bearer abc.def.ghi "
        "token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sgn and sig=OTHER&refresh_token=RT123"
    )
    cleaned = scrub_text(text)
    for secret in ("ABCDEF123", "abc.def.ghi", "eyJhbGciOiJSUzI1NiJ9", "OTHER", "RT123"):
        assert secret not in cleaned
    assert "https://a.blob.core.windows.net/x.csv" in cleaned


# -- envelope ------------------------------------------------------------------------------------


def test_envelope_keys_are_case_insensitive():
    envelope = parse_envelope(
        {"Value": [{"a": 1}], "NextLink": "x", "StatusCode": "200", "Message": "ok", "TotalCount": 1}
    )
    assert envelope.value == [{"a": 1}]
    assert envelope.next_link == "x"
    assert envelope.status_code == 200
    assert envelope.total_count == 1
    assert parse_envelope({"value": {"single": True}}).value == [{"single": True}]
    assert parse_envelope([1, 2]).value == [1, 2]


def test_a_200_with_an_error_envelope_counts_as_the_error():
    envelope = parse_envelope({"value": [], "statusCode": 400, "message": "Invalid table name"})
    assert effective_status(200, envelope) == 400
    assert effective_status(200, parse_envelope({"value": [], "statusCode": 200})) == 200
    assert effective_status(503, None) == 503


def test_error_message_from_json_or_text():
    assert error_message({"message": "Invalid QueryId"}) == "Invalid QueryId"
    assert error_message({"error": {"code": "X", "message": "nope"}}) == "nope"
    assert error_message(None, b"<html>Bad gateway</html>") == "<html>Bad gateway</html>"
    assert error_message(None, b"") == "no details given"


def test_executions_404_messages():
    assert is_empty_result_message(
        "There are no executions that have occurred for the given filter conditions. Please recheck ..."
    )
    assert is_empty_result_message("No item found with given filters.")
    assert not is_empty_result_message("Resource not found")


# -- the request flow, driven by hand ------------------------------------------------------------


def _answer(status, body=b'{"value": [], "statusCode": 200}', headers=None):
    return HttpResponse(status=status, headers=headers or {}, content=body)


def _drive(flow, answers, tokens=("t1", "t2", "t3")):
    """Play a flow against scripted answers; return (result or exception, commands seen)."""
    tokens = list(tokens)
    answers = list(answers)
    seen = []
    reply = None
    while True:
        try:
            command = flow.send(reply)
        except StopIteration as stop:
            return stop.value, seen
        except Exception as error:  # the flow's final error
            return error, seen
        seen.append(command)
        if isinstance(command, GetToken):
            reply = tokens.pop(0)
        elif isinstance(command, Send):
            reply = answers.pop(0)
        else:
            reply = None


def _flow(not_found_ok=None, max_retries=3):
    return request_flow(
        ApiRequest("GET", BASE + "/ScheduledDataset", not_found_ok=not_found_ok),
        correlation_id="corr",
        policy=RetryPolicy(max_retries=max_retries, backoff_base=0.01, backoff_cap=0.01),
    )


def test_flow_retries_then_succeeds_with_fresh_request_ids_and_one_correlation_id():
    result, seen = _drive(_flow(), [_answer(503), _answer(429, headers={"retry-after": "0"}), _answer(200)])
    sends = [command for command in seen if isinstance(command, Send)]
    assert len(sends) == 3
    assert len({send.headers["MS-RequestId"] for send in sends}) == 3
    assert {send.headers["MS-CorrelationId"] for send in sends} == {"corr"}
    assert [command.seconds for command in seen if isinstance(command, Sleep)][1] == 0.0
    assert result.value == []


def test_flow_does_not_retry_an_error_envelope():
    body = b'{"value": [], "statusCode": 400, "message": "Incorrect column name"}'
    error, seen = _drive(_flow(), [_answer(200, body)])
    assert isinstance(error, PartnerInsightsApiError)
    assert error.status_code == 400
    assert "Incorrect column name" in str(error)
    assert error.correlation_id == "corr"
    assert error.request_id
    assert sum(isinstance(command, Send) for command in seen) == 1


def test_flow_renews_token_once_on_401():
    _result, seen = _drive(_flow(), [_answer(401, b""), _answer(200)])
    assert [command.token for command in seen if isinstance(command, InvalidateToken)] == ["t1"]
    sends = [command for command in seen if isinstance(command, Send)]
    assert [send.headers["Authorization"] for send in sends] == ["Bearer t1", "Bearer t2"]
    error, _ = _drive(_flow(), [_answer(401, b""), _answer(401, b"")])
    assert isinstance(error, PartnerInsightsApiError)
    assert error.status_code == 401


def test_flow_gives_up_after_max_retries_and_names_ids():
    error, seen = _drive(
        _flow(max_retries=1),
        [TransportFailure(ConnectionResetError("reset")), TransportFailure(ConnectionResetError("reset"))],
    )
    assert isinstance(error, PartnerInsightsApiError)
    assert error.status_code == 0
    assert "MS-RequestId=" in str(error)
    assert "MS-CorrelationId=corr" in str(error)
    assert sum(isinstance(command, Send) for command in seen) == 2


def test_flow_404_is_empty_only_when_accepted():
    body = b'{"value": [], "statusCode": 404, "message": "No item found with given filters."}'
    result, _ = _drive(_flow(not_found_ok=is_empty_result_message), [_answer(404, body)])
    assert result is None
    error, _ = _drive(_flow(), [_answer(404, body)])
    assert isinstance(error, PartnerInsightsNotFoundError)


# -- datetimes and secure-link checks ------------------------------------------------------------


def test_api_datetimes_are_utc_z():
    assert format_api_datetime(datetime(2026, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-05-01T06:30:00Z"
    )
    assert format_api_datetime(datetime(2026, 5, 1, 8, 30, 15, 999)) == "2026-05-01T08:30:15Z"
    assert format_api_datetime(date(2026, 5, 1)) == "2026-05-01T00:00:00Z"
    assert format_api_datetime("2026-05-01T08:30:00Z") == "2026-05-01T08:30:00Z"
    assert format_api_datetime("2026-05-01T10:30:00+02:00") == "2026-05-01T08:30:00Z"
    with pytest.raises(PartnerInsightsValidationError):
        format_api_datetime("next tuesday", field="start_time")


def test_secure_link_host_and_scheme_checks():
    allowed = ("*.blob.core.windows.net", "127.0.0.1")
    assert check_secure_link("https://Acct.Blob.Core.Windows.NET/c/r.csv?sig=x", allowed) == (
        "acct.blob.core.windows.net"
    )
    for link in (
        "http://acct.blob.core.windows.net/r.csv?sig=x",
        "https://evil.test/r.csv?sig=x",
        "https://blob.core.windows.net.evil.test/r.csv",
        "file:///etc/passwd",
    ):
        with pytest.raises(PartnerInsightsValidationError) as caught:
            check_secure_link(link, allowed)
        assert "sig=" not in str(caught.value)


def test_total_length_from_content_range_or_length():
    assert total_length_of(206, {"Content-Range": "bytes 100-199/1000", "Content-Length": "100"}) == 1000
    assert total_length_of(200, {"content-length": "1000"}) == 1000
    assert total_length_of(206, {"Content-Range": "bytes 100-199/*"}) is None


# -- what an API error shows of the request --------------------------------------------------------


def test_api_error_shows_the_non_secret_query_parameters():
    url = build_url(
        BASE,
        "ScheduledReport/execution/r1",
        {"executionStatus": "Pending", "getLatestExecution": False, "token": "continuation-secret"},
    )
    body = b'{"statusCode": 400, "message": "Invalid filter"}'
    error, _seen = _drive(
        request_flow(ApiRequest("GET", url), correlation_id="c", policy=RetryPolicy()), [_answer(400, body)]
    )
    assert isinstance(error, PartnerInsightsApiError)
    assert "executionStatus=Pending" in str(error)
    assert "getLatestExecution=false" in str(error)
    assert "continuation-secret" not in str(error)
    assert "token=<redacted>" in error.url


def test_a_signed_url_never_shows_its_query():
    link = "https://acct.blob.core.windows.net/c/r.csv?sv=2021-08-06&se=2030-01-01&sp=r&sig=SIGNATURE%2Bx&name=r"
    shown = redact_secret_params(link)
    assert shown == "https://acct.blob.core.windows.net/c/r.csv?<redacted>"
    error = build_api_error(400, "bad", method="GET", url=link, request_id="r", correlation_id="c")
    for secret_part in ("SIGNATURE", "sv=", "se=", "sp=", "name=r"):
        assert secret_part not in str(error)


@pytest.mark.parametrize("name", ["se", "sv", "sp", "skoid", "client_secret", "refresh_token", "apiKey", "password"])
def test_credential_parameters_are_redacted_in_errors(name):
    shown = redact_secret_params(f"https://user:pw@api.example.test/x?{name}=VALUE123&reportId=r1")
    assert "VALUE123" not in shown
    assert "pw" not in shown
    assert shown == f"https://api.example.test/x?{name}=<redacted>&reportId=r1"
