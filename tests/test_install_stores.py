"""Each storage extra installs working versions, and each store is written and read through Airflow.

An unconstrained resolver once settled on s3fs 0.4.2 (from 2020) for a bare ``s3fs``: it imported,
then failed at the first write. The extras now carry lower bounds; these tests check the installed
set meets them and that each store's filesystem (local, S3 on moto's server, Azure on Azurite)
really works through an Airflow connection, whatever versions the installer chose.
"""

from __future__ import annotations

import importlib.metadata
import uuid

import pytest
from packaging.requirements import Requirement

DISTRIBUTION = "airflow-provider-insights"
STORAGE_EXTRAS = ("s3", "azure", "parquet")


def _requirements_of(extra: str) -> list[Requirement]:
    requirements = [Requirement(line) for line in importlib.metadata.requires(DISTRIBUTION) or []]
    return [req for req in requirements if req.marker is not None and req.marker.evaluate({"extra": extra})]


@pytest.mark.parametrize("extra", STORAGE_EXTRAS)
def test_each_storage_extra_is_installed_within_its_declared_bounds(extra: str) -> None:
    requirements = _requirements_of(extra)
    assert requirements, f"extra {extra!r} declares nothing"
    for req in requirements:
        assert req.specifier, f"{req.name} in extra {extra!r} has no lower bound"
        installed = importlib.metadata.version(req.name)
        assert req.specifier.contains(installed, prereleases=True), f"{req.name} {installed} is not {req.specifier}"


def test_the_floor_keeps_the_ancient_s3fs_out() -> None:
    (s3fs,) = [req for req in _requirements_of("s3") if req.name == "s3fs"]
    assert not s3fs.specifier.contains("0.4.2")


@pytest.mark.integration
def test_each_store_is_written_and_read_through_its_airflow_connection(store) -> None:
    from airflow.sdk import ObjectStoragePath

    key = f"install-check/{uuid.uuid4().hex}.txt"
    payload = b"written through ObjectStoragePath\n"
    path = ObjectStoragePath(store.url(key))
    path.parent.mkdir(parents=True, exist_ok=True)  # a folder on the local store; nothing on the others

    with path.open("wb") as written:
        written.write(payload)

    assert store.read_bytes(key) == payload  # seen by the store's own client, not only by fsspec
    assert path.read_bytes() == payload
    assert [entry.name for entry in path.parent.iterdir()] == [key.rsplit("/", 1)[1]]
