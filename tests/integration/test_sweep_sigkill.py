"""A sweep killed with SIGKILL after any step is completed by the next run, with nothing
left: no blob in the store, no wrapped key, no review rows; a tombstone; a chain that
verifies. The killed run is a real process whose step hook kills itself. With a reader
holding a snapshot, the erasure is reported pending (exit 3) until the reader lets go."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from storage.audit.verify import verify_chain
from storage.db.governance import Tombstone
from storage.destruction import STEPS
from tests.integration.governance_env import base_env, run_verp, s3_env, services_for
from tests.unit.governance.erasure_env import files_holding, reader_snapshot
from tests.unit.governance.factory import (
    clip_row,
    make_clip,
    make_consent,
    make_world,
    rows_of,
    wrapped_key,
)
from webapp.composition import Services

NOW = "2027-04-01T00:00:00+00:00"

# The production sweep, with a step hook that kills the process (tests only).
KILLER = """
import os, signal, sys
from datetime import datetime
from config import load_settings
from storage.clock import FixedClock
from storage.destruction import Destroyer
from webapp.composition import build_services

step, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
svc = build_services(load_settings(), clock=FixedClock(now))

def hook(done, clip_id):
    if done == step:
        os.kill(os.getpid(), signal.SIGKILL)

Destroyer(svc.db, svc.vault, svc.audit, on_step=hook).sweep(svc.settings.retention)
print("the hook never fired")
"""


def _kill_then_resume(env: dict[str, str], step: str, tmp_path: Path) -> None:
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    killed = subprocess.run(
        [sys.executable, str(script), step, NOW],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, (killed.stdout, killed.stderr)
    resumed = run_verp(env, "retention", "sweep", "--now", NOW, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["failed"] == []


def _assert_nothing_left(svc: Services, site_id: str, clip_ids: list[str]) -> None:
    for clip_id in clip_ids:
        assert svc.blobs.keys(f"{site_id}/{clip_id}/") == []
        assert wrapped_key(svc, clip_id) is None
        assert set(rows_of(svc, clip_id).values()) == {0}
        with svc.db.session() as session:
            tomb = session.get(Tombstone, clip_id)
            assert tomb is not None and tomb.annotation_count == 2 and tomb.blob_count == 3
    with svc.db.session() as session:
        assert verify_chain(session, svc.audit.key, svc.audit.checkpoints).ok


def _world(env: dict[str, str]) -> tuple[Services, str, list[str]]:
    svc = services_for(env)
    world = make_world(svc)
    consent = make_consent(svc, world)
    clips = [make_clip(svc, world, consent, renditions=("original", "poster")) for _ in range(2)]
    return svc, world.site_id, clips


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step_then_resume(step: str, db_url: str, tmp_path: Path) -> None:
    env = base_env(tmp_path / "home", db_url)
    svc, site_id, clips = _world(env)
    try:
        _kill_then_resume(env, step, tmp_path)
        _assert_nothing_left(svc, site_id, clips)
    finally:
        svc.close()


@pytest.mark.parametrize("step", ["shredded", "blob-deleted"])
def test_sigkill_on_s3_then_resume(
    step: str,
    pg_schema_url: str,
    moto_endpoint: str,
    s3_bucket: str,
    kms_key_id: str,
    tmp_path: Path,
) -> None:
    env = base_env(tmp_path / "home", pg_schema_url) | s3_env(moto_endpoint, s3_bucket, kms_key_id)
    svc, site_id, clips = _world(env)
    try:
        _kill_then_resume(env, step, tmp_path)
        _assert_nothing_left(svc, site_id, clips)
    finally:
        svc.close()


def test_sigkill_after_the_shred_with_a_reader_then_pending_then_destroyed(
    db_url: str, tmp_path: Path
) -> None:
    """The killed sweep took the wrapped key's bytes with it; a reader still holds a snapshot
    from before the shred. The next `verp retention sweep` must find the key's bytes from
    the recorded probe, report erasure pending (exit 3, JSON) and not claim destruction; once
    the reader lets go, the next sweep verifies and destroys."""
    env = base_env(tmp_path / "home", db_url) | {"VERP_ERASURE_WAIT_SECONDS": "0.5"}
    svc, site_id, clips = _world(env)
    keys = [wrapped_key(svc, clip_id) for clip_id in clips]
    try:
        with reader_snapshot(svc):
            script = tmp_path / "killer.py"
            script.write_text(KILLER)
            killed = subprocess.run(
                [sys.executable, str(script), "shredded", NOW],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert killed.returncode == -signal.SIGKILL, killed.stderr
            pending = run_verp(env, "retention", "sweep", "--now", NOW, "--json")
            assert pending.returncode == 3, pending.stderr
            assert "erasure pending for 2 clip(s)" in pending.stderr
            report = json.loads(pending.stdout)
            assert report["destroyed"] == [] and report["failed"] == []
            assert sorted(p["clip_id"] for p in report["erasure_pending"]) == sorted(clips)
            assert all(
                "wrapped key bytes still in" in p["problem"] for p in report["erasure_pending"]
            )
            with svc.db.session() as session:
                assert session.get(Tombstone, clips[0]) is None
            assert all(clip_row(svc, c).status == "erasure-pending" for c in clips)
            text = run_verp(env, "retention", "sweep", "--now", NOW)
            assert text.returncode == 3 and "ERASURE PENDING" in text.stdout
        patient = env | {"VERP_ERASURE_WAIT_SECONDS": "20"}  # see tests/unit/governance
        done = run_verp(patient, "retention", "sweep", "--now", NOW, "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        assert sorted(json.loads(done.stdout)["destroyed"]) == sorted(clips)
        assert json.loads(done.stdout)["erasure_pending"] == []
        _assert_nothing_left(svc, site_id, clips)
        for key in keys:
            assert key is not None and files_holding(svc, key) == []
    finally:
        svc.close()
