"""`verp reports programme` through the real `verp` process, on SQLite and PostgreSQL,
against the hand-worked site of tests/unit/programme/report_world.py."""

from __future__ import annotations

import csv
import io
import stat
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from storage.clock import FixedClock
from storage.db.governance import AuditEntry
from tests.integration.governance_env import base_env, run_verp, services_for
from tests.unit.programme.report_world import FAMILY_CODES, build


def test_programme_report_csv_and_html(tmp_path: Path, db_url: str) -> None:
    env = base_env(tmp_path / "home", db_url)
    now = datetime.now(UTC)  # the command reads the system clock
    svc = services_for(env, FixedClock(now))
    try:
        with svc.db.session() as db:
            build(db, now)
    finally:
        svc.close()
    out = tmp_path / "programme.csv"
    result = run_verp(env, "reports", "programme", "--site", "north", "--format", "csv",
                      "-o", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["scope"], r["group"]) for r in rows] == [
        ("group", "GRP-A"),
        ("group", "GRP-B"),
        ("site", ""),
    ]
    assert rows[0]["families_filmed_home_visit_2"] == "2" and rows[0]["supervisions_held"] == "1"
    assert rows[2]["families_enrolled"] == "5" and rows[2]["days_to_review_median"] == "6"
    assert not any(code in text for code in FAMILY_CODES)
    page = run_verp(env, "reports", "programme", "--site", "north")
    assert page.returncode == 0, page.stderr
    assert page.stdout.startswith("<!doctype html>") and "6 (2-13)" in page.stdout
    assert "Programme report: Site north" in page.stdout
    missing = run_verp(env, "reports", "programme", "--site", "nowhere")
    assert missing.returncode != 0 and "nowhere" in (missing.stderr + missing.stdout)
    svc = services_for(env)
    try:
        with svc.db.session() as db:
            entries = list(
                db.scalars(select(AuditEntry).where(AuditEntry.action == "report.programme"))
            )
    finally:
        svc.close()
    assert [e.details["format"] for e in entries] == ["csv", "html"]
