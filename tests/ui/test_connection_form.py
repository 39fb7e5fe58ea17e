"""The ``partner_insights`` connection form in Airflow's UI, driven in a real browser.

A real ``airflow api-server`` (SQLite, the simple auth manager, ``[core] test_connection = Enabled``)
serves the UI on loopback; headless Chromium (Debian's ``chromium``, which ``make setup`` installs) is
driven with Playwright. The connection is added through the form, saved, and tested against the
sandbox: once with the right client secret, once with a wrong one.

Screenshots of the form go to a temporary folder; with ``INSIGHTS_UI_SCREENSHOTS=docs/content/img``
they replace the ones the connection page shows.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow import __version__ as airflow_version
from packaging.version import Version

from airflow_provider_insights import EMPTY_CHOICE_LABEL, UI_FIELD_BEHAVIOUR
from airflow_provider_insights.connection import EXTRA_FIELDS
from airflow_provider_insights.sandbox import SandboxProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
API_SERVER = Path(__file__).with_name("api_server.py")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Chromium cannot be installed here: Debian's `chromium` package is missing (make setup installs it)",
    ),
]
CONN_ID = "insights_ui"
ADMIN = "admin"
START_TIMEOUT_S = 90
# Airflow's own fields: the provider hides these, relabels login and password, and keeps description.
STANDARD_FIELDS = ("description", "host", "schema", "login", "password", "port")
#: Airflow 3.2's UI renders a ``PasswordField`` extra as a plain text input (3.3 masks it): the
#: provider declares it the same way on both.
UI_MASKS_SECRET_EXTRAS = Version(airflow_version).release[:2] >= (3, 3)

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (the `ui` extra)")


@dataclass(frozen=True)
class AirflowUI:
    """A running api-server: its base URL and the admin's password."""

    url: str
    password: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _airflow_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    (home / "dags").mkdir(exist_ok=True)
    return {
        **env,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__API__WORKERS": "1",
    }


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"airflow api-server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)  # a server process gives no event to await; its health endpoint is the signal
    pytest.fail(f"airflow api-server did not answer within {START_TIMEOUT_S}s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def airflow_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowUI]:
    """``airflow api-server`` on a loopback port, with a throwaway home, a migrated SQLite database and one
    admin whose password is written to the simple auth manager's passwords file beforehand."""
    home = tmp_path_factory.mktemp("airflow-ui-home")
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({ADMIN: password}))
    env = _airflow_env(home)
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
    port = _free_port()
    log = home / "api-server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(API_SERVER), "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log)
        yield AirflowUI(url=url, password=password)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)


@pytest.fixture(scope="module")
def page(airflow_ui: AirflowUI) -> Iterator[Any]:
    """A headless Chromium page, signed in as the admin."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        tab = browser.new_page(viewport={"width": 1000, "height": 720})
        tab.set_default_timeout(20_000)
        tab.goto(f"{airflow_ui.url}/")
        tab.get_by_label("Username").fill(ADMIN)
        tab.get_by_label("Password").fill(airflow_ui.password)
        tab.get_by_role("button", name="Sign in").click()
        tab.wait_for_url(f"{airflow_ui.url}/")
        yield tab
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: ``$INSIGHTS_UI_SCREENSHOTS`` (e.g. ``docs/content/img``), else a temporary folder."""
    target = os.environ.get("INSIGHTS_UI_SCREENSHOTS")
    return (REPO_ROOT / target) if target else tmp_path_factory.mktemp("ui-screenshots")


def _screenshot(page: Any, path: Path, *, scroll_to: Any = None) -> None:
    if scroll_to is not None:
        scroll_to.scroll_into_view_if_needed()
    page.screenshot(path=str(path), animations="disabled")


def _field(dialog: Any, name: str) -> Any:
    """The form row (label, input, help text) of the extra field ``name``."""
    return dialog.locator("[data-part=root][role=group]").filter(has=dialog.page.locator(f"[name=element_{name}]"))


def _choose(dialog: Any, name: str, value: str) -> None:
    dialog.locator(f"#element_{name} input[role=combobox]").fill(value)
    dialog.page.get_by_role("option", name=value, exact=True).click()


def _open_section(dialog: Any, title: str) -> None:
    """Unfold one section of the form (Standard Fields, Extra Fields): the form shows one at a time."""
    section = dialog.get_by_role("button", name=title, exact=True)
    if section.get_attribute("aria-expanded") != "true":
        section.click()
    sync_api.expect(section).to_have_attribute("aria-expanded", "true")


def _open_add_form(page: Any, url: str) -> Any:
    page.goto(f"{url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox").fill("Partner Center")
    page.get_by_role("option", name="Microsoft Partner Center Insights").click()
    return dialog


def _toast(page: Any, title: str) -> Any:
    toast = page.locator("[data-scope=toast][data-part=root]").filter(has_text=title).last
    sync_api.expect(toast).to_be_visible()
    return toast


def _press_test(page: Any, url: str) -> None:
    page.goto(f"{url}/connections")
    row = page.get_by_role("row").filter(has_text=CONN_ID)
    with page.expect_response("**/api/v2/connections/test") as answer:
        row.get_by_role("button", name="Test Connection").click()
    assert answer.value.status == 200, answer.value.text()


