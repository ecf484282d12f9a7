"""Run the one known ffmpeg safely.

Every invocation is an argument list (never a shell), has a wall-clock limit, reads
no stdin, and keeps only a bounded amount of stderr in memory. stderr is never written
to disk: ffmpeg's stream dump contains the upload's metadata (GPS location, device
names), which must not leave process memory.

Which binary runs is decided in :mod:`ingest.ffmpeg_binary` (the imageio-ffmpeg
wheel's, or ``VERP_FFMPEG`` if configured and recent enough; never PATH). Every child
dies with its parent, runs in its own process group and may carry kernel limits
(:mod:`ingest.ffmpeg_limits`); a progress watchdog can stop it early
(:mod:`ingest.ffmpeg_watchdog`).
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from ingest import ffmpeg_limits
from ingest.errors import ToolMissing, ToolTimeout, TranscodeError, WorkExceeded
from ingest.ffmpeg_binary import ffmpeg_exe as ffmpeg_exe
from ingest.ffmpeg_limits import Limits
from ingest.ffmpeg_watchdog import ProgressWatchdog

#: stderr kept from the start of a run (the stream dump lives there) and from its end
#: (the error that stopped ffmpeg lives there); whatever lies between is dropped.
_STDERR_HEAD = 1024 * 1024
_STDERR_TAIL = 64 * 1024
_CHUNK = 64 * 1024
#: How often the monitor thread looks at the clock and the watchdog.
_TICK_S = 0.2


@dataclass(frozen=True)
class FfmpegResult:
    """What a finished ffmpeg run left behind: exit status and (bounded) stderr text."""

    returncode: int
    stderr: str


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
    limits: Limits | None = None,
    watchdog: ProgressWatchdog | None = None,
) -> FfmpegResult:
    """Run ffmpeg ``argv`` (full argument list, executable first) and wait for it.

    ``on_stdout_line`` receives each stdout line (without newline) as it arrives, e.g.
    ``-progress pipe:1`` key=value lines or ``framecrc`` packet lines. It runs on the
    caller's thread (so it may touch the caller's database session); if it raises,
    ffmpeg is killed and the exception propagates (that is how a job is cancelled).
    ``limits`` become the child's RLIMIT_AS/RLIMIT_CPU; ``watchdog`` (fed every stdout
    line) is consulted several times a second and may stop the run. A non-zero exit
    status is returned, not raised: callers know what it means.

    Raises:
        ToolMissing: the executable could not be started.
        ToolTimeout: ffmpeg ran longer than ``timeout_s`` and was killed.
        ToolStalled, WorkExceeded: the watchdog stopped it (see ingest.ffmpeg_watchdog).
        WorkExceeded: it used up its CPU-time limit (SIGXCPU).
    """
    want_stdout = on_stdout_line is not None or watchdog is not None
    try:
        proc = ffmpeg_limits.spawn(
            argv,
            limits=limits,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if want_stdout else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
    except OSError as exc:
        raise ToolMissing(f"cannot start {argv[0]!r}: {exc.strerror}") from exc

    stderr = _StderrBuffer()
    assert proc.stderr is not None
    drain = threading.Thread(target=_drain_stderr, args=(proc.stderr, stderr), daemon=True)
    drain.start()
    # A monitor thread rather than wait(timeout): stdout is read on this thread, and a
    # reader blocked on a silent ffmpeg would never look at the clock.
    stopped: list[TranscodeError] = []
    cpu_seen = [0.0]
    cpu_limit = limits.cpu_seconds if limits is not None else None
    done = threading.Event()
    monitor = threading.Thread(
        target=_monitor,
        args=(proc, timeout_s, watchdog, cpu_limit, (stopped, cpu_seen), done),
        daemon=True,
    )
    monitor.start()
    try:
        if proc.stdout is not None:
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if watchdog is not None:
                    watchdog.feed(line)
                if on_stdout_line is not None:
                    on_stdout_line(line)
        returncode = proc.wait()
    finally:
        # Also reached when the callback raises or the worker is interrupted: never
        # leave ffmpeg running behind us.
        done.set()
        ffmpeg_limits.kill(proc)
        proc.wait()
        ffmpeg_limits.forget(proc)
        monitor.join()
        drain.join()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    tail = loggable_tail(stderr.text())
    if stopped and returncode < 0:
        error = stopped[0]
        error.stderr_tail = tail
        raise error
    if (
        cpu_limit is not None
        and returncode != 0
        and (returncode == -signal.SIGXCPU or cpu_seen[0] >= 0.9 * cpu_limit)
    ):
        # ffmpeg treats SIGXCPU like SIGTERM (finishes up, exits 255); SIGKILL follows
        # at the hard limit. Either way this input needed more CPU than it declared.
        # (A SIGKILL well below the limit, e.g. the OOM killer, stays transient.)
        raise WorkExceeded(f"ffmpeg used up its {cpu_limit} s CPU-time limit", stderr_tail=tail)
    return FfmpegResult(returncode=returncode, stderr=stderr.text())


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a running process so far; 0.0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0.0
    # The command name (field 2) may contain spaces; fields after it are plain numbers.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _monitor(
    proc: subprocess.Popen[bytes],
    timeout_s: float,
    watchdog: ProgressWatchdog | None,
    cpu_limit: int | None,
    found: tuple[list[TranscodeError], list[float]],
    done: threading.Event,
) -> None:
    """Kill ``proc`` when its deadline passes, the watchdog objects, or (checked here
    before the kernel's RLIMIT_CPU acts) it reaches its CPU limit."""
    stopped, cpu_seen = found
    deadline = time.monotonic() + timeout_s
    while not done.wait(_TICK_S):
        if proc.poll() is not None:
            return
        reason: TranscodeError | None = None
        if cpu_limit is not None:
            cpu_seen[0] = max(cpu_seen[0], cpu_seconds(proc.pid))
        if time.monotonic() >= deadline:
            reason = ToolTimeout(f"ffmpeg did not finish within {timeout_s:.0f} s")
        elif cpu_limit is not None and cpu_seen[0] >= cpu_limit:
            reason = WorkExceeded(f"ffmpeg used up its {cpu_limit} s CPU-time limit")
        elif watchdog is not None:
            reason = watchdog.verdict()
        if reason is not None:
            stopped.append(reason)
            ffmpeg_limits.kill(proc)
            return


def run_with_progress(
    argv: Sequence[str],
    *,
    duration_ms: int,
    timeout_s: float,
    progress: Callable[[float], None] | None,
    limits: Limits | None = None,
    watchdog: ProgressWatchdog | None = None,
) -> FfmpegResult:
    """Run ffmpeg like :func:`run` with ``-progress pipe:1``, reporting the fraction done
    (0.0 to 1.0) to ``progress`` and feeding every progress line to ``watchdog``.

    The fraction comes from ``out_time_us`` relative to ``duration_ms``; it is
    monotonic and reaches 1.0 only when ffmpeg succeeds.

    Raises:
        ToolMissing, ToolTimeout, ToolStalled, WorkExceeded: as :func:`run`; whatever
            ``progress`` raises.
    """
    total_us = max(duration_ms, 1) * 1000
    best = [0.0]

    def on_line(line: str) -> None:
        key, _, value = line.partition("=")
        if progress is not None and key == "out_time_us" and value.strip().isdigit():
            # Capped below 1.0: muxing and moov relocation (+faststart) still follow.
            fraction = min(max(int(value) / total_us, 0.0), 0.99)
            if fraction > best[0]:
                best[0] = fraction
                progress(fraction)

    full = [argv[0], "-progress", "pipe:1", "-nostats", *argv[1:]]
    result = run(
        full, timeout_s=timeout_s, on_stdout_line=on_line, limits=limits, watchdog=watchdog
    )
    if result.returncode == 0 and progress is not None:
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
