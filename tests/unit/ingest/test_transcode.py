"""transcode(): a playable, upright, constant-rate rendition with no metadata left."""

from __future__ import annotations

import dataclasses
import struct
import subprocess
import threading
from fractions import Fraction
from pathlib import Path

import pytest

from ingest import ffmpeg_tool
from ingest.errors import ToolTimeout, TranscodeError
from ingest.probe import MediaInfo, probe
from ingest.transcode import output_frame_rate, transcode
from tests import media
from tests.unit.ingest.conftest import SOURCES, Rendition

NAMES = list(SOURCES)
IDENTITY_MATRIX = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
#: Sources that carry device/location tags (plain and hdr carry none).
TAGGED = ("iphone", "android", "legacy", "3gp")


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes between ``start`` and ``end``."""
    end = len(data) if end is None else end
    found, pos = [], start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        size = size or end - pos
        found.append((kind, pos + header, pos + size))
        pos += size
    return found


def find(data: bytes, *path: bytes) -> list[tuple[int, int]]:
    """Payload ranges of every box at ``path`` (e.g. moov, trak, tkhd)."""
    ranges = [(0, len(data))]
    for kind in path:
        ranges = [(p, e) for s, t in ranges for k, p, e in boxes(data, s, t) if k == kind]
    return ranges


def stream_dump(path: Path) -> str:
    done = subprocess.run(
        [ffmpeg_tool.ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stderr


@pytest.mark.parametrize("name", NAMES)
def test_rendition_decodes_end_to_end(name: str, renditions: dict[str, Rendition]) -> None:
    path = str(renditions[name].path)
    done = subprocess.run(
        ffmpeg_tool.command("-v", "error", "-xerror", "-i", path, "-f", "null", "-"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == ""


@pytest.mark.parametrize("name", NAMES)
def test_rendition_is_h264_aac_yuv420p(name: str, renditions: dict[str, Rendition]) -> None:
    r = renditions[name]
    assert (r.info.container, r.info.video_codec, r.info.pix_fmt) == ("mp4", "h264", "yuv420p")
    dump = stream_dump(r.path)
    assert "Video: h264 (High)" in dump
    if r.source_info.has_audio:
        assert r.info.audio_codec == "aac" and "48000 Hz, stereo" in dump
    else:
        assert not r.info.has_audio
    kinds = [s.kind for s in r.info.streams]
    assert kinds == (["video", "audio"] if r.source_info.has_audio else ["video"])


@pytest.mark.parametrize("name", NAMES)
def test_rendition_is_upright(name: str, renditions: dict[str, Rendition]) -> None:
    r = renditions[name]
    src = r.source_info
    assert (r.info.width, r.info.height) == (src.display_width, src.display_height)
    assert r.info.rotation == 0
    dump = stream_dump(r.path).lower()
    assert "display matrix" not in dump and "displaymatrix" not in dump
    data = r.path.read_bytes()
    for start, _ in find(data, b"moov", b"trak", b"tkhd"):
        matrix_at = start + (52 if data[start] == 1 else 40)
        assert data[matrix_at : matrix_at + 36] == IDENTITY_MATRIX


def test_portrait_source_becomes_portrait(renditions: dict[str, Rendition]) -> None:
    r = renditions["iphone"]
    assert r.source_info.rotation == 90 and r.source_info.width > r.source_info.height
    assert r.info.width < r.info.height


@pytest.mark.parametrize("name", NAMES)
def test_rendition_is_constant_rate_and_keeps_duration(
    name: str, renditions: dict[str, Rendition]
) -> None:
    r = renditions[name]
    assert not r.info.variable_frame_rate
    assert r.info.frame_rate == output_frame_rate(r.source_info)
    one_frame_ms = 1000 / float(r.info.frame_rate)
    assert abs(r.info.video_duration_ms - r.source_info.video_duration_ms) <= one_frame_ms + 1
    assert abs(r.info.duration_ms - r.source_info.duration_ms) <= one_frame_ms + 1


def test_frame_rates_chosen(renditions: dict[str, Rendition]) -> None:
    assert renditions["plain"].info.frame_rate == Fraction(30000, 1001)  # NTSC kept exactly
    assert renditions["android"].info.frame_rate == 30  # VFR ~27 typical -> 30
    assert renditions["3gp"].info.frame_rate == 15
    assert renditions["slowmo"].info.frame_rate == 60  # 120 fps halved, not resampled


@pytest.mark.parametrize("name", NAMES)
def test_faststart_puts_moov_before_mdat(name: str, renditions: dict[str, Rendition]) -> None:
    kinds = [kind for kind, _, _ in boxes(renditions[name].path.read_bytes())]
    assert kinds[0] == b"ftyp"
    assert kinds.index(b"moov") < kinds.index(b"mdat")


@pytest.mark.parametrize("name", TAGGED)
def test_source_really_carries_the_markers(name: str, sources: dict[str, Path]) -> None:
    data = sources[name].read_bytes()
    assert b"VerpTest" in data or all(c in data for c in media.loci_coordinate_bytes())
    assert media.mac_epoch_bytes() in data


@pytest.mark.parametrize("name", NAMES)
def test_no_metadata_survives(name: str, renditions: dict[str, Rendition]) -> None:
    data = renditions[name].path.read_bytes()
    for marker in media.FORBIDDEN_STRINGS:
        assert marker.encode("latin-1") not in data, marker
    for coordinate in media.loci_coordinate_bytes():
        assert coordinate not in data
    assert media.mac_epoch_bytes() not in data
    for start, _ in find(data, b"moov", b"mvhd") + find(data, b"moov", b"trak", b"tkhd"):
        width = 8 if data[start] == 1 else 4
        assert data[start + 4 : start + 4 + 2 * width] == bytes(2 * width)  # created, modified


def test_sources_had_the_leaky_parts(sources: dict[str, Path]) -> None:
    iphone, android = sources["iphone"].read_bytes(), sources["android"].read_bytes()
    assert media.GPS_TEXT.encode() in iphone  # timed-text track
    assert b"com.apple.quicktime.location.ISO6709" in iphone
    assert media.SEI_TEXT.encode() in android  # user-data SEI in the bitstream
    assert b"loci" in android and b"loci" in sources["3gp"].read_bytes()
    assert b"\xa9xyz" in sources["legacy"].read_bytes()


@pytest.mark.parametrize("name", ["hdr", "pq"])
def test_hdr_becomes_sdr_bt709(name: str, renditions: dict[str, Rendition]) -> None:
    assert renditions[name].source_info.is_hdr
    assert not renditions[name].info.is_hdr
    assert "yuv420p(tv, bt709, progressive)" in stream_dump(renditions[name].path)


@pytest.mark.parametrize("name", NAMES)
def test_progress_is_monotonic_and_finishes(name: str, renditions: dict[str, Rendition]) -> None:
    seen = renditions[name].progress
    assert seen and seen[-1] == 1.0
    assert list(seen) == sorted(seen) and all(0 <= p <= 1 for p in seen)


def test_cancel_from_progress_kills_and_cleans_up(sources: dict[str, Path], tmp_path: Path) -> None:
    class Cancelled(Exception):
        pass

    def cancel(_: float) -> None:
        raise Cancelled

    dst = tmp_path / "out.mp4"
    with pytest.raises(Cancelled):
        transcode(sources["android"], dst, probe(sources["android"]), progress=cancel)
    assert not dst.exists()


def test_progress_runs_on_the_calling_thread(sources: dict[str, Path], tmp_path: Path) -> None:
    # The worker's callback may write to its own (thread-bound) database session.
    threads: set[int] = set()
    transcode(
        sources["legacy"],
        tmp_path / "out.mp4",
        probe(sources["legacy"]),
        progress=lambda _: threads.add(threading.get_ident()),
    )
    assert threads == {threading.get_ident()}


def test_stderr_tail_keeps_messages_but_not_the_metadata_dump() -> None:
    stderr = (
        "Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:/w/source':\n"
        "  Metadata:\n"
        "    com.apple.quicktime.location.ISO6709: +51.5074-000.1278+010.000/\n"
        "    title           : first line\n"
        "                    : +51.5074 second line\n"
        "  Stream #0:0[0x1]: Video: hevc (Main)\n"
        "[vist#0:0/hevc @ 0x1] Error while decoding stream\n"
        "Conversion failed!\n"
    )
    tail = ffmpeg_tool.loggable_tail(stderr)
    assert "51.5074" not in tail and "Stream #0" not in tail
    assert "Error while decoding stream" in tail and tail.endswith("Conversion failed!")


def test_ffmpeg_failure_is_a_transcode_error(sources: dict[str, Path], tmp_path: Path) -> None:
    info = dataclasses.replace(probe(sources["plain"]), video_stream_index=7)
    dst = tmp_path / "out.mp4"
    with pytest.raises(TranscodeError) as caught:
        transcode(sources["plain"], dst, info)
    assert not caught.value.transient and not dst.exists()


def test_timeout_kills_ffmpeg() -> None:
    argv = ffmpeg_tool.command("-re", "-f", "lavfi", "-i", "testsrc2=duration=600", "-f", "null")
    with pytest.raises(ToolTimeout) as caught:
        ffmpeg_tool.run([*argv, "-"], timeout_s=0.5)
    assert caught.value.transient


def _info(rate: Fraction, variable: bool) -> MediaInfo:
    return MediaInfo(
        container="mp4",
        brand="isom",
        size_bytes=1,
        duration_ms=1000,
        video_stream_index=0,
        video_codec="h264",
        width=320,
        height=240,
        rotation=0,
        frame_rate=rate,
        avg_frame_rate=rate,
        variable_frame_rate=variable,
        frame_count=30,
        video_duration_ms=1000,
        pix_fmt="yuv420p",
        color_transfer=None,
        audio_stream_index=None,
        audio_codec=None,
        audio_sample_rate=None,
    )


@pytest.mark.parametrize(
    ("rate", "variable", "cap", "expected"),
    [
        (Fraction(30000, 1001), False, 60, Fraction(30000, 1001)),
        (Fraction(25), False, 60, Fraction(25)),
        (Fraction(120), False, 60, Fraction(60)),
        (Fraction(100), False, 60, Fraction(50)),
        (Fraction(240), False, 30, Fraction(30)),
        (Fraction(375, 14), True, 60, Fraction(30)),
        (Fraction(24.3), True, 60, Fraction(24)),
        (Fraction(29.4), True, 60, Fraction(30)),
        (Fraction(59), True, 60, Fraction(60)),
        (Fraction(29), True, 24, Fraction(24)),
    ],
)
def test_output_frame_rate(rate: Fraction, variable: bool, cap: int, expected: Fraction) -> None:
    assert output_frame_rate(_info(rate, variable), cap) == expected
