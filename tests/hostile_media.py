"""Hostile files that look like tablet video but would cost unbounded work or point
outside themselves (issue 10). Generated at test time; nothing is committed.

* :func:`time_bomb_mp4`: a handful of frames whose last timestamp is hours away;
* :func:`many_streams_mp4`: one video stream and many audio streams;
* :func:`dref_mp4`: a data reference (``dref``) naming an external file or URL;
* :func:`zero_durations_mp4`: every sample duration and header duration zeroed.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from tests.media import ffmpeg

_X264 = "-c:v libx264 -preset ultrafast -pix_fmt yuv420p"
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"dinf", b"stbl", b"edts"}


def time_bomb_mp4(
    path: Path, *, frames: int = 21, last_s: float = 14350.0, size: str = "320x240"
) -> Path:
    """``frames`` frames at 30 fps, except the last, stamped ``last_s`` seconds in
    (``setpts`` + ``-fps_mode passthrough``, as in the issue's 1.3 MB time bomb)."""
    last = frames - 1
    setpts = f"setpts=if(eq(N\\,{last})\\,{last_s}/TB\\,N/30/TB)"
    ffmpeg(
        f"-f lavfi -i testsrc2=size={size}:rate=30:duration={frames / 30} -vf {setpts} "
        f"-fps_mode passthrough {_X264} -video_track_timescale 30 -f mp4",
        path,
    )
    return path


def spaced_frames_mp4(path: Path, *, frames: int, step_s: float, fast: int = 0) -> Path:
    """``fast`` frames at 30 fps, then ``frames`` frames ``step_s`` seconds apart:
    no single gap is long, but the average interval is far above the typical one."""
    expr = f"if(lt(N\\,{fast})\\,N/30\\,{fast}/30+(N-{fast}+1)*{step_s})/TB"
    total = fast + frames
    ffmpeg(
        f"-f lavfi -i testsrc2=size=160x120:rate=30:duration={total / 30} "
        f"-vf setpts={expr} -fps_mode passthrough {_X264} -video_track_timescale 1000 -f mp4",
        path,
    )
    return path


def many_streams_mp4(path: Path, *, audio_streams: int, seconds: float = 1) -> Path:
    """One H.264 video stream and ``audio_streams`` AAC streams (all the same tone)."""
    maps = " ".join(["-map 0:v"] + ["-map 1:a"] * audio_streams)
    ffmpeg(
        f"-f lavfi -i testsrc2=size=160x120:rate=25:duration={seconds} "
        f"-f lavfi -i sine=frequency=440:sample_rate=48000:duration={seconds} "
        f"{maps} {_X264} -c:a aac -b:a 32k -f mp4",
        path,
    )
    return path


def _rewrite(data: bytes, path: tuple[bytes, ...], edit: Callable[[bytes], bytes]) -> bytes:
    """Apply ``edit`` to the payload of every box at ``path`` (e.g. moov/trak/.../stts),
    fixing the sizes of the boxes around it. Small files only (32-bit sizes)."""
    out, pos = bytearray(), 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        payload = data[pos + 8 : pos + size]
        if kind == path[0]:
            if len(path) == 1:
                payload = edit(payload)
            elif kind in _CONTAINERS:
                payload = _rewrite(payload, path[1:], edit)
        out += struct.pack(">I4s", 8 + len(payload), kind) + payload
        pos += size
    return bytes(out + data[pos:])


def dref_mp4(path: Path, work: Path, *, url: str, kind: bytes = b"url ") -> Path:
    """A real MP4 whose video track's data reference points at ``url`` (flags 0: not
    self-contained), as a crafted file pointing at ``file:///etc/passwd`` would."""
    source = work / f"dref-source-{path.stem}.mp4"
    ffmpeg(f"-f lavfi -i testsrc2=size=160x120:rate=25:duration=1 {_X264} -f mp4", source)
    location = url.encode() + b"\0"
    entry = struct.pack(">I4sI", 12 + len(location), kind, 0) + location

    def point_outside(payload: bytes) -> bytes:
        return payload[:4] + struct.pack(">I", 1) + entry

    dref_path = (b"moov", b"trak", b"mdia", b"minf", b"dinf", b"dref")
    path.write_bytes(_rewrite(source.read_bytes(), dref_path, point_outside))
    return path


def zero_durations_mp4(path: Path, work: Path) -> Path:
    """A real MP4 whose sample durations (stts) and header durations (mvhd, tkhd, mdhd)
    are all zero: every frame at time 0."""
    source = work / f"zero-source-{path.stem}.mp4"
    ffmpeg(f"-f lavfi -i testsrc2=size=160x120:rate=25:duration=1 {_X264} -f mp4", source)

    def zero_stts(payload: bytes) -> bytes:
        (count,) = struct.unpack(">I", payload[4:8])
        entries = b"".join(
            struct.pack(">II", struct.unpack(">I", payload[8 + 8 * i : 12 + 8 * i])[0], 0)
            for i in range(count)
        )
        return payload[:8] + entries + payload[8 + 8 * count :]

    def zero_at(offset_v0: int, offset_v1: int, width_v1: int) -> Callable[[bytes], bytes]:
        def edit(payload: bytes) -> bytes:
            at, width = (offset_v1, width_v1) if payload[0] == 1 else (offset_v0, 4)
            return payload[:at] + bytes(width) + payload[at + width :]

        return edit

    data = source.read_bytes()
    stbl = (b"moov", b"trak", b"mdia", b"minf", b"stbl")
    data = _rewrite(data, (*stbl, b"stts"), zero_stts)
    data = _rewrite(data, (b"moov", b"mvhd"), zero_at(16, 24, 8))
    data = _rewrite(data, (b"moov", b"trak", b"tkhd"), zero_at(20, 28, 8))
    data = _rewrite(data, (b"moov", b"trak", b"mdia", b"mdhd"), zero_at(16, 24, 8))
    data = _rewrite(data, (b"moov", b"trak", b"edts"), lambda _: b"")  # drop the edit list
    path.write_bytes(data)
    return path
