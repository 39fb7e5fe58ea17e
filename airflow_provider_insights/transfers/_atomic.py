"""Publishing an object all at once: readers see the whole object or whatever was there before.

One mechanism, "stage, then publish only on success", using each store's own staging:

- Object stores whose fsspec file is an ``AbstractBufferedFile`` (s3fs, adlfs, gcsfs): bytes go
  up as parts/blocks that no reader can see (an S3 multipart upload, Azure uncommitted blocks, a
  GCS resumable upload) and the object appears only at the final commit, which fsspec runs in
  ``close()``. fsspec closes (so commits) even when a ``with`` block raised, so on failure we
  never call ``close()``: we ``discard()`` (s3fs aborts the multipart upload) and mark the file
  closed so that neither ``close()`` nor ``__del__`` can publish it.
- The local filesystem: a hidden sibling file in the same directory, ``os.replace``-d over the
  destination on success (atomic on POSIX) and deleted on failure.
- Any other filesystem: a hidden sibling key, moved over the destination on success.

A worker killed outright leaves no visible object either: an unfinished multipart upload or
uncommitted blocks are invisible (and expire), a ``.partial`` file is hidden.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

DEFAULT_BLOCK_SIZE = 8 << 20  # object-store part size: above S3's 5 MiB minimum, small for memory


# Filesystems whose write files stage parts/blocks invisibly and publish in close().
_STAGING_FILESYSTEM_MODULES = ("s3fs.", "adlfs.", "gcsfs.")


def _publishes_on_close(fs: Any) -> bool:
    return type(fs).__module__.startswith(_STAGING_FILESYSTEM_MODULES)


def _sibling_name(name: str) -> str:
    return f".{name}.{uuid.uuid4().hex[:12]}.partial"


class StagedWrite:
    """Context manager writing ``path`` so that it appears only if the block succeeds.

    ``write(data)`` appends bytes. On a clean exit the object is published; on an exception the
    staged bytes are thrown away and the destination is left as it was.

    :param path: the destination.
    :param block_size: part/block size for object stores (bytes held in memory at most).
    """

    def __init__(self, path: ObjectStoragePath, *, block_size: int = DEFAULT_BLOCK_SIZE) -> None:
        self.path = path
        self.block_size = block_size
        self.bytes_written = 0
        self._file: Any = None
        self._strategy = ""
        self._aside: str | None = None

    def __enter__(self) -> StagedWrite:
        from fsspec.implementations.local import LocalFileSystem

        fs = self.path.fs
        target = self.path.path
        if isinstance(fs, LocalFileSystem):
            self._strategy = "local"
            directory, name = os.path.split(target)
            os.makedirs(directory or ".", exist_ok=True)
            self._aside = os.path.join(directory, _sibling_name(name))
            self._file = open(self._aside, "wb")
            return self
        if _publishes_on_close(fs):
            self._strategy = "buffered"
            self._file = fs.open(target, "wb", block_size=self.block_size)
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
        self.bytes_written += len(data)
        return int(written) if written is not None else len(data)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self._publish()
        else:
            self._abandon()

    def _publish(self) -> None:
        if self._strategy == "local":
            self._file.close()
            assert self._aside is not None
            os.replace(self._aside, self.path.path)
        elif self._strategy == "buffered":
            self._file.close()  # the final flush commits the parts/blocks
        else:
            self._file.close()
            self.path.fs.mv(self._aside, self.path.path)

    def _abandon(self) -> None:
        # Best effort: the original error matters more than a failed clean-up.
        try:
            if self._strategy == "buffered":
                with contextlib.suppress(Exception):
                    self._file.discard()
                self._file.closed = True  # close() would publish what was staged
            else:
                with contextlib.suppress(Exception):
                    self._file.close()
                if self._strategy == "local" and self._aside:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(self._aside)
                elif self._aside:
                    self.path.fs.rm(self._aside)
        except Exception:
            log.warning("Could not clean up the staged copy of %s", self.path, exc_info=True)


class DiscardingWrite:
    """A sink with :class:`StagedWrite`'s interface that keeps nothing: counts the bytes only.

    Used to recompute what a transfer would write (its digest) without touching the destination.
    """

    def __init__(self) -> None:
        self.bytes_written = 0

    def __enter__(self) -> DiscardingWrite:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Count ``data`` and drop it."""
        self.bytes_written += len(data)
        return len(data)
