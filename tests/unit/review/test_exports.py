"""Exports: CSV (formula-safe), WebVTT, ELAN .eaf (structurally valid EAF 3.0) and JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import select

from review.annotations import create_annotation
from review.eaf import render_eaf
from review.errors import PermissionDenied, ValidationError
from review.exports import export_annotations
from review.formats import ExportRow, safe_cell, to_csv, to_vtt, vtt_text
from review.links import link_annotations
from review.taxonomy import TaxonomyRegistry, load_registry
from review.threads import add_reply
from storage.audit import Actor
from storage.db.governance import AuditEntry
from tests.unit.review.eaf_schema import validate_eaf
from tests.unit.review.helpers import World

CLI = Actor.system("cli")


def row(**fields: object) -> ExportRow:
    values: dict[str, object] = {
        "id": "a-1",
        "start_ms": 1000,
        "end_ms": 2500,
        "start_frame": 25,
        "end_frame": 62,
        "subject": "infant",
        "scheme_id": "infant-cues",
        "scheme_version": "1",
        "codes": ("smiling",),
        "labels": ("Smiling",),
        "text": "note",
        "author": "Fran",
        "author_id": "u-1",
        "author_role": "facilitator",
        "visibility": "shared",
        "resolved": False,
        "created_at": "2026-03-02T09:00:00+00:00",
        "updated_at": "2026-03-02T09:00:00+00:00",
    }
    values.update(fields)
    return ExportRow(**values)  # type: ignore[arg-type]


def seed(world: World) -> dict[str, str]:
    """A small coded review: cues, an overlapping cue, a parent response, a point."""
    ids: dict[str, str] = {}
    specs = {
        "cue": dict(start_ms=1000, end_ms=4000, subject="infant", scheme_id="infant-cues",
                    codes=["smiling", "mutual-gaze"], text='=HYPERLINK("http://x")'),
        "overlap": dict(start_ms=3000, end_ms=5000, subject="infant", scheme_id="infant-cues",
                        codes=["gaze-aversion"], text=""),
        "response": dict(start_ms=1200, end_ms=2000, subject="parent",
                         scheme_id="adult-responses", codes=["returning-eye-contact"],
                         text="mum <b>smiles</b> back --> lovely\n\n\nnext"),
        "point": dict(start_ms=59_990, subject="infant", text="@end, & done"),
    }  # fmt: skip
    with world.svc.db.session() as session:
        for name, spec in specs.items():
            ids[name] = create_annotation(
                session, world.svc.audit, world.registry, world.facilitator, world.home_clip,
                **spec,  # type: ignore[arg-type]
            ).id  # fmt: skip
        create_annotation(
            session, world.svc.audit, world.registry, world.facilitator, world.home_clip,
            start_ms=0, subject="infant", text="private", visibility="draft",
        )  # fmt: skip
        link_annotations(session, world.svc.audit, world.facilitator, ids["cue"], ids["response"])
        add_reply(session, world.svc.audit, world.supervisor, ids["cue"], "agree")
    return ids


def export(world: World, fmt: str, actor: Actor | None = None) -> bytes:
    with world.svc.db.session() as session:
        result = export_annotations(
            session,
            world.svc.audit,
            world.registry,
            actor or world.facilitator,
            world.home_clip,
            fmt,
        )
        return result.data


def test_csv_one_row_per_annotation_with_times_frames_and_no_formulas(world: World) -> None:
    ids = seed(world)
    rows = list(csv.DictReader(io.StringIO(export(world, "csv").decode("utf-8"))))
    assert len(rows) == 5  # the facilitator's own draft is included for them
    by_id = {r["annotation_id"]: r for r in rows}
    cue = by_id[ids["cue"]]
    assert (cue["start_s"], cue["end_s"], cue["start_frame"], cue["end_frame"]) == (
        "1.000",
        "4.000",
        "25",
        "99",
    )
    assert cue["codes"] == "smiling;mutual-gaze" and cue["code_labels"] == "Smiling; Mutual gaze"
    assert cue["text"] == '\'=HYPERLINK("http://x")' and cue["author"] == "Fran"
    assert by_id[ids["point"]]["text"] == "'@end, & done"
    assert by_id[ids["point"]]["end_s"] == "" and by_id[ids["point"]]["start_frame"] == "1499"


def test_the_cli_sees_shared_annotations_only_and_exports_are_audited(world: World) -> None:
    seed(world)
    rows = list(csv.DictReader(io.StringIO(export(world, "csv", CLI).decode("utf-8"))))
    assert len(rows) == 4 and all(r["visibility"] == "shared" for r in rows)
    with world.svc.db.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "annotations.export")
        ).all()
        assert [e.details["format"] for e in entries] == ["csv"]
        assert entries[0].details["count"] == 4 and entries[0].target_id == world.home_clip


def test_vtt_track(world: World) -> None:
    ids = seed(world)
    text = export(world, "vtt").decode("utf-8")
    assert text.startswith("WEBVTT\n\n")
    assert f"{ids['cue']}\n00:00:01.000 --> 00:00:04.000\nBaby: Smiling; Mutual gaze" in text
    assert "00:00:59.990 --> 00:01:00.000" in text  # a point, clipped at the clip's end
    assert "&lt;b&gt;smiles&lt;/b&gt;" in text and "<b>" not in text
    assert text.count("-->") == 5  # the one in the note was defused
    cues = text.split("\n\n")[1:]
    assert all(cue.count("\n") >= 2 for cue in cues if cue.strip())  # no cue split by a blank line


def test_eaf_is_structurally_valid_with_a_tier_per_subject(world: World) -> None:
    ids = seed(world)
    data = export(world, "eaf")
    assert validate_eaf(data) == []
    root = ET.fromstring(data)
    tiers = [t.get("TIER_ID") for t in root.findall("TIER")]
    assert tiers == [
        "infant",
        "infant codes (infant-cues)",
        "infant 2",  # the overlapping cue
        "infant 2 codes (infant-cues)",
        "parent",
        "parent codes (adult-responses)",
    ]
    vocabularies = {cv.get("CV_ID") for cv in root.findall("CONTROLLED_VOCABULARY")}
    assert vocabularies == {"infant-cues", "adult-responses"}
    codes = root.findall("TIER[@TIER_ID='infant codes (infant-cues)']/ANNOTATION/REF_ANNOTATION")
    assert [c.get("CVE_REF") for c in codes] == [
        "cve_infant-cues_smiling",
        "cve_infant-cues_mutual-gaze",
    ]
    assert codes[1].get("PREVIOUS_ANNOTATION") == codes[0].get("ANNOTATION_ID")
    assert ids  # every shared or own annotation went somewhere
    assert len(root.findall("TIER/ANNOTATION/ALIGNABLE_ANNOTATION")) == 5


def test_json_holds_threads_links_and_schemes(world: World) -> None:
    ids = seed(world)
    document = json.loads(export(world, "json"))
    assert document["clip"]["frame_rate"] == "25/1"
    assert {s["id"] for s in document["schemes"]} == {"infant-cues", "adult-responses"}
    cue = next(a for a in document["annotations"] if a["id"] == ids["cue"])
    assert [r["text"] for r in cue["replies"]] == ["agree"]
    assert cue["codes"][0] == {"id": "smiling", "label": "Smiling"}
    assert document["links"][0]["source_id"] == ids["cue"]


def test_bad_format_and_forbidden_readers(world: World) -> None:
    with pytest.raises(ValidationError, match="format"):
        export(world, "xlsx")
    with pytest.raises(PermissionDenied):
        export(world, "csv", world.dpo)


# -- pure renderers --------------------------------------------------------------------


@pytest.mark.parametrize("risky", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_prefixes_are_neutralised(risky: str) -> None:
    assert safe_cell(risky) == "'" + risky
    assert safe_cell("fine = ok") == "fine = ok"
    written = to_csv([row(text=risky, author=risky)])
    assert ",'" + risky[0] in written or "\"'" + risky[0] in written


def test_vtt_text_cannot_break_out_of_its_cue() -> None:
    assert vtt_text("a --> b") == "a \u2192 b"
    assert vtt_text("one\n\n\ntwo") == "one\ntwo"
    assert vtt_text("<c.x>&") == "&lt;c.x&gt;&amp;"
    track = to_vtt([row(end_ms=None, start_ms=500)], duration_ms=1000)
    assert "00:00:00.500 --> 00:00:01.000" in track


@pytest.fixture(scope="module")
def shipped() -> TaxonomyRegistry:
    return load_registry()


def test_eaf_validator_catches_broken_documents(shipped: TaxonomyRegistry) -> None:
    scheme = shipped.get("infant-cues")
    good = render_eaf(
        [row(), row(id="a-2", start_ms=2000, end_ms=None, codes=("gone",), labels=("gone",))],
        {"infant-cues": scheme},
        duration_ms=10_000,
        frame_ms=40,
        media_name="clip.mp4",
        created=datetime(2026, 3, 2, tzinfo=UTC),
    )
    assert validate_eaf(good) == []  # a code the scheme no longer lists still gets an entry
    text = good.decode("utf-8")
    broken = {
        "dangling slot": text.replace('TIME_SLOT_REF1="ts1"', 'TIME_SLOT_REF1="ts99"', 1),
        "bad cve": text.replace('CVE_REF="cve_infant-cues_smiling"', 'CVE_REF="nope"', 1),
        "duplicate id": text.replace('ANNOTATION_ID="a2"', 'ANNOTATION_ID="a1"', 1),
        "unknown type": text.replace(
            'LINGUISTIC_TYPE_REF="verp-note"', 'LINGUISTIC_TYPE_REF="x"', 1
        ),
        "bad order": text.replace("<TIME_ORDER>", "<TIME_ORDER_X>").replace(
            "</TIME_ORDER>", "</TIME_ORDER_X>"
        ),
    }
    for name, document in broken.items():
        assert document != text, name
        assert validate_eaf(document.encode("utf-8")), name
