"""Transcode an accepted upload into the one rendition browsers play.

The rendition is H.264 (high profile, yuv420p, square pixels, even dimensions, upright)
+ AAC stereo 48 kHz in MP4 with the index first (``+faststart``) so playback can start
from the first Range request. It carries no metadata at all:

* only the first video and first audio stream are mapped, so subtitle/timed-text
  tracks (which phones use for GPS) and data tracks cannot follow;
* ``-map_metadata -1`` / ``-map_chapters -1`` drop container and stream tags
  (QuickTime location keys, ``©xyz``, ``loci``, make/model, creation time);
* bitexact flags stop ffmpeg writing its own "Lavf"/"Lavc" identification and zero
  the creation times; the stream ``encoder`` tag is blanked;
* re-encoding drops any SEI user data the source bitstream carried, and the
  ``filter_units`` bitstream filter drops the SEI x264 itself writes (its version and
  full option string).

Frame rate is made constant (the ``fps`` filter, then ``-fps_mode cfr``) at a rate
derived from the source; frames are placed by their original timestamps, so a frame's
time in the rendition is its time in the original and annotations made on the
rendition stay on the frames they describe.

Bounded work: before ffmpeg starts, :func:`plan_work` declares how many frames the
rendition will have (duration x output rate) and refuses a source whose rendition would
need far more frames than it holds (IMPLAUSIBLE_TIMING). While it runs, ffmpeg is
capped at ``max_duration_s x max_frame_rate`` output frames (``-frames:v``), watched
(ingest.ffmpeg_watchdog: killed when its progress stalls or passes the declared frames
or duration) and held to RLIMIT_AS / RLIMIT_CPU sized from the frame size and the
declared frames (ingest.ffmpeg_limits).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import ffmpeg

from ingest import ffmpeg_tool
from ingest.errors import MediaRejected, RejectCategory, TranscodeError
from ingest.ffmpeg_limits import Limits, address_space_for
from ingest.ffmpeg_watchdog import ProgressWatchdog
from ingest.probe import MediaInfo, max_alloc_bytes

#: Constant rates offered for variable-frame-rate or over-fast sources.
STANDARD_RATES = tuple(Fraction(r) for r in (24, 25, 30, 50, 60))
#: Keyframe every two seconds: reviewers step and jump around, and a browser seek
#: decodes from the previous keyframe.
KEYFRAME_SECONDS = 2

# HDR to SDR BT.709; without it a 10-bit HDR clip squeezed into yuv420p looks grey.
# HLG (iPhone "HDR video") was designed to look right on SDR screens, so converting
# primaries and matrix in the gamma domain suffices and costs about as much as decoding.
# PQ is not SDR-compatible and needs real tone mapping (libzimg), which is about four
# times slower; without zscale the HLG conversion is used as a passable fallback.
_HLG_TO_SDR = "colorspace=all=bt709:iall=bt2020:itrc=bt2020-10:fast=1"
_PQ_TO_SDR = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,"
    "tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv"
)
# Square pixels and even dimensions (yuv420p needs them); autorotation, which ffmpeg
# applies to the decoded frames before this chain, has already made the frame upright.
_GEOMETRY = "scale=trunc(iw*sar/2)*2:trunc(ih/2)*2,setsar=1,format=yuv420p"


def output_frame_rate(info: MediaInfo, max_frame_rate: int = 60) -> Fraction:
    """Choose the rendition's constant frame rate.

    A constant-rate source keeps its rate (30000/1001 stays 30000/1001) unless it is
    above ``max_frame_rate``; then the highest standard rate dividing it evenly is used
    (120 → 60, 100 → 50), so frames are dropped regularly. A variable-rate source gets
    the smallest standard rate (24/25/30/50/60) at or above its typical rate (3 %
    slack), so no motion is thinned out and timestamps are kept by duplicating frames.
    """
    cap = Fraction(max_frame_rate)
    allowed = [r for r in STANDARD_RATES if r <= cap] or [cap]
    if not info.variable_frame_rate:
        if info.frame_rate <= cap:
            return max(info.frame_rate, Fraction(1))
        even = [r for r in allowed if (info.frame_rate / r).denominator == 1]
        return (even or allowed)[-1]
    floor = info.frame_rate * Fraction(97, 100)
    return next((r for r in allowed if r >= floor), allowed[-1])


@dataclass(frozen=True)
class WorkBudget:
    """What one transcode may cost, declared before it starts.

    ``frames`` is the rendition's expected frame count; the watchdog allows
    ``max_frames`` (a little slack for rounding) and ``max_out_time_us`` of output.
    ``frame_cap`` (``-frames:v``) is the absolute cap from the settings' duration and
    frame-rate limits. ``limits`` are the kernel limits ffmpeg runs under.
    """

    rate: Fraction
    frames: int
    max_frames: int
    max_out_time_us: int
    frame_cap: int
    stall_s: float
    limits: Limits


#: CPU seconds allowed per megapixel of output frame (decode, filters, x264 at the
#: default preset use ~0.013 s on this project's reference machine: 7x headroom).
CPU_SECONDS_PER_MEGAPIXEL_FRAME = 0.1
#: CPU seconds every transcode may use regardless of size (start-up, tiny clips).
CPU_SECONDS_BASE = 120
#: How many rendition frames a source frame may turn into (VFR slack, rate rounding).
MAX_FRAMES_PER_SOURCE_FRAME = 4


def plan_work(
    info: MediaInfo,
    *,
    max_frame_rate: int = 60,
    max_duration_s: float = 4 * 3600,
    stall_s: float = 60.0,
    cpu_per_megapixel_frame: float = CPU_SECONDS_PER_MEGAPIXEL_FRAME,
    tonemap: bool = False,
) -> WorkBudget:
    """Declare the work of transcoding ``info`` and refuse a source that cannot back it.

    Raises:
        MediaRejected: IMPLAUSIBLE_TIMING when the rendition would need more than
            :data:`MAX_FRAMES_PER_SOURCE_FRAME` frames per frame the source holds (a
            declared duration the frames do not back).
    """
    rate = output_frame_rate(info, max_frame_rate)
    duration = Fraction(info.duration_ms, 1000)
    frames = max(1, math.ceil(duration * rate))
    if frames > MAX_FRAMES_PER_SOURCE_FRAME * info.frame_count + 2 * rate:
        raise MediaRejected(
            RejectCategory.IMPLAUSIBLE_TIMING,
            detail=f"{frames} rendition frames from {info.frame_count} source frames",
        )
    slack = max(5, frames // 50)
    megapixels = info.width * info.height / 1e6
    # Decoding costs per source frame (a 240 fps source is decoded whole), encoding per
    # rendition frame; PQ tone mapping in float RGB costs about four times as much.
    work = max(frames, info.frame_count) * megapixels * cpu_per_megapixel_frame
    cpu = CPU_SECONDS_BASE + math.ceil(work * (4 if tonemap else 1))
    memory = address_space_for(info.width, info.height * (2 if info.is_hdr else 1))
    return WorkBudget(
        rate=rate,
        frames=frames,
        max_frames=frames + slack,
        max_out_time_us=info.duration_ms * 1000 + 2_000_000 + info.duration_ms * 20,
        frame_cap=max(1, math.ceil(max_duration_s * max_frame_rate)),
        stall_s=stall_s,
        limits=Limits(cpu_seconds=cpu, address_space_bytes=memory),
    )


def build_command(
    src: Path,
    dst: Path,
    info: MediaInfo,
    *,
    preset: str = "veryfast",
    crf: int = 23,
    audio_bitrate: str = "128k",
    max_frame_rate: int = 60,
    tonemap: bool = True,
    frame_cap: int | None = None,
) -> list[str]:
    """Return the ffmpeg argument list for :func:`transcode` (executable first).

    ``tonemap`` allows the zscale tone-mapping chain for PQ sources (needs libzimg);
    ``frame_cap`` (``-frames:v``) stops the output after that many frames.
    """
    rate = output_frame_rate(info, max_frame_rate)
    source = ffmpeg.input(
        f"file:{src.resolve()}", f="mov", protocol_whitelist="file", enable_drefs=0
    )
    streams = [source[str(info.video_stream_index)]]
    video_filter = _GEOMETRY
    options: dict[str, object] = {
        "c:v": "libx264",
        "preset": preset,
        "crf": crf,
        "profile:v": "high",
        "fps_mode": "cfr",
        "r": f"{rate.numerator}/{rate.denominator}",
        "g": max(1, round(rate * KEYFRAME_SECONDS)),
        "bsf:v": "filter_units=remove_types=6",  # 6 = SEI: x264's banner lives there
        "flags:v": "+bitexact",
        "metadata:s:v:0": "encoder=",
        "map_metadata": -1,
        "map_chapters": -1,
        "sn": None,
        "dn": None,
        "fflags": "+bitexact",
        "movflags": "+faststart",
        "f": "mp4",
    }
    if info.is_hdr:
        to_sdr = _PQ_TO_SDR if tonemap and info.color_transfer == "smpte2084" else _HLG_TO_SDR
        video_filter = f"{to_sdr},{_GEOMETRY}"
        options |= {"color_primaries": "bt709", "color_trc": "bt709", "colorspace": "bt709"}
    if frame_cap is not None:
        options["frames:v"] = frame_cap
    # The fps filter first: it places frames on the constant grid by their timestamps
    # (dropping or repeating) before the costlier filters run, and unlike output-side
    # -r alone it does not pad the end (120 fps -> 60 fps kept 1.000 s, not 1.033 s).
    options["vf"] = f"fps={rate.numerator}/{rate.denominator},{video_filter}"
    if info.audio_stream_index is not None:
        streams.append(source[str(info.audio_stream_index)])
        options |= {
            "c:a": "aac",
            "b:a": audio_bitrate,
            "ac": 2,
            "ar": 48000,
            # Fill gaps and trim priming against the timestamps, so sound stays in sync
            # with the picture over a long recording.
            "af": "aresample=async=1:first_pts=0",
            "flags:a": "+bitexact",
            "metadata:s:a:0": "encoder=",
        }
    else:
        options["an"] = None
    limit = max_alloc_bytes(info.width, info.height)
    out = (
        ffmpeg.output(*streams, f"file:{dst.resolve()}", **options)
        .global_args("-hide_banner", "-nostdin", "-loglevel", "error", "-max_alloc", str(limit))
        .overwrite_output()
    )
    argv: list[str] = out.compile(cmd=ffmpeg_tool.ffmpeg_exe())
    return argv


def transcode(
    src: Path,
    dst: Path,
    info: MediaInfo,
    *,
    preset: str = "veryfast",
    crf: int = 23,
    audio_bitrate: str = "128k",
    max_frame_rate: int = 60,
    progress: Callable[[float], None] | None = None,
    timeout_s: float | None = None,
    max_duration_s: float = 4 * 3600,
    stall_s: float = 60.0,
    cpu_per_megapixel_frame: float = CPU_SECONDS_PER_MEGAPIXEL_FRAME,
) -> WorkBudget:
    """Write the browser rendition of ``src`` (already accepted by ``probe``) to ``dst``.

    The work is declared first (:func:`plan_work`, which may refuse the source) and
    enforced while ffmpeg runs: frame cap, watchdog (``stall_s`` without progress, or
    output past the declared frames/duration) and kernel limits. ``progress`` receives
    the fraction done (0.0 to 1.0, monotonic, 1.0 on success); if it raises, ffmpeg is
    killed and the exception propagates. ``timeout_s`` defaults to five minutes plus
    four times the clip's duration (more for frames above 1080p and for PQ tone
    mapping). ``dst`` is removed on failure. Returns the budget it ran under.

    Raises:
        MediaRejected: IMPLAUSIBLE_TIMING, before ffmpeg starts (see plan_work).
        TranscodeError: ffmpeg failed (``transient`` tells the worker whether to retry);
            ToolTimeout / ToolStalled: it ran out of time or stopped progressing;
            WorkExceeded: it passed its declared work or CPU limit; ToolMissing: no ffmpeg.
    """
    tonemap = info.color_transfer == "smpte2084" and ffmpeg_tool.has_filter("zscale")
    budget = plan_work(
        info,
        max_frame_rate=max_frame_rate,
        max_duration_s=max_duration_s,
        stall_s=stall_s,
        cpu_per_megapixel_frame=cpu_per_megapixel_frame,
        tonemap=tonemap,
    )
    watchdog = ProgressWatchdog(
        stall_s=budget.stall_s,
        max_frames=budget.max_frames,
        max_out_time_us=budget.max_out_time_us,
        expected_frames=budget.frames,
    )
    argv = build_command(
        src,
        dst,
        info,
        preset=preset,
        crf=crf,
        audio_bitrate=audio_bitrate,
        max_frame_rate=max_frame_rate,
        tonemap=tonemap,
        frame_cap=budget.frame_cap,
    )
    if timeout_s is None:
        # A hang guard, not a schedule: generous for big frames and PQ tone mapping,
        # which run several times slower than real time on two cores.
        scale = max(1.0, info.width * info.height / (1920 * 1080)) * (2 if tonemap else 1)
        timeout_s = 300 + 4 * scale * info.duration_ms / 1000
    try:
        result = ffmpeg_tool.run_with_progress(
            argv,
            duration_ms=info.duration_ms,
            timeout_s=timeout_s,
            progress=progress,
            limits=budget.limits,
            watchdog=watchdog,
        )
        if result.returncode != 0:
            raise ffmpeg_tool.failure("transcode", result)
        if not dst.is_file() or dst.stat().st_size == 0:
            raise TranscodeError(
                "transcode produced no output",
                stderr_tail=ffmpeg_tool.loggable_tail(result.stderr),
            )
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    return budget
