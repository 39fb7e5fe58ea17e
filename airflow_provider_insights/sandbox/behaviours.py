"""Readings of the API: switches for each place where Microsoft's docs and field reports disagree.

A *profile* is a named set of switch values: ``documented`` plays Microsoft's pages, ``field``
plays what users report the real service does. Each switch can also be set on its own, so a test
can play one quirk at a time. The server starts in the profile given by ``--profile`` (or
``$INSIGHTS_SANDBOX_PROFILE``; default ``documented``); the admin API switches it at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROFILE_ENV = "INSIGHTS_SANDBOX_PROFILE"
PROFILES = ("documented", "field")
DEFAULT_PROFILE = "documented"


@dataclass(frozen=True)
class Switch:
    """One behaviour with its allowed values and its value in each profile.

    :param name: the switch's name.
    :param values: the values it accepts.
    :param documented: its value in the ``documented`` profile.
    :param field: its value in the ``field`` profile.
    :param summary: what it changes, one line.
    """

    name: str
    values: tuple[Any, ...]
    documented: Any
    field: Any
    summary: str


SWITCHES: dict[str, Switch] = {
    switch.name: switch
    for switch in (
        Switch(
            "execution_status_list",
            ("accept", "reject"),
            "accept",
            "reject",
            "executionStatus with several ';'-separated values",
        ),
        Switch("report_id_list", ("accept", "reject"), "accept", "reject", "several ';'-separated report ids"),
        Switch("execution_id_list", ("accept", "reject"), "accept", "reject", "several ';'-separated executionIds"),
        Switch(
            "failed_run",
            ("listed", "inactive_report"),
            "listed",
            "inactive_report",
            "a failed run lists a Failed execution, or vanishes (a one-off report turns Inactive)",
        ),
        Switch(
            "one_off_after_run",
            ("active", "inactive"),
            "active",
            "inactive",
            "a one-off report stays Active after its run, or turns Inactive with interval -1, count 1",
        ),
        Switch(
            "mpn_app_only_token",
            ("accept", "refuse"),
            "accept",
            "refuse",
            "Partner Insights (mpn) with an app-only (client_credentials) token",
        ),
        Switch("cmp_callback_method", ("accept", "reject"), "accept", "reject", "CallbackMethod sent to cmp"),
        Switch(
            "cmp_test_query_window",
            ("accept", "reject"),
            "accept",
            "reject",
            "startTime/endTime on cmp's testQueryResult",
        ),
        Switch("data_redacted", (False, True), False, False, "dataRedacted in mpn envelopes"),
        Switch(
            "blob_name",
            ("execution_id", "report_name"),
            "execution_id",
            "report_name",
            "secure-link blob name: <executionId>.csv, or <report name>_<executionId>.csv",
        ),
        Switch(
            "query_end_time",
            ("exclusive", "inclusive"),
            "exclusive",
            "inclusive",
            "whether a row dated exactly at QueryEndTime is in the report",
        ),
        Switch(
            "execution_order",
            ("oldest_first", "newest_first", "scrambled"),
            "oldest_first",
            "scrambled",
            "order of the executions list",
        ),
    )
}


def profile_values(profile: str) -> dict[str, Any]:
    """Every switch's value in ``profile``.

    :param profile: ``documented`` or ``field``.
    :raises ValueError: for an unknown profile.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    return {name: getattr(switch, profile) for name, switch in SWITCHES.items()}


def check_switches(switches: dict[str, Any]) -> dict[str, Any]:
    """Refuse unknown switch names and values not allowed.

    :param switches: name -> value.
    :raises ValueError: naming the switch and what it allows.
    """
    for name, value in switches.items():
        switch = SWITCHES.get(name)
        if switch is None:
            raise ValueError(f"unknown switch {name!r}; known: {', '.join(SWITCHES)}")
        if value not in switch.values or isinstance(value, bool) != isinstance(switch.values[0], bool):
            allowed = ", ".join(repr(v) for v in switch.values)
            raise ValueError(f"switch {name!r} accepts {allowed}, not {value!r}")
    return dict(switches)


class Behaviours:
    """The profile in force and its switch values (with any one-by-one overrides).

    :param profile: the profile to start in.
    :param switches: overrides on top of it.
    """

    def __init__(self, profile: str = DEFAULT_PROFILE, switches: dict[str, Any] | None = None) -> None:
        self.profile = profile
        self.values = profile_values(profile)
        self.values.update(check_switches(switches or {}))
        self._start = (profile, dict(self.values))

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def use(self, profile: str | None = None, switches: dict[str, Any] | None = None) -> None:
        """Switch to ``profile`` (every switch takes its value), then apply ``switches``.

        :param profile: ``documented`` or ``field``; ``None`` keeps the current values.
        :param switches: overrides, name -> value.
        :raises ValueError: for an unknown profile, switch or value (nothing changes then).
        """
        values = profile_values(profile) if profile is not None else dict(self.values)
        values.update(check_switches(switches or {}))
        self.profile = profile or self.profile
        self.values = values

    def reset(self) -> None:
        """Back to the profile and switches the server started with."""
        self.profile, values = self._start
        self.values = dict(values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: profile, switches, and the switches that differ from the profile."""
        base = profile_values(self.profile)
        return {
            "profile": self.profile,
            "switches": dict(self.values),
            "overrides": {name: value for name, value in self.values.items() if base[name] != value},
        }
