"""The decoder over raw chunks: gzip across chunk boundaries, BOM handling, truncation."""

from __future__ import annotations

import gzip

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsApiError, PartnerInsightsTransferError
from airflow_provider_insights.transfers._streaming import Decoder, ProgressLog, SecureLinkDownload

BODY = '\ufeffname,city\r\n"O\'Brien, ""Ltd""",Zürich\r\n"Line one\nLine two",東京\r\n'.encode()


def _decode(decoder: Decoder, raw: bytes, step: int) -> bytes:
    out = b"".join(decoder.feed(raw[i : i + step]) for i in range(0, len(raw), step))
    return out + decoder.finish()


@pytest.mark.parametrize("step", [1, 2, 5, 4096])
def test_bom_is_stripped_even_when_split_across_chunks(step):
    assert _decode(Decoder(None), BODY, step) == BODY[3:]


def test_bom_is_kept_when_asked():
    assert _decode(Decoder(None, strip_bom=False), BODY, 2) == BODY


def test_bom_is_only_stripped_at_the_start():
    assert _decode(Decoder(None), b"a\xef\xbb\xbfb", 1) == b"a\xef\xbb\xbfb"


@pytest.mark.parametrize("step", [1, 7, 1 << 20])
def test_gzip_is_decoded_over_any_chunking(step):
    assert _decode(Decoder("gzip"), gzip.compress(BODY), step) == BODY[3:]


def test_concatenated_gzip_members_are_decoded():
    assert _decode(Decoder("gzip", strip_bom=False), gzip.compress(BODY) + gzip.compress(b"tail"), 3) == BODY + b"tail"


def test_truncated_gzip_is_an_error():
    with pytest.raises(PartnerInsightsTransferError, match="report R1 execution E1 ended before the end-of-stream"):
        _decode(Decoder("gzip", label="report R1 execution E1"), gzip.compress(BODY)[:-10], 5)


def test_unknown_content_encoding_is_an_error():
    with pytest.raises(PartnerInsightsTransferError, match="unsupported Content-Encoding 'br'"):
        Decoder("br")


def test_progress_lines_are_rate_limited():
    now = [0.0]
    lines: list[str] = []

    class Log:
        def info(self, message: str, *args: object) -> None:
            lines.append(message % args)

    progress = ProgressLog(Log(), interval=5.0, clock=lambda: now[0])
    for second in range(1, 12):
        now[0] = float(second)
        progress.update(second * 1_000_000, 20_000_000)
    assert lines == [
        "Downloaded 5000000 of 20000000 bytes (25.0%) at 1.0 MB/s",
        "Downloaded 10000000 of 20000000 bytes (50.0%) at 1.0 MB/s",
    ]


class _Response:
    """A secure-link response as the hook returns it (the sandbox cannot change a file's size
    between two requests, so this stands in for a store that does)."""

    def __init__(self, status: int, total: int, body: bytes, *, cut: bool) -> None:
        self.status, self.total_length, self.content_length = status, total, len(body)
        self.content_encoding = None
        self._body, self._cut = body, cut

    def __enter__(self) -> _Response:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def iter_raw(self, chunk_size: int):
        yield self._body
        if self._cut:
            raise ConnectionResetError("cut")


class _Hook:
    def __init__(self, responses: list[_Response]) -> None:
        self.responses = responses
        self.offsets: list[int] = []

    def open_secure_link(self, link: str, *, offset: int = 0) -> _Response:
        self.offsets.append(offset)
        return self.responses.pop(0)


def _download(hook: _Hook) -> SecureLinkDownload:
    return SecureLinkDownload(
        hook,  # type: ignore[arg-type]
        "https://127.0.0.1/_blob/x?sig=SECRET",
        refresh_link=lambda: "",
        label="report R1 execution E1",
    )


def test_a_file_that_changes_size_between_resumes_fails_without_retrying():
    hook = _Hook(
        [
            _Response(200, 100, b"a" * 40, cut=True),
            _Response(206, 120, b"b" * 80, cut=False),
            _Response(206, 120, b"b" * 80, cut=False),
        ]
    )

    with pytest.raises(PartnerInsightsTransferError, match="report R1 execution E1 changed size") as caught:
        b"".join(_download(hook))

    assert hook.offsets == [0, 40]
    assert "SECRET" not in str(caught.value)


def test_a_body_longer_than_announced_is_a_length_mismatch():
    hook = _Hook([_Response(200, 100, b"a" * 120, cut=False)])

    with pytest.raises(
        PartnerInsightsTransferError, match="received 120 bytes of report R1 execution E1 but the service announced 100"
    ):
        b"".join(_download(hook))


class _FailingOpen:
    """Opening the link raises ``error`` the first ``times`` times (stand-in: the sandbox's faults
    cannot answer 503 on one Range request only), then serves ``body``."""

    def __init__(self, error: Exception, times: int, body: bytes) -> None:
        self.error, self.times = error, times
        self.body_hook = _Hook([_Response(200, len(body), body, cut=False)])
        self.opens = 0

    def open_secure_link(self, link: str, *, offset: int = 0) -> _Response:
        self.opens += 1
        if self.opens <= self.times:
            raise self.error
        return self.body_hook.open_secure_link(link, offset=offset)


def _waiting_download(hook: object, waits: list[float]) -> SecureLinkDownload:
    return SecureLinkDownload(
        hook,  # type: ignore[arg-type]
        "https://127.0.0.1/_blob/x?sig=SECRET",
        refresh_link=lambda: "",
        label="report R1 execution E1",
        resume_delay=0.5,
        sleep=waits.append,
    )


def test_a_server_error_is_retried_after_a_growing_jittered_wait():
    waits: list[float] = []
    hook = _FailingOpen(PartnerInsightsApiError(503, "busy"), times=3, body=b"abc")
    assert b"".join(_waiting_download(hook, waits)) == b"abc"
    assert hook.opens == 4
    assert len(waits) == 3
    assert all(0 <= wait <= 0.5 * 2**number for number, wait in enumerate(waits))


def test_an_error_waiting_cannot_cure_is_raised_at_once():
    waits: list[float] = []
    hook = _FailingOpen(PartnerInsightsApiError(404, "gone"), times=1, body=b"abc")
    with pytest.raises(PartnerInsightsApiError, match="gone"):
        b"".join(_waiting_download(hook, waits))
    assert hook.opens == 1 and waits == []
