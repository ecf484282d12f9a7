"""The programme commands in-process (click's runner) against the test database of each
backend: groups, families, supervision, training, shares, users' disciplines and
`verp ingest` placing a clip in a group (and old calls still working)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from config import Settings
from storage.db.footage import Clip
from storage.db.governance import AuditEntry
from storage.db.programme import Group
from storage.errors import NotFound, ValidationError
from storage.programme import GroupFull
from tests.unit.ingest.reception_helpers import consent_data
from tests.unit.programme.world import PASSWORD, Programme, build, consent
from webapp.cli import cli
from webapp.composition import Services


@pytest.fixture
def run(settings: Settings, services: Services) -> Any:
    """``run(*args)`` invokes `verp` on the test database; returns the click Result."""
    env = {
        "VERP_HOME": str(settings.home),
        "VERP_DATABASE_URL": settings.database_url,
        "VERP_SECURE_COOKIES": "false",
    }

    def invoke(*args: str, stdin: str | None = None, extra: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env={**env, **(extra or {})}, input=stdin)

    return invoke


def ok(result: Result) -> Any:
    assert result.exit_code == 0, (result.output, result.exception)
    out = result.stdout  # progress bars go to standard error
    return json.loads(out) if out.lstrip().startswith(("{", "[")) else None


def email(prog: Programme, name: str) -> str:
    return f"{name.replace('_', '-')}@{prog.slug}.example"


def test_groups_and_families_round_trip(run: Any, services: Services) -> None:
    build(services)
    for name, discipline in (("hv-c", "health"), ("cs-c", "childrens-services")):
        out = ok(
            run(
                "users",
                "add",
                f"{name}@north.example",
                "--site",
                "north",
                "--role",
                "facilitator",
                "--discipline",
                discipline,
                "--password-stdin",
                "--json",
                stdin=PASSWORD + "\n",
            )
        )
        assert out["discipline"] == discipline
    made = ok(
        run(
            "groups",
            "add",
            "g-c",
            "--site",
            "north",
            "--name",
            "Thursday group",
            "--health",
            "hv-c@north.example",
            "--childrens-services",
            "cs-c@north.example",
            "--trainee",
            "cs-c@north.example",
            "--starts",
            "2026-02-02",
            "--json",
        )
    )
    assert made["code"] == "G-C" and made["programme_end"] == "2026-05-11T00:00:00+00:00"
    assert [f["trainee"] for f in made["facilitators"]] == [True, False]
    listed = ok(run("groups", "list", "--site", "north", "--json"))
    assert [g["code"] for g in listed] == ["G-A", "G-B", "G-C"]
    moved = ok(
        run("groups", "schedule", "G-C", "postnatal:3", "2026-06-01", "--site", "north", "--json")
    )
    assert moved["programme_end"] == "2026-06-01T00:00:00+00:00"
    ok(
        run(
            "groups",
            "schedule",
            "G-C",
            "antenatal:1",
            "2026-02-09T10:00:00+00:00",
            "--held",
            "--site",
            "north",
        )
    )
    shown = ok(run("groups", "show", "G-C", "--site", "north", "--json"))
    assert shown["status"] == "running" and len(shown["schedule"]) == 11
    assert shown["supervision"] == {"held": 0, "required": 3}
    for n in range(1, 9):
        ok(run("families", "add", f"FAM-C{n}", "--site", "north", "--group", "G-C"))
    refused = run("families", "add", "FAM-C9", "--site", "north", "--group", "G-C")
    assert isinstance(refused.exception, GroupFull)
    ok(run("families", "move", "FAM-C8", "--site", "north", "--group", "G-B"))
    rows = ok(run("families", "list", "--site", "north", "--group", "G-B", "--json"))
    assert [r["code"] for r in rows] == ["FAM-B1", "FAM-C8"]
    text = run("groups", "show", "G-C", "--site", "north").output
    assert "family FAM-C1: 0 clip(s)" in text and "schedule" not in text
    for bad, error in (
        (("groups", "show", "G-Z", "--site", "north"), NotFound),
        (
            ("groups", "schedule", "G-C", "antenatal", "2026-02-09", "--site", "north"),
            ValidationError,
        ),
        (
            ("groups", "schedule", "G-C", "antenatal:1", "2026-02-09T10:00", "--site", "north"),
            ValidationError,
        ),
    ):
        assert isinstance(run(*bad).exception, error)


def test_disciplines_are_audited_and_checked(run: Any, services: Services) -> None:
    prog = build(services)
    ok(run("users", "discipline", email(prog, "hv_a"), "childrens-services"))
    ok(run("users", "discipline", email(prog, "hv_a"), "childrens-services"))  # unchanged
    assert isinstance(
        run("users", "discipline", email(prog, "dpo"), "health").exception, ValidationError
    )
    with services.db.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "user.discipline")
        ).all()
        assert [(e.details["old"], e.details["new"]) for e in entries] == [
            ("health", "childrens-services")
        ]


def test_supervision_training_and_shares(run: Any, services: Services) -> None:
    prog = build(services)
    base = (
        "--site",
        "north",
        "--group",
        "G-A",
        "--supervisor",
        email(prog, "supervisor"),
        "--facilitator",
        email(prog, "hv_a"),
        "--facilitator",
        email(prog, "cs_a"),
    )
    for day in ("2026-02-01", "2026-03-01"):
        out = ok(run("supervision", "add", *base, "--at", day, "--notes", "<i>ok</i>", "--json"))
    assert out["supervisions"] == 2
    sessions = ok(run("supervision", "list", "--site", "north", "--group", "G-A", "--json"))
    assert [s["notes"] for s in sessions] == ["<i>ok</i>"] * 2
    assert sessions[0]["facilitators"] == sorted([email(prog, "cs_a"), email(prog, "hv_a")])
    signed = ok(
        run(
            "training",
            "signoff",
            email(prog, "cs_a"),
            "--block",
            "1",
            "--by",
            email(prog, "supervisor"),
            "--summary",
            "good start",
            "--json",
        )
    )
    assert signed["signed_off_at"] is not None
    record = ok(run("training", "show", email(prog, "cs_a"), "--json"))
    assert [b["signed_off"] for b in record] == [True, False, False]
    from tests.unit.programme.world import clip

    clip_id = clip(services, prog, consent(services, prog, "FAM-A1"), family="FAM-A1")
    add = (
        "shares", "add", clip_id, "--to", email(prog, "south_supervisor"), "--days", "30",
        "--reason", "national review", "--by", email(prog, "supervisor"), "--json",
    )  # fmt: skip
    refused = run(*add)  # the south site is not a receiving site: no such supervisor
    assert refused.exit_code != 0 and "no such supervisor" in str(refused.exception)
    south = {"VERP_SHARE_RECEIVING_SITES": "north-south"}
    share = ok(run(*add, extra=south))
    listed = ok(run("shares", "list", "--site", "north", "--active", "--json"))
    assert [(s["id"], s["supervisor_site"], s["state"]) for s in listed] == [
        (share["id"], "north-south", "active")
    ]
    assert ok(run("shares", "revoke", share["id"], "--json"))["state"] == "revoked"
    assert ok(run("shares", "list", "--site", "north", "--active", "--json")) == []
    too_long = run(
        "shares",
        "add",
        clip_id,
        "--to",
        email(prog, "south_supervisor"),
        "--days",
        "91",
        "--reason",
        "x",
        "--by",
        email(prog, "supervisor"),
    )
    assert too_long.exit_code == 2  # refused by the option itself


def _consent_file(tmp_path: Path, family: str) -> Path:
    path = tmp_path / f"{family}.json"
    path.write_text(json.dumps(consent_data(family=family)), encoding="utf-8")
    return path


def test_ingest_places_the_clip_and_old_calls_still_work(
    run: Any, services: Services, tmp_path: Path
) -> None:
    prog = build(services)
    consent(services, prog, "FAM-A2")
    video = tmp_path / "session.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000)
    ingest = ("ingest", str(video), "--site", "north", "--kind", "group-delivery", "--consent")
    out = ok(
        run(
            *ingest,
            str(_consent_file(tmp_path, "FAM-A1")),
            "--group",
            "G-A",
            "--session",
            "antenatal:2",
            "--present",
            "FAM-A2",
            "--uploaded-by",
            email(prog, "cs_a"),
            "--json",
        )
    )
    old = ok(
        run(
            "ingest",
            str(video),
            "--site",
            "north",
            "--kind",
            "home-visit",
            "--family",
            "FAM-0042",
            "--consent",
            str(_consent_file(tmp_path, "FAM-0042")),
            "--json",
        )
    )
    # FAM-A3 has no consent on record: refused, nothing stored (not even this consent)
    refused = run(
        *ingest,
        str(_consent_file(tmp_path, "FAM-A1")),
        "--group",
        "G-A",
        "--session",
        "antenatal:2",
        "--present",
        "FAM-A3",
        "--json",
    )
    assert refused.exit_code != 0 and '"status": "refused"' in refused.stdout
    with services.db.session() as session:
        placed = session.get(Clip, out["id"])
        assert placed is not None and placed.group_id == prog.groups["G-A"]
        assert placed.session_id is not None and placed.uploaded_by == prog.users["cs_a"]
        legacy = session.get(Clip, old["id"])
        assert legacy is not None and legacy.uploaded_by is None
        group = session.get(Group, legacy.group_id)
        assert group is not None and group.unassigned
        assert len(session.scalars(select(Clip)).all()) == 2  # the refused one stored nothing
    nobody = run(
        *ingest,
        str(_consent_file(tmp_path, "FAM-A1")),
        "--group",
        "G-A",
        "--session",
        "antenatal:3",
        "--uploaded-by",
        email(prog, "dpo"),
    )
    assert isinstance(nobody.exception, ValidationError)
