"""The DPO commands end to end through the real `verp` process: embedded default
(SQLite + local files), PostgreSQL, and PostgreSQL + S3/KMS with Object Lock checkpoints."""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db.governance import Tombstone
from tests.conftest import START
from tests.integration.governance_env import base_env, run_verp, s3_env, services_for
from tests.unit.governance.factory import make_clip, make_consent, make_world, wrapped_key

AFTER_A_YEAR = (START + timedelta(days=400)).isoformat()


@pytest.fixture(params=["embedded", "postgresql+s3"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The embedded default, and the scale-out profile (PostgreSQL, S3, KMS, locked
    checkpoints). PostgreSQL alone is covered by the unit tests' ``services`` fixture."""
    if request.param == "embedded":
        yield base_env(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'verp.db'}")
        return
    out = base_env(tmp_path / "home", request.getfixturevalue("pg_schema_url"))
    out |= s3_env(
        request.getfixturevalue("moto_endpoint"),
        request.getfixturevalue("s3_bucket"),
        request.getfixturevalue("kms_key_id"),
    )
    yield out


def _json(env: dict[str, str], *args: str) -> object:
    result = run_verp(env, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dpo_workflow(env: dict[str, str], tmp_path: Path) -> None:
    svc = services_for(env)
    world = make_world(svc)
    consent = make_consent(svc, world)
    doomed = make_clip(svc, world, consent)
    held = make_clip(svc, world, consent, review_rows=False)
    other_consent = make_consent(svc, world, purposes=("family-review",))
    withdrawn = make_clip(svc, world, other_consent, review_rows=False)

    status = _json(env, "retention", "status", "--now", START.isoformat())
    assert status == [
        {
            "site": "north",
            "kind": "home-visit",
            "active": 3,
            "due-30d": 0,
            "due-7d": 0,
            "overdue": 0,
            "held": 0,
            "unscheduled": 0,
            "destroying": 0,
            "erasure-pending": 0,
            "destroyed": 0,
            "total": 3,
        }
    ]

    hold = _json(env, "holds", "place", held, "--reason", "complaint 2026/7", "--by", "DPO north")
    assert isinstance(hold, dict) and hold["placed_by"] == "DPO north"
    listed = _json(env, "holds", "list", "--site", "north")
    assert [h["clip_id"] for h in listed] == [held]  # type: ignore[union-attr]

    swept = _json(env, "retention", "sweep", "--now", AFTER_A_YEAR)
    assert isinstance(swept, dict)
    assert set(swept["destroyed"]) == {doomed, withdrawn}
    assert swept["held"] == [held] and swept["failed"] == []
    for clip_id in (doomed, withdrawn):
        assert svc.blobs.keys(f"{world.site_id}/{clip_id}/") == []
        assert wrapped_key(svc, clip_id) is None
    assert svc.blobs.keys(f"{world.site_id}/{held}/")

    lifted = run_verp(env, "holds", "lift", hold["hold_id"])
    assert lifted.returncode == 0, lifted.stderr
    swept = _json(env, "retention", "sweep", "--now", AFTER_A_YEAR)
    assert swept["destroyed"] == [held]  # type: ignore[index]

    report_file = tmp_path / "report.html"
    result = run_verp(
        env, "retention", "report", "--site", "north", "--format", "html", "-o", str(report_file)
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(report_file.stat().st_mode) == 0o600
    page = report_file.read_text()
    assert page.count("Certificate of destruction") == 3 and "Audit chain: verified" in page
    result = run_verp(env, "retention", "report", "--site", "north", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # Every destroyed clip, then the signed audit receipt the report carries.
    assert [r["record"] for r in rows] == ["destroyed"] * 3 + ["audit_receipt"]
    with svc.db.session() as session:
        tomb = session.get(Tombstone, doomed)
        assert tomb is not None
        assert tomb.audit_hash in page and tomb.annotation_count == 2

    exported = run_verp(env, "audit", "export", "--site", "north", "--format", "jsonl")
    assert exported.returncode == 0, exported.stderr
    actions = [json.loads(line)["action"] for line in exported.stdout.splitlines()]
    assert actions.count("clip.destroy") == 3 and "hold.place" in actions
    assert "hold.lift" in actions and "retention.report" in actions

    verified = _json(env, "audit", "verify")
    assert isinstance(verified, dict) and verified["ok"] and verified["checkpoints"] >= 1

    # Withdrawal through the CLI destroys at once.
    fresh = make_clip(svc, world, consent, review_rows=False)
    out = _json(env, "consent", "withdraw", consent, "--purposes", "all", "--reason", "asked")
    assert out["destroyed"] == [fresh]  # type: ignore[index]
    assert svc.blobs.keys(f"{world.site_id}/{fresh}/") == []

    # Tampering directly in the database is caught and named; exit status 1.
    with svc.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_entries SET actor_id = 'nobody' WHERE seq = 3"))
    failed = run_verp(env, "audit", "verify", "--json")
    assert failed.returncode == 1
    body = json.loads(failed.stdout)
    assert body["ok"] is False and body["first_bad_seq"] == 3
    svc.close()


def test_bad_input_gets_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    env = base_env(tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'verp.db'}")
    svc = services_for(env)
    world = make_world(svc)
    consent = make_consent(svc, world)
    clip_id = make_clip(svc, world, consent, review_rows=False)

    result = run_verp(
        env, "consent", "withdraw", consent, "--purposes", "marketing", "--reason", "x"
    )
    assert result.returncode == 1 and "unknown purpose 'marketing'" in result.stderr
    result = run_verp(
        env, "consent", "withdraw", "no-such-id", "--purposes", "all", "--reason", "x"
    )
    assert result.returncode == 1 and "no consent" in result.stderr
    result = run_verp(env, "retention", "sweep", "--now", "next tuesday")
    assert result.returncode == 2 and "ISO 8601" in result.stderr
    result = run_verp(env, "holds", "place", clip_id, "--reason", " ")
    assert result.returncode == 1 and "reason" in result.stderr
    result = run_verp(env, "retention", "report", "--site", "nowhere")
    assert result.returncode == 1 and "nowhere" in result.stderr
    bad = run_verp(
        {**env, "VERP_RETENTION_FILE": str(tmp_path / "missing.toml")}, "retention", "status"
    )
    assert bad.returncode == 2 and "VERP_RETENTION_FILE" in bad.stderr
    assert wrapped_key(svc, clip_id) is not None
    status = _json(env, "retention", "status")
    assert status[0]["total"] == 1 and status[0]["held"] == 0  # type: ignore[index]
    svc.close()
