"""A keyframe proxy of the playback rendition, so thumbnailing need not decode it all.

ingest.thumbnails makes poster, sprite and WebVTT track in one sequential pass over a
video. Over the full rendition that pass decodes every frame: for a 60 s 1080p clip
about 15 % of the transcode's own time, more than the whole ingest may add
(bench/ingest.py). Scrubbing thumbnails do not need every frame: the rendition has a
keyframe at least every ``ingest.transcode.KEYFRAME_SECONDS``, so this module decodes
the keyframes only (``-skip_frame nokey``) and resamples them to one frame per
thumbnail interval. Frame ``k`` of the proxy is the keyframe nearest ``k * interval``
(at most half a keyframe distance away); the proxy is a tiny constant-rate MJPEG
movie at full resolution (the poster comes from it), and thumbnails reads it like
any rendition. Cost: a few dozen decoded frames instead of thousands.

Only for intervals of at least the keyframe distance (:func:`usable`); shorter ones
would repeat keyframes and thumbnail the full rendition instead.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

from ingest import ffmpeg_tool
from ingest.transcode import KEYFRAME_SECONDS

#: As ingest.thumbnails: past this many thumbnails the interval is stretched.
MAX_THUMBNAILS = 2000


def interval_for(interval_s: float, duration_ms: int) -> float:
    """The thumbnail interval for a clip: ``interval_s``, stretched for very long clips
    so there are at most :data:`MAX_THUMBNAILS`."""
    return max(interval_s, duration_ms / 1000 / MAX_THUMBNAILS)


def usable(interval_s: float) -> bool:
    """Whether every interval of this length holds at least one keyframe."""
    return interval_s >= KEYFRAME_SECONDS


def keyframe_proxy(rendition: Path, target: Path, *, interval_s: float, duration_ms: int) -> int:
    """Write the proxy of ``rendition`` (our own MP4) to ``target``; returns its frames.

    It has ``ceil(duration / interval_s)`` frames at ``1 / interval_s`` frames per
    second: one per thumbnail.

    Raises:
        TranscodeError: ffmpeg failed (``transient`` as usual); ToolMissing: no ffmpeg.
    """
    count = max(1, math.ceil(duration_ms / 1000 / interval_s - 1e-9))
    rate = Fraction(1) / Fraction(interval_s).limit_denominator(1000)
    argv = ffmpeg_tool.command(
        *("-v", "error", "-skip_frame", "nokey"),
        # Our own file, but the same guard as for uploads: forced demuxer, files only.
        *("-f", "mov", "-protocol_whitelist", "file", "-enable_drefs", "0"),
        *("-i", f"file:{rendition.resolve()}", "-map", "0:v:0", "-an", "-sn", "-dn"),
        # Hold the last keyframe to the end, so the tail gets a thumbnail too.
        *("-vf", f"tpad=stop_mode=clone:stop_duration={interval_s},fps={rate}"),
        *("-frames:v", str(count), "-c:v", "mjpeg", "-q:v", "2"),
        *("-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact"),
        *("-f", "mov", "-y", f"file:{target.resolve()}"),
    )
    result = ffmpeg_tool.run(argv, timeout_s=300 + duration_ms / 1000)
    if result.returncode != 0 or not target.is_file():
        raise ffmpeg_tool.failure("keyframe proxy", result)
    return count
