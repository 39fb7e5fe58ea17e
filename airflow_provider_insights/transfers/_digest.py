"""The one way a transfer hashes bytes: SHA-256 and a byte count, taken as the bytes pass.

The CSV/TSV copy writes through a :class:`HashingWriter`, pyarrow's Parquet writer writes into
one, and the check of an object an earlier try already published reads that object into one with
no target. So the digest in a transfer's result and the digest of what is in the store are
computed the same way, whatever the format.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any


class HashingWriter(io.RawIOBase):
    """A write-only file that hashes and counts what it is given, passing it on to ``target``.

    :param target: anything with ``write(bytes)`` (a staged upload); ``None`` keeps nothing, to
        hash bytes without storing them.
    """

    def __init__(self, target: Any = None) -> None:
        super().__init__()
        self._target = target
        self._digest = hashlib.sha256()
        self.size = 0

    @property
    def sha256(self) -> str:
        """The SHA-256 of every byte written so far, in hex."""
        return self._digest.hexdigest()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        # A view, not a copy: pyarrow hands over its own buffers, the download hands over bytes.
        view = memoryview(data)
        self._digest.update(view)
        if self._target is not None:
            self._target.write(view)
        self.size += view.nbytes
        return view.nbytes

    def write_all(self, source: Any, *, block_bytes: int) -> None:
        """Write everything ``source.read(block_bytes)`` yields until it is exhausted.

        :param source: a binary file opened for reading.
        :param block_bytes: bytes read at a time.
        """
        while block := source.read(block_bytes):
            self.write(block)

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        # The target is published (or abandoned) by its owner, never by a writer closing us
        # (pyarrow's ParquetWriter closes its sink when it finishes).
        self.flush()
