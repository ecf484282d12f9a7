"""render_moment: frame-accurate cuts and stills from the playback rendition, encrypted."""

from __future__ import annotations

import io
import subprocess
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import update

from ingest import jobs, moments, pipeline
from ingest.ffmpeg_tool import ffmpeg_exe
from ingest.moments import render_moment
from ingest.probe import probe
from ingest.workspace import is_empty
from storage.accounts import add_user
from storage.clock import FixedClock
from storage.db.footage import Clip
from storage.db.review import Moment
from tests import media
from tests.unit.ingest.staging import ACTOR, blobs_of, clip_row, plaintext, stage_clip
from webapp.composition import Services


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.plain_mp4(tmp_path_factory.mktemp("moment-media") / "plain.mp4", seconds=3)


@pytest.fixture
def ready_clip(sqlite_services: Services, source: Path) -> str:
    clip_id = stage_clip(sqlite_services, source)
    pipeline.process_clip(sqlite_services, clip_id)
    assert clip_row(sqlite_services, clip_id).status == "ready"
    return clip_id


def add_moment(services: Services, clip_id: str, kind: str, start: int, end: int | None) -> str:
    clip = clip_row(services, clip_id)
    with services.db.session() as session:
        user = add_user(
            session,
            services.audit,
            ACTOR,
            site_id=clip.site_id,
            email=f"f{start}-{end}-{kind}@example.org",
            role="facilitator",
            password="a long enough password",
        )
        moment = Moment(
            clip_id=clip_id,
            site_id=clip.site_id,
            kind=kind,
            start_ms=start,
            end_ms=end,
            created_by=user.id,
            created_at=services.clock.now(),
        )
        session.add(moment)
        session.flush()
        return moment.id


def moment_row(services: Services, moment_id: str) -> Moment:
    with services.db.session() as session:
        row = session.get(Moment, moment_id)
        assert row is not None
        return row


def grey_frames(path: Path, width: int, height: int) -> np.ndarray:
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width).astype(np.int16)


def nearest(frames: np.ndarray, picture: np.ndarray) -> int:
    """Index of the frame most like ``picture`` (both lossy: compare, do not equate)."""
    return int(np.argmin([np.abs(f - picture).mean() for f in frames]))


def ms(frame: int, rate: Fraction) -> int:
    return round(frame / rate * 1000)


def test_moments_and_stills_are_frame_accurate(
    sqlite_services: Services, ready_clip: str, tmp_path: Path
) -> None:
    services = sqlite_services
    clip = clip_row(services, ready_clip)
    rate = Fraction(clip.frame_rate or "0")
    assert clip.width is not None and clip.height is not None
    playback = tmp_path / "playback.mp4"
    playback.write_bytes(plaintext(services, blobs_of(services, ready_clip)["playback"]))
    frames = grey_frames(playback, clip.width, clip.height)

    cut = add_moment(services, ready_clip, "moment", ms(15, rate), ms(45, rate))
    still = add_moment(services, ready_clip, "still", ms(40, rate) + 1, None)
    render_moment(services, cut)
    render_moment(services, still)

    blobs = blobs_of(services, ready_clip)
    cut_row, still_row = moment_row(services, cut), moment_row(services, still)
    assert (cut_row.status, still_row.status) == ("ready", "ready")
    assert blobs[f"moment-{cut}"].id == cut_row.blob_id
    assert blobs[f"moment-{cut}"].content_type == "video/mp4"
    assert blobs[f"still-{still}"].content_type == "image/jpeg"

    cut_file = tmp_path / "cut.mp4"
    cut_file.write_bytes(plaintext(services, blobs[f"moment-{cut}"]))
    info = probe(cut_file)
    assert (info.video_codec, info.audio_codec, info.frame_count) == ("h264", "aac", 30)
    cut_frames = grey_frames(cut_file, clip.width, clip.height)
    assert nearest(frames, cut_frames[0]) == 15
    assert nearest(frames, cut_frames[-1]) == 44
    for marker in ("Lavf", "Lavc", "x264"):
        assert marker.encode() not in cut_file.read_bytes()

    jpeg = plaintext(services, blobs[f"still-{still}"])
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG" and image.size == (clip.width, clip.height)
        assert not image.getexif() and "comment" not in image.info
        picture = np.asarray(image.convert("L"), dtype=np.int16)
    assert nearest(frames, picture) == 40
    assert is_empty(services.settings.workspace_dir)


def test_rendering_again_is_a_no_op_until_the_moment_is_reset(
    sqlite_services: Services, ready_clip: str
) -> None:
    services = sqlite_services
    moment_id = add_moment(services, ready_clip, "still", 1000, None)
    render_moment(services, moment_id)
    first = moment_row(services, moment_id).blob_id
    render_moment(services, moment_id)
    assert moment_row(services, moment_id).blob_id == first

    with services.db.session() as session:
        session.execute(
            update(Moment).where(Moment.id == moment_id).values(status="pending", start_ms=2000)
        )
    render_moment(services, moment_id)
    renditions = [r for r in blobs_of(services, ready_clip) if r.startswith("still-")]
    assert renditions == [f"still-{moment_id}"]
    assert moment_row(services, moment_id).blob_id not in (None, first)


