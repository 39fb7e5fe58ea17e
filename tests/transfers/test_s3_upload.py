"""ConcurrentS3Upload: parts in order on moto's S3, several in flight at once, aborted on failure."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from airflow_provider_insights.transfers._s3_upload import ConcurrentS3Upload

PART = 5 << 20  # S3's smallest part
PAYLOAD = bytes(range(256)) * (PART * 3 // 256) + b"tail"  # three full parts and a short last one


def _s3fs(store: Any) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(store.url("any")).fs


@pytest.mark.integration
def test_parts_are_assembled_in_order_and_the_object_appears_only_on_close(moto_s3, request):
    key = f"{request.node.name}/report.csv"
    upload = ConcurrentS3Upload(_s3fs(moto_s3), f"{moto_s3.bucket}/{key}", part_bytes=PART)
    for start in range(0, len(PAYLOAD), 1 << 20):
        upload.write(PAYLOAD[start : start + (1 << 20)])
    assert moto_s3.list_keys(request.node.name) == []  # parts are staged, nothing visible

    upload.close()

    assert moto_s3.read_bytes(key) == PAYLOAD
    head = moto_s3.client().head_object(Bucket=moto_s3.bucket, Key=key)
    assert head["ETag"].strip('"').endswith("-4")  # a multipart object of four parts
    assert key not in moto_s3.pending_uploads()


@pytest.mark.integration
def test_a_small_object_is_one_put_and_an_empty_one_exists(moto_s3, request):
    fs = _s3fs(moto_s3)
    for name, data in (("small.csv", b"a,b\n1,2\n"), ("empty.csv", b"")):
        key = f"{request.node.name}/{name}"
        upload = ConcurrentS3Upload(fs, f"{moto_s3.bucket}/{key}", part_bytes=PART)
        upload.write(data)
        upload.close()
        assert moto_s3.read_bytes(key) == data
    assert moto_s3.pending_uploads() == []


@pytest.mark.integration
def test_discard_aborts_the_upload_and_publishes_nothing(moto_s3, request):
    key = f"{request.node.name}/report.csv"
    upload = ConcurrentS3Upload(_s3fs(moto_s3), f"{moto_s3.bucket}/{key}", part_bytes=PART)
    upload.write(PAYLOAD)

    upload.discard()

    assert moto_s3.list_keys(request.node.name) == []
    assert key not in moto_s3.pending_uploads()


class _HeldS3:
    """A stand-in for s3fs's ``call_s3`` whose part uploads wait for each other.

    moto answers a part as fast as it can, so it cannot show two parts in the air at once; this
    fake holds each ``upload_part`` at a barrier that only ``parties`` concurrent uploads pass.
    """

    def __init__(self, parties: int, fail_part: int | None = None) -> None:
        self.barrier = threading.Barrier(parties, timeout=10)
        self.fail_part = fail_part
        self.calls: list[str] = []

    def split_path(self, path: str) -> tuple[str, str, None]:
        bucket, _, key = path.partition("/")
        return bucket, key, None

    def invalidate_cache(self, path: str) -> None:
        pass

    def call_s3(self, method: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(method)
        if method == "create_multipart_upload":
            return {"UploadId": "upload-1"}
        if method == "upload_part":
            if kwargs["PartNumber"] == self.fail_part:
                raise OSError("connection reset")
            self.barrier.wait()  # BrokenBarrierError after 10 s if parts went up one by one
            return {"ETag": f'"etag-{kwargs["PartNumber"]}"'}
        return {}


def test_parts_upload_concurrently_while_writing_goes_on():
    fake = _HeldS3(parties=2)
    upload = ConcurrentS3Upload(fake, "bucket/key", part_bytes=4, max_in_flight=2)

    upload.write(b"aaaabbbbccccdddd")  # four parts: they can only pass the barrier two at a time
    upload.close()

    assert upload.most_in_flight == 2
    assert fake.calls.count("upload_part") == 4 and fake.calls[-1] == "complete_multipart_upload"


def test_a_failed_part_fails_the_upload_and_discard_aborts_it():
    fake = _HeldS3(parties=1, fail_part=2)
    upload = ConcurrentS3Upload(fake, "bucket/key", part_bytes=4, max_in_flight=1)

    with pytest.raises(OSError, match="connection reset"):
        upload.write(b"aaaabbbbcccc")  # part 2's error surfaces when part 3 waits for room
        upload.close()
    upload.discard()

    assert "complete_multipart_upload" not in fake.calls
    assert fake.calls[-1] == "abort_multipart_upload"
