"""Probe pass A: ffmpeg demuxes the upload (no decoding) and lists every packet.

``-c copy -f framecrc`` prints one line per packet (stream, dts, pts, duration, size):
the real frame and packet counts, and the timestamps the transcode will meet, which is
what ingest.plausibility judges. Codecs and dimensions come from the framecrc header
(machine-written); the stream dump on stderr gives stream kinds and rotation.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from ingest import ffmpeg_tool
from ingest.errors import MediaRejected, RejectCategory
from ingest.ffmpeg_limits import Limits, address_space_for
from ingest.plausibility import TrackTiming

R = RejectCategory

_STREAM_RE = re.compile(
    r"^\s*Stream #0:(\d+)(?:\[\w+\])?(?:\([^)]*\))?: (Video|Audio|Subtitle|Data|Attachment): "
    r"(\w+)(.*)$"
)
_ROTATION_RE = re.compile(
    r"^\s*(?:Display Matrix|displaymatrix): rotation of (-?\d+(?:\.\d+)?) degrees", re.I
)


@dataclass
class DumpStream:
    index: int
    kind: str
    codec: str
    rest: str
    rotation: int = 0


@dataclass
class Track:
    """One framecrc output stream: header facts and running packet statistics."""

    header: dict[str, str] = field(default_factory=dict)
    count: int = 0
    first_pts: int | None = None
    end_pts: int | None = None
    first_dts: int = 0
    prev_dts: int | None = None
    deltas: Counter[int] = field(default_factory=Counter)
    max_gap: int = 0

    def add(self, dts: int, pts: int, duration: int) -> None:
        self.count += 1
        self.first_pts = pts if self.first_pts is None else min(self.first_pts, pts)
        self.end_pts = pts + duration if self.end_pts is None else max(self.end_pts, pts + duration)
        if self.prev_dts is None:
            self.first_dts = dts
        elif dts > self.prev_dts:
            self.deltas[dts - self.prev_dts] += 1
            self.max_gap = max(self.max_gap, dts - self.prev_dts)
        self.prev_dts = dts

    @property
    def time_base(self) -> Fraction:
        num, _, den = self.header.get("tb", "1/1").partition("/")
        return Fraction(int(num), int(den or 1)) if num.isdigit() and den.isdigit() else Fraction(1)

    @property
    def span(self) -> Fraction:
        if self.first_pts is None or self.end_pts is None:
            return Fraction(0)
        return (self.end_pts - self.first_pts) * self.time_base

    def median_delta(self) -> int | None:
        """The median positive decoding-time step, in time-base units."""
        total, seen = sum(self.deltas.values()), 0
        for delta in sorted(self.deltas):
            seen += self.deltas[delta]
            if seen * 2 >= total:
                return delta
        return None

    def timing(self, kind: str) -> TrackTiming:
        """This stream's packet timing in seconds, for ingest.plausibility."""
        tb, median = self.time_base, self.median_delta()
        return TrackTiming(
            kind=kind,
            packets=self.count,
            start_s=(self.first_pts or 0) * tb,
            span_s=self.span,
            dts_span_s=((self.prev_dts or 0) - self.first_dts) * tb,
            typical_interval_s=median * tb if median is not None else None,
            max_gap_s=self.max_gap * tb,
        )


@dataclass
class Demux:
    streams: list[DumpStream]
    tracks: dict[int, Track]
    header_duration_ms: int | None


def input_args(path: Path) -> list[str]:
    # Forced demuxer and protocol allow-list: a crafted file can name neither another
    # demuxer (HLS, concat) nor another protocol; drefs would let it open other files.
    path_arg = f"file:{path.resolve()}"
    return ["-f", "mov", "-protocol_whitelist", "file", "-enable_drefs", "0", "-i", path_arg]


#: CPU seconds a probe pass may use: demuxing copies packets and the decode check
#: decodes one second, so minutes only pass on a hostile file.
PROBE_CPU_SECONDS = 300


def probe_limits(width: int, height: int) -> Limits:
    return Limits(
        cpu_seconds=PROBE_CPU_SECONDS, address_space_bytes=address_space_for(width, height)
    )


def demux(path: Path, timeout_s: float, *, alloc_limit: int, limits: Limits) -> Demux:
    """Run pass A over ``path``: the input's stream dump and every packet's timing.

    Raises:
        MediaRejected: TRUNCATED or CORRUPT, as ffmpeg's demuxer judged the file.
        TranscodeError: ffmpeg was killed (``failure``); ToolTimeout, ToolMissing.
    """
    tracks: dict[int, Track] = {}

    def on_line(line: str) -> None:
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            name, _, number = key.rpartition(" ")
            if number.isdigit():
                tracks.setdefault(int(number), Track()).header[name] = value.strip()
            return
        cols = [c.strip() for c in line.split(",", 5)]
        if len(cols) >= 5 and all(c.lstrip("-").isdigit() for c in cols[:4]):
            stream, dts, pts, duration = (int(c) for c in cols[:4])
            tracks.setdefault(stream, Track()).add(dts, pts, duration)

    args = ["-max_alloc", str(alloc_limit), *input_args(path)]
    args += ["-map", "0:v?", "-map", "0:a?", "-c", "copy"]
    result = ffmpeg_tool.run(
        ffmpeg_tool.command(*args, "-f", "framecrc", "pipe:1"),
        timeout_s=timeout_s,
        on_stdout_line=on_line,
        limits=limits,
    )
    err = result.stderr
    # Only ffmpeg's own log lines ("[component @ 0x...] ...") count: dumped metadata is
    # indented, so a title saying "partial file" cannot get a clip refused.
    logged = [line for line in err.splitlines() if line.startswith("[")]
    if any("moov atom not found" in line or "partial file" in line for line in logged):
        raise MediaRejected(R.TRUNCATED, detail="ffmpeg: moov missing or partial file")
    if result.returncode < 0:
        raise ffmpeg_tool.failure("demuxing", result)
    if result.returncode != 0:
        raise MediaRejected(R.CORRUPT, detail=f"demux exit status {result.returncode}")
    streams: list[DumpStream] = []
    duration_ms = None
    for line in err.splitlines():
        if line.startswith(("Output #", "Stream mapping:")):
            break  # the output's own stream dump follows; only the input's is wanted
        if m := _STREAM_RE.match(line):
            streams.append(DumpStream(int(m[1]), m[2].lower(), m[3], m[4]))
        elif (m := _ROTATION_RE.match(line)) and streams:
            streams[-1].rotation = round(float(m[1]) / 90) * 90 % 360
        elif duration_ms is None and (
            m := re.match(r"^\s*Duration: (\d+):(\d\d):(\d\d\.\d+)", line)
        ):
            duration_ms = round((int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])) * 1000)
    return Demux(streams, tracks, duration_ms)


def timings(demux: Demux) -> list[TrackTiming]:
    """Timing of every mapped stream, video first (as -map 0:v? -map 0:a? orders them)."""
    av = [s for s in demux.streams if s.kind in ("video", "audio")]
    ordered = sorted(av, key=lambda s: s.kind != "video")  # stable: dump order kept
    kinds = ["picture" if "(attached pic)" in s.rest else s.kind for s in ordered]
    return [demux.tracks[i].timing(kind) for i, kind in enumerate(kinds) if i in demux.tracks]
