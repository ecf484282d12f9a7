"""probe(): the allow-list, the caps and the facts it reports."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import pytest

from ingest import ffmpeg_tool
from ingest import probe as probe_module
from ingest.errors import DEFAULT_REASONS, MediaRejected
from ingest.errors import RejectCategory as R
from ingest.probe import Caps, probe
from ingest.sniff import sniff
from tests import media

#: Words a facilitator should never have to read.
JARGON = ("ffmpeg", "moov", "mdat", "demux", "codec", "stderr", "exit status", "box")


def test_plain_mp4_facts(sources: dict[str, Path]) -> None:
    info = probe(sources["plain"])
    assert (info.container, info.brand, info.video_codec) == ("mp4", "isom", "h264")
    assert (info.width, info.height, info.rotation) == (320, 240, 0)
    assert info.frame_rate == Fraction(30000, 1001)  # exact, not 29.97
    assert not info.variable_frame_rate
    assert info.frame_count == 60
    assert abs(info.video_duration_ms - 2002) <= 1
    assert info.has_audio and info.audio_codec == "aac" and info.audio_sample_rate == 44100
    assert info.size_bytes == sources["plain"].stat().st_size
    assert [s.kind for s in info.streams] == ["video", "audio"]


def test_iphone_mov_is_portrait_hevc_with_a_text_track(sources: dict[str, Path]) -> None:
    info = probe(sources["iphone"])
    assert (info.container, info.brand, info.video_codec) == ("mov", "qt  ", "hevc")
    assert info.rotation == 90
    assert (info.display_width, info.display_height) == (240, 320)
    assert info.frame_rate == 30 and not info.variable_frame_rate
    assert [s.kind for s in info.streams] == ["video", "audio", "subtitle"]
    assert (info.video_stream_index, info.audio_stream_index) == (0, 1)


def test_android_vfr_is_detected(sources: dict[str, Path]) -> None:
    info = probe(sources["android"])
    assert info.variable_frame_rate
    # Every fifth frame is missing: 24 frames a second on average, ~27 typical.
    assert 23 < info.avg_frame_rate < 25
    assert 25 < info.frame_rate < 30
    assert info.frame_count == 72


def test_legacy_3gp_and_hdr_sources(sources: dict[str, Path]) -> None:
    legacy = probe(sources["legacy"])
    assert (legacy.container, legacy.has_audio) == ("mov", False)
    assert legacy.frame_rate == 25
    phone = probe(sources["3gp"])
    assert (phone.container, phone.width, phone.height) == ("3gp", 176, 144)
    assert phone.frame_rate == 15 and phone.audio_sample_rate == 16000
    hdr = probe(sources["hdr"])
    assert hdr.is_hdr and hdr.color_transfer == "arib-std-b67"
    assert hdr.pix_fmt == "yuv420p10le"
    assert probe(sources["pq"]).color_transfer == "smpte2084"


@pytest.mark.parametrize("name", media.BAD_INPUT_NAMES)
def test_bad_input_is_refused(name: str, bad_inputs: dict[str, media.BadInput]) -> None:
    bad = bad_inputs[name]
    with pytest.raises(MediaRejected) as caught:
        probe(bad.path, caps=bad.caps)
    assert caught.value.category is bad.category, caught.value.detail
    reason = caught.value.reason
    assert reason and reason[0].isupper() and reason.endswith(".")
    assert not any(word in reason.lower() for word in JARGON), reason


@pytest.mark.parametrize(
    "name", [n for n in media.BAD_INPUT_NAMES if n not in media.REFUSED_BY_FFMPEG]
)
def test_refusals_before_ffmpeg_never_start_it(
    name: str, bad_inputs: dict[str, media.BadInput], monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = bad_inputs[name]
    assert bad.before_ffmpeg

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("ffmpeg must not see this file")

    monkeypatch.setattr(ffmpeg_tool, "run", forbidden)
    with pytest.raises(MediaRejected) as caught:
        probe(bad.path, caps=bad.caps)
    assert caught.value.category is bad.category


def test_reasons_are_the_ones_facilitators_see(bad_inputs: dict[str, media.BadInput]) -> None:
    def reason(name: str) -> str:
        with pytest.raises(MediaRejected) as caught:
            probe(bad_inputs[name].path, caps=bad_inputs[name].caps)
        return caught.value.reason

    assert reason("notes.mp4") == "This file is not a video."
    assert "cut off" in reason("first-half.mp4")
    assert "cut off" in reason("no-moov.mp4")
    assert reason("too-long.mp4") == "This video is longer than the 2-second limit."
    assert "640 x 360" in reason("too-wide.mp4") and "480 x 480" in reason("too-wide.mp4")
    assert reason("empty.mp4") == DEFAULT_REASONS[R.EMPTY]
    assert probe_module._human_duration(4 * 3600) == "4-hour"
    assert probe_module._human_duration(600) == "10-minute"


def test_zero_padding_after_a_finished_file_is_accepted(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    padded = tmp_path / "padded.mp4"
    padded.write_bytes(sources["plain"].read_bytes() + bytes(300))
    assert probe(padded).frame_count == 60


def test_caps_ignore_orientation(sources: dict[str, Path]) -> None:
    # 320x240 landscape fits a cap written for portrait 240x320.
    probe(sources["plain"], caps=Caps(max_width=240, max_height=320))
    with pytest.raises(MediaRejected) as caught:
        probe(sources["plain"], caps=Caps(max_width=239, max_height=320))
    assert caught.value.category is R.RESOLUTION_TOO_HIGH


def test_spoofed_stream_dump_lines_are_ignored(sources: dict[str, Path], tmp_path: Path) -> None:
    # A title with newlines can print lines that look like ffmpeg's own stream dump.
    info = probe(media.spoofed_dump_mp4(tmp_path / "spoof.mp4", sources["plain"]))
    assert (info.width, info.height, info.rotation) == (320, 240, 0)
    assert info.duration_ms < 3000
    assert [s.index for s in info.streams] == [0, 1]


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + bytes(32)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_ftyp(b"isom", b"isom", b"avc1"), ("mp4", "isom")),
        (_ftyp(b"mp42", b"mp41"), ("mp4", "mp42")),
        (_ftyp(b"M4V ", b"M4V "), ("mp4", "M4V ")),
        (_ftyp(b"qt  ", b"qt  "), ("mov", "qt  ")),
        (_ftyp(b"3gp4", b"3gp4"), ("3gp", "3gp4")),
        (_ftyp(b"3g2a", b"3g2a"), ("3gp", "3g2a")),
        (_ftyp(b"abcd", b"abcd", b"mp42"), ("mp4", "abcd")),  # vendor brand, MP4-compatible
        (b"\x00\x00\x00\x08wide" + bytes(32), ("mov", "qt  ")),  # legacy QuickTime
        (b"\x00\x00\x10\x00moov" + bytes(32), ("mov", "qt  ")),
    ],
    ids=["isom", "mp42", "m4v", "qt", "3gp4", "3g2a", "vendor", "wide", "moov"],
)
def test_sniff_accepts_video_brands(head: bytes, expected: tuple[str, str]) -> None:
    assert sniff(head) == expected


@pytest.mark.parametrize(
    ("head", "category"),
    [
        (_ftyp(b"M4A ", b"isom"), R.AUDIO_ONLY),
        (_ftyp(b"heic", b"mif1"), R.PHOTO),
        (_ftyp(b"avif", b"mif1"), R.PHOTO),
        (_ftyp(b"abcd", b"mif1", b"heic"), R.PHOTO),
        (_ftyp(b"f4v ", b"f4v "), R.UNSUPPORTED_FORMAT),
        (b"RIFF\x00\x00\x00\x00AVI LIST", R.UNSUPPORTED_FORMAT),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", R.PHOTO),
        (b"\x1aE\xdf\xa3\x01\x00\x00\x00", R.UNSUPPORTED_FORMAT),
        (b"ID3\x04\x00\x00\x00", R.AUDIO_ONLY),
        (b"PK\x03\x04" + bytes(40), R.NOT_VIDEO),
        (b"#EXTM3U\n", R.NOT_VIDEO),
        (b"ffconcat version 1.0\n", R.NOT_VIDEO),
        (b"", R.NOT_VIDEO),
    ],
    ids=[
        *("m4a", "heic", "avif", "heif-compat", "f4v", "avi", "webp", "mkv", "mp3", "zip"),
        *("m3u8", "ffconcat", "nothing"),
    ],
)
def test_sniff_refuses_everything_else(head: bytes, category: R) -> None:
    with pytest.raises(MediaRejected) as caught:
        sniff(head)
    assert caught.value.category is category
