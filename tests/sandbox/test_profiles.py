"""Profiles and switches: chosen by the CLI, the environment or the admin API, refused when unknown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_insights.sandbox import SandboxProcess
from airflow_provider_insights.sandbox.behaviours import PROFILE_ENV, SWITCHES, profile_values

from ._client import Api, app_token

pytestmark = pytest.mark.integration


def test_the_default_profile_is_documented(sb: SandboxProcess) -> None:
    state = sb.admin.profile()
    assert state == {"profile": "documented", "switches": profile_values("documented"), "overrides": {}}


def test_admin_api_switches_profile_then_single_switches(sb: SandboxProcess, set_profile: Callable[..., Any]) -> None:
    field = set_profile("field")
    assert field["profile"] == "field" and field["switches"] == profile_values("field")
    one = set_profile(blob_name="execution_id")  # on top of the current profile
    assert one["profile"] == "field" and one["overrides"] == {"blob_name": "execution_id"}
    assert sb.admin.profile()["switches"]["execution_status_list"] == "reject"
    back = set_profile("documented", data_redacted=True)  # a profile resets every switch first
    assert back["overrides"] == {"data_redacted": True} and back["switches"]["blob_name"] == "execution_id"
    assert sb.admin.reset_profile() == {
        "profile": "documented",
        "switches": profile_values("documented"),
        "overrides": {},
    }


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"profile": "production"}, "unknown profile 'production'"),
        ({"switches": {"blob_names": "report_name"}}, "unknown switch 'blob_names'"),
        ({"switches": {"query_end_time": "inclusively"}}, "switch 'query_end_time' accepts"),
        ({"switches": {"data_redacted": "yes"}}, "switch 'data_redacted' accepts False, True"),
        ({"profiel": "field"}, "expected {"),
    ],
)
def test_unknown_profile_switch_or_value_is_refused_and_changes_nothing(
    sb: SandboxProcess, payload: dict[str, Any], message: str
) -> None:
    response = sb.admin._session.post(f"{sb.url}/_sandbox/profile", json=payload, verify=sb.ca_path)
    assert response.status_code == 400 and message in response.json()["error"]
    assert sb.admin.profile()["profile"] == "documented" and sb.admin.profile()["overrides"] == {}


def test_every_switch_differs_between_profiles_or_is_documented_as_opt_in() -> None:
    differing = {name for name, switch in SWITCHES.items() if switch.documented != switch.field}
    assert set(SWITCHES) - differing == {"data_redacted"}  # off in both; tests switch it on


def test_cli_profile_and_switches_set_the_start_profile(tmp_path) -> None:
    with SandboxProcess(
        state_dir=tmp_path, profile="field", switches={"blob_name": "execution_id"}, config={"running_s": 0}
    ) as sb:
        started = sb.admin.profile()
        assert started["profile"] == "field" and started["overrides"] == {"blob_name": "execution_id"}
        assert "Profile: field" in sb.log_path.read_text()
        sb.admin.set_profile("documented")
        assert sb.admin.reset_profile() == started  # reset goes back to the start, not to documented
        assert Api(sb, "mpn", token=app_token(sb)).call("GET", "ScheduledDataset").status_code == 403


def test_environment_variable_sets_the_start_profile(tmp_path) -> None:
    with SandboxProcess(state_dir=tmp_path, env={PROFILE_ENV: "field"}) as sb:
        assert sb.admin.profile()["profile"] == "field"
