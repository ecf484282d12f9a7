"""`verp annotations ...` and `verp taxonomies ...` as real subprocesses, on SQLite and
PostgreSQL (the ``settings`` fixture), against rows seeded through the services."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from config import Settings
from review.annotations import create_annotation
from review.taxonomy import builtin_dir, load_registry
from storage.db.governance import AuditEntry
from tests.unit.review.eaf_schema import validate_eaf
from tests.unit.review.helpers import add_clip, add_site, add_user
from webapp.composition import Services

VERP = Path(sys.executable).with_name("verp")


def verp(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VERP_")}
    base.update(VERP_HOME=str(settings.home), VERP_DATABASE_URL=settings.database_url)
    return subprocess.run(
        [str(VERP), *args], capture_output=True, env={**base, **(env or {})}, timeout=120
    )


@pytest.fixture
def clip_id(services: Services) -> str:
    registry = load_registry()
    with services.db.session() as session:
        site = add_site(session, "north", services)
        fran = add_user(session, site.id, "fran", "facilitator", services)
        clip = add_clip(session, services, site.id, kind="home-visit", uploaded_by=fran.id)
        for spec in (
            {"start_ms": 1000, "end_ms": 4000, "codes": ["smiling"], "text": "=cmd|' /C calc'!A0"},
            {"start_ms": 6000, "codes": ["yawning"], "text": "tired"},
            {"start_ms": 7000, "codes": [], "text": "my draft", "visibility": "draft"},
        ):
            create_annotation(
                session, services.audit, registry, fran, clip.id,
                subject="infant", scheme_id="infant-cues", **spec,  # type: ignore[arg-type]
            )  # fmt: skip
        return clip.id


def test_export_each_format(
    settings: Settings, services: Services, clip_id: str, tmp_path: Path
) -> None:
    done = verp(settings, "annotations", "export", clip_id, "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout.decode("utf-8"))))
    assert [r["code_labels"] for r in rows] == ["Smiling", "Yawning"]  # no drafts
    assert rows[0]["text"].startswith("'=") and rows[0]["start_frame"] == "25"
    out = tmp_path / "out" / "review.eaf"
    done = verp(settings, "annotations", "export", clip_id, "--format", "eaf", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert b"wrote 2 annotations" in done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert validate_eaf(out.read_bytes()) == []
    vtt = verp(settings, "annotations", "export", clip_id, "--format", "vtt").stdout
    assert vtt.startswith(b"WEBVTT") and b"Baby: Yawning" in vtt
    document = json.loads(
        verp(settings, "annotations", "export", clip_id, "--format", "json").stdout
    )
    assert len(document["annotations"]) == 2
    with services.db.session() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "annotations.export")
        ).all()
        assert [(e.actor_id, e.details["format"]) for e in entries] == [
            ("system:cli", "csv"),
            ("system:cli", "eaf"),
            ("system:cli", "vtt"),
            ("system:cli", "json"),
        ]


def test_list(settings: Settings, clip_id: str) -> None:
    done = verp(settings, "annotations", "list", clip_id, "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["codes"][0]["id"] for r in rows] == ["smiling", "yawning"]
    text = verp(settings, "annotations", "list", clip_id).stdout.decode()
    assert "1.000-4.000\tinfant\tSmiling" in text


def test_errors_exit_non_zero_with_a_message(settings: Settings, clip_id: str) -> None:
    done = verp(settings, "annotations", "export", "no-such-clip", "--format", "csv")
    assert done.returncode == 1 and b"NotFound" in done.stderr and done.stdout == b""
    done = verp(settings, "annotations", "export", clip_id, "--format", "xlsx")
    assert done.returncode != 0 and b"xlsx" in done.stderr
    done = verp(
        settings, "annotations", "export", clip_id, "--format", "csv", "--purpose", "evaluation"
    )
    assert done.returncode == 1 and b"ConsentError" in done.stderr


def test_taxonomies_list_show_check(sqlite_settings: Settings, tmp_path: Path) -> None:
    listed = json.loads(verp(sqlite_settings, "taxonomies", "list", "--json").stdout)
    assert [s["id"] for s in listed] == ["adult-responses", "group-facilitation", "infant-cues"]
    shown = verp(sqlite_settings, "taxonomies", "show", "infant-cues").stdout.decode()
    assert "[1] smiling: Smiling #009E73" in shown
    checked = verp(sqlite_settings, "taxonomies", "check", "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["ok"] is True
    site = tmp_path / "taxonomies" / "sites" / "north"
    site.mkdir(parents=True)
    broken = (
        (builtin_dir() / "group-facilitation.toml").read_text().replace('key = "b"', 'key = "A"')
    )
    (site / "group-facilitation.toml").write_text(broken)
    env = {"VERP_TAXONOMY_DIR": str(tmp_path / "taxonomies")}
    checked = verp(sqlite_settings, "taxonomies", "check", env=env)
    assert checked.returncode == 1
    line = broken.splitlines().index('key = "A"') + 1
    assert (
        f"group-facilitation.toml:{line}: code 'models-safe-base': key 'A' is reserved".encode()
        in checked.stdout
    )
    # Every other command refuses to start with a malformed scheme, naming the file.
    listed_bad = verp(sqlite_settings, "taxonomies", "list", env=env)
    assert listed_bad.returncode == 1 and b"group-facilitation.toml" in listed_bad.stderr
