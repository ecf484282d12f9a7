"""Is this footage's timing something a camera records? Decided from counted packets.

A container's durations are just numbers an uploader can write. The transcode's work
is set by them (a constant-rate rendition has duration x rate frames), so a file with
21 frames whose last timestamp is four hours in would make the worker produce
hundreds of thousands of frames. Before any transcode, the probe therefore counts the
real packets of every stream (ingest.probe, pass A) and this module refuses:

* **no real duration**: fewer than two video frames with distinct timestamps (every
  duration zeroed makes a "40 ms clip" of a whole recording);
* **a long gap**: two consecutive video frames or audio packets further apart than
  ``max_gap_s`` (cameras do not pause mid-file; a paused recording is a new file);
* **a thinly backed duration**: a video track whose average frame interval is more
  than ``max_ratio`` times its typical (median) one, i.e. the duration is not backed
  by frames even though no single gap is long;
* **a late start**: a stream whose first timestamp lies more than ``max_gap_s`` in
  (the audio resampler would fill the gap with silence, the frame-rate filter with
  copies);
* **an unbacked header**: a container duration longer than what the packets span
  (plus ``max_gap_s``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from ingest.errors import MediaRejected, RejectCategory

R = RejectCategory


@dataclass(frozen=True)
class TrackTiming:
    """What the packets of one stream say about time (seconds, exact)."""

    kind: str  # "video" | "audio"
    packets: int
    start_s: Fraction  # first presentation time
    span_s: Fraction  # first presentation time to the end of the last packet
    dts_span_s: Fraction  # first to last decoding time
    typical_interval_s: Fraction | None  # median positive decoding-time step
    max_gap_s: Fraction  # longest decoding-time step


def check_timing(
    tracks: Sequence[TrackTiming],
    *,
    header_duration_ms: int | None,
    max_gap_s: float,
    max_ratio: float,
) -> None:
    """Refuse timing no camera produces (see the module docstring for the rules).

    Raises:
        MediaRejected: NO_DURATION or IMPLAUSIBLE_TIMING; ``detail`` names the rule
            and the numbers, for operators.
    """
    video = next((t for t in tracks if t.kind == "video"), None)
    if video is None or video.packets < 2 or video.typical_interval_s is None:
        raise MediaRejected(R.NO_DURATION, detail="fewer than two distinct frame times")
    if video.span_s <= 0 or video.dts_span_s <= 0:
        raise MediaRejected(R.NO_DURATION, detail="video spans no time")
    for track in tracks:
        if track.max_gap_s > max_gap_s:
            raise MediaRejected(
                R.IMPLAUSIBLE_TIMING,
                detail=f"{track.kind} gap of {float(track.max_gap_s):.1f} s",
            )
        if track.start_s > max_gap_s:
            raise MediaRejected(
                R.IMPLAUSIBLE_TIMING,
                detail=f"{track.kind} starts at {float(track.start_s):.1f} s",
            )
    average = video.dts_span_s / (video.packets - 1)
    if average > video.typical_interval_s * Fraction(max_ratio):
        raise MediaRejected(
            R.IMPLAUSIBLE_TIMING,
            detail=(
                f"average frame interval {float(average) * 1000:.0f} ms vs typical "
                f"{float(video.typical_interval_s) * 1000:.0f} ms"
            ),
        )
    backed_ms = max(t.span_s for t in tracks) * 1000
    if header_duration_ms is not None and header_duration_ms > backed_ms + max_gap_s * 1000:
        raise MediaRejected(
            R.IMPLAUSIBLE_TIMING,
            detail=f"header says {header_duration_ms} ms, packets span {float(backed_ms):.0f} ms",
        )
