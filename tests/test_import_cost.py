"""Parsing a DAG must stay cheap: no pandas, pyarrow, msal or aiohttp when a module is imported.

Each module is imported in its own fresh interpreter (a module already imported by an earlier one
would hide the cost), all interpreters started at once so the suite stays quick.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

HEAVY = ("pandas", "pyarrow", "msal", "aiohttp")
PROVIDER_MODULES = (
    "airflow_provider_insights.operators.queries",
    "airflow_provider_insights.operators.reports",
    "airflow_provider_insights.sensors.report_execution",
    "airflow_provider_insights.triggers.report_execution",
    "airflow_provider_insights.transfers.report_to_storage",
)
EXAMPLE_DAG_FILES = tuple(sorted(p.name for p in (REPO_ROOT / "dags_examples").glob("partner_insights_*.py")))

# Imports the target (a module name, or a DAG file path loaded the way the DAG processor loads it:
# as a file, not as part of a package), then prints which top-level modules got imported.
_PROBE = """
import importlib, importlib.util, json, sys
target = sys.argv[1]
if target.endswith(".py"):
    spec = importlib.util.spec_from_file_location("probe_dag_file", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
else:
    importlib.import_module(target)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _targets() -> dict[str, str]:
    targets = {module: module for module in PROVIDER_MODULES}
    targets.update({name: str(REPO_ROOT / "dags_examples" / name) for name in EXAMPLE_DAG_FILES})
    return targets


@pytest.fixture(scope="module")
def imported_modules() -> dict[str, set[str] | str]:
    """Top-level modules loaded by importing each target alone (or the error text if it failed)."""
    processes = {
        label: subprocess.Popen(
            [sys.executable, "-c", _PROBE, target],
            cwd=REPO_ROOT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label, target in _targets().items()
    }
    results: dict[str, set[str] | str] = {}
    for label, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        if process.returncode != 0:
            results[label] = stderr.strip()[-2000:]
        else:
            results[label] = set(json.loads(stdout.strip().splitlines()[-1]))
    return results


def test_example_dag_files_are_found():
    assert set(EXAMPLE_DAG_FILES) == {
        "partner_insights_daily_extract.py",
        "partner_insights_downstream_transform.py",
        "partner_insights_event_driven.py",
        "partner_insights_recurring_report.py",
    }


@pytest.mark.parametrize("label", [*PROVIDER_MODULES, *EXAMPLE_DAG_FILES])
def test_import_loads_no_heavy_dependency(label: str, imported_modules: dict[str, set[str] | str]):
    loaded = imported_modules[label]
    assert not isinstance(loaded, str), f"importing {label} failed:\n{loaded}"
    assert "airflow" in loaded, "the probe did not import anything real"
    heavy = sorted(set(HEAVY) & loaded)
    assert not heavy, f"importing {label} loads {', '.join(heavy)}: import them inside the function that needs them"


def test_probe_detects_a_heavy_import(tmp_path: Path):
    """The probe itself works: a module that imports pandas is reported as such."""
    module = tmp_path / "heavy_dag.py"
    module.write_text("import pandas\nimport airflow.sdk\n")
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(module)], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert "pandas" in json.loads(result.stdout.strip().splitlines()[-1])
