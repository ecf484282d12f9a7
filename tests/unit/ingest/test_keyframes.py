"""The keyframe proxy gives the same thumbnails as a pass over every frame, cheaply."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingest import keyframes
from ingest.ffmpeg_tool import ffmpeg_exe
from ingest.probe import probe
from ingest.thumbnails import render_thumbnails, webvtt
from ingest.transcode import transcode
from tests import media


@pytest.fixture(scope="module")
def rendition(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("keyframes")
    source = media.plain_mp4(work / "source.mp4", rate="25", seconds=7)
    out = work / "playback.mp4"
    transcode(source, out, probe(source))
    return out


def test_intervals_below_the_keyframe_distance_are_not_proxied() -> None:
    assert keyframes.usable(2.0) and keyframes.usable(5.0)
    assert not keyframes.usable(1.0)
    assert keyframes.interval_for(2.0, 3_600_000) == 2.0
    assert keyframes.interval_for(2.0, 10_000_000) == 5.0  # at most 2000 thumbnails


def grey_frames(path: Path) -> np.ndarray:
    to_grey = ["-s", "80x60", "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    raw = subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-i", str(path), *to_grey],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 60, 80).astype(np.int16)


def test_the_proxy_holds_one_keyframe_per_interval(rendition: Path, tmp_path: Path) -> None:
    proxy = tmp_path / "proxy.mov"
    count = keyframes.keyframe_proxy(rendition, proxy, interval_s=2.0, duration_ms=7000)
    assert count == 4
    every, few = grey_frames(rendition), grey_frames(proxy)
    assert len(few) == 4
    for k, frame in enumerate(few):  # frame k is the one shown at 2k s (25 fps)
        assert int(np.argmin([np.abs(f - frame).mean() for f in every])) == 50 * k


def test_thumbnails_from_the_proxy_match_a_full_pass(rendition: Path, tmp_path: Path) -> None:
    full = render_thumbnails(rendition, tmp_path / "full", interval_s=2.0, thumb_width=64)
    proxy = tmp_path / "proxy.mov"
    keyframes.keyframe_proxy(rendition, proxy, interval_s=2.0, duration_ms=7000)
    fast = render_thumbnails(proxy, tmp_path / "fast", interval_s=2.0, thumb_width=64)

    geometry = ("count", "columns", "rows", "thumb_width", "thumb_height", "interval_s")
    assert [getattr(fast, g) for g in geometry] == [getattr(full, g) for g in geometry]
    # The pipeline rewrites the track with the rendition's duration; then they agree.
    size = (fast.thumb_width, fast.thumb_height)
    assert webvtt(fast.count, fast.interval_s, 7.0, fast.columns, size, "sprite.jpg") == full.vtt
    sprites = [
        np.asarray(Image.open(t.sprite_path).convert("L"), dtype=np.int16) for t in (full, fast)
    ]
    assert np.abs(sprites[0] - sprites[1]).mean() < 4  # the same frames, JPEG noise aside
