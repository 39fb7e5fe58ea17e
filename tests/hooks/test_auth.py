"""Entra ID tokens through msal, against the sandbox's token endpoints over HTTPS (msal runs for real).

Nothing is mocked. The renewal tests step a fake *monotonic* clock of the provider (and the
sandbox's own clock through its admin API) instead of waiting for tokens to age.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_insights.connection import ConnectionSettings
from airflow_provider_insights.exceptions import PartnerInsightsAuthError, PartnerInsightsConfigError
from airflow_provider_insights.hooks._auth_http import MsalHttpClient
from airflow_provider_insights.hooks.auth import TokenProvider, get_token_provider
from airflow_provider_insights.sandbox import credentials

pytestmark = pytest.mark.integration


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings_for(sb: Any, auth_type: str = "client_credentials", **overrides: Any) -> ConnectionSettings:
    """Settings of the sandbox's connection for ``auth_type``; ``overrides`` replace the password or extras."""
    connection = sb.connection(program="mpn", auth_type=auth_type)
    password = overrides.pop("password", connection.get("password"))
    extra = {key: value for key, value in {**connection["extra"], **overrides}.items() if value is not None}
    return ConnectionSettings.from_parts(login=connection["login"], password=password, extra=extra)


def api_status(settings: ConnectionSettings, token: str) -> int:
    response = requests.get(
        f"{settings.api_base_url}/ScheduledDataset",
        headers={"Authorization": f"Bearer {token}"},
        verify=settings.verify,
        timeout=30,
    )
    return response.status_code


def token_requests(sb: Any) -> int:
    """How many times the sandbox's token endpoint was called since the last stats reset."""
    return int(sb.admin.stats()["token_requests"])


def assert_no_secret(text: str, settings: ConnectionSettings, *extra_secrets: str) -> None:
    for secret in (*settings.secrets, *extra_secrets):
        assert secret not in text


# --- every grant gets a token the API accepts ------------------------------------------------------


@pytest.mark.parametrize("auth_type", ["client_credentials", "certificate", "password", "refresh_token"])
def test_each_grant_gets_a_token_the_api_accepts(sb: Any, auth_type: str) -> None:
    settings = settings_for(sb, auth_type)
    provider = get_token_provider(settings)

    token = provider.get_token()

    assert api_status(settings, token) == 200
    assert provider.acquisitions == 1
    assert token_requests(sb) == 1


def test_certificate_thumbprint_is_computed_when_the_extra_has_none(sb: Any) -> None:
    settings = settings_for(sb, "certificate", certificate_thumbprint=None)
    assert settings.certificate_thumbprint is None

    token = get_token_provider(settings).get_token()

    assert api_status(settings, token) == 200


def test_certificate_data_works_like_certificate_path(sb: Any) -> None:
    path_settings = settings_for(sb, "certificate")
    with open(str(path_settings.certificate_path), encoding="utf-8") as pem:
        settings = settings_for(sb, "certificate", certificate_path=None, certificate_data=pem.read())

    token = get_token_provider(settings).get_token()

    assert api_status(settings, token) == 200


def test_password_grant_with_the_authority_on_a_non_443_port_uses_that_port_for_user_realm(sb: Any) -> None:
    settings = settings_for(sb, "password")
    assert ":" in settings.authority_host.removeprefix("https://")  # the sandbox listens on a random port

    get_token_provider(settings).get_token()

    # Without the port restored, msal's user-realm discovery would go to 127.0.0.1:443 and fail.
    assert userrealm_requests(sb) == 1


def userrealm_requests(sb: Any) -> int:
    return int(sb.admin.request_count("GET", "/common/userrealm/{user}"))


def test_msal_http_client_restores_only_the_authority_port() -> None:
    client = MsalHttpClient(authority="https://idp.example:8443/tenant")

    assert client.restore_authority_port("https://idp.example/common/userrealm/u@x?api-version=1.0") == (
        "https://idp.example:8443/common/userrealm/u@x?api-version=1.0"
    )
    assert client.restore_authority_port("https://idp.example:9000/x") == "https://idp.example:9000/x"
    assert client.restore_authority_port("https://other.example/x") == "https://other.example/x"


# --- refusals are clear and leak nothing -------------------------------------------------------------


