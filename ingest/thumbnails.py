"""Poster frame, thumbnail sprite and WebVTT thumbnail track for a rendition.

One sequential pass over the transcoded rendition with OpenCV: every frame is
``grab()``-ed (decoded) and only the frames that are needed are ``retrieve()``-d
(converted to BGR). Seeking (``CAP_PROP_POS_FRAMES``) is avoided on purpose: on
sparse-keyframe video each seek decodes from the previous keyframe and is about four
times slower than one pass that serves poster, sprite and track together.

JPEGs are written by Pillow from pixel arrays, so they carry no EXIF or other
metadata; only the rendition (already stripped) is ever read.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from ingest.errors import ThumbnailError
from ingest.workspace import write_private

#: A poster candidate darker than this mean luma, or flatter than this standard
#: deviation, is a black or blank frame (lens cap, fade-in); a later one is tried.
_BLANK_MEAN = 16.0
_BLANK_STD = 6.0
_POSTER_RETRY_S = 0.5

Frame = Any  # numpy.ndarray of shape (h, w, 3), BGR; cv2 ships no usable stubs


@dataclass(frozen=True)
class Thumbnails:
    """Files written by :func:`render_thumbnails` and the sprite's geometry.

    Thumbnail ``k`` (0-based) covers ``[k*interval_s, (k+1)*interval_s)`` and sits at
    ``x = (k % columns) * thumb_width``, ``y = (k // columns) * thumb_height``.
    """

    poster_path: Path
    poster_time_s: float
    sprite_path: Path
    vtt_path: Path
    vtt: str
    thumb_width: int
    thumb_height: int
    columns: int
    rows: int
    count: int
    interval_s: float
    duration_s: float


def render_thumbnails(
    video: Path,
    out_dir: Path,
    *,
    interval_s: float,
    thumb_width: int,
    sprite_url: str = "sprite.jpg",
    columns: int = 10,
    max_thumbnails: int = 2000,
    poster_fraction: float = 0.1,
    poster_max_width: int = 1280,
    jpeg_quality: int = 82,
) -> Thumbnails:
    """Write ``poster.jpg``, ``sprite.jpg`` and ``thumbnails.vtt`` into ``out_dir``.

    The poster is the first non-blank frame at or after ``poster_fraction`` of the
    duration (falling back to the most detailed frame seen). The sprite holds one
    ``thumb_width``-wide thumbnail every ``interval_s`` seconds in a grid of
    ``columns``; for very long clips the interval is stretched so there are at most
    ``max_thumbnails`` (the actual interval is returned). The WebVTT cues point at
    ``{sprite_url}#xywh=x,y,w,h``.

    Raises:
        ThumbnailError: the video cannot be opened or yields no frames.
        ValueError: a non-positive ``interval_s``, ``thumb_width`` or ``columns``.
    """
    if interval_s <= 0 or thumb_width <= 0 or columns <= 0:
        raise ValueError("interval_s, thumb_width and columns must be positive")
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise ThumbnailError(f"OpenCV cannot open {video.name}")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if fps <= 0 or frames <= 0 or width <= 0 or height <= 0:
            raise ThumbnailError("rendition reports no frame rate, frames or size")
        duration = frames / fps
        interval = max(interval_s, duration / max_thumbnails)
        count = max(1, math.ceil(duration / interval - 1e-9))
        thumb_height = max(2, round(thumb_width * height / width / 2) * 2)
        pass_ = _Pass(capture, fps, duration, interval, count, poster_fraction)
        thumbs, poster, poster_time = pass_.run((thumb_width, thumb_height))
    finally:
        capture.release()

    count = len(thumbs)
    cols = min(columns, count)
    rows = math.ceil(count / cols)
    sheet = np.zeros((rows * thumb_height, cols * thumb_width, 3), dtype=np.uint8)
    for k, thumb in enumerate(thumbs):
        y, x = (k // cols) * thumb_height, (k % cols) * thumb_width
        sheet[y : y + thumb_height, x : x + thumb_width] = thumb

    # Never parents=True: a job directory removed on shutdown must not come back.
    out_dir.mkdir(mode=0o700, exist_ok=True)
    poster_path, sprite_path = out_dir / "poster.jpg", out_dir / "sprite.jpg"
    vtt_path = out_dir / "thumbnails.vtt"
    if poster.shape[1] > poster_max_width:
        scaled_h = round(poster.shape[0] * poster_max_width / poster.shape[1])
        poster = cv2.resize(poster, (poster_max_width, scaled_h), interpolation=cv2.INTER_AREA)
    _save_jpeg(poster, poster_path, jpeg_quality)
    _save_jpeg(sheet, sprite_path, jpeg_quality)
    vtt = webvtt(count, interval, duration, cols, (thumb_width, thumb_height), sprite_url)
    write_private(vtt_path, vtt.encode("utf-8"))
    return Thumbnails(
        poster_path=poster_path,
        poster_time_s=poster_time,
        sprite_path=sprite_path,
        vtt_path=vtt_path,
        vtt=vtt,
        thumb_width=thumb_width,
        thumb_height=thumb_height,
        columns=cols,
        rows=rows,
        count=count,
        interval_s=interval,
        duration_s=duration,
    )


class _Pass:
    """The single sequential decode, collecting thumbnails and a poster as it goes."""

    def __init__(
        self,
        capture: Any,
        fps: float,
        duration: float,
        interval: float,
        count: int,
        poster_fraction: float,
    ) -> None:
        self.capture, self.fps, self.interval, self.count = capture, fps, interval, count
        self.poster_at = min(max(poster_fraction, 0.0), 1.0) * duration
        self.poster: Frame | None = None
        self.poster_time = 0.0
        self.best: tuple[float, Frame, float] | None = None  # (detail, frame, time)

    def run(self, size: tuple[int, int]) -> tuple[list[Frame], Frame, float]:
        thumbs: list[Frame] = []
        half = 0.5 / self.fps
        index = 0
        while (len(thumbs) < self.count or self.poster is None) and self.capture.grab():
            t = index / self.fps  # the rendition is constant-rate: index/fps is exact
            index += 1
            want_thumb = len(thumbs) < self.count and t + half >= len(thumbs) * self.interval
            want_poster = self.poster is None and t + half >= self.poster_at
            if not (want_thumb or want_poster):
                continue
            ok, frame = self.capture.retrieve()
            if not ok or frame is None:
                continue
            if want_thumb:
                small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
                # An interval shorter than a frame gives several cells the same picture.
                while len(thumbs) < self.count and t + half >= len(thumbs) * self.interval:
                    thumbs.append(small)
            if want_poster:
                self._consider_poster(frame, t)
        if not thumbs:
            raise ThumbnailError("no frame could be decoded from the rendition")
        if self.poster is None:
            if self.best is None:  # the poster point lies past the last decodable frame
                return thumbs, thumbs[-1], (len(thumbs) - 1) * self.interval
            _, self.poster, self.poster_time = self.best
        return thumbs, self.poster, self.poster_time

    def _consider_poster(self, frame: Frame, t: float) -> None:
        grey = cv2.cvtColor(cv2.resize(frame, (64, 36)), cv2.COLOR_BGR2GRAY)
        mean, std = float(grey.mean()), float(grey.std())
        if mean >= _BLANK_MEAN and std >= _BLANK_STD:
            self.poster, self.poster_time = frame.copy(), t
            return
        if self.best is None or std > self.best[0]:
            self.best = (std, frame.copy(), t)
        self.poster_at = t + _POSTER_RETRY_S


def webvtt(
    count: int,
    interval: float,
    duration: float,
    columns: int,
    size: tuple[int, int],
    sprite_url: str,
) -> str:
    """Build the WebVTT thumbnail track: one cue per sprite cell, the last ending at
    ``duration``."""
    width, height = size
    lines = ["WEBVTT", ""]
    for k in range(count):
        start = k * interval
        end = duration if k == count - 1 else (k + 1) * interval
        x, y = (k % columns) * width, (k // columns) * height
        lines += [
            f"{_timestamp(start)} --> {_timestamp(max(end, start + 0.001))}",
            f"{sprite_url}#xywh={x},{y},{width},{height}",
            "",
        ]
    return "\n".join(lines)


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _save_jpeg(bgr: Frame, path: Path, quality: int) -> None:
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    # Built from raw pixels, the image has no EXIF/XMP/ICC to carry over.
    encoded = io.BytesIO()
    Image.fromarray(rgb).save(encoded, format="JPEG", quality=quality, optimize=True)
    write_private(path, encoded.getvalue())  # mode 0600: it is footage
