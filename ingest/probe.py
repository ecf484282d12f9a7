"""Decide whether an upload is plain tablet video, and describe it.

Allow-list, in this order (cheapest and least exposed first):

1. Size: empty, or larger than ``Caps.max_bytes``, is refused without reading.
2. Magic bytes, read by us: only ISO-BMFF/QuickTime files are accepted, i.e. an
   ``ftyp`` box whose brand is an MP4, QuickTime or 3GPP *video* brand, or a legacy
   QuickTime file starting with a ``moov``/``mdat``/``wide``/``free``/``skip`` atom.
   Everything else (playlists, ffconcat and SDP files, images, audio, archives, text,
   Matroska/WebM, AVI, MPEG-TS, ...) is refused before ffmpeg sees it. WebM is refused
   on purpose: Android's camera apps write MP4, and accepting it would expose the
   Matroska demuxer as well.
3. Top-level box walk: a box running past the end of the file, or no ``moov`` box, is
   a recording that was cut off; a ``moov`` without a ``vide`` track has no picture;
   more than ``Caps.max_streams`` tracks, or a data reference pointing outside the
   file, is not tablet footage (ingest.sniff).
4. ffmpeg pass A, demuxing only (``-f mov`` forced, ``-protocol_whitelist file``,
   external data references off, ``-c copy -f framecrc``; ingest.demux_pass): codecs
   and dimensions come from the framecrc header (machine-written, unlike the stream
   dump, whose metadata an uploader controls), durations and frame timing from the
   counted packets, which must be plausible for a camera (ingest.plausibility: no
   long gaps, a duration backed by frames, a real duration at all).
5. Caps on dimensions and duration, the codec allow-lists.
6. ffmpeg pass B decodes the first second with ``-xerror``: a file that passes the
   structural checks but does not decode is refused as damaged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ingest import demux_pass, ffmpeg_tool
from ingest.errors import MediaRejected, RejectCategory
from ingest.plausibility import check_timing
from ingest.sniff import check_structure, sniff

R = RejectCategory

ALLOWED_VIDEO_CODECS = frozenset({"h264", "hevc", "mpeg4"})
ALLOWED_AUDIO_CODECS = frozenset(
    {"aac", "mp3", "alac", "opus", "ac3", "eac3", "amr_nb", "amr_wb"}
    | {"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_f32le", "pcm_f32be"}
)
#: Frame rates phones actually record at; measured rates this close snap to them.
_RATES = ((24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1), (48, 1), (50, 1))
KNOWN_RATES = tuple(
    Fraction(n, d) for n, d in (*_RATES, (60000, 1001), (60, 1), (120, 1), (240, 1))
)
_GIB = 1024**3


@dataclass(frozen=True)
class Caps:
    """Limits an upload must respect. Width and height are orientation-agnostic: the
    long side is held to the larger cap, the short side to the smaller one."""

    max_bytes: int = 8 * _GIB
    max_duration_s: float = 4 * 3600
    max_width: int = 4096
    max_height: int = 4096
    #: Tracks a tablet writes: video, sound and a metadata track or two.
    max_streams: int = 4
    #: Longest pause between two consecutive frames (or audio packets) a camera makes.
    max_frame_gap_s: float = 5.0
    #: How far the average frame interval may exceed the typical (median) one.
    max_interval_ratio: float = 4.0


@dataclass(frozen=True)
class StreamSummary:
    """One stream of the source as ffmpeg listed it (index, kind, codec)."""

    index: int
    kind: str
    codec: str


@dataclass(frozen=True)
class MediaInfo:
    """Facts about an accepted upload. Rotation is counter-clockwise degrees (0/90/180/270),
    as in ffmpeg's ``-display_rotation``; width and height are as coded (before rotation)."""

    container: str  # "mp4" | "mov" | "3gp"
    brand: str
    size_bytes: int
    duration_ms: int
    video_stream_index: int
    video_codec: str
    width: int
    height: int
    rotation: int
    frame_rate: Fraction  # exact for CFR; for VFR the typical (median-interval) rate
    avg_frame_rate: Fraction
    variable_frame_rate: bool
    frame_count: int
    video_duration_ms: int
    pix_fmt: str
    color_transfer: str | None
    audio_stream_index: int | None
    audio_codec: str | None
    audio_sample_rate: int | None
    streams: tuple[StreamSummary, ...] = field(default=())

    @property
    def has_audio(self) -> bool:
        return self.audio_stream_index is not None

    @property
    def is_hdr(self) -> bool:
        return self.color_transfer in {"arib-std-b67", "smpte2084"}

    @property
    def display_width(self) -> int:
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def display_height(self) -> int:
        return self.width if self.rotation in (90, 270) else self.height


