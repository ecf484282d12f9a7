"""A real `verp worker` killed with SIGKILL mid-transcode: its ffmpeg dies with it and
stops writing, plaintext stays in the 0700 workspace, and the next worker finishes the
clip cleanly."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from config import Settings, load_settings
from ingest import jobs
from ingest.workspace import is_empty
from storage.clock import SystemClock
from tests import media
from tests.unit.ingest.staging import blobs_of, clip_row, stage_clip
from webapp.composition import Services, build_services, initialize

VERP = Path(sys.executable).with_name("verp")
LEASE_SECONDS = 3

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VERP_")}
    return {
        **clean,
        "VERP_HOME": str(tmp_path / "home"),
        "VERP_QUEUE_LEASE_SECONDS": str(LEASE_SECONDS),
        # Slow enough on tiny media to be caught mid-transcode.
        "VERP_VIDEO_PRESET": "veryslow",
    }


@pytest.fixture
def services(env: dict[str, str]) -> Iterator[Services]:
    settings: Settings = load_settings(environ=env)
    initialize(settings)
    svc = build_services(settings, clock=SystemClock())
    try:
        yield svc
    finally:
        svc.close()


def wait_for(what: str, check: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def processes_using(path: Path) -> list[int]:
    """Pids whose command line mentions ``path`` (an ffmpeg orphaned by the kill)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_killed_worker_leaves_plaintext_only_in_its_workspace_and_the_clip_finishes(
    services: Services, env: dict[str, str], tmp_path: Path
) -> None:
    source = media.plain_mp4(tmp_path / "visit.mp4", size="320x240", seconds=20)
    marker = source.read_bytes()[2048:2112]  # a slice of the footage to look for on disk
    clip_id = stage_clip(services, source, parts=2)
    jobs.enqueue_process(services, clip_id)
    home, workspace = services.settings.home, services.settings.workspace_dir

    log = (tmp_path / "worker-1.log").open("wb")
    worker = subprocess.Popen([str(VERP), "worker"], env=env, stdout=log, stderr=log)
    try:
        # The stage turns to "transcoding" just before ffmpeg starts: wait for both.
        wait_for("the transcode", lambda: clip_row(services, clip_id).stage == "transcoding")
        wait_for("ffmpeg in the workspace", lambda: bool(processes_using(workspace)), timeout=30)
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
        log.close()

    # Its ffmpeg dies with it (parent-death signal) and stops writing at once.
    wait_for("ffmpeg to die with its worker", lambda: not processes_using(workspace), timeout=5)
    assert stat.S_IMODE(workspace.stat().st_mode) == 0o700
    jobs_left = list(workspace.iterdir())
    assert len(jobs_left) == 1 and stat.S_IMODE(jobs_left[0].stat().st_mode) == 0o700
    sizes = {p: p.stat().st_size for p in files_under(jobs_left[0])}
    time.sleep(1.5)
    assert {p: p.stat().st_size for p in files_under(jobs_left[0])} == sizes
    with_plaintext = [p for p in files_under(home) if marker in p.read_bytes()]
    assert with_plaintext, "the decrypted source should still be in the job workspace"
    assert all(jobs_left[0] in p.parents for p in with_plaintext), with_plaintext
    clip = clip_row(services, clip_id)
    assert (clip.status, clip.stage) == ("processing", "transcoding")
    assert clip.claimed_by is not None

    time.sleep(LEASE_SECONDS + 1)  # the dead worker's lease runs out
    log = (tmp_path / "worker-2.log").open("wb")
    worker = subprocess.Popen([str(VERP), "worker"], env=env, stdout=log, stderr=log)
    try:
        # It clears the dead job's workspace at once, then re-queues and processes the clip.
        wait_for("the stale workspace to go", lambda: not jobs_left[0].exists())
        wait_for("the clip to be ready", lambda: clip_row(services, clip_id).status == "ready")
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
        log.close()

    clip = clip_row(services, clip_id)
    assert (clip.stage, clip.progress, clip.claimed_by, clip.attempts) == ("ready", 100, None, 2)
    assert set(blobs_of(services, clip_id)) == {"playback", "poster", "sprite", "thumbnails"}
    assert is_empty(workspace)
    assert not [p for p in files_under(home) if marker in p.read_bytes()]


def test_sigterm_stops_at_once_and_takes_the_plaintext_with_it(
    services: Services, env: dict[str, str], tmp_path: Path
) -> None:
    source = media.plain_mp4(tmp_path / "visit.mp4", size="320x240", seconds=20)
    clip_id = stage_clip(services, source)
    jobs.enqueue_process(services, clip_id)
    workspace = services.settings.workspace_dir
    worker = subprocess.Popen([str(VERP), "worker"], env=env, stderr=subprocess.DEVNULL)
    try:
        wait_for("the transcode", lambda: clip_row(services, clip_id).stage == "transcoding")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 128 + signal.SIGTERM  # stopped, not finished
    finally:
        if worker.poll() is None:
            worker.kill()
    assert is_empty(workspace)
    assert not processes_using(workspace), "its ffmpeg should be stopped with it"
    clip = clip_row(services, clip_id)  # handed back: the next worker resumes at once
    assert (clip.status, clip.stage, clip.claimed_by, clip.attempts) == (
        "queued",
        "retrying",
        None,
        0,
    )


def test_worker_once_reports_what_it_did(env: dict[str, str], services: Services) -> None:
    dead = services.settings.workspace_dir / "clip-deadbeef"  # a killed job's workspace
    dead.mkdir(parents=True, mode=0o700)
    (dead / ".lock").touch()
    (dead / "source").write_bytes(b"plaintext")
    done = subprocess.run(
        [str(VERP), "worker", "--once", "--json"], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"stale_workspaces": 1, "requeued": 0, "jobs": 0}
    assert is_empty(services.settings.workspace_dir)
