"""What a DPO reads: audit export, retention status and the retention report."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from storage.audit.export import export_entries
from storage.audit.verify import verify_chain
from storage.clock import FixedClock
from storage.destruction import Destroyer
from storage.errors import ValidationError
from storage.governance_status import retention_status
from storage.holds import place_hold
from storage.reports import build_report, render_csv, render_html
from tests.unit.governance.factory import ADMIN, make_clip, make_consent, make_world
from webapp.composition import Services


def test_audit_export_is_scoped_to_the_site_and_window(
    services: Services, clock: FixedClock
) -> None:
    north, south = make_world(services, "north"), make_world(services, "south")
    clock.advance(timedelta(minutes=1))
    start = clock.now()
    for world in (north, south):
        with services.db.session() as session:
            services.audit.append(
                session,
                ADMIN,
                "clip.play",
                target_id="=HYPERLINK(1)",
                site_id=world.site_id,
                details={"n": 1},
            )
    clock.advance(timedelta(hours=2))
    with services.db.session() as session:
        services.audit.append(session, ADMIN, "clip.export", site_id=north.site_id)
    out = io.StringIO()
    with services.db.session() as session:
        count = export_entries(session, out, site_id=north.site_id, fmt="jsonl", since=start)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == 2 and [r["action"] for r in rows] == ["clip.play", "clip.export"]
    assert all(r["site_id"] == north.site_id for r in rows)
    out = io.StringIO()
    with services.db.session() as session:
        export_entries(
            session, out, site_id=north.site_id, fmt="csv", until=start + timedelta(hours=1)
        )
    table = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["action"] for r in table] == ["site.create", "clip.play"]
    assert table[1]["target_id"] == "'=HYPERLINK(1)"  # not run as a formula
    assert json.loads(table[1]["details"]) == {"n": 1} and len(table[1]["hash"]) == 64
    with services.db.session() as session:
        with pytest.raises(ValidationError, match="format"):
            export_entries(session, io.StringIO(), site_id=north.site_id, fmt="xml")
        with pytest.raises(ValidationError, match="before"):
            export_entries(
                session, io.StringIO(), site_id=north.site_id, fmt="csv", since=start, until=start
            )


def test_status_counts_each_clip_in_one_state(services: Services, clock: FixedClock) -> None:
    world = make_world(services)
    consent = make_consent(services, world)
    now = clock.now()
    day = timedelta(days=1)
    # Created long ago so the 365-day cap falls at chosen distances from now.
    ages = {"overdue": 366, "due-7d": 360, "due-30d": 340, "active": 10, "held": 366}
    ids = {
        state: make_clip(services, world, consent, created_at=now - age * day, review_rows=False)
        for state, age in ages.items()
    }
    with services.db.session() as session:
        place_hold(
            session, services.audit, ADMIN, site_id=world.site_id, clip_id=ids["held"], reason="x"
        )
    make_clip(services, world, consent, created_at=now - 400 * day, review_rows=False)
    with services.db.session() as session:
        (row,) = retention_status(session, now)
    assert row["site"] == "north" and row["kind"] == "home-visit"
    expected = {"overdue": 2, "due-7d": 1, "due-30d": 1, "active": 1, "held": 1}
    assert {k: row[k] for k in expected} == expected
    assert row["destroyed"] == 0 and row["total"] == 6
    Destroyer(services.db, services.vault, services.audit).sweep(services.settings.retention)
    with services.db.session() as session:
        (row,) = retention_status(session, now, world.site_id)
    assert row["destroyed"] == 2 and row["overdue"] == 0 and row["held"] == 1


def test_report_lists_clips_tombstones_and_certificates(
    services: Services, clock: FixedClock
) -> None:
    world = make_world(services)
    consent = make_consent(services, world, form_reference="<script>alert(1)</script>")
    live = make_clip(services, world, consent, review_rows=False)
    dead = make_clip(services, world, consent, created_at=clock.now() - timedelta(days=400))
    Destroyer(services.db, services.vault, services.audit).sweep(services.settings.retention)
    with services.db.session() as session:
        verified = verify_chain(session, services.audit.key, services.audit.checkpoints)
        report = build_report(session, world.site_id, clock.now(), verified)
    assert [c["clip_id"] for c in report.clips] == [live]
    (tomb,) = report.destroyed
    assert tomb["clip_id"] == dead and tomb["audit_entry_intact"] is True
    assert tomb["annotations"] == 2 and tomb["reason"] == "retention-expired"

    out = io.StringIO()
    render_csv(report, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["record"], r["clip_id"]) for r in rows] == [("clip", live), ("destroyed", dead)]
    assert rows[0]["purposes"] == "family-review, supervision" and rows[0]["delete_after"]
    assert rows[1]["audit_hash"] == tomb["audit_hash"] and rows[1]["audit_entry_intact"] == "yes"

    page = render_html(report)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Certificate of destruction" in page and str(tomb["audit_hash"]) in page
    assert f"entry #{tomb['audit_seq']}" in page and "Audit chain: verified" in page

    with services.db.engine.begin() as conn:  # someone edits the destruction record
        conn.execute(
            text("UPDATE audit_entries SET hash = :h WHERE seq = :s"),
            {"h": "0" * 64, "s": tomb["audit_seq"]},
        )
    with services.db.session() as session:
        verified = verify_chain(session, services.audit.key, services.audit.checkpoints)
        report = build_report(session, world.site_id, clock.now(), verified)
    page = render_html(report)
    assert report.destroyed[0]["audit_entry_intact"] is False
    assert "NO: the audit entry is missing or altered" in page and "FAILED" in page
