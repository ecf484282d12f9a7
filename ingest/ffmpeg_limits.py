"""Keep every ffmpeg child on a leash: resource limits, death with its parent, and a
process group the worker kills on exit.

Each child, between fork and exec (``preexec_fn``; it only makes system calls):

* asks the kernel for SIGKILL when the thread that started it dies
  (``prctl(PR_SET_PDEATHSIG, SIGKILL)``), so a SIGKILLed worker takes its ffmpeg with
  it instead of leaving it writing plaintext; if the parent is already gone by then,
  the child exits at once;
* gets ``RLIMIT_AS`` (address space) and ``RLIMIT_CPU`` (CPU seconds: SIGXCPU at the
  soft limit, SIGKILL five seconds later) when :class:`Limits` sets them;
* starts its own process group (``process_group=0``), so a terminal's Ctrl-C reaches
  the worker, which decides, and :func:`kill_all` can take the whole group.

Live children are registered here; :func:`kill_all` runs at interpreter exit (normal
exit, ``sys.exit`` from a signal handler) and may be called by anyone stopping early.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import resource
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

PR_SET_PDEATHSIG = 1
_MiB = 1024 * 1024
#: Address space every ffmpeg gets before frames are counted: the binary, its
#: libraries, thread stacks and malloc arenas (measured: 0.85 GB peak for a 1080p
#: transcode with 10 threads on 2 cores; see docs/threat-model.md).
BASE_ADDRESS_SPACE = 1024 * _MiB
PER_CPU_ADDRESS_SPACE = 64 * _MiB
#: Bytes of address space per pixel of the frame, per two CPUs: decoder references,
#: filter frames and x264's lookahead (measured ~100 bytes/pixel on 2 CPUs).
ADDRESS_SPACE_PER_PIXEL = 200
#: Grace between the CPU soft limit (SIGXCPU) and the hard one (SIGKILL).
_CPU_HARD_GRACE_S = 5


@dataclass(frozen=True)
class Limits:
    """Kernel limits for one ffmpeg child; None leaves that limit as inherited."""

    cpu_seconds: int | None = None
    address_space_bytes: int | None = None


def address_space_for(width: int, height: int, cpus: int | None = None) -> int:
    """An ``RLIMIT_AS`` for ffmpeg working on ``width`` x ``height`` frames.

    Frames in flight grow with the thread count, which ffmpeg and x264 derive from the
    CPU count, so the per-pixel share scales with ``cpus`` (default: this machine's).
    """
    cpus = max(1, cpus or os.cpu_count() or 1)
    frames = ADDRESS_SPACE_PER_PIXEL * width * height * max(1, cpus // 2)
    return BASE_ADDRESS_SPACE + PER_CPU_ADDRESS_SPACE * cpus + frames


def _resolve_prctl() -> Callable[..., int] | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6", use_errno=True)
        fn: Callable[..., int] = libc.prctl
    except (OSError, AttributeError):  # not Linux: the process group still helps
        return None
    return fn


_prctl_lock = threading.Lock()
_prctl: list[Callable[..., int] | None] = []


def _prctl_fn() -> Callable[..., int] | None:
    """libc's prctl, resolved once in the parent (never between fork and exec)."""
    with _prctl_lock:
        if not _prctl:
            _prctl.append(_resolve_prctl())
        return _prctl[0]


def child_setup(limits: Limits | None) -> Callable[[], None]:
    """Build the ``preexec_fn`` for one child: parent-death signal, then the limits.

    Everything is computed here, in the parent; the returned function only makes
    system calls, which is what may safely run between fork and exec.
    """
    prctl = _prctl_fn()
    parent = os.getpid()
    rlimits: list[tuple[int, tuple[int, int]]] = []
    if limits is not None and limits.address_space_bytes is not None:
        size = limits.address_space_bytes
        rlimits.append((resource.RLIMIT_AS, (size, size)))
    if limits is not None and limits.cpu_seconds is not None:
        cpu = max(1, limits.cpu_seconds)
        rlimits.append((resource.RLIMIT_CPU, (cpu, cpu + _CPU_HARD_GRACE_S)))
    kill = int(signal.SIGKILL)

    def setup() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, kill, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(127)
        for which, values in rlimits:
            resource.setrlimit(which, values)

    return setup


_live: dict[int, subprocess.Popen[bytes]] = {}
_live_lock = threading.Lock()
_exit_hook: list[bool] = []


def spawn(
    argv: Sequence[str], *, limits: Limits | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start ``argv`` with :func:`child_setup` in its own process group and register it.

    Raises:
        OSError: it could not be started (the caller wraps this).
    """
    proc: subprocess.Popen[bytes] = subprocess.Popen(
        list(argv), preexec_fn=child_setup(limits), process_group=0, **popen
    )
    with _live_lock:
        _live[proc.pid] = proc
        if not _exit_hook:
            atexit.register(kill_all)
            _exit_hook.append(True)
    return proc


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc``'s process group (it leads one), then ``proc`` itself."""
    if proc.poll() is not None:
        return
    # Not yet reaped (poll() above), so the pid and its group are still ours.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()


def forget(proc: subprocess.Popen[bytes]) -> None:
    """Drop a finished child from the registry."""
    with _live_lock:
        _live.pop(proc.pid, None)


def live_pids() -> list[int]:
    """Pids of the children started here that have not been forgotten."""
    with _live_lock:
        return list(_live)


def kill_all() -> int:
    """SIGKILL every live ffmpeg process group started by this process; return how many."""
    with _live_lock:
        procs = list(_live.values())
        _live.clear()
    running = [p for p in procs if p.poll() is None]
    for proc in running:
        kill(proc)
    return len(running)
