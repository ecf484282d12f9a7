"""The data-protection pages: overview, holds, withdrawal, tombstones, audit search,
verification and exports — own site only, no footage."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select

from storage.audit import Actor
from storage.db.footage import Clip, Consent
from storage.db.governance import AuditEntry, LegalHold, Tombstone
from tests.unit.webapp.helpers import audit_actions, count_rows, text
from tests.webapp_fixtures import LoginAs, World, post
from webapp.composition import Services
from webapp.views.dpo_audit import PAGE


def test_overview_counts_this_site(client: FlaskClient, login_as: LoginAs) -> None:
    login_as(client, "dpo")
    page = text(client.get("/dpo"))
    assert "Data protection at Site A" in page
    assert '<span class="stat__value">2</span> <span class="stat__label">clips held' in page
    assert '<span class="stat__value">1</span> <span class="stat__label">on legal hold' in page
    assert '<span class="stat__value">1</span> <span class="stat__label">destroyed' in page
    assert "<img" not in page and "<video" not in page


def test_overdue_clips_are_listed(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    with services.db.session() as db:
        clip = db.get(Clip, world.sites["a"].receiving_clip)
        assert clip is not None
        clip.delete_after = services.clock.now() - timedelta(days=2)
    login_as(client, "admin")
    page = text(client.get("/dpo"))
    overdue = page[page.index("Overdue deletions") : page.index("Deletions in the next")]
    assert "FAM-A01" in overdue and "Overdue" in overdue


def test_place_and_lift_a_hold(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    uid = login_as(client, "dpo")
    clip_id = world.sites["a"].receiving_clip
    empty = post(client, "/dpo/holds", {"clip_id": clip_id, "reason": "  "})
    assert empty.status_code == 400 and "needs a reason" in text(empty)
    other = post(client, "/dpo/holds", {"clip_id": world.sites["b"].clip, "reason": "x"})
    assert other.status_code == 404
    assert count_rows(services, LegalHold) == 2  # the world's two holds only
    assert (
        post(client, "/dpo/holds", {"clip_id": clip_id, "reason": "complaint 17"}).status_code
        == 302
    )
    with services.db.session() as db:
        hold = db.scalar(select(LegalHold).where(LegalHold.clip_id == clip_id))
        assert hold is not None and hold.placed_by == uid and hold.reason == "complaint 17"
    assert "complaint 17" in text(client.get("/dpo/holds"))
    assert post(client, f"/dpo/holds/{hold.id}/lift").status_code == 302
    with services.db.session() as db:
        lifted = db.get(LegalHold, hold.id)
        assert lifted is not None and lifted.lifted_at is not None
    assert audit_actions(services, "hold.place")[-1].target_id == clip_id
    assert audit_actions(services, "hold.lift")[-1].details == {"hold_id": hold.id}


def test_partial_withdrawal_stops_a_use(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "dpo")
    consent_id = world.sites["a"].consent
    assert "Record a withdrawal" in text(client.get(f"/dpo/consents/{consent_id}"))
    response = post(
        client,
        f"/dpo/consents/{consent_id}/withdraw",
        {"purposes": ["training-events"], "reason": "letter from parent"},
    )
    assert response.status_code == 302
    with services.db.session() as db:
        consent = db.get(Consent, consent_id)
        assert consent is not None and consent.withdrawn_purposes == ["training-events"]
        assert db.get(Clip, world.sites["a"].receiving_clip).status == "receiving"  # type: ignore[union-attr]


def test_full_withdrawal_destroys_unheld_clips(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "dpo")
    consent_id = world.sites["a"].consent
    everything = ["family-review", "supervision", "training-events", "evaluation"]
    response = post(
        client,
        f"/dpo/consents/{consent_id}/withdraw",
        {"purposes": everything, "reason": "phone call"},
        follow_redirects=True,
    )
    assert "1 clip(s) were destroyed" in text(response)
    assert "on legal hold" in text(response)
    with services.db.session() as db:
        assert db.get(Tombstone, world.sites["a"].receiving_clip) is not None
        assert db.get(Tombstone, world.sites["a"].clip) is None  # held


def test_withdrawal_needs_purposes_and_a_reason(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "dpo")
    url = f"/dpo/consents/{world.sites['a'].consent}/withdraw"
    assert post(client, url, {"reason": "x"}).status_code == 400
    assert post(client, url, {"purposes": ["supervision"], "reason": ""}).status_code == 400
    with services.db.session() as db:
        consent = db.get(Consent, world.sites["a"].consent)
        assert consent is not None and consent.withdrawn_purposes == []


def test_tombstones_and_certificate(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "dpo")
    listing = text(client.get("/dpo/tombstones"))
    doomed = world.sites["a"].destroyed_clip
    assert f"/dpo/tombstones/{doomed}" in listing and world.sites["b"].destroyed_clip not in listing
    certificate = text(client.get(f"/dpo/tombstones/{doomed}"))
    assert "Retention period ended" in certificate and "present and unchanged" in certificate
    assert "Gone from the live system" in certificate
    assert "Unrecoverable from any copy" in certificate and "pending:" in certificate
    with services.db.session() as db:
        tomb = db.get(Tombstone, doomed)
        assert tomb is not None and tomb.audit_seq is not None
        entry = db.get(AuditEntry, tomb.audit_seq)
        assert entry is not None
        entry.hash = "0" * 64  # someone edits the log
    assert "missing or altered" in text(client.get(f"/dpo/tombstones/{doomed}"))


def test_audit_search_filters_and_scope(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    uid = login_as(client, "dpo")
    page = text(client.get("/dpo/audit?action=auth.login"))
    assert "auth.login" in page and "clip.register" not in page
    by_target = text(client.get(f"/dpo/audit?target={world.sites['a'].clip}"))
    assert "hold.place" in by_target and "auth.login" not in by_target
    by_actor = text(client.get(f"/dpo/audit?actor={uid}"))
    assert "auth.login" in by_actor and "clip.register" not in by_actor
    # Each row links to the same search narrowed to its actor, and to its clip.
    clip = world.sites["a"].clip
    assert f'href="/dpo/audit?actor={uid}"' in page
    assert f'href="/dpo/audit?clip={clip}"' in text(client.get("/dpo/audit?action=hold.place"))
    everything = text(client.get("/dpo/audit"))
    assert world.sites["b"].clip[:8] not in everything  # another site's entries stay hidden
    assert "No entries match" in text(client.get("/dpo/audit?until=2026-03-01"))
    assert "auth.login" in text(client.get("/dpo/audit?since=2026-03-02&until=2026-03-02"))
    bad = client.get("/dpo/audit?since=March")
    assert bad.status_code == 400 and "enter a date" in text(bad)
    assert audit_actions(services, "audit.search")


def test_audit_search_pages(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    with services.db.session() as db:
        actor = Actor.system("test", site_id=world.sites["a"].id)
        for _ in range(PAGE + 5):
            services.audit.append(db, actor, "test.noise")
    login_as(client, "dpo")
    first = text(client.get("/dpo/audit?action=test.noise"))
    assert first.count("test.noise</span>") == PAGE and "Older entries" in first
    start = first.index("before=") + len("before=")
    before = first[start : first.index('"', start)]
    second = text(client.get(f"/dpo/audit?action=test.noise&before={before}"))
    assert second.count("test.noise</span>") == 5 and "Older entries" not in second


def test_verify_reports_tampering(
    client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "dpo")
    assert "Every entry checks out" in text(client.get("/dpo/audit/verify"))
    with services.db.session() as db:
        entry = db.scalar(select(AuditEntry).order_by(AuditEntry.seq).limit(1))
        assert entry is not None
        entry.details = {"edited": True}
    page = text(client.get("/dpo/audit/verify"))
    assert "has been tampered with" in page and "was modified" in page
    assert audit_actions(services, "audit.verify")[-1].details == {"ok": False}


def test_audit_export_is_csv_of_this_site(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "admin")
    response = client.get("/dpo/audit/export.csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows and {row["site_id"] for row in rows} == {world.sites["a"].id}
    assert audit_actions(services, "audit.export")[-1].details["entries"] == len(rows)
    assert client.get("/dpo/audit/export.csv?since=bad").status_code == 400


def test_retention_report_csv(client: FlaskClient, login_as: LoginAs, world: World) -> None:
    login_as(client, "dpo")
    body = client.get("/dpo/audit/retention-report.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    ids = {row["clip_id"] for row in rows}
    a = world.sites["a"]
    assert {a.clip, a.receiving_clip, a.destroyed_clip} <= ids
    assert not ids & {world.sites["b"].clip, world.sites["b"].destroyed_clip}
