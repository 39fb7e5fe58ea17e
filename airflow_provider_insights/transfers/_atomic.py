"""Publishing an object all at once: readers see the whole object or whatever was there before.

One mechanism, "stage, then publish only on success", using each store's own staging:

- Object stores whose fsspec file is an ``AbstractBufferedFile`` (s3fs, adlfs, gcsfs): bytes go
  up as parts/blocks that no reader can see (an S3 multipart upload, Azure uncommitted blocks, a
  GCS resumable upload) and the object appears only at the final commit, which fsspec runs in
  ``close()``. For S3, ``ConcurrentS3Upload`` stands in for s3fs's file the same way, with several
  parts uploading at once. fsspec closes (so commits) even when a ``with`` block raised, so on
  failure we never call ``close()``: we ``discard()`` (the multipart upload is aborted) and mark
  the file closed so that neither ``close()`` nor ``__del__`` can publish it.
- The local filesystem: a hidden sibling file in the same directory, ``os.replace``-d over the
  destination on success (atomic on POSIX) and deleted on failure, with any folder created for it.
- Any other filesystem: a hidden sibling key, moved over the destination on success.

Failure includes the publish step itself (a full disk at the last flush, a destination that became
a folder, a refused commit): the staged copy is removed then too.

A worker killed outright leaves no visible object either: an unfinished multipart upload or
uncommitted blocks are invisible (and expire), a ``.partial`` file is hidden.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

#: Size of each part/block staged in an object store: above S3's 5 MiB minimum part, and the most
#: a write holds in memory.
UPLOAD_PART_BYTES = 8 << 20


# Filesystems whose write files stage parts/blocks invisibly and publish in close().
_STAGING_FILESYSTEM_MODULES = ("s3fs.", "adlfs.", "gcsfs.")


def _publishes_on_close(fs: Any) -> bool:
    return type(fs).__module__.startswith(_STAGING_FILESYSTEM_MODULES)


def _staging_file(fs: Any, target: str, block_size: int) -> Any:
    """The write file that stages ``target`` in parts: ours for S3 (parts in parallel), else fsspec's."""
    if type(fs).__module__.startswith("s3fs."):
        from airflow_provider_insights.transfers._s3_upload import ConcurrentS3Upload

        return ConcurrentS3Upload(fs, target, part_bytes=block_size)
    return fs.open(target, "wb", block_size=block_size)


def _sibling_name(name: str) -> str:
    return f".{name}.{uuid.uuid4().hex[:12]}.partial"


class StagedWrite:
    """Context manager writing ``path`` so that it appears only if the block succeeds.

    ``write(data)`` appends bytes. On a clean exit the object is published; on an exception, in
    the block or while publishing, the staged bytes are thrown away and the destination is left
    as it was.

    :param path: the destination.
    :param block_size: part/block size for object stores (bytes held in memory at most).
    """

    def __init__(self, path: ObjectStoragePath, *, block_size: int = UPLOAD_PART_BYTES) -> None:
        self.path = path
        self.block_size = block_size
        self._file: Any = None
        self._strategy = ""
        self._aside: str | None = None
        self._created_folders: list[str] = []

    def __enter__(self) -> StagedWrite:
        from fsspec.implementations.local import LocalFileSystem

        fs = self.path.fs
        target = self.path.path
        if isinstance(fs, LocalFileSystem):
            self._strategy = "local"
            directory, name = os.path.split(target)
            self._created_folders = _make_folders(directory or ".")
            self._aside = os.path.join(directory, _sibling_name(name))
            self._file = open(self._aside, "wb")
            return self
        if _publishes_on_close(fs):
            self._strategy = "buffered"
            self._file = _staging_file(fs, target, self.block_size)
            return self
        # Unknown filesystem: we cannot tell when its files publish, so write aside and move.
        self._strategy = "aside"
        parent, _, name = target.rpartition("/")
        self._aside = f"{parent}/{_sibling_name(name)}" if parent else _sibling_name(name)
        self._file = fs.open(self._aside, "wb")
        return self

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Append ``data`` to the staged object."""
        written = self._file.write(data)
        return int(written) if written is not None else len(data)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self._abandon()
            return
        try:
            self._publish()
        except BaseException:
            self._abandon()
            raise

    def _publish(self) -> None:
        self._file.close()  # for "buffered", the final flush commits the parts/blocks
        if self._strategy == "local":
            os.replace(str(self._aside), self.path.path)
        elif self._strategy == "aside":
            self.path.fs.mv(self._aside, self.path.path)

    def _abandon(self) -> None:
        # Best effort: the original error matters more than a failed clean-up.
        try:
            self._drop_file()
            if self._strategy == "local":
                with contextlib.suppress(FileNotFoundError):
                    os.remove(str(self._aside))
                _remove_empty_folders(self._created_folders)
            elif self._strategy == "aside":
                with contextlib.suppress(FileNotFoundError):
                    self.path.fs.rm(self._aside)
        except Exception:
            log.warning("Could not clean up the staged copy of %s", self.path, exc_info=True)

    def _drop_file(self) -> None:
        if self._strategy == "buffered":
            # fsspec's close() runs the final commit even after an error (and __del__ calls it):
            # discard instead (an S3 multipart upload is aborted) and mark the file closed.
            with contextlib.suppress(Exception):
                self._file.discard()
            self._file.closed = True
        else:
            with contextlib.suppress(Exception):
                self._file.close()


def _make_folders(directory: str) -> list[str]:
    """Create ``directory`` and its missing parents; return those created, deepest first."""
    missing: list[str] = []
    folder = Path(directory).absolute()
    while not folder.exists() and folder != folder.parent:
        missing.append(str(folder))
        folder = folder.parent
    os.makedirs(directory, exist_ok=True)
    return missing


def _remove_empty_folders(folders: list[str]) -> None:
    """Remove the folders a failed write created, deepest first, stopping at one now in use."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:  # another writer put something there meanwhile: leave it and its parents
            return