def test_the_form_shows_the_fields_the_provider_declares(page: Any, airflow_ui: AirflowUI, shots: Path) -> None:
    dialog = _open_add_form(page, airflow_ui.url)
    _open_section(dialog, "Extra Fields")
    hidden = set(UI_FIELD_BEHAVIOUR["hidden-fields"])
    for name in STANDARD_FIELDS:
        sync_api.expect(dialog.locator(f"[name={name}]")).to_have_count(0 if name in hidden else 1)
    for name, label in UI_FIELD_BEHAVIOUR["relabeling"].items():
        sync_api.expect(dialog.get_by_label(label, exact=True)).to_have_attribute("name", name)
    sync_api.expect(dialog.locator("[name=password]")).to_have_attribute("type", "password")
    sync_api.expect(dialog.locator("[name=login]")).to_have_js_property("type", "text")
    for extra in EXTRA_FIELDS:
        row = _field(dialog, extra.name)
        sync_api.expect(row.locator("label")).to_have_text(extra.label)
        sync_api.expect(row).to_contain_text(extra.description)
        if extra.choices:
            sync_api.expect(row).to_contain_text(EMPTY_CHOICE_LABEL)
        elif extra.kind == "string":
            kind = "password" if extra.secret and UI_MASKS_SECRET_EXTRAS else "text"
            sync_api.expect(row.locator(f"[name=element_{extra.name}]")).to_have_js_property("type", kind)
        else:
            sync_api.expect(row.get_by_role("spinbutton")).to_be_visible()
    _screenshot(page, shots / "connection-form.png", scroll_to=dialog.get_by_role("heading"))


def _fill_for_sandbox(dialog: Any, sandbox: SandboxProcess) -> dict[str, Any]:
    conn = sandbox.connection(program="cmp", auth_type="client_credentials")
    dialog.get_by_label("Connection ID").fill(CONN_ID)
    _open_section(dialog, "Standard Fields")
    dialog.get_by_label("Client ID", exact=True).fill(conn["login"])
    dialog.get_by_label("Client secret", exact=True).fill(conn["password"])
    _open_section(dialog, "Extra Fields")
    for name in ("tenant_id", "api_base_url", "authority_host", "verify", "allowed_download_hosts"):
        dialog.locator(f"#element_{name}").fill(str(conn["extra"][name]))
    _choose(dialog, "auth_type", "client_credentials")
    _choose(dialog, "program", "cmp")
    return conn


def test_saved_connection_tests_successfully_against_the_sandbox(
    page: Any, airflow_ui: AirflowUI, sb: SandboxProcess, shots: Path
) -> None:
    dialog = _open_add_form(page, airflow_ui.url)
    conn = _fill_for_sandbox(dialog, sb)
    # Filled secrets stay masked: the browser shows dots, not the client secret.
    sync_api.expect(dialog.locator("[name=password]")).to_have_attribute("type", "password")
    sync_api.expect(dialog.locator("[name=password]")).to_have_value(conn["password"])
    _screenshot(page, shots / "connection-form-filled.png", scroll_to=dialog.locator("#element_allowed_download_hosts"))
    _open_section(dialog, "Standard Fields")
    _screenshot(page, shots / "connection-form-secret.png", scroll_to=dialog.get_by_role("heading"))
    dialog.get_by_role("button", name="Save").click()
    _toast(page, "Connection has been successfully created")

    _press_test(page, airflow_ui.url)
    toast = _toast(page, "Test Connection Successful")
    sync_api.expect(toast).to_contain_text("Connected to Partner Center Insights (cmp)")
    sync_api.expect(toast).to_contain_text("datasets in the catalog")
    _screenshot(page, shots / "connection-test-success.png")


def _expected_failure(conn: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """What the provider's ``test_connection`` answers for ``conn``, without its correlation id."""
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

    monkeypatch.setenv("AIRFLOW_CONN_INSIGHTS_UI_EXPECTED", json.dumps(conn))
    ok, message = PartnerInsightsHook("insights_ui_expected").test_connection()
    assert not ok
    return message.split(", correlation_id=")[0]


def test_a_wrong_secret_fails_with_the_providers_message(
    page: Any, airflow_ui: AirflowUI, sb: SandboxProcess, shots: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Edits the connection the previous test saved (the tests of this module run in order, on one page).
    conn = sb.connection(program="cmp", auth_type="client_credentials")
    wrong_secret = "wrong-secret-" + secrets.token_hex(4)
    page.goto(f"{airflow_ui.url}/connections")
    page.get_by_role("row").filter(has_text=CONN_ID).get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    secret = dialog.get_by_label("Client secret", exact=True)
    sync_api.expect(secret).to_have_attribute("type", "password")
    # The saved secret never comes back to the browser: the form holds Airflow's mask in its place.
    sync_api.expect(secret).not_to_have_value(conn["password"])
    secret.fill(wrong_secret)
    dialog.get_by_role("button", name="Save").click()
    _toast(page, "Connection has been successfully updated")

    _press_test(page, airflow_ui.url)
    toast = _toast(page, "Test Connection Failed")
    expected = _expected_failure({**conn, "password": wrong_secret}, monkeypatch)
    assert "invalid_client" in expected
    sync_api.expect(toast).to_contain_text(expected)
    assert wrong_secret not in toast.inner_text()
    _screenshot(page, shots / "connection-test-failure.png")
