"""Job workspaces: private (0700), removed after the job, stale ones cleaned at start."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.workspace import (
    WorkspaceError,
    clean_stale,
    ensure_root,
    is_empty,
    job_workspace,
    remove_live,
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


def test_a_stopping_worker_can_remove_the_workspaces_still_in_use(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    with job_workspace(root, "clip") as ws:
        (ws / "source").write_bytes(b"plaintext")
        assert remove_live() == 1
        assert is_empty(root)
    assert remove_live() == 0


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
