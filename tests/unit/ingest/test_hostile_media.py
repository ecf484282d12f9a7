"""Issue 10's hostile files: each refused before any transcode, with a reason a
facilitator understands; refusals by our own byte checks never start ffmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest import ffmpeg_tool, pipeline
from ingest.errors import DEFAULT_REASONS, MediaRejected
from ingest.errors import RejectCategory as R
from ingest.probe import Caps, probe
from ingest.transcode import plan_work
from tests import hostile_media as hostile
from tests.unit.ingest.staging import stage_clip
from tests.unit.ingest.test_pipeline import assert_refused_and_destroyed
from tests.unit.ingest.test_probe import JARGON
from webapp.composition import Services


@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("hostile")
    return {
        "time-bomb": hostile.time_bomb_mp4(work / "time-bomb.mp4"),
        "thin-frames": hostile.spaced_frames_mp4(work / "thin.mp4", frames=20, step_s=4, fast=60),
        "half-thin": hostile.spaced_frames_mp4(work / "half.mp4", frames=30, step_s=4, fast=30),
        "streams-4": hostile.many_streams_mp4(work / "s4.mp4", audio_streams=3),
        "streams-5": hostile.many_streams_mp4(work / "s5.mp4", audio_streams=4),
        "streams-21": hostile.many_streams_mp4(work / "s21.mp4", audio_streams=20),
        "dref-file": hostile.dref_mp4(work / "dref-file.mp4", work, url="file:///etc/passwd"),
        "dref-http": hostile.dref_mp4(work / "dref-http.mp4", work, url="http://127.0.0.1/"),
        "dref-urn": hostile.dref_mp4(work / "dref-urn.mp4", work, url="urn:x", kind=b"urn "),
        "zero-durations": hostile.zero_durations_mp4(work / "zero.mp4", work),
    }


#: name -> (category, refused by our byte checks before ffmpeg starts)
REFUSED = {
    "time-bomb": (R.IMPLAUSIBLE_TIMING, False),
    "thin-frames": (R.IMPLAUSIBLE_TIMING, False),
    "streams-5": (R.TOO_MANY_STREAMS, True),
    "streams-21": (R.TOO_MANY_STREAMS, True),
    "dref-file": (R.EXTERNAL_REFERENCE, True),
    "dref-http": (R.EXTERNAL_REFERENCE, True),
    "dref-urn": (R.EXTERNAL_REFERENCE, True),
    "zero-durations": (R.NO_DURATION, False),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_hostile_file_is_refused_with_a_plain_reason(
    name: str, hostile_files: dict[str, Path]
) -> None:
    category, _ = REFUSED[name]
    with pytest.raises(MediaRejected) as caught:
        probe(hostile_files[name])
    assert caught.value.category is category, caught.value.detail
    reason = caught.value.reason
    assert reason == DEFAULT_REASONS[category]
    assert reason[0].isupper() and reason.endswith(".")
    assert not any(word in reason.lower() for word in JARGON), reason


@pytest.mark.parametrize("name", sorted(n for n, (_, early) in REFUSED.items() if early))
def test_track_and_reference_refusals_never_start_ffmpeg(
    name: str, hostile_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("ffmpeg must not see this file")

    monkeypatch.setattr(ffmpeg_tool, "run", forbidden)
    with pytest.raises(MediaRejected) as caught:
        probe(hostile_files[name])
    assert caught.value.category is REFUSED[name][0]


def test_four_tracks_pass_and_five_do_not(hostile_files: dict[str, Path]) -> None:
    info = probe(hostile_files["streams-4"])
    assert len(info.streams) == 4 and info.has_audio
    with pytest.raises(MediaRejected, match="more tracks"):
        probe(hostile_files["streams-5"])
    # The limit is a setting: a deployment may allow more.
    assert len(probe(hostile_files["streams-5"], caps=Caps(max_streams=5)).streams) == 5


def test_ffmpeg_counts_streams_too_when_the_byte_walk_is_lenient(
    hostile_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Second layer on its own: ffmpeg's stream list is counted against the same cap.
    import ingest.probe as probe_module

    monkeypatch.setattr(probe_module, "check_structure", lambda *a, **k: None)
    with pytest.raises(MediaRejected) as caught:
        probe(hostile_files["streams-5"])
    assert caught.value.category is R.TOO_MANY_STREAMS
    assert caught.value.detail == "5 streams"


def test_time_bomb_gap_limit_is_a_setting(hostile_files: dict[str, Path]) -> None:
    with pytest.raises(MediaRejected) as caught:
        probe(hostile_files["time-bomb"], caps=Caps(max_frame_gap_s=20_000))
    # Without the gap rule, the average-interval rule still refuses it.
    assert caught.value.category is R.IMPLAUSIBLE_TIMING
    assert "average frame interval" in caught.value.detail


def test_thinly_backed_duration_is_caught_by_the_work_plan(
    hostile_files: dict[str, Path],
) -> None:
    # Half the frames 33 ms apart, half 4 s apart: no gap over 5 s and a "typical"
    # interval of 4 s, so the probe accepts it; a 24 fps rendition would need ~48
    # frames per source frame, which the plan refuses before ffmpeg starts.
    info = probe(hostile_files["half-thin"])
    assert info.variable_frame_rate and info.frame_count == 60
    with pytest.raises(MediaRejected) as caught:
        plan_work(info)
    assert caught.value.category is R.IMPLAUSIBLE_TIMING


def test_the_pipeline_refuses_the_time_bomb_before_transcoding(
    services: Services, hostile_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_transcode(*args: object, **kwargs: object) -> None:
        raise AssertionError("the transcode must not start")

    monkeypatch.setattr(pipeline, "transcode", no_transcode)
    clip_id = stage_clip(services, hostile_files["time-bomb"])
    pipeline.process_clip(services, clip_id)
    assert_refused_and_destroyed(services, clip_id, DEFAULT_REASONS[R.IMPLAUSIBLE_TIMING])


def test_the_pipeline_refuses_a_thin_clip_at_the_work_plan(
    services: Services, hostile_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[object] = []
    monkeypatch.setattr(ffmpeg_tool, "run_with_progress", lambda *a, **k: started.append(a))
    clip_id = stage_clip(services, hostile_files["half-thin"])
    pipeline.process_clip(services, clip_id)
    assert started == []
    assert_refused_and_destroyed(services, clip_id, DEFAULT_REASONS[R.IMPLAUSIBLE_TIMING])