def probe(path: Path, *, caps: Caps | None = None, timeout_s: float = 900.0) -> MediaInfo:
    """Validate ``path`` against the allow-list and caps and describe it.

    Raises:
        MediaRejected: the file is not acceptable; ``reason`` tells the facilitator why.
        OSError: the file cannot be read.
        TranscodeError: ffmpeg misbehaved in a way that says nothing about the file
            (killed, timed out: ToolTimeout); ToolMissing: no ffmpeg.
    """
    caps = caps or Caps()
    size = path.stat().st_size
    if size == 0:
        raise MediaRejected(R.EMPTY)
    if size > caps.max_bytes:
        raise MediaRejected(
            R.TOO_LARGE, f"This file is larger than the {_human_bytes(caps.max_bytes)} limit."
        )
    with path.open("rb") as f:
        container, brand = sniff(f.read(4096))
        check_structure(f, size, max_tracks=caps.max_streams)
    # Opening the input decodes a few frames to learn stream parameters, so the
    # allocation and memory bounds apply before the real dimensions are known: caps.
    demux = demux_pass.demux(
        path,
        timeout_s,
        alloc_limit=max_alloc_bytes(caps.max_width, caps.max_height),
        limits=demux_pass.probe_limits(caps.max_width, caps.max_height),
    )
    if len(demux.streams) > caps.max_streams:  # a second count, by ffmpeg's own reading
        raise MediaRejected(R.TOO_MANY_STREAMS, detail=f"{len(demux.streams)} streams")
    info = _describe(demux, container=container, brand=brand, size=size)
    check_timing(
        demux_pass.timings(demux),
        header_duration_ms=demux.header_duration_ms,
        max_gap_s=caps.max_frame_gap_s,
        max_ratio=caps.max_interval_ratio,
    )
    _check_caps(info, caps)
    _decode_check(path, info, timeout_s)
    return info


_PIXFMT_RE = re.compile(r", (\w+)(?:\(([^)]*)\))?, \d+x\d+")
_HDR_TRANSFERS = ("arib-std-b67", "smpte2084")


def _snap(rate: Fraction) -> Fraction:
    """Snap a measured rate to the nearest known camera rate if within 0.05 %."""
    nearest = min(KNOWN_RATES, key=lambda known: abs(rate - known))
    if abs(rate - nearest) / nearest < Fraction(5, 10000):
        return nearest
    return rate.limit_denominator(1001)


