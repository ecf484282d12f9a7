"""Job workspaces: private (0700), removed after the job, stale ones cleaned at start."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.workspace import (
    WorkspaceError,
    clean_stale,
    ensure_root,
    is_empty,
    job_workspace,
    remove_live,
    reopen,
    reserve,
    write_private,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_job_gets_a_private_directory_that_is_removed_afterwards(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    with job_workspace(root, "clip") as ws:
        assert ws.parent == root and ws.name.startswith("clip-")
        assert mode(root) == 0o700 and mode(ws) == 0o700
        (ws / "source").write_bytes(b"plaintext")
    assert is_empty(root)

    with pytest.raises(RuntimeError), job_workspace(root, "clip") as ws:
        (ws / "source").write_bytes(b"plaintext")
        raise RuntimeError("the job failed")
    assert is_empty(root)


def test_labels_cannot_carry_paths_or_names(tmp_path: Path) -> None:
    for label in ("../up", "Family Smith", ""):
        with pytest.raises(ValueError), job_workspace(tmp_path, label):
            pass


def test_clean_stale_removes_dead_jobs_and_keeps_live_ones(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    ensure_root(root)
    dead = root / "clip-dead"
    dead.mkdir(mode=0o700)
    (dead / ".lock").touch()  # its process is gone, so nobody holds the lock
    (dead / "source").write_bytes(b"plaintext")
    unlocked_old = root / "clip-old"
    unlocked_old.mkdir(mode=0o700)
    os.utime(unlocked_old, (time.time() - 3600, time.time() - 3600))
    unlocked_new = root / "clip-starting"  # between mkdtemp and taking its lock
    unlocked_new.mkdir(mode=0o700)
    (root / "stray.mp4").write_bytes(b"plaintext")

    with job_workspace(root, "clip") as live:
        removed = clean_stale(root)
        assert sorted(removed) == ["clip-dead", "clip-old", "stray.mp4"]
        assert live.exists() and unlocked_new.exists()
    assert sorted(p.name for p in root.iterdir()) == ["clip-starting"]


def test_the_root_is_made_private_and_must_be_a_directory(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    ensure_root(root)
    assert mode(root) == 0o700
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(WorkspaceError):
        ensure_root(not_a_dir)


@pytest.fixture
def stopping() -> Iterator[None]:
    """remove_live() closes the process to new workspaces; reopen it afterwards."""
    try:
        yield
    finally:
        reopen()


def test_a_stopping_worker_can_remove_the_workspaces_still_in_use(
    tmp_path: Path, stopping: None
) -> None:
    root = tmp_path / "workspace"
    with job_workspace(root, "clip") as ws:
        (ws / "source").write_bytes(b"plaintext")
        assert remove_live(wait_s=0) == 1
        assert is_empty(root)
    assert remove_live(wait_s=0) == 0


def test_a_stopping_worker_waits_for_its_jobs_and_starts_no_new_one(
    tmp_path: Path, stopping: None
) -> None:
    root = tmp_path / "workspace"
    started, leave = threading.Event(), threading.Event()
    made_after_removal: list[bool] = []

    def job() -> None:
        with job_workspace(root, "clip") as ws:
            (ws / "source").write_bytes(b"plaintext")
            started.set()
            leave.wait(5)
            # A job thread still running writes on into a directory that is gone.
            try:
                (ws / "thumbs").mkdir(mode=0o700)  # as thumbnails does: no parents
                made_after_removal.append(True)
            except OSError:
                made_after_removal.append(False)

    thread = threading.Thread(target=job)
    thread.start()
    assert started.wait(5)
    threading.Timer(0.3, leave.set).start()
    began = time.monotonic()
    assert remove_live(wait_s=5) == 1
    assert 0.25 < time.monotonic() - began < 4, "it waits until the job has let go"
    thread.join(5)
    assert made_after_removal == [False] and is_empty(root)
    with pytest.raises(WorkspaceError, match="stopping"), job_workspace(root, "clip"):
        pass
    reopen()
    with job_workspace(root, "clip") as ws:
        assert ws.is_dir()


def test_workspace_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        with job_workspace(tmp_path / "workspace", "clip") as ws:
            write_private(ws / "vtt", b"WEBVTT")
            write_private(ws / "vtt", b"WEBVTT again")  # replaced, still 0600
            reserved = reserve(ws / "playback.mp4")
            assert (ws / "vtt").read_bytes() == b"WEBVTT again"
            assert [mode(ws / "vtt"), mode(reserved)] == [0o600, 0o600]
            with pytest.raises(FileExistsError):
                reserve(reserved)
            (ws / "link").symlink_to(tmp_path / "elsewhere")
            with pytest.raises(OSError):
                write_private(ws / "link", b"x")  # never through a symlink
            assert not (tmp_path / "elsewhere").exists()
    finally:
        os.umask(previous)


def test_clean_stale_stops_tools_a_dead_worker_left_running(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    dead = root / "clip-dead"
    dead.mkdir(parents=True, mode=0o700)
    (dead / ".lock").touch()
    # Stands in for an ffmpeg whose worker was killed: it names a file of the job.
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", f"file:{dead / 'source'}"]
    )
    cmdline = Path(f"/proc/{orphan.pid}/cmdline")
    try:
        deadline = time.monotonic() + 10
        while b"clip-dead" not in cmdline.read_bytes():  # just exec()ed: not yet visible
            assert time.monotonic() < deadline
            time.sleep(0.01)
        clean_stale(root)
        assert orphan.wait(10) == -signal.SIGKILL
    finally:
        if orphan.poll() is None:
            orphan.kill()
    assert is_empty(root)
