"""Locate ffmpeg and run it safely.

Every invocation is an argument list (never a shell), has a wall-clock limit, reads
no stdin, and keeps only a bounded amount of stderr in memory. stderr is never written
to disk: ffmpeg's stream dump contains the upload's metadata (GPS location, device
names), which must not leave process memory.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from ingest.errors import ToolMissing, ToolTimeout, TranscodeError

#: stderr kept from the start of a run (the stream dump lives there) and from its end
#: (the error that stopped ffmpeg lives there); whatever lies between is dropped.
_STDERR_HEAD = 1024 * 1024
_STDERR_TAIL = 64 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class FfmpegResult:
    """What a finished ffmpeg run left behind: exit status and (bounded) stderr text."""

    returncode: int
    stderr: str


@functools.cache
def ffmpeg_exe() -> str:
    """Return the ffmpeg executable: ``ffmpeg`` on PATH if present, else imageio-ffmpeg's.

    Raises:
        ToolMissing: neither is available.
    """
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # the wheel raises RuntimeError, or is absent entirely
        raise ToolMissing("no ffmpeg on PATH and imageio-ffmpeg has no binary") from exc
    return str(exe)


def command(*args: str) -> list[str]:
    """Build an ffmpeg argument list: the executable, quiet banner, no stdin, then ``args``."""
    return [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]


@functools.cache
def has_filter(name: str) -> bool:
    """Whether this ffmpeg build has the filter ``name`` (e.g. ``zscale`` needs libzimg)."""
    pattern = re.compile(rf"^\s*\S+\s+{re.escape(name)}\s")
    found: list[str] = []
    result = run(
        command("-filters"),
        timeout_s=30,
        on_stdout_line=lambda line: found.append(line) if pattern.match(line) else None,
    )
    return result.returncode == 0 and bool(found)


class _StderrBuffer:
    """Keeps the head and the tail of a byte stream, dropping the middle."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = False

    def feed(self, data: bytes) -> None:
        room = _STDERR_HEAD - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > _STDERR_TAIL:
                del self.tail[: len(self.tail) - _STDERR_TAIL]
                self.dropped = True

    def text(self) -> str:
        gap = b"\n[... stderr truncated ...]\n" if self.dropped else b""
        return bytes(self.head + gap + self.tail).decode("utf-8", errors="replace")


def _drain_stderr(stream: IO[bytes], sink: _StderrBuffer) -> None:
    # os.read returns whatever is available, so the buffer sees output as it is produced.
    while chunk := os.read(stream.fileno(), _CHUNK):
        sink.feed(chunk)


def run(
    argv: Sequence[str],
    *,
    timeout_s: float,
    on_stdout_line: Callable[[str], None] | None = None,
) -> FfmpegResult:
    """Run ffmpeg ``argv`` (full argument list, executable first) and wait for it.

    ``on_stdout_line`` receives each stdout line (without newline) as it arrives, e.g.
    ``-progress pipe:1`` key=value lines or ``framecrc`` packet lines. It runs on the
    caller's thread (so it may touch the caller's database session); if it raises,
    ffmpeg is killed and the exception propagates (that is how a job is cancelled).
    A non-zero exit status is returned, not raised: callers know what it means.

    Raises:
        ToolMissing: the executable could not be started.
        ToolTimeout: ffmpeg ran longer than ``timeout_s`` and was killed.
    """
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if on_stdout_line is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
    except OSError as exc:
        raise ToolMissing(f"cannot start {argv[0]!r}: {exc.strerror}") from exc

    stderr = _StderrBuffer()
    assert proc.stderr is not None
    drain = threading.Thread(target=_drain_stderr, args=(proc.stderr, stderr), daemon=True)
    drain.start()
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        proc.kill()

    # A watchdog rather than wait(timeout): stdout is read on this thread, and a
    # reader blocked on a silent ffmpeg would never look at the clock.
    watchdog = threading.Timer(timeout_s, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        if proc.stdout is not None and on_stdout_line is not None:
            for raw in proc.stdout:
                on_stdout_line(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
        returncode = proc.wait()
    finally:
        # Also reached when the callback raises or the worker is interrupted: never
        # leave ffmpeg running behind us.
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        drain.join()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    if expired.is_set() and returncode < 0:
        raise ToolTimeout(
            f"ffmpeg did not finish within {timeout_s:.0f} s",
            stderr_tail=loggable_tail(stderr.text()),
        )
    return FfmpegResult(returncode=returncode, stderr=stderr.text())


def run_with_progress(
    argv: Sequence[str],
    *,
    duration_ms: int,
    timeout_s: float,
    progress: Callable[[float], None] | None,
) -> FfmpegResult:
    """Run ffmpeg like :func:`run`, reporting the fraction done (0.0 to 1.0) to ``progress``.

    The fraction comes from ``-progress pipe:1`` (``out_time_us``) relative to
    ``duration_ms``; it is monotonic and reaches 1.0 only when ffmpeg succeeds.

    Raises:
        ToolMissing, ToolTimeout: as :func:`run`; whatever ``progress`` raises.
    """
    if progress is None:
        return run(argv, timeout_s=timeout_s)
    total_us = max(duration_ms, 1) * 1000
    best = [0.0]

    def on_line(line: str) -> None:
        key, _, value = line.partition("=")
        if key == "out_time_us" and value.strip().lstrip("-").isdigit():
            # Capped below 1.0: muxing and moov relocation (+faststart) still follow.
            fraction = min(max(int(value) / total_us, 0.0), 0.99)
            if fraction > best[0]:
                best[0] = fraction
                progress(fraction)

    full = [argv[0], "-progress", "pipe:1", "-nostats", *argv[1:]]
    result = run(full, timeout_s=timeout_s, on_stdout_line=on_line)
    if result.returncode == 0:
        progress(1.0)
    return result


def loggable_tail(stderr: str, limit: int = 2000) -> str:
    """The end of ffmpeg's stderr without its input dump, safe to log.

    The dump (metadata such as GPS location and device names, stream details) is
    printed indented; ffmpeg's own messages start at column 0. Only those are kept.
    """
    lines = [line for line in stderr.splitlines() if line and not line[0].isspace()]
    return "\n".join(lines)[-limit:]


def failure(what: str, result: FfmpegResult) -> TranscodeError:
    """Build the TranscodeError for an ffmpeg run that exited non-zero.

    Killed by a signal (negative status, e.g. the OOM killer) or out of disk space is
    transient; anything else is treated as permanent for this input.
    """
    tail = loggable_tail(result.stderr)
    transient = result.returncode < 0 or "No space left on device" in tail
    return TranscodeError(
        f"{what} failed (ffmpeg exit status {result.returncode})",
        transient=transient,
        stderr_tail=tail,
    )