def test_wrong_client_secret_is_refused_clearly(sb: Any, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "definitely-wrong-secret-value"
    settings = settings_for(sb, "client_credentials", password=wrong)
    provider = get_token_provider(settings)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(PartnerInsightsAuthError) as raised:
        provider.get_token()

    message = str(raised.value)
    assert "client credentials" in message
    assert credentials.CLIENT_ID in message
    assert credentials.TENANT_ID in message
    assert raised.value.error_code == "invalid_client"
    assert_no_secret(message + caplog.text + repr(provider), settings, wrong)
    assert provider.acquisitions == 0


def test_wrong_user_password_is_refused_clearly(sb: Any, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "definitely-wrong-password"
    settings = settings_for(sb, "password", user_password=wrong)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(PartnerInsightsAuthError) as raised:
        get_token_provider(settings).get_token()

    message = str(raised.value)
    assert credentials.USERNAME in message
    assert raised.value.error_code == "invalid_grant"
    assert_no_secret(message + caplog.text, settings, wrong, credentials.CLIENT_SECRET)


def test_bad_refresh_token_is_refused_clearly(sb: Any, caplog: pytest.LogCaptureFixture) -> None:
    bad = "not-a-refresh-token-the-sandbox-issued"
    settings = settings_for(sb, "refresh_token", refresh_token=bad)
    caplog.set_level(logging.DEBUG)

    with pytest.raises(PartnerInsightsAuthError) as raised:
        get_token_provider(settings).get_token()

    message = str(raised.value)
    assert "refresh token" in message
    assert "partner-insights-bootstrap" in message
    assert raised.value.error_code == "invalid_grant"
    assert_no_secret(message + caplog.text, settings, bad)


def test_missing_certificate_file_names_certificate_path(sb: Any, tmp_path: Any) -> None:
    settings = settings_for(sb, "certificate", certificate_path=str(tmp_path / "absent.pem"))

    with pytest.raises(PartnerInsightsConfigError, match="certificate_path"):
        get_token_provider(settings).get_token()


def test_repr_holds_no_secret(sb: Any) -> None:
    settings = settings_for(sb, "refresh_token")
    provider = get_token_provider(settings)
    provider.get_token()

    assert_no_secret(repr(provider) + repr(settings), settings)


def test_acquired_tokens_and_rotated_refresh_tokens_are_masked_in_airflow_logs(sb: Any) -> None:
    # The connection's own secrets are masked where the hook reads them (tests/hooks/test_secrets.py);
    # the provider masks what Entra ID hands out.
    from airflow.sdk._shared.secrets_masker import redact

    settings = settings_for(sb, "refresh_token")
    provider = get_token_provider(settings)
    token = provider.get_token()

    assert provider._refresh_token != credentials.REFRESH_TOKEN  # the sandbox rotates it
    for secret in (token, str(provider._refresh_token)):
        assert redact(f"before {secret} after") == "before *** after"


async def test_tokens_acquired_in_an_event_loop_are_masked_too(sb: Any) -> None:
    from airflow.sdk._shared.secrets_masker import redact

    token = await get_token_provider(settings_for(sb)).aget_token()

    assert redact(f"before {token} after") == "before *** after"


def test_entra_id_server_error_is_an_auth_error_without_secrets(sb: Any) -> None:
    sb.admin.set_faults([{"kind": "status", "status": 503, "path": "oauth2/v2.0/token", "count": 1}])
    settings = settings_for(sb)

    with pytest.raises(PartnerInsightsAuthError) as raised:
        get_token_provider(settings).get_token()

    assert "503" in str(raised.value)
    assert raised.value.error_code == "server_error"
    assert_no_secret(str(raised.value), settings)


# --- one cache per identity per process, renewal, invalidation ---------------------------------------


def test_two_providers_for_the_same_identity_share_one_token(sb: Any) -> None:
    first = get_token_provider(settings_for(sb))
    second = get_token_provider(settings_for(sb))  # equal settings, built separately, as two hooks would

    assert first is second
    assert first.get_token() == second.get_token()
    assert token_requests(sb) == 1


def test_different_identities_do_not_share_a_token(sb: Any) -> None:
    app = get_token_provider(settings_for(sb, "client_credentials"))
    user = get_token_provider(settings_for(sb, "password"))

    assert app is not user
    assert app.get_token() != user.get_token()


def test_token_is_renewed_before_it_expires(sb: Any) -> None:
    sb.admin.configure(token_lifetime_s=600)
    settings = settings_for(sb)
    clock = FakeClock()
    provider = TokenProvider(settings=settings, clock=clock)
    first = provider.get_token()

    clock.now += 299  # 301 s left: more than the 300 s margin
    assert provider.get_token() == first
    assert provider.acquisitions == 1

    sb.admin.advance_clock(601)  # the sandbox now considers the first token expired
    assert api_status(settings, first) == 401
    clock.now += 2  # 299 s left: inside the margin
    second = provider.get_token()

    assert second != first
    assert provider.acquisitions == 2
    assert api_status(settings, second) == 200


def test_short_lived_tokens_are_renewed_at_half_their_lifetime(sb: Any) -> None:
    sb.admin.configure(token_lifetime_s=60)
    clock = FakeClock()
    provider = TokenProvider(settings=settings_for(sb), clock=clock)
    first = provider.get_token()

    clock.now += 29
    assert provider.get_token() == first
    clock.now += 2
    assert provider.get_token() != first
    assert provider.acquisitions == 2


def test_refresh_token_rotated_by_entra_id_is_used_for_the_next_renewal(sb: Any) -> None:
    settings = settings_for(sb, "refresh_token")
    clock = FakeClock()
    provider = TokenProvider(settings=settings, clock=clock)
    first = provider.get_token()
    # The sandbox does not revoke redeemed refresh tokens, so the rotation is read from the provider itself.
    rotated = provider._refresh_token
    assert rotated and rotated != credentials.REFRESH_TOKEN

    clock.now += 3600
    second = provider.get_token()

    assert second != first
    assert api_status(settings, second) == 200
    assert provider._refresh_token not in (rotated, credentials.REFRESH_TOKEN)


def test_invalidate_drops_only_the_given_token(sb: Any) -> None:
    settings = settings_for(sb)
    provider = get_token_provider(settings)
    first = provider.get_token()

    provider.invalidate("some-other-token")
    assert provider.get_token() == first

    provider.invalidate(first)
    second = provider.get_token()

    assert second != first
    assert provider.acquisitions == 2
    assert token_requests(sb) == 2
    assert api_status(settings, second) == 200


def test_concurrent_threads_cause_one_acquisition(sb: Any) -> None:
    provider = get_token_provider(settings_for(sb))
    start = threading.Barrier(20)
    tokens: list[str] = []

    def fetch() -> None:
        start.wait()
        tokens.append(provider.get_token())

    threads = [threading.Thread(target=fetch) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(set(tokens)) == 1 and len(tokens) == 20
    assert token_requests(sb) == 1


# --- async ---------------------------------------------------------------------------------------------


async def test_aget_token_returns_a_token_the_api_accepts(sb: Any) -> None:
    settings = settings_for(sb)
    token = await get_token_provider(settings).aget_token()

    assert await asyncio.to_thread(api_status, settings, token) == 200


async def test_thousand_concurrent_aget_token_make_one_request_without_blocking_the_loop(sb: Any) -> None:
    # The token endpoint answers after a delay: a blocked loop would show a heartbeat gap that long.
    delay_s = 1.0
    sb.admin.set_faults([{"kind": "delay", "seconds": delay_s, "path": "oauth2/v2.0/token", "count": 1}])
    provider = get_token_provider(settings_for(sb))
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = loop.time()
            gaps.append(now - last)
            last = now

    beating = asyncio.create_task(heartbeat())
    with count_thread_hops() as hops:
        tokens = await asyncio.gather(*(provider.aget_token() for _ in range(1000)))
    done.set()
    await beating

    assert len(set(tokens)) == 1
    assert provider.acquisitions == 1
    assert token_requests(sb) == 1
    assert hops == [1]  # the 999 others waited on the loop, not in threads
    assert len(gaps) >= 5  # the heartbeat kept running while msal waited in its thread
    assert max(gaps) < delay_s * 0.75  # generous: a loop blocked for the request would show the full delay


@contextlib.contextmanager
def count_thread_hops() -> Iterator[list[int]]:
    """Count calls of ``asyncio.to_thread`` (a spy: the calls still run)."""
    counter = [0]
    real_to_thread = asyncio.to_thread

    async def counting_to_thread(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return await real_to_thread(func, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(asyncio, "to_thread", counting_to_thread)
        yield counter


async def test_cached_token_is_returned_without_a_thread_hop(sb: Any) -> None:
    provider = get_token_provider(settings_for(sb))
    first = await provider.aget_token()

    with count_thread_hops() as hops:
        assert await provider.aget_token() == first

    assert hops == [0]


def test_aget_token_works_from_several_event_loops(sb: Any) -> None:
    provider = get_token_provider(settings_for(sb))

    first = asyncio.run(provider.aget_token())
    provider.invalidate(first)
    second = asyncio.run(provider.aget_token())  # a new loop: a lock bound to the old one would fail here

    assert first != second
    assert provider.acquisitions == 2


def test_msal_session_ignores_the_environment_and_sends_verify_and_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # trust_env=False: no .netrc credentials on token requests; verify/proxies come from the connection.
    from airflow_provider_insights.hooks._auth_http import MsalHttpClient

    sent: dict[str, Any] = {}
    client = MsalHttpClient(
        authority="https://login.test:8443/t", verify="/ca.pem", proxies={"https": "http://proxy.test:3128"}, timeout=7
    )
    session = client._get_session()
    monkeypatch.setattr(session, "request", lambda method, url, **kwargs: sent.update(url=url, **kwargs))

    client.post("https://login.test/common/userrealm/u", data={"a": "b"})

    assert session.trust_env is False
    assert sent["url"] == "https://login.test:8443/common/userrealm/u"
    assert (sent["verify"], sent["proxies"], sent["timeout"]) == ("/ca.pem", {"https": "http://proxy.test:3128"}, 7)
