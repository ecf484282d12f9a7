"""render_thumbnails(): poster, sprite and WebVTT track from one pass over a rendition."""

from __future__ import annotations

import itertools
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingest.errors import ThumbnailError
from ingest.thumbnails import Thumbnails, render_thumbnails, webvtt
from tests import media
from tests.unit.ingest.conftest import Rendition

CUE = re.compile(
    r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n"
    r"(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)\n"
)


def cues(vtt: str) -> list[tuple[float, float, str, tuple[int, int, int, int]]]:
    def secs(h: str, m: str, s: str, ms: str) -> float:
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    return [
        (secs(*g[0:4]), secs(*g[4:8]), g[8], (int(g[9]), int(g[10]), int(g[11]), int(g[12])))
        for g in CUE.findall(vtt)
    ]


@pytest.fixture(scope="module")
def plain(renditions: dict[str, Rendition], tmp_path_factory: pytest.TempPathFactory) -> Thumbnails:
    out = tmp_path_factory.mktemp("thumbs-plain")
    return render_thumbnails(renditions["plain"].path, out, interval_s=0.5, thumb_width=80)


def test_geometry(plain: Thumbnails) -> None:
    # 60 frames at 30000/1001 last 2.002 s, but no frame starts in the 2 ms after 2.0 s:
    # four half-second cells, the last one stretched to the end.
    assert abs(plain.duration_s - 2.002) < 0.001
    assert (plain.count, plain.columns, plain.rows, plain.interval_s) == (4, 4, 1, 0.5)
    assert (plain.thumb_width, plain.thumb_height) == (80, 60)
    with Image.open(plain.sprite_path) as sprite:
        assert sprite.format == "JPEG"
        assert sprite.size == (plain.columns * 80, plain.rows * 60)
    with Image.open(plain.poster_path) as poster:
        assert poster.size == (320, 240)


def test_outputs_are_private_whatever_the_umask(
    renditions: dict[str, Rendition], tmp_path: Path
) -> None:
    previous = os.umask(0o022)
    try:
        thumbs = render_thumbnails(
            renditions["plain"].path, tmp_path / "thumbs", interval_s=1, thumb_width=64
        )
    finally:
        os.umask(previous)
    files = (thumbs.poster_path, thumbs.sprite_path, thumbs.vtt_path)
    assert [stat.S_IMODE(p.stat().st_mode) for p in files] == [0o600] * 3
    assert stat.S_IMODE((tmp_path / "thumbs").stat().st_mode) == 0o700


def test_vtt_track_covers_the_clip(plain: Thumbnails) -> None:
    assert plain.vtt.startswith("WEBVTT\n\n")
    assert plain.vtt_path.read_text(encoding="utf-8") == plain.vtt
    parsed = cues(plain.vtt)
    assert len(parsed) == plain.count
    assert parsed[0][0] == 0.0 and parsed[-1][1] == pytest.approx(plain.duration_s, abs=0.001)
    for (_, end, _, _), (start, _, _, _) in itertools.pairwise(parsed):
        assert end == start  # contiguous, no gaps for the scrubber
    for k, (_, _, url, (x, y, w, h)) in enumerate(parsed):
        assert url == "sprite.jpg"
        assert (x, y, w, h) == ((k % plain.columns) * 80, (k // plain.columns) * 60, 80, 60)


def test_cells_show_different_moments(plain: Thumbnails) -> None:
    with Image.open(plain.sprite_path) as sprite:
        pixels = np.asarray(sprite.convert("RGB"), dtype=np.int16)
    cells = [pixels[:, k * 80 : (k + 1) * 80] for k in range(plain.count)]
    for a, b in itertools.pairwise(cells):
        assert np.abs(a - b).mean() > 2  # testsrc2 moves: no two cells are the same frame
    assert all(cell.mean() > 20 for cell in cells)  # and none is an empty black cell


def test_jpegs_carry_no_metadata(plain: Thumbnails) -> None:
    for path in (plain.poster_path, plain.sprite_path):
        data = path.read_bytes()
        assert b"Exif" not in data and b"http://ns.adobe.com/xap" not in data
        with Image.open(path) as image:
            assert not image.getexif()
            assert "exif" not in image.info and "icc_profile" not in image.info


def test_portrait_rendition_gives_portrait_thumbnails(
    renditions: dict[str, Rendition], tmp_path: Path
) -> None:
    thumbs = render_thumbnails(renditions["iphone"].path, tmp_path, interval_s=1, thumb_width=60)
    assert thumbs.thumb_height == 80
    with Image.open(thumbs.poster_path) as poster:
        assert poster.width < poster.height


def test_poster_skips_black_frames(tmp_path: Path) -> None:
    clip = media.black_start_mp4(tmp_path / "black-start.mp4")
    thumbs = render_thumbnails(clip, tmp_path / "out", interval_s=1, thumb_width=64)
    assert thumbs.poster_time_s >= 1.0
    with Image.open(thumbs.poster_path) as poster:
        assert np.asarray(poster.convert("L")).mean() > 40


def test_long_clips_stretch_the_interval(renditions: dict[str, Rendition], tmp_path: Path) -> None:
    thumbs = render_thumbnails(
        renditions["android"].path, tmp_path, interval_s=0.1, thumb_width=40, max_thumbnails=4
    )
    assert thumbs.count <= 4 and thumbs.interval_s >= thumbs.duration_s / 4
    assert len(cues(thumbs.vtt)) == thumbs.count


def test_sprite_url_columns_and_poster_width(
    renditions: dict[str, Rendition], tmp_path: Path
) -> None:
    url = "/clips/7/media/sprite.jpg"
    thumbs = render_thumbnails(
        renditions["android"].path,
        tmp_path,
        interval_s=0.5,
        thumb_width=40,
        sprite_url=url,
        columns=4,
        poster_max_width=100,
    )
    assert (thumbs.columns, thumbs.rows) == (4, 2)
    assert {c[2] for c in cues(thumbs.vtt)} == {url}
    assert cues(thumbs.vtt)[5][3] == (40, 30, 40, 30)
    with Image.open(thumbs.poster_path) as poster:
        assert poster.width == 100


def test_not_a_video_is_a_thumbnail_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ThumbnailError):
        render_thumbnails(bogus, tmp_path / "out", interval_s=1, thumb_width=80)


@pytest.mark.parametrize(("interval", "width"), [(0, 80), (-1, 80), (1, 0)])
def test_bad_parameters(interval: float, width: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        render_thumbnails(tmp_path / "x.mp4", tmp_path, interval_s=interval, thumb_width=width)


def test_webvtt_timestamps_past_an_hour() -> None:
    vtt = webvtt(2, 3600.5, 7201.0, 10, (160, 90), "s.jpg")
    assert "01:00:00.500 --> 02:00:01.000\ns.jpg#xywh=160,0,160,90" in vtt
