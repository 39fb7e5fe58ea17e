"""No secret reaches a log record or an exception: a full hook sequence with faults, every auth type.

Log records are captured at DEBUG from every logger (urllib3, aiohttp, msal included) *before*
Airflow's masker could hide anything, so what is checked is what the code itself wrote.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from urllib.parse import parse_qs, urlsplit

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsError, PartnerInsightsNotFoundError
from airflow_provider_insights.hooks.insights import PartnerInsightsHook
from airflow_provider_insights.hooks.redaction import scrub_text

pytestmark = pytest.mark.integration

NOISY_LOGGERS = ("urllib3", "aiohttp", "msal", "requests", "asyncio", "airflow_provider_insights", "airflow")


class Evidence:
    """Everything that could leak: exception texts, tracebacks, and values that must not appear."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.secrets: set[str] = set()

    def expect_error(self, action, *args, **kwargs):
        try:
            result = action(*args, **kwargs)
        except PartnerInsightsError as error:
            self.add_exception(error)
            return None
        return result

    async def aexpect_error(self, action, *args, **kwargs):
        try:
            return await action(*args, **kwargs)
        except PartnerInsightsError as error:
            self.add_exception(error)
            return None

    def add_exception(self, error: BaseException) -> None:
        self.texts.extend([str(error), repr(error), "".join(traceback.format_exception(error))])

    def add_tokens_of(self, hook: PartnerInsightsHook) -> None:
        self.secrets.add(hook.token_provider().get_token())

    def add_link(self, link: str) -> None:
        for value in parse_qs(urlsplit(link).query).get("sig", []):
            self.secrets.add(value)


