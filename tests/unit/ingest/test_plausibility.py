"""ingest.plausibility and the work plan: each timing rule and its boundary on its own."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from pathlib import Path

import pytest

from ingest.errors import MediaRejected
from ingest.errors import RejectCategory as R
from ingest.plausibility import TrackTiming, check_timing
from ingest.probe import probe
from ingest.transcode import MAX_FRAMES_PER_SOURCE_FRAME, build_command, plan_work
from tests import media

F = Fraction
CAMERA = TrackTiming(
    kind="video",
    packets=301,
    start_s=F(0),
    span_s=F(301, 30),
    dts_span_s=F(10),
    typical_interval_s=F(1, 30),
    max_gap_s=F(1, 30),
)
SOUND = TrackTiming("audio", 470, F(0), F(10), F(10), F(1024, 48000), F(1024, 48000))


def check(*tracks: TrackTiming, header_ms: int | None = 10_033) -> None:
    check_timing(tracks, header_duration_ms=header_ms, max_gap_s=5.0, max_ratio=4.0)


def refused(*tracks: TrackTiming, header_ms: int | None = 10_033) -> MediaRejected:
    with pytest.raises(MediaRejected) as caught:
        check(*tracks, header_ms=header_ms)
    return caught.value


def test_a_camera_recording_passes() -> None:
    check(CAMERA, SOUND)
    check(CAMERA, header_ms=None)


@pytest.mark.parametrize("track", ["video", "audio"])
def test_a_gap_is_allowed_up_to_the_limit_and_not_beyond(track: str) -> None:
    def with_gap(gap: Fraction) -> tuple[TrackTiming, TrackTiming]:
        if track == "video":
            return dataclasses.replace(CAMERA, max_gap_s=gap), SOUND
        return CAMERA, dataclasses.replace(SOUND, max_gap_s=gap)

    check(*with_gap(F(5)))
    error = refused(*with_gap(F(5) + F(1, 1000)))
    assert error.category is R.IMPLAUSIBLE_TIMING and error.detail.startswith(track)


def test_average_interval_far_above_the_typical_one_is_refused() -> None:
    # 301 frames whose typical step is 1/30 s: an average of 4/30 s passes, more does not.
    check(dataclasses.replace(CAMERA, dts_span_s=F(4, 30) * 300, span_s=F(40)), header_ms=40_000)
    thin = dataclasses.replace(CAMERA, dts_span_s=F(4, 30) * 300 + F(1, 100), span_s=F(41))
    assert "average frame interval" in refused(thin, header_ms=41_000).detail


@pytest.mark.parametrize(
    "change",
    [
        {"packets": 1},
        {"typical_interval_s": None},
        {"span_s": F(0)},
        {"dts_span_s": F(0)},
    ],
)
def test_no_real_duration_is_refused(change: dict[str, object]) -> None:
    assert refused(dataclasses.replace(CAMERA, **change)).category is R.NO_DURATION  # type: ignore[arg-type]


def test_no_video_timing_at_all_is_no_duration() -> None:
    assert refused(SOUND).category is R.NO_DURATION


def test_a_late_starting_stream_is_refused() -> None:
    check(CAMERA, dataclasses.replace(SOUND, start_s=F(5)))
    late = dataclasses.replace(SOUND, start_s=F(5) + F(1, 1000))
    assert "starts at" in refused(CAMERA, late).detail


def test_a_header_duration_the_packets_do_not_back_is_refused() -> None:
    check(CAMERA, header_ms=10_033 + 5_000)
    assert "header says" in refused(CAMERA, header_ms=10_034 + 5_000).detail


def test_work_plan_declares_frames_and_caps(tmp_path: Path) -> None:
    info = probe(media.plain_mp4(tmp_path / "plain.mp4", seconds=2))
    budget = plan_work(info, max_frame_rate=60, max_duration_s=600, stall_s=7)
    expected = math.ceil(F(info.duration_ms, 1000) * F(30000, 1001))  # audio ends last
    assert budget.rate == F(30000, 1001) and budget.frames == expected
    assert budget.max_frames == expected + 5 and budget.frame_cap == 600 * 60
    assert budget.stall_s == 7
    assert budget.limits.cpu_seconds is not None and budget.limits.cpu_seconds >= 120
    assert budget.limits.address_space_bytes is not None
    assert budget.limits.address_space_bytes >= 1024**3
    argv = build_command(tmp_path / "in.mp4", tmp_path / "out.mp4", info, frame_cap=36_000)
    assert argv[argv.index("-frames:v") + 1] == "36000"


def test_work_plan_refuses_more_rendition_frames_than_the_source_backs(tmp_path: Path) -> None:
    info = probe(media.plain_mp4(tmp_path / "plain.mp4", seconds=2))
    info = dataclasses.replace(info, duration_ms=100_000)  # 100 s at 30000/1001
    frames = math.ceil(F(100) * info.frame_rate)
    slack = 2 * info.frame_rate
    fewest = math.ceil((frames - slack) / MAX_FRAMES_PER_SOURCE_FRAME)
    assert plan_work(dataclasses.replace(info, frame_count=fewest)).frames == frames
    with pytest.raises(MediaRejected) as caught:
        plan_work(dataclasses.replace(info, frame_count=fewest - 1))
    assert caught.value.category is R.IMPLAUSIBLE_TIMING
