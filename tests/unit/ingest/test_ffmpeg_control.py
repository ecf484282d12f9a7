"""ffmpeg on a leash: the progress watchdog, kernel limits, death with the parent, the
process group, and which binary runs (never PATH; VERP_FFMPEG only if recent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config import SettingsError
from ingest import ffmpeg_binary, ffmpeg_limits, ffmpeg_tool
from ingest.errors import ToolMissing, ToolStalled, WorkExceeded
from ingest.ffmpeg_limits import Limits
from ingest.ffmpeg_watchdog import ProgressWatchdog
from tests.conftest import make_settings
from webapp.composition import check_ffmpeg

PY = sys.executable
VERP = Path(sys.executable).with_name("verp")
ROOT = Path(__file__).resolve().parents[3]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (missing, or a zombie nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] in "ZX"


def wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# ------------------------------------------------------------------ the watchdog


def test_watchdog_stall_boundary() -> None:
    clock = Clock()
    dog = ProgressWatchdog(stall_s=10, clock=clock)
    dog.feed("frame=3")
    clock.now += 10
    assert dog.verdict() is None
    clock.now += 0.01
    assert isinstance(dog.verdict(), ToolStalled)


def test_watchdog_progress_resets_the_stall_clock_but_repeats_do_not() -> None:
    clock = Clock()
    dog = ProgressWatchdog(stall_s=5, clock=clock)
    for frame in (1, 2, 3):
        clock.now += 4
        dog.feed(f"frame={frame}")
        assert dog.verdict() is None
    clock.now += 4
    dog.feed("frame=3")  # the same count again is not progress
    dog.feed("out_time_us=N/A")
    clock.now += 2
    assert isinstance(dog.verdict(), ToolStalled)


def test_watchdog_output_time_counts_as_progress_and_end_stops_the_stall_check() -> None:
    clock = Clock()
    dog = ProgressWatchdog(stall_s=5, clock=clock)
    clock.now += 4
    dog.feed("out_time_us=40000")
    clock.now += 4
    assert dog.verdict() is None
    dog.feed("progress=end")  # muxing the index may take a while
    clock.now += 60
    assert dog.verdict() is None


def test_watchdog_allows_a_quiet_tail_once_the_declared_frames_are_out() -> None:
    # 1000 frames declared: up to 10 short is "all out" (rounding); 11 short is not.
    clock = Clock()
    early = ProgressWatchdog(stall_s=5, expected_frames=1000, clock=clock)
    early.feed("frame=989")
    tail = ProgressWatchdog(stall_s=5, expected_frames=1000, clock=clock)
    tail.feed("frame=990")
    clock.now += 600  # the index is being moved to the front
    assert isinstance(early.verdict(), ToolStalled)
    assert tail.verdict() is None


def test_watchdog_frame_budget_boundary() -> None:
    dog = ProgressWatchdog(stall_s=5, max_frames=100, clock=Clock())
    dog.feed("frame=100")
    assert dog.verdict() is None
    dog.feed("frame=101")
    error = dog.verdict()
    assert isinstance(error, WorkExceeded) and not error.transient


def test_watchdog_duration_budget_boundary() -> None:
    dog = ProgressWatchdog(stall_s=5, max_out_time_us=2_000_000, clock=Clock())
    dog.feed("out_time_us=2000000")
    assert dog.verdict() is None
    dog.feed("out_time_us=2000001")
    assert isinstance(dog.verdict(), WorkExceeded)


def fake(script: str) -> list[str]:
    """A stand-in for ffmpeg: Python printing ``-progress`` lines as told."""
    return [PY, "-c", f"import sys, time\n{script}"]


PRINT = "def say(*lines):\n    print(*lines, sep='\\n', flush=True)\n"


def test_run_kills_a_stalled_process() -> None:
    started = time.monotonic()
    script = PRINT + "say('frame=1', 'progress=continue')\ntime.sleep(60)"
    dog = ProgressWatchdog(stall_s=0.5)
    with pytest.raises(ToolStalled):
        ffmpeg_tool.run(fake(script), timeout_s=30, watchdog=dog)
    assert time.monotonic() - started < 10
    assert ffmpeg_limits.live_pids() == []


def test_run_kills_a_silent_process() -> None:
    with pytest.raises(ToolStalled):
        ffmpeg_tool.run(
            fake("time.sleep(60)"), timeout_s=30, watchdog=ProgressWatchdog(stall_s=0.5)
        )


def test_run_kills_a_process_that_overruns_its_frames() -> None:
    script = PRINT + "for n in range(1, 100000):\n    say(f'frame={n}')\n    time.sleep(0.001)"
    dog = ProgressWatchdog(stall_s=30, max_frames=200)
    with pytest.raises(WorkExceeded, match="more than the 200"):
        ffmpeg_tool.run(fake(script), timeout_s=30, watchdog=dog)
    assert 200 < dog.frames < 100000


def test_run_lets_slow_steady_progress_finish() -> None:
    script = PRINT + "for n in range(1, 9):\n    say(f'frame={n}')\n    time.sleep(0.2)"
    result = ffmpeg_tool.run(fake(script), timeout_s=30, watchdog=ProgressWatchdog(stall_s=1))
    assert result.returncode == 0


# ------------------------------------------------------------------ kernel limits


def limits_of(pid: int) -> dict[str, tuple[str, str]]:
    rows = Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    return {row[:26].strip(): (row[26:47].strip(), row[47:68].strip()) for row in rows}


def test_limits_are_applied_to_the_child() -> None:
    proc = ffmpeg_limits.spawn(
        [PY, "-c", "import time; time.sleep(30)"],
        limits=Limits(cpu_seconds=7, address_space_bytes=3 * 1024**3),
    )
    try:
        seen = limits_of(proc.pid)
        assert seen["Max cpu time"] == ("7", "12")
        assert seen["Max address space"] == (str(3 * 1024**3), str(3 * 1024**3))
        assert os.getpgid(proc.pid) == proc.pid  # its own process group
        assert limits_of(os.getpid())["Max cpu time"] != ("7", "12")  # not ours
    finally:
        ffmpeg_limits.kill(proc)
        proc.wait()
        ffmpeg_limits.forget(proc)


def test_cpu_limit_stops_a_busy_child_on_its_own() -> None:
    # The kernel layer alone (no monitor thread): SIGXCPU at the soft limit.
    proc = ffmpeg_limits.spawn([PY, "-c", "while True: pass"], limits=Limits(cpu_seconds=1))
    try:
        assert proc.wait(30) == -signal.SIGXCPU
    finally:
        ffmpeg_limits.kill(proc)
        ffmpeg_limits.forget(proc)


def test_cpu_limit_in_run_is_work_exceeded() -> None:
    with pytest.raises(WorkExceeded, match="CPU-time limit"):
        ffmpeg_tool.run(fake("while True: pass"), timeout_s=60, limits=Limits(cpu_seconds=1))


def test_memory_limit_refuses_a_large_allocation() -> None:
    grab = "b = bytearray(1536 * 1024 * 1024)"
    limited = Limits(address_space_bytes=1024**3)
    result = ffmpeg_tool.run([PY, "-c", grab], timeout_s=60, limits=limited)
    assert result.returncode == 1 and "MemoryError" in result.stderr
    assert ffmpeg_tool.run([PY, "-c", "b = bytearray(64 * 1024 * 1024)"], timeout_s=60,
                           limits=limited).returncode == 0  # fmt: skip


def test_a_real_transcode_runs_under_its_budget(tmp_path: Path) -> None:
    from ingest.probe import probe
    from ingest.transcode import transcode
    from tests import media

    source = media.plain_mp4(tmp_path / "in.mp4", seconds=2)
    seen: list[dict[str, tuple[str, str]]] = []

    def look(_fraction: float) -> None:
        for pid in ffmpeg_limits.live_pids():
            if not seen and not gone(pid):
                seen.append(limits_of(pid))

    budget = transcode(source, tmp_path / "out.mp4", probe(source), progress=look)
    assert seen, "progress should be reported while ffmpeg runs"
    cpu, memory = budget.limits.cpu_seconds, budget.limits.address_space_bytes
    assert cpu is not None and memory is not None
    assert seen[0]["Max cpu time"] == (str(cpu), str(cpu + 5))
    assert seen[0]["Max address space"] == (str(memory), str(memory))


# ------------------------------------------------------------------ dying with the parent

PARENT = """
import sys, time
sys.path.insert(0, {root!r})
from ingest import ffmpeg_limits
child = ffmpeg_limits.spawn([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def test_a_child_dies_when_its_parent_is_sigkilled() -> None:
    parent = subprocess.Popen(
        [PY, "-c", PARENT.format(root=str(ROOT))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_gone(child), "the child outlived its SIGKILLed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_kill_all_takes_every_live_child() -> None:
    procs = [ffmpeg_limits.spawn([PY, "-c", "import time; time.sleep(60)"]) for _ in range(2)]
    assert set(ffmpeg_limits.live_pids()) >= {p.pid for p in procs}
    assert ffmpeg_limits.kill_all() >= 2
    for proc in procs:
        assert proc.wait(10) == -signal.SIGKILL
    assert not set(ffmpeg_limits.live_pids()) & {p.pid for p in procs}


# ------------------------------------------------------------------ which ffmpeg


@pytest.fixture
def fresh_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from "nothing selected"; the previous choice is restored after."""
    monkeypatch.setattr(ffmpeg_binary, "_selected", None)


def fake_ffmpeg(directory: Path, banner: str, name: str = "ffmpeg") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    exe = directory / name
    exe.write_text(f"#!/bin/sh\necho '{banner}'\n")
    exe.chmod(0o755)
    return exe


@pytest.mark.parametrize(
    ("banner", "expected"),
    [
        ("ffmpeg version n9.0.2-17-g2a571b6068-20260930 Copyright", (9, 0, 2)),
        ("ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024", (5, 1, 6)),
        ("ffmpeg version 7.1 Copyright", (7, 1, 0)),
        ("ffmpeg version N-117045-g3d8b0a1 Copyright", None),
        ("avconv version 9.0", None),
    ],
)
def test_parse_version(banner: str, expected: tuple[int, int, int] | None) -> None:
    assert ffmpeg_binary.parse_version(banner) == expected


def test_the_wheels_ffmpeg_is_used_even_with_another_on_path(
    fresh_choice: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoy = fake_ffmpeg(tmp_path / "bin", "ffmpeg version 5.1.6-0+deb12u1")
    monkeypatch.setenv("PATH", f"{decoy.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(decoy))
    import imageio_ffmpeg

    wheel_dir = Path(imageio_ffmpeg.__file__).parent / "binaries"
    assert Path(ffmpeg_tool.ffmpeg_exe()).parent == wheel_dir
    assert ffmpeg_tool.command("-version")[0] == ffmpeg_tool.ffmpeg_exe()
    chosen = ffmpeg_binary.select(None)
    assert chosen.origin == "wheel" and chosen.version[:2] >= ffmpeg_binary.MIN_VERSION
    assert Path(chosen.path).parent == wheel_dir


def test_a_configured_ffmpeg_that_is_too_old_is_refused_naming_the_setting(
    fresh_choice: None, tmp_path: Path
) -> None:
    old = fake_ffmpeg(tmp_path, "ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024")
    with pytest.raises(ToolMissing, match=r"VERP_FFMPEG.*5\.1\.6.*9\.0 or newer"):
        ffmpeg_binary.select(old)
    assert ffmpeg_binary._selected is None  # the choice is unchanged
    settings = make_settings(tmp_path / "home", **{"ingest.ffmpeg": str(old)})
    with pytest.raises(SettingsError, match="VERP_FFMPEG"):
        check_ffmpeg(settings)


def test_a_configured_ffmpeg_at_the_minimum_is_used(fresh_choice: None, tmp_path: Path) -> None:
    low = ".".join(str(n) for n in ffmpeg_binary.MIN_VERSION)
    good = fake_ffmpeg(tmp_path, f"ffmpeg version {low} Copyright")
    below = fake_ffmpeg(tmp_path, f"ffmpeg version {ffmpeg_binary.MIN_VERSION[0] - 1}.99", "old")
    with pytest.raises(ToolMissing):
        ffmpeg_binary.select(below)
    settings = make_settings(tmp_path / "home", **{"ingest.ffmpeg": str(good)})
    assert check_ffmpeg(settings).startswith(f"ffmpeg {low}.0 (configured")
    assert ffmpeg_tool.ffmpeg_exe() == str(good)


@pytest.mark.parametrize("banner", ["ffmpeg version N-117045-g3d8b0a1", "not ffmpeg at all"])
def test_a_configured_ffmpeg_of_unknown_version_is_refused(
    fresh_choice: None, tmp_path: Path, banner: str
) -> None:
    with pytest.raises(ToolMissing, match="cannot read its version"):
        ffmpeg_binary.select(fake_ffmpeg(tmp_path, banner))


def test_a_relative_or_missing_configured_ffmpeg_is_refused(
    fresh_choice: None, tmp_path: Path
) -> None:
    with pytest.raises(ToolMissing, match="absolute path"):
        ffmpeg_binary.select("ffmpeg")
    with pytest.raises(ToolMissing, match="cannot run it"):
        ffmpeg_binary.select(tmp_path / "missing" / "ffmpeg")


def test_verp_refuses_to_start_with_an_old_ffmpeg(tmp_path: Path) -> None:
    old = fake_ffmpeg(tmp_path, "ffmpeg version 5.1.6-0+deb12u1")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERP_")}
    env |= {"VERP_HOME": str(tmp_path / "home"), "VERP_FFMPEG": str(old)}
    done = subprocess.run(
        [str(VERP), "worker", "--once"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "VERP_FFMPEG" in done.stderr and "5.1.6" in done.stderr
