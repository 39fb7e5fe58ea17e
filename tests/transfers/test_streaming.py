"""The decoder over raw chunks: gzip across chunk boundaries, BOM handling, truncation."""

from __future__ import annotations

import gzip

import pytest

from airflow_provider_insights.exceptions import PartnerInsightsApiError
from airflow_provider_insights.transfers._streaming import Decoder, ProgressLog

BODY = "\ufeffname,city\r\n\"O'Brien, \"\"Ltd\"\"\",Zürich\r\n\"Line one\nLine two\",東京\r\n".encode()


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
    with pytest.raises(PartnerInsightsApiError, match="end-of-stream"):
        _decode(Decoder("gzip"), gzip.compress(BODY)[:-10], 5)


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
    assert lines == ["Downloaded 5000000 of 20000000 bytes (25.0%) at 1.0 MB/s",
                     "Downloaded 10000000 of 20000000 bytes (50.0%) at 1.0 MB/s"]
