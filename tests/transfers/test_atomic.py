"""StagedWrite against the real stores: the object appears whole on success, never on failure."""

from __future__ import annotations

import os

import pytest

from airflow_provider_insights.transfers._atomic import StagedWrite
from airflow_provider_insights.transfers._s3_upload import ConcurrentS3Upload

pytestmark = pytest.mark.integration

PART = 1 << 20
# More than one 8 MiB block, so that S3 starts a multipart upload and Azure stages blocks
# before the failure: the test then proves those staged parts stay invisible.
PAYLOAD = bytes(range(256)) * (PART * 10 // 256)


class Boom(Exception):
    pass


def _write(path, payload: bytes, *, fail_after: int | None = None) -> None:
    with StagedWrite(path) as staged:
        for start in range(0, len(payload), PART):
            if fail_after is not None and start >= fail_after:
                raise Boom("interrupted")
            staged.write(payload[start : start + PART])


def _path(store, key: str):
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(store.url(key))


def test_success_publishes_the_whole_object(store, request):
    key = f"{request.node.name}/report.csv"
    _write(_path(store, key), PAYLOAD)
    assert store.read_bytes(key) == PAYLOAD
    assert store.list_keys(request.node.name) == [key]  # nothing staged left beside it


def test_s3_is_staged_by_the_concurrent_part_upload(moto_s3, request):
    with StagedWrite(_path(moto_s3, f"{request.node.name}/report.csv")) as staged:
        staged.write(PAYLOAD)
        assert isinstance(staged._file, ConcurrentS3Upload)
        assert staged._file.most_in_flight >= 1  # the 10 MiB went up as a part before the publish


def test_failure_leaves_nothing(store, request):
    key = f"{request.node.name}/report.csv"
    with pytest.raises(Boom):
        _write(_path(store, key), PAYLOAD, fail_after=9 * PART)
    assert store.list_keys(request.node.name) == []
    if store.name == "s3":
        assert key not in store.pending_uploads()  # the multipart upload was aborted


def test_failure_keeps_an_existing_object(store, request):
    key = f"{request.node.name}/report.csv"
    store.put(key, b"previous,version\n")
    with pytest.raises(Boom):
        _write(_path(store, key), PAYLOAD, fail_after=9 * PART)
    assert store.read_bytes(key) == b"previous,version\n"
    assert store.list_keys(request.node.name) == [key]


def test_local_staging_file_is_a_hidden_sibling_replaced_atomically(local_store):
    path = _path(local_store, "dir/report.csv")
    with StagedWrite(path) as staged:
        staged.write(b"a,b\n")
        siblings = os.listdir(local_store.root / "dir")
        assert len(siblings) == 1 and siblings[0].startswith(".report.csv.") and siblings[0].endswith(".partial")
        assert not (local_store.root / "dir" / "report.csv").exists()
    assert os.listdir(local_store.root / "dir") == ["report.csv"]


def test_a_failed_publish_leaves_no_staged_copy(local_store):
    path = _path(local_store, "dir/report.csv")
    with pytest.raises(IsADirectoryError), StagedWrite(path) as staged:
        staged.write(b"a,b\n")
        # Another writer made the destination a folder meanwhile: the final os.replace fails.
        (local_store.root / "dir" / "report.csv").mkdir()
    assert os.listdir(local_store.root / "dir") == ["report.csv"]
    assert not any(name.endswith(".partial") for name in os.listdir(local_store.root / "dir"))


def test_a_failed_write_removes_the_folders_it_created_and_only_those(local_store):
    (local_store.root / "kept").mkdir()
    path = _path(local_store, "kept/new/deeper/report.csv")
    with pytest.raises(Boom), StagedWrite(path) as staged:
        staged.write(b"a,b\n")
        raise Boom("interrupted")
    assert [str(p.relative_to(local_store.root)) for p in local_store.root.rglob("*")] == ["kept"]
