"""Test session setup: a throwaway Airflow home, set before anything imports Airflow."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

_airflow_home = Path(tempfile.mkdtemp(prefix="insights-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_airflow_home)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT)
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_airflow_home / 'airflow.db'}"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

pytest_plugins = [
    "tests.fixtures.sandbox",
    "tests.fixtures.storage",
    "tests.fixtures.gcs",
    "tests.fixtures.airflow_env",
    "tests.fixtures.reference_api",
]


@pytest.fixture(autouse=True)
def fresh_process_state() -> Iterator[None]:
    """Every test starts and ends with none of the provider's per-process state (tokens, connection
    settings, value-list refusals, masked secrets), and with Airflow's masker emptied.

    Emptying the masker also keeps tests fast: Airflow recompiles one regex of every masked value on
    each new one, and hundreds of tests mask tokens and links.
    """
    from airflow_provider_insights.hooks import reset_process_state

    reset_process_state()
    yield
    from airflow.sdk._shared.secrets_masker import _secrets_masker

    _secrets_masker().reset_masker()
    reset_process_state()
