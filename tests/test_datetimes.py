"""The one datetime parser: what it reads, what it refuses, and that it works on Python 3.10."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_insights.datetimes import format_api_datetime, parse_datetime, parse_service_datetime
from airflow_provider_insights.exceptions import PartnerInsightsValidationError

UTC = timezone.utc
REPO = Path(__file__).resolve().parents[1]

READABLE = {
    "2026-11-01T00:00:00Z": datetime(2026, 11, 1, tzinfo=UTC),
    "2026-11-01T00:00:00z": datetime(2026, 11, 1, tzinfo=UTC),
    "2026-11-01T02:00:00+02:00": datetime(2026, 11, 1, tzinfo=UTC),
    "2026-11-01 00:00:00": datetime(2026, 11, 1, tzinfo=UTC),
    "2026-11-01T00:00:00.1234567Z": datetime(2026, 11, 1, 0, 0, 0, 123456, tzinfo=UTC),
    "2026-11-01T00:00:00.5Z": datetime(2026, 11, 1, 0, 0, 0, 500000, tzinfo=UTC),
    "2026-11-01": datetime(2026, 11, 1, tzinfo=UTC),
    " 2026-11-01T00:00:00Z ": datetime(2026, 11, 1, tzinfo=UTC),
}


@pytest.mark.parametrize(("text", "expected"), READABLE.items())
def test_parse_datetime_reads_the_service_airflow_and_user_spellings(text, expected):
    assert parse_datetime("when", text) == expected


def test_parse_datetime_takes_naive_as_utc_and_converts_aware():
    assert parse_datetime("when", datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)
    aware = datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    assert parse_datetime("when", aware) == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_datetime("when", date(2026, 1, 2)) == datetime(2026, 1, 2, tzinfo=UTC)


def test_parse_datetime_keeps_none():
    assert parse_datetime("when", None) is None


@pytest.mark.parametrize("value", ["", "   "])
def test_parse_datetime_refuses_an_empty_rendering(value):
    with pytest.raises(PartnerInsightsValidationError, match="empty") as info:
        parse_datetime("query_start_time", value)
    assert info.value.field == "query_start_time"


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", 12.5])
def test_parse_datetime_names_the_field_for_garbage(value):
    with pytest.raises(PartnerInsightsValidationError) as info:
        parse_datetime("generated_after", value)
    assert info.value.field == "generated_after"


def test_parse_service_datetime_is_lenient():
    assert parse_service_datetime(None) is None
    assert parse_service_datetime("") is None
    assert parse_service_datetime("not a time") is None
    assert parse_service_datetime("2026-11-01T05:06:07Z") == datetime(2026, 11, 1, 5, 6, 7, tzinfo=UTC)


def test_format_api_datetime_writes_whole_seconds_utc_z():
    assert format_api_datetime("2026-11-01T02:00:00.999+02:00") == "2026-11-01T00:00:00Z"
    assert format_api_datetime(date(2026, 11, 1)) == "2026-11-01T00:00:00Z"
    with pytest.raises(PartnerInsightsValidationError):
        format_api_datetime("", field="start_time")


def _python310() -> str | None:
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    if shutil.which("pyenv"):
        pyenv_root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False).stdout.strip()
    candidates = sorted(Path(pyenv_root, "versions").glob("3.10.*/bin/python3.10"))
    return str(candidates[-1]) if candidates else shutil.which("python3.10")


def test_parse_datetime_on_python_3_10():
    """Python 3.10's fromisoformat rejects ``Z`` and 7-digit fractions: the parser must not care."""
    if sys.version_info[:2] == (3, 10):
        interpreter = sys.executable
    else:
        interpreter = _python310()
    if interpreter is None:
        pytest.skip("no Python 3.10 on this machine")
    script = (
        "import json, sys\n"
        "from airflow_provider_insights.datetimes import parse_datetime\n"
        "print(sys.version_info[:2])\n"
        "print(json.dumps([parse_datetime('t', text).isoformat() for text in json.loads(sys.argv[1])]))\n"
    )
    texts = list(READABLE)
    # Only the package's own light modules are imported: no Airflow is needed on that interpreter.
    done = subprocess.run(
        [interpreter, "-c", script, json.dumps(texts)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "")},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    version, parsed = done.stdout.splitlines()
    assert version == "(3, 10)"
    assert json.loads(parsed) == [READABLE[text].isoformat() for text in texts]
