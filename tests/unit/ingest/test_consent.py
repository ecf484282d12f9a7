"""Consent parsing (strict, with reasons) and recording (audited, site-scoped)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from storage.accounts import create_site
from storage.audit import Actor
from storage.consent import (
    ConsentInvalid,
    load_consent_file,
    parse_consent,
    record_consent,
)
from storage.db.footage import Consent
from storage.db.governance import AuditEntry
from storage.errors import ValidationError
from webapp.composition import Services

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTOR = Actor.system("test")


def good(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "family": "fam-0042",
        "participants": ["parent-1", "infant"],
        "purposes": ["family-review", "supervision"],
        "form_reference": "CF-2026-0117",
        "taken_by": "facilitator-07",
        "taken_at": "2026-03-01T14:30:00+01:00",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def test_a_good_consent_is_normalised() -> None:
    consent = parse_consent(good(), now=NOW)
    assert consent.family == "FAM-0042"
    assert consent.participants == ("parent-1", "infant")
    assert consent.purposes == ("family-review", "supervision")
    assert consent.taken_at == datetime(2026, 3, 1, 13, 30, tzinfo=UTC)
    assert consent.taken_at.tzinfo is UTC


def test_purposes_may_be_ticked_boxes_and_duplicates_collapse() -> None:
    boxes = {"family-review": True, "supervision": False, "evaluation": True}
    assert parse_consent(good(purposes=boxes), now=NOW).purposes == (
        "family-review",
        "evaluation",
    )
    listed = good(purposes=["evaluation", "evaluation"], participants=["infant", "infant"])
    consent = parse_consent(listed, now=NOW)
    assert consent.purposes == ("evaluation",)
    assert consent.participants == ("infant",)


def test_a_date_only_taken_at_means_midnight_utc() -> None:
    consent = parse_consent(good(taken_at="2026-02-27"), now=NOW)
    assert consent.taken_at == datetime(2026, 2, 27, tzinfo=UTC)


def test_a_tablet_clock_a_little_ahead_is_tolerated() -> None:
    ahead = (NOW + timedelta(minutes=2)).isoformat()
    assert parse_consent(good(taken_at=ahead), now=NOW).taken_at == NOW + timedelta(minutes=2)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (["not", "an", "object"], "expected a JSON object"),
        (good(family=...), "missing field(s) family"),
        (good(purposes=..., taken_by=...), "missing field(s) purposes, taken_by"),
        (good(form_reference=""), "missing field(s) form_reference"),
        (good(notes="Jane was tired"), "unknown field(s) notes"),
        (good(family="Jane Smith"), "pseudonymous family code"),
        (good(family="SMITHS"), "at least one digit"),
        (good(family="F1"), "pseudonymous family code"),
        (good(family=42), "pseudonymous family code"),
        (good(participants=[]), "non-empty list"),
        (good(participants="parent"), "non-empty list"),
        (good(participants=["Jane Smith"]), "not a name"),
        (good(purposes=[]), "covers no purpose"),
        (good(purposes={}), "covers no purpose"),
        (good(purposes={"supervision": False}), "covers no purpose"),
        (good(purposes=["marketing"]), "unknown purpose 'marketing'"),
        (good(purposes={"marketing": True}), "unknown purpose 'marketing'"),
        (good(purposes={"marketing": False}), "unknown purpose 'marketing'"),
        (good(purposes={"supervision": "yes"}), "must be true or false"),
        (good(purposes="supervision"), "must be a list"),
        (good(taken_at="yesterday"), "not an ISO 8601"),
        (good(taken_at="2026-02-30"), "not an ISO 8601"),
        (good(taken_at=20260301), "must be an ISO 8601"),
        (good(taken_at="2026-03-01T14:30:00"), "needs a time-zone offset"),
        (good(taken_at="2026-03-03T09:00:00Z"), "in the future"),
        (good(taken_by="   "), "non-empty text"),
        (good(form_reference="x" * 201), "at most 200 characters"),
        (good(taken_by="line one\nline two"), "one line"),
    ],
)
def test_bad_consents_are_refused_with_the_reason(data: Any, reason: str) -> None:
    with pytest.raises(ConsentInvalid) as caught:
        parse_consent(data, now=NOW)
    assert reason in str(caught.value)
    assert isinstance(caught.value, ValidationError)


def test_consent_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "consent.json"
    path.write_text(json.dumps(good()), encoding="utf-8")
    assert load_consent_file(path, now=NOW) == parse_consent(good(), now=NOW)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "not found"),
        ('{"family": "FAM-1",', "not valid JSON (line 1"),
        (b"\xff\xfe{}", "cannot read"),
        ("[]", "expected a JSON object"),
        (" " * (64 * 1024 + 1), "larger than"),
    ],
)
def test_bad_consent_files_are_refused(tmp_path: Path, content: Any, reason: str) -> None:
    path = tmp_path / "consent.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConsentInvalid) as caught:
        load_consent_file(path, now=NOW)
    assert reason in str(caught.value)


def test_record_consent_stores_and_audits_ids_only(services: Services) -> None:
    consent = parse_consent(good(), now=NOW)
    with services.db.session() as session:
        site = create_site(session, services.audit, ACTOR, "north", "North")
        row = record_consent(session, services.audit, ACTOR, site.id, consent, recorded_by=None)
        consent_id, site_id = row.id, site.id
    with services.db.session() as session:
        stored = session.get(Consent, consent_id)
        assert stored is not None
        assert stored.site_id == site_id
        assert stored.family_code == "FAM-0042"
        assert stored.purposes == ["family-review", "supervision"]
        assert stored.participants == ["parent-1", "infant"]
        assert stored.taken_at == consent.taken_at
        assert stored.created_at == services.clock.now()
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent.record")
        ).one()
        assert entry.target_id == consent_id
        assert entry.site_id == site_id
        assert entry.details == {"purposes": ["family-review", "supervision"]}
        assert "FAM-0042" not in json.dumps(entry.details)