def _sequence(hook: PartnerInsightsHook, strict: PartnerInsightsHook, sb, evidence: Evidence) -> None:
    """Exercise the hook with every kind of fault, collecting tokens, links and errors.

    ``strict`` is a hook on the same identity whose connection allows no sandbox download host.
    """
    hook.list_datasets()
    evidence.add_tokens_of(hook)
    sb.admin.set_faults(
        [
            {"kind": "status", "status": 429, "retry_after": 0, "path": "ScheduledDataset"},
            {"kind": "status", "status": 503, "path": "ScheduledDataset"},
            {"kind": "expire_token"},
        ]
    )
    dataset = hook.list_datasets()[0]
    evidence.add_tokens_of(hook)
    text = f"SELECT {dataset.selectable_columns[0]} FROM {dataset.name}"
    hook.test_query(query=text)
    query = hook.create_query(name=f"leak{uuid.uuid4().hex[:8]}", query=text)
    sb.admin.set_faults(
        [{"kind": "error_envelope", "status": 400, "message": "Incorrect column name", "path": "ScheduledReport"}]
    )
    evidence.expect_error(hook.create_report, report_name="leak", query_id=query.query_id, execute_now=True)
    report = hook.create_report(report_name=f"leak{uuid.uuid4().hex[:8]}", query_id=query.query_id, execute_now=True)
    sb.admin.advance_clock(3600)
    execution = hook.get_latest_execution(report.report_id)
    link = execution.report_access_secure_link
    evidence.add_link(link)
    # Repr and str of what the hook returns must not show the link.
    evidence.texts.extend([repr(execution), str(execution)])

    with hook.open_secure_link(link) as response:
        size = sum(len(chunk) for chunk in response.iter_raw(4096))
    sb.admin.set_faults([{"kind": "reset", "after_bytes": size // 2}])

    def read_all():
        with hook.open_secure_link(link) as broken:
            for _ in broken.iter_raw(1024):
                pass

    evidence.expect_error(read_all)
    sb.admin.set_faults([{"kind": "expire_link"}])
    evidence.expect_error(hook.open_secure_link, link)
    evidence.expect_error(hook.open_secure_link, link.replace("https://", "http://", 1))
    evidence.expect_error(strict.open_secure_link, link)

    sb.admin.set_faults([{"kind": "status", "status": 503, "count": None, "path": "ScheduledQueries"}])
    evidence.expect_error(PartnerInsightsHook(hook.partner_insights_conn_id, backoff_base=0.001).list_queries)
    sb.admin.clear_faults()

    async def async_part() -> None:
        async_hook = PartnerInsightsHook(hook.partner_insights_conn_id, backoff_base=0.01)
        try:
            sb.admin.set_faults([{"kind": "expire_token"}, {"kind": "status", "status": 503, "path": "execution"}])
            await async_hook.aget_latest_execution(report.report_id)
            sb.admin.set_faults([{"kind": "error_envelope", "status": 400, "message": "nope", "path": "execution"}])
            await evidence.aexpect_error(async_hook.alist_executions, report.report_id)
        finally:
            await async_hook.aclose()

    asyncio.run(async_part())
    evidence.add_tokens_of(hook)
    hook.delete_report(report.report_id)
    hook.delete_query(query.query_id)


@pytest.mark.parametrize("auth_type", ["client_credentials", "password", "refresh_token"])
def test_no_secret_in_logs_or_errors(make_hook, sb, caplog, auth_type):
    from airflow_provider_insights.sandbox import credentials

    caplog.set_level(logging.DEBUG)
    for name in NOISY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    evidence = Evidence()
    evidence.secrets.update({credentials.CLIENT_SECRET, credentials.USER_PASSWORD, credentials.REFRESH_TOKEN})

    hook = make_hook(auth_type=auth_type)
    strict = make_hook(auth_type=auth_type, allowed_download_hosts="*.blob.core.windows.net")
    _sequence(hook, strict, sb, evidence)

    wrong = make_hook(auth_type=auth_type, password="wrong-client-secret-" + uuid.uuid4().hex)
    ok, message = wrong.test_connection()
    assert not ok
    evidence.texts.append(message)
    evidence.secrets.add(wrong.settings.client_secret)

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = [formatter.format(record) for record in caplog.records]
    assert records, "nothing was logged: the capture is not working"
    assert len(evidence.secrets) >= 5
    sources = records + evidence.texts
    # Say where, never what: the assertion message must not become the leak.
    where = [
        f"{kind} #{index}: {text[:60]!r}..."
        for index, text in enumerate(sources)
        for kind in ("text",)
        if any(secret and secret in text for secret in evidence.secrets)
    ]
    leaked = bool(where)
    assert leaked is False, "a secret appears in: " + "; ".join(scrub_text(item) for item in where)


def test_runtime_secrets_are_registered_with_airflows_masker(completed_execution):
    from airflow.sdk.log import redact

    hook, execution = completed_execution()
    link = execution.report_access_secure_link
    with hook.open_secure_link(link) as response:
        response.close()
    token = hook.token_provider().get_token()
    signature = parse_qs(urlsplit(link).query)["sig"][0]
    assert redact(token) == "***"
    assert signature not in str(redact(f"downloading {link}"))
    assert redact(hook.settings.client_secret) == "***"


def test_a_secure_links_signature_is_masked_and_its_sas_times_are_not(monkeypatch):
    from airflow_provider_insights.hooks import redaction

    handed: list[str] = []
    # Stands in for Airflow's masker, to see exactly which values are handed to it.
    monkeypatch.setattr(redaction, "_load_masker", lambda: (handed.append, None))
    link = (
        "https://example.blob.core.windows.net/r/e.csv?sv=2021-08-06&st=2026-12-01T10%3A00%3A00Z"
        "&se=2026-12-01T11%3A00%3A00Z&sr=b&sp=r&sig=c2lnbmF0dXJlLW9mLXRoaXMtbGluaw&skoid=unknown-kind-of-value"
    )
    redaction.mask_secure_link(link)
    assert handed == [link, "c2lnbmF0dXJlLW9mLXRoaXMtbGluaw", "unknown-kind-of-value"]


async def test_async_path_registers_tokens_with_the_masker(make_hook):
    from airflow.sdk.log import redact

    hook = make_hook()
    conn_id = hook.partner_insights_conn_id
    async_hook = PartnerInsightsHook(conn_id)
    try:
        with pytest.raises(PartnerInsightsNotFoundError):
            await async_hook.alist_executions("00000000-0000-0000-0000-000000000000")
        token = await async_hook.token_provider(await async_hook.aget_settings()).aget_token()
    finally:
        await async_hook.aclose()
    assert redact(token) == "***"


async def test_values_too_short_for_airflows_masker_are_not_handed_to_it(monkeypatch):
    from airflow_provider_insights.hooks import redaction

    handed: list[str] = []

    async def amask_secret(value):
        handed.append(value)

    # Stands in for Airflow's masker, which warns in the task log for values under 5 characters.
    monkeypatch.setattr(redaction, "_load_masker", lambda: (handed.append, amask_secret))
    redaction.mask("mpn")
    await redaction.amask("true")
    redaction.mask("a-real-secret")
    await redaction.amask("another-secret")
    redaction.mask("a-real-secret")  # once per value: Airflow recompiles its pattern on each new one

    assert handed == ["a-real-secret", "another-secret"]


def _certificate_data_conn(conn_env, sb):
    # certificate_data is the one secret whose extra key Airflow's own masker does not treat as
    # sensitive: only the provider's masking hides it, which is what these tests need to see.
    conn = sb.connection(auth_type="certificate")
    with open(conn["extra"]["certificate_path"], encoding="utf-8") as pem:
        return conn_env(auth_type="certificate", certificate_path="", certificate_data=pem.read())


async def test_async_settings_register_the_connection_secrets_with_the_masker(conn_env, sb):
    from airflow.sdk.log import redact

    hook = PartnerInsightsHook(_certificate_data_conn(conn_env, sb))
    try:
        # Only the settings are read: no token is fetched, so nothing else could have masked these.
        settings = await hook.aget_settings()
    finally:
        await hook.aclose()
    assert settings.certificate_data
    assert redact(f"key: {settings.certificate_data}") == "key: ***"


def test_sync_settings_register_the_connection_secrets_with_the_masker(conn_env, sb):
    from airflow.sdk.log import redact

    settings = PartnerInsightsHook(_certificate_data_conn(conn_env, sb)).settings
    assert settings.certificate_data
    assert redact(f"key: {settings.certificate_data}") == "key: ***"


def test_safe_message_hides_connection_secrets_and_credential_looking_text():
    from airflow_provider_insights.hooks.redaction import safe_message

    error = RuntimeError(
        "refused the-client-secret-value at https://h.example/t?code=AUTHCODE1 with Bearer abc.def.ghi"
    )
    text = safe_message(error, ["the-client-secret-value"])
    for secret in ("the-client-secret-value", "AUTHCODE1", "abc.def.ghi"):
        assert secret not in text
    assert text.startswith("RuntimeError: refused ***")