@pytest.mark.parametrize(
    ("kind", "start", "end"),
    [
        ("moment", 1000, 500),  # ends before it starts
        ("moment", 0, 16_000),  # longer than review.max_moment_seconds
        ("still", 60_000, None),  # after the end of the clip
        ("clip", 0, 1000),  # not a kind
    ],
)
def test_an_impossible_moment_fails_and_stores_nothing(
    sqlite_services: Services, ready_clip: str, kind: str, start: int, end: int | None
) -> None:
    before = set(blobs_of(sqlite_services, ready_clip))
    moment_id = add_moment(sqlite_services, ready_clip, kind, start, end)
    render_moment(sqlite_services, moment_id)
    row = moment_row(sqlite_services, moment_id)
    assert (row.status, row.blob_id) == ("failed", None)
    assert set(blobs_of(sqlite_services, ready_clip)) == before


def test_moments_are_rendered_by_the_queue(sqlite_services: Services, ready_clip: str) -> None:
    moment_id = add_moment(sqlite_services, ready_clip, "still", 500, None)
    jobs.enqueue_render_moment(sqlite_services, moment_id)
    assert moment_row(sqlite_services, moment_id).status == "pending"
    assert sqlite_services.queue.run_once() == 1
    assert moment_row(sqlite_services, moment_id).status == "ready"


def queued_moments(services: Services) -> list[str]:
    """Moment ids of the render jobs waiting in the queue."""
    tasks = services.queue.huey.pending()
    return [str(t.args[0]) for t in tasks if type(t).__name__ == jobs.MOMENT]


def test_recovery_requeues_moments_whose_render_was_lost(
    services: Services, source: Path, clock: FixedClock
) -> None:
    ready, busy, going = (stage_clip(services, source) for _ in range(3))
    with services.db.session() as session:
        session.execute(update(Clip).where(Clip.id.in_([ready, going])).values(status="ready"))
        session.execute(
            update(Clip).where(Clip.id == going).values(destroy_requested_at=clock.now())
        )
    lost = add_moment(services, ready, "still", 500, None)
    done = add_moment(services, ready, "still", 600, None)
    failed = add_moment(services, ready, "still", 700, None)
    add_moment(services, busy, "still", 800, None)  # its clip is not ready
    add_moment(services, going, "still", 850, None)  # its clip is being destroyed
    with services.db.session() as session:
        for moment_id, status in ((done, "ready"), (failed, "failed")):
            session.execute(update(Moment).where(Moment.id == moment_id).values(status=status))
    assert services.queue.recover_moments() == []  # a render may still be running

    clock.advance(moments.stalled_after(services) + timedelta(seconds=1))
    add_moment(services, ready, "still", 900, None)  # just created (or re-timed)
    services.queue.recover()  # the periodic job
    assert queued_moments(services) == [lost]
    services.queue.recover()
    assert queued_moments(services) == [lost]  # already waiting: not queued twice
    assert moments.stalled(services) == [lost]


def test_a_moment_retimed_while_rendering_keeps_pending_and_drops_the_stale_cut(
    sqlite_services: Services, ready_clip: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = sqlite_services
    moment_id = add_moment(services, ready_clip, "moment", 500, 1500)
    real_cut = moments._cut

    def cut_while_retimed(*args: Any) -> None:
        real_cut(*args)
        with services.db.session() as session:  # what review.moments.update_moment does
            session.execute(update(Moment).where(Moment.id == moment_id).values(end_ms=1000))

    monkeypatch.setattr(moments, "_cut", cut_while_retimed)
    render_moment(services, moment_id)

    row = moment_row(services, moment_id)
    assert (row.status, row.blob_id, row.end_ms) == ("pending", None, 1000)
    assert not [r for r in blobs_of(services, ready_clip) if r.startswith("moment-")]
    clip = clip_row(services, ready_clip)
    assert services.blobs.keys(f"{clip.site_id}/{ready_clip}/moment-") == []
    assert is_empty(services.settings.workspace_dir)

    monkeypatch.setattr(moments, "_cut", real_cut)
    render_moment(services, moment_id)  # the render the re-timing queued
    row = moment_row(services, moment_id)
    assert row.status == "ready" and row.blob_id is not None
    assert len(services.blobs.keys(f"{clip.site_id}/{ready_clip}/moment-")) == 1
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(plaintext(services, blobs_of(services, ready_clip)[f"moment-{moment_id}"]))
    assert abs(probe(cut).duration_ms - 500) < 100  # the new times, not the old


@pytest.mark.parametrize(
    "change", [{"start_ms": 2000}, {"kind": "moment", "end_ms": 2000}], ids=["time", "kind"]
)
def test_a_still_changed_while_rendering_is_not_marked_ready(
    sqlite_services: Services,
    ready_clip: str,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any],
) -> None:
    services = sqlite_services
    moment_id = add_moment(services, ready_clip, "still", 1000, None)
    real_still = moments._still

    def still_while_moved(*args: Any) -> None:
        real_still(*args)
        with services.db.session() as session:
            session.execute(update(Moment).where(Moment.id == moment_id).values(**change))

    monkeypatch.setattr(moments, "_still", still_while_moved)
    render_moment(services, moment_id)
    row = moment_row(services, moment_id)
    assert (row.status, row.blob_id) == ("pending", None)
    assert not [r for r in blobs_of(services, ready_clip) if r.startswith("still-")]
    clip = clip_row(services, ready_clip)
    assert services.blobs.keys(f"{clip.site_id}/{ready_clip}/still-") == []
