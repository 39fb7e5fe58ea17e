"""Streaming a report from its secure link: resumable raw download, decoding, progress.

The secure link's bytes are read raw (still gzip-compressed if served so) so that a Range
request after a dropped connection can name a raw offset; decoding happens here, in order, over
the raw stream. Nothing in this module logs or raises with a link's query string.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_insights.exceptions import (
    PartnerInsightsLinkExpiredError,
    PartnerInsightsTransferError,
    is_transient_error,
)
from airflow_provider_insights.hooks.redaction import redact_url
from airflow_provider_insights.hooks.retry import backoff_delay

if TYPE_CHECKING:
    from airflow_provider_insights.hooks.insights import PartnerInsightsHook

UTF8_BOM = b"\xef\xbb\xbf"
# Measured on the bench: 1 MiB reads keep the download thread and the writer in step better than
# 4 MiB ones (finer pipelining, buffers reused from the heap instead of fresh mappings).
DOWNLOAD_CHUNK_BYTES = 1 << 20


#: Ceiling of the wait before reopening a link after a drop, however many drops in a row.
MAX_RESUME_DELAY = 30.0


class SecureLinkDownload:
    """Iterate the raw bytes behind a secure link, resuming and refreshing as needed.

    :param hook: the Insights hook (opens the link; checks https and the allowed hosts).
    :param link: the secure link read from a fresh execution.
    :param refresh_link: called after a 403 (link expired): re-reads the execution and returns
        its new link.
    :param chunk_size: bytes per read.
    :param max_attempts: connection attempts allowed for resuming after drops, and separately
        link refreshes allowed after 403s, before giving up.
    :param on_event: called with a short text after each resume or refresh (for the task log).
    :param label: what is downloaded, for error messages (``report R execution E``); never the link.
    :param resume_delay: ceiling in seconds of the (jittered, doubling) wait before the first resume.
    :param sleep: how to wait (tests pass a recorder).
    """

    def __init__(
        self,
        hook: PartnerInsightsHook,
        link: str,
        *,
        refresh_link: Callable[[], str],
        chunk_size: int = DOWNLOAD_CHUNK_BYTES,
        max_attempts: int = 5,
        on_event: Callable[[str], None] | None = None,
        label: str = "the report",
        resume_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.hook = hook
        self.resume_delay = resume_delay
        self.sleep = sleep
        self.link = link
        self.refresh_link = refresh_link
        self.chunk_size = chunk_size
        self.max_attempts = max_attempts
        self.on_event = on_event or (lambda _text: None)
        self.label = label
        self.offset = 0
        self.total_length: int | None = None
        self.content_encoding: str | None = None
        self.resumes = 0
        self.refreshes = 0

    @property
    def redacted_link(self) -> str:
        return redact_url(self.link)

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                yield from self._read_from(self.offset)
            except PartnerInsightsLinkExpiredError:
                self._refresh()
                continue
            except Exception as err:
                if not is_transient_error(err):
                    raise
                self._count_resume(err)
                continue
            if self.total_length is not None and self.offset < self.total_length:
                self._count_resume(None)  # the body ended early without an error: resume too
                continue
            self._verify_length()
            return

    def _read_from(self, offset: int) -> Iterator[bytes]:
        with self.hook.open_secure_link(self.link, offset=offset) as response:
            self._note_response(response, offset)
            # A server that ignored Range answers 200 with the whole body: skip what we have.
            to_skip = offset if (offset and response.status == 200) else 0
            for chunk in response.iter_raw(self.chunk_size):
                if to_skip:
                    if len(chunk) <= to_skip:
                        to_skip -= len(chunk)
                        continue
                    chunk = chunk[to_skip:]
                    to_skip = 0
                self.offset += len(chunk)
                yield chunk

    def _note_response(self, response: Any, offset: int) -> None:
        total = response.total_length
        if total is None and response.status == 200:
            total = response.content_length
        encoding = (response.content_encoding or "").lower() or None
        if offset:
            if self.total_length is not None and total is not None and total != self.total_length:
                raise PartnerInsightsTransferError(
                    f"{self.label} changed size during the download ({self.total_length} then {total} bytes)"
                )
            if encoding != self.content_encoding:
                raise PartnerInsightsTransferError(f"{self.label} changed Content-Encoding during the download")
        else:
            self.content_encoding = encoding
        if total is not None:
            self.total_length = total

    def _count_resume(self, err: BaseException | None) -> None:
        self.resumes += 1
        reason = type(err).__name__ if err is not None else "short body"
        if self.resumes >= self.max_attempts:
            raise PartnerInsightsTransferError(
                f"download of {self.label} abandoned after {self.resumes} interrupted attempts "
                f"({self.offset} bytes received; last: {reason})"
            ) from None  # err's text may hold the secure link's SAS query string
        delay = backoff_delay(self.resumes - 1, base=self.resume_delay, cap=MAX_RESUME_DELAY)
        self.on_event(
            f"connection lost after {self.offset} bytes ({reason}); resuming with a Range request in {delay:.1f} s"
        )
        # The link no longer retries by itself: without a pause a throttled or failing server
        # would be hit again at once, max_attempts times in a row.
        self.sleep(delay)

    def _refresh(self) -> None:
        self.refreshes += 1
        if self.refreshes >= self.max_attempts:
            raise PartnerInsightsLinkExpiredError(
                403,
                f"the secure link was still refused after {self.refreshes - 1} refreshes",
                method="GET",
                url=self.redacted_link,
            )
        self.on_event(f"secure link expired after {self.offset} bytes; re-reading the execution for a fresh one")
        self.link = self.refresh_link()

    def _verify_length(self) -> None:
        if self.total_length is not None and self.offset != self.total_length:
            raise PartnerInsightsTransferError(
                f"received {self.offset} bytes of {self.label} but the service announced {self.total_length}"
            )


class Decoder:
    """Turn the raw stream into the report's bytes: undo gzip/deflate, drop a leading UTF-8 BOM.

    :param content_encoding: the response's Content-Encoding (``gzip``, ``deflate`` or none).
    :param strip_bom: drop a UTF-8 byte order mark at the very start of the decoded bytes.
    :param label: what is decoded, for error messages (``report R execution E``).
    """

    def __init__(self, content_encoding: str | None, *, strip_bom: bool = True, label: str = "the report") -> None:
        self.label = label
        encoding = (content_encoding or "identity").lower()
        if encoding in ("gzip", "x-gzip"):
            self._wbits: int | None = 16 + zlib.MAX_WBITS
        elif encoding == "deflate":
            self._wbits = zlib.MAX_WBITS
        elif encoding == "identity":
            self._wbits = None
        else:
            raise PartnerInsightsTransferError(
                f"{label} is served with an unsupported Content-Encoding {content_encoding!r}"
            )
        self._inflater = zlib.decompressobj(self._wbits) if self._wbits is not None else None
        self._head: bytes | None = b"" if strip_bom else None  # first bytes, held until the BOM is decided

    def feed(self, raw: bytes) -> bytes:
        """Decode the next raw chunk; may return b"" while bytes are held back."""
        data = self._inflate(raw) if self._inflater is not None else raw
        return self._strip_bom(data)

    def finish(self) -> bytes:
        """Flush what is held and check the compressed stream ended where it should."""
        data = b""
        if self._inflater is not None:
            data = self._inflater.flush()
            if not self._inflater.eof:
                raise PartnerInsightsTransferError(
                    f"{self.label} ended before the end-of-stream marker of its compressed stream (truncated)"
                )
        data = self._strip_bom(data)
        if self._head:
            data, self._head = self._head + data, None
        return data

    def _inflate(self, raw: bytes) -> bytes:
        assert self._inflater is not None
        out = self._inflater.decompress(raw)
        # Concatenated gzip members are legal: start over on what follows the first one.
        while self._inflater.eof and self._inflater.unused_data:
            rest = self._inflater.unused_data
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS if self._wbits is None else self._wbits)
            out += self._inflater.decompress(rest)
        return out

    def _strip_bom(self, data: bytes) -> bytes:
        if self._head is None:
            return data
        head = self._head + data
        if len(head) < len(UTF8_BOM) and UTF8_BOM.startswith(head):
            self._head = head
            return b""
        self._head = None
        return head[len(UTF8_BOM) :] if head.startswith(UTF8_BOM) else head


class ProgressLog:
    """Log bytes, percent (when the size is known) and MB/s at most every ``interval`` seconds.

    :param log: the logger (the task's).
    :param interval: seconds between lines.
    :param clock: a monotonic clock (tests may pass their own).
    """

    def __init__(
        self, log: logging.Logger | Any, *, interval: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.log = log
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._last = self.started

    def update(self, done: int, total: int | None) -> None:
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self._emit("Downloaded", done, total, now)

    def finish(self, done: int, total: int | None) -> None:
        self._emit("Finished", done, total, self.clock())

    def _emit(self, verb: str, done: int, total: int | None, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed / 1e6
        if total:
            self.log.info("%s %d of %d bytes (%.1f%%) at %.1f MB/s", verb, done, total, 100.0 * done / total, rate)
        else:
            self.log.info("%s %d bytes at %.1f MB/s", verb, done, rate)


_DONE = object()


class Prefetch:
    """Run ``chunks`` in a background thread, ``depth`` chunks ahead of the consumer.

    Use as a context manager: the thread starts on entry, so the download is under way while the
    destination is being opened (Airflow's filesystem discovery alone can take most of a second),
    and it overlaps with writing to a store or converting to Parquet afterwards (socket reads,
    zlib, hashing and uploads release the GIL). Memory stays bounded: at most ``depth`` chunks
    wait in the queue. An exception in the producer is re-raised in the consumer; leaving the
    block early (an error while writing) stops the producer.

    :param chunks: the source iterator (consumed only by the background thread).
    :param depth: how many chunks may wait.
    """

    def __init__(self, chunks: Iterator[bytes], *, depth: int = 16) -> None:
        import queue
        import threading

        self._chunks = chunks
        self._handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._produce, name="insights-download", daemon=True)

    def __enter__(self) -> Prefetch:
        self._worker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._worker.ident is not None:
            self._worker.join()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _put(self, item: Any) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for chunk in self._chunks:
                if not self._put(chunk):
                    return
            self._put(_DONE)
        except BaseException as err:
            self._put(err)
        finally:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
