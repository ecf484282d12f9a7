"""Plain-language audit entries: every action has words, unknown ones read safely, details
read as sentences."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.db.governance import AuditEntry
from webapp.audit_text import GROUPS, PHRASES, Names, Person, describe, group_of

ROOT = Path(__file__).resolve().parents[3]
#: An action literal handed to the audit log: ``append(db, actor, "clip.view"`` and the
#: helpers that wrap it (``record_viewing(user, clip, KEY, "clip.play"``, ``_record``).
_CALL = re.compile(
    r"(?:\.append|record_viewing|_record|_audit|audit_event)\(\s*(?:[^()\"]*?,\s*)?"
    r"\"([a-z_]+\.[a-z_]+)\"",
    re.S,
)


def _entry(action: str, **fields: Any) -> AuditEntry:
    return AuditEntry(
        seq=1,
        at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        actor_id=fields.pop("actor_id", "u1"),
        actor_role="dpo",
        site_id="s1",
        action=action,
        details=fields.pop("details", {}),
        prev_hash="0",
        hash="0",
        **fields,
    )


NAMES = Names(
    people={"u1": Person("u1", "Dana Reed", "dana@x.org", "dpo")},
    clips={"c1": ("FAM-0042", "home-visit")},
    consents={"k1": "FAM-0042"},
)


def test_every_action_the_code_records_has_words() -> None:
    found: set[str] = set()
    for package in ("webapp", "storage", "review", "ingest"):
        for path in (ROOT / package).rglob("*.py"):
            found.update(_CALL.findall(path.read_text(encoding="utf-8")))
    assert len(found) > 40  # the scan works
    missing = sorted(a for a in found if a not in PHRASES)
    assert missing == [], f"add these actions to webapp.audit_text.PHRASES: {missing}"


def test_every_grouped_action_has_words_and_one_group() -> None:
    grouped = [a for _, actions in GROUPS.values() for a in actions]
    assert len(grouped) == len(set(grouped))  # no action in two groups
    assert set(grouped) <= set(PHRASES)
    assert set(PHRASES) - set(grouped) == set()  # and every described action is filterable


def test_a_known_action_reads_as_a_sentence() -> None:
    entry = _entry(
        "consent.withdraw",
        target_type="consent",
        target_id="k1",
        details={"purposes": ["family-review", "supervision"], "all": True, "clips": 2},
    )
    said = describe(entry, NAMES)
    assert said.who == "Dana Reed (Data protection officer)"
    assert said.what == "Recorded a withdrawal of the consent of family FAM-0042"
    assert said.details == (
        "Purposes: shared review with the family, supervision. "
        "No purpose is left: all are withdrawn. 2 clip(s) concerned."
    )
    assert said.group == "consent"


def test_an_unknown_action_and_unknown_details_fall_back_safely() -> None:
    entry = _entry(
        "widget.frobnicate_all",
        actor_id="gone-user-1234567890",
        target_type="gizmo",
        target_id="abcdef0123456789",
        details={"some_key": [1, True, None], "nested": {"a_b": "c"}, "head_hash": "ff"},
    )
    said = describe(entry, NAMES)
    assert said.who == "a former user (gone-use)"
    assert said.what == "Widget frobnicate all gizmo abcdef01"
    assert said.details == "Nested: a b c. Some key: 1, yes, none."  # hashes are left out
    assert said.group == "" and group_of("widget.frobnicate_all") == ""


def test_ids_without_names_read_safely() -> None:
    empty = Names()
    assert empty.person(None) == "someone unknown"
    assert empty.person("system:retention-sweep") == "verp (retention sweep)"
    assert empty.clip("0123456789") == "clip 01234567"
    assert empty.consent("0123456789") == "consent 01234567"
    refused = _entry(
        "access.refused",
        target_type="clip",
        target_id="c1",
        details={"refusal": "consent", "status": 403, "endpoint": "media.clip_media"},
    )
    said = describe(refused, NAMES)
    assert said.what == "Was refused access to the home visit clip of family FAM-0042"
    assert said.details == "The family's consent does not cover this use. Page: clip media."
    assert said.group == "refused"


def test_user_text_comes_back_as_plain_text_for_the_template_to_escape() -> None:
    names = Names(people={"u1": Person("u1", "<img src=x>", "e@x.org", "facilitator")})
    said = describe(_entry("auth.login", details={"reason": "<b>x</b>"}), names)
    assert said.who == "<img src=x> (Facilitator)"  # escaped by Jinja, not double-escaped
    assert said.details == "Reason given: “<b>x</b>”."


def test_ids_inside_details_read_as_names_and_times_as_dates() -> None:
    user = "df4179bf-de32-4d23-b7e4-cc325f73e430"
    group = "92f38a1b-0000-4000-8000-000000000000"
    names = Names(
        people={user: Person(user, "Sam Reed", "sam@x.org", "facilitator")},
        groups={group: "GRP-B"},
    )
    entry = _entry(
        "group.create",
        target_type="group",
        target_id=group,
        details={
            "facilitators": [{"user_id": user, "trainee": False}],
            "programme_end": "2027-01-29T10:00:00+00:00",
            "training_block_id": "13bf6c40-51c7-44cf-92d7-75d0fd2e4b60",  # unknown: left out
        },
    )
    said = describe(entry, names)
    assert said.what == "Created group GRP-B"
    assert said.details == (
        "Facilitators: Sam Reed (Facilitator); trainee no. Programme end: 29 Jan 2027, 10:00 UTC."
    )