def _frame_rates(track: demux_pass.Track) -> tuple[Fraction, Fraction, bool]:
    """Return (rate, average rate, variable?) from the video packet intervals."""
    total = sum(track.deltas.values())
    median = track.median_delta()
    if median is None or track.prev_dts is None:
        one = track.span if track.span > 0 else Fraction(1, 30)
        return _snap(1 / one), _snap(1 / one), False
    tolerance = max(1, median // 50)
    near = sum(c for d, c in track.deltas.items() if abs(d - median) <= tolerance)
    variable = near < 0.95 * total
    tb = track.time_base
    average = _snap(Fraction(total) / ((track.prev_dts - track.first_dts) * tb))
    return (_snap(1 / (median * tb)) if variable else average), average, variable


def _describe(demux: demux_pass.Demux, *, container: str, brand: str, size: int) -> MediaInfo:
    """Combine the stream dump and the framecrc facts; refuse if they disagree."""
    av = [s for s in demux.streams if s.kind in ("video", "audio")]
    # -map 0:v? -map 0:a? puts every video stream first, then every audio stream.
    ordered = [s for s in av if s.kind == "video"] + [s for s in av if s.kind == "audio"]
    if len(ordered) != len(demux.tracks) or any(
        demux.tracks[i].header.get("codec_id") != s.codec for i, s in enumerate(ordered)
    ):
        raise MediaRejected(R.CORRUPT, detail="stream dump disagrees with framecrc header")
    video = [(i, s) for i, s in enumerate(ordered) if s.kind == "video"]
    video = [(i, s) for i, s in video if "(attached pic)" not in s.rest]
    audio = [(i, s) for i, s in enumerate(ordered) if s.kind == "audio"]
    if not video:
        raise MediaRejected(R.AUDIO_ONLY if audio else R.NO_VIDEO)
    v_out, v = video[0]
    track = demux.tracks[v_out]
    if v.codec not in ALLOWED_VIDEO_CODECS:
        raise MediaRejected(R.UNSUPPORTED_CODEC, detail=f"video codec {v.codec}")
    dims = re.fullmatch(r"(\d+)x(\d+)", track.header.get("dimensions", ""))
    if dims is None or track.count == 0:
        raise MediaRejected(R.CORRUPT, detail="video stream without dimensions or frames")
    a_out, a = audio[0] if audio else (None, None)
    if a is not None and a.codec not in ALLOWED_AUDIO_CODECS:
        raise MediaRejected(R.UNSUPPORTED_CODEC, detail=f"audio codec {a.codec}")
    spans = [track.span] + ([demux.tracks[a_out].span] if a_out is not None else [])
    duration_ms = round(max(spans) * 1000) or (demux.header_duration_ms or 0)
    rate, avg, variable = _frame_rates(track)
    pix = _PIXFMT_RE.search(v.rest)
    colour = pix[2] if pix and pix[2] else ""
    sample_rate = demux.tracks[a_out].header.get("sample_rate", "") if a_out is not None else ""
    return MediaInfo(
        container=container,
        brand=brand,
        size_bytes=size,
        duration_ms=duration_ms,
        video_stream_index=v.index,
        video_codec=v.codec,
        width=int(dims[1]),
        height=int(dims[2]),
        rotation=v.rotation,
        frame_rate=rate,
        avg_frame_rate=avg,
        variable_frame_rate=variable,
        frame_count=track.count,
        video_duration_ms=round(track.span * 1000),
        pix_fmt=pix[1] if pix else "unknown",
        color_transfer=next((t for t in _HDR_TRANSFERS if t in colour), None),
        audio_stream_index=a.index if a is not None else None,
        audio_codec=a.codec if a is not None else None,
        audio_sample_rate=int(sample_rate) if sample_rate.isdigit() else None,
        streams=tuple(StreamSummary(s.index, s.kind, s.codec) for s in demux.streams),
    )


def _check_caps(info: MediaInfo, caps: Caps) -> None:
    long_side, short_side = max(info.width, info.height), min(info.width, info.height)
    cap_long, cap_short = max(caps.max_width, caps.max_height), min(caps.max_width, caps.max_height)
    if long_side > cap_long or short_side > cap_short:
        raise MediaRejected(
            R.RESOLUTION_TOO_HIGH,
            f"The picture size of this video ({info.width} x {info.height}) is larger than the "
            f"{cap_long} x {cap_short} limit. Please record at a lower resolution.",
        )
    if info.duration_ms <= 0:
        raise MediaRejected(R.CORRUPT, detail="zero duration")
    if info.duration_ms > caps.max_duration_s * 1000:
        raise MediaRejected(
            R.TOO_LONG,
            f"This video is longer than the {_human_duration(caps.max_duration_s)} limit.",
        )


def max_alloc_bytes(width: int, height: int) -> int:
    """A ``-max_alloc`` bound for decoding ``width`` x ``height`` video: room for one
    float RGBA frame, never below 256 MiB. Bounds what a lying bitstream can allocate."""
    return max(256 * 1024 * 1024, width * height * 16)


def _decode_check(path: Path, info: MediaInfo, timeout_s: float) -> None:
    maps = ["-map", f"0:{info.video_stream_index}"]
    if info.audio_stream_index is not None:
        maps += ["-map", f"0:{info.audio_stream_index}"]
    limit = str(max_alloc_bytes(info.width, info.height))
    args = ["-v", "error", "-xerror", "-max_alloc", limit, *demux_pass.input_args(path), *maps]
    argv = ffmpeg_tool.command(*args, "-t", "1", "-f", "null", "-")
    result = ffmpeg_tool.run(
        argv, timeout_s=timeout_s, limits=demux_pass.probe_limits(info.width, info.height)
    )
    if result.returncode < 0:
        raise ffmpeg_tool.failure("decode check", result)
    if result.returncode != 0:
        raise MediaRejected(R.CORRUPT, detail=f"decode check exit status {result.returncode}")


def _human_bytes(n: int) -> str:
    return f"{n / _GIB:g} GB" if n >= _GIB else f"{n / 1024**2:g} MB"


def _human_duration(seconds: float) -> str:
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}-{unit}"
    return f"{seconds:g}-second"


__all__ = ["Caps", "MediaInfo", "StreamSummary", "max_alloc_bytes", "probe", "sniff"]
