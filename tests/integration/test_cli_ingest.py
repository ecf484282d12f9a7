"""`verp ingest`, `verp clips list|show|export` as real subprocesses on the embedded default:
one command takes a generated clip to ready; bad consents and files are refused with the
reason and leave nothing behind; export decrypts and is audited."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.accounts import create_site
from storage.audit import Actor
from storage.db.footage import Blob, Clip, Consent, DataKey
from storage.db.governance import AuditEntry
from tests import media
from tests.conftest import make_settings
from tests.unit.ingest.reception_helpers import consent_data
from webapp.composition import build_services, initialize

VERP = Path(sys.executable).with_name("verp")


@dataclass
class Cli:
    home: Path
    env: dict[str, str]

    def run(self, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VERP), *(str(a) for a in args)],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def json(self, *args: str | Path) -> Any:
        done = self.run(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def rows(self) -> dict[str, int]:
        """Rows of the reception tables and objects in the blob store."""
        svc = build_services(make_settings(self.home))
        try:
            with svc.db.session() as session:
                out = {
                    m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0
                    for m in (Clip, Consent, Blob, DataKey)
                }
            out["stored"] = len(svc.blobs.keys(""))
            return out
        finally:
            svc.close()

    def audit_actions(self) -> list[str]:
        svc = build_services(make_settings(self.home))
        try:
            with svc.db.session() as session:
                return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))
        finally:
            svc.close()


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERP_")}
    env.update({"VERP_HOME": str(home), "VERP_SECURE_COOKIES": "false"})
    # `verp init` and `verp sites add` are not under test here: set up in-process.
    settings = make_settings(home)
    initialize(settings)
    svc = build_services(settings)
    try:
        with svc.db.session() as session:
            create_site(session, svc.audit, Actor.system("test"), "north", "North")
    finally:
        svc.close()
    yield Cli(home, env)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.plain_mp4(
        tmp_path_factory.mktemp("cli-media") / "visit.mp4", size="160x120", seconds=1
    )


def _consent(tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "consent.json"
    path.write_text(json.dumps(consent_data(**changes)), encoding="utf-8")
    return path


def _ingest(cli: Cli, file: Path, consent: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli.run(
        "ingest", file, "--site", "north", "--kind", "home-visit", "--family", "FAM-0042",
        "--consent", consent, *extra,
    )  # fmt: skip


@pytest.mark.slow
def test_ingest_wait_takes_a_file_to_ready_and_export_round_trips(
    cli: Cli, video: Path, tmp_path: Path
) -> None:
    done = _ingest(cli, video, _consent(tmp_path), "--wait", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["failure_reason"]) == ("ready", None)
    clip_id = result["id"]

    listed = cli.json("clips", "list")
    assert [c["id"] for c in listed] == [clip_id]
    shown = cli.json("clips", "show", clip_id)
    assert (shown["status"], shown["progress"], shown["kind"]) == ("ready", 100, "home-visit")
    assert (shown["media"]["width"], shown["media"]["height"]) == (160, 120)
    assert shown["media"]["video_codec"] == "h264"
    assert shown["consent"]["purposes"] == ["family-review", "supervision"]
    assert "playback" in shown["renditions"]
    assert not any(r.startswith("staging-") for r in shown["renditions"])
    text = cli.run("clips", "show", clip_id)
    assert "status:        ready" in text.stdout

    out = tmp_path / "export.mp4"
    exported = cli.json("clips", "export", clip_id, "--out", out)
    assert exported["bytes"] == out.stat().st_size > 0
    assert out.read_bytes()[4:8] == b"ftyp", "a playable MP4"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert cli.audit_actions().count("clip.export") == 1

    again = cli.run("clips", "export", clip_id, "--out", out)
    assert again.returncode != 0 and "exists" in again.stderr
    refused = cli.run("clips", "export", clip_id, "--purpose", "training-events", "--out",
                      tmp_path / "event.mp4")  # fmt: skip
    assert refused.returncode != 0 and "does not cover" in refused.stderr
    assert not (tmp_path / "event.mp4").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".verp-export")] == []
    assert cli.audit_actions().count("clip.export") == 1


def test_ingest_without_wait_queues_the_clip(cli: Cli, video: Path, tmp_path: Path) -> None:
    done = _ingest(cli, video, _consent(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "queued"
    rows = cli.rows()
    assert (rows["clips"], rows["consents"], rows["blobs"], rows["stored"]) == (1, 1, 1, 1)
    for key_file in (cli.home / "blobs").rglob("*"):
        if key_file.is_file():
            assert b"ftyp" not in key_file.read_bytes(), "only ciphertext is stored"


@pytest.mark.parametrize(
    ("consent", "reason"),
    [
        ("missing", "not found"),
        ("malformed", "not valid JSON"),
        ({"purposes": []}, "covers no purpose"),
        ({"purposes": ["marketing"]}, "unknown purpose 'marketing'"),
        ({"taken_at": "last tuesday"}, "not an ISO 8601"),
        ({"family": "FAM-0099"}, "does not match the consent's family"),
        ({"family": "Jane Smith"}, "pseudonymous family code"),
    ],
)
def test_bad_consent_is_refused_and_nothing_is_stored(
    cli: Cli, video: Path, tmp_path: Path, consent: Any, reason: str
) -> None:
    path = tmp_path / "consent.json"
    if consent == "malformed":
        path.write_text('{"family": "FAM-0042", "purposes": [', encoding="utf-8")
    elif consent != "missing":
        path = _consent(tmp_path, **consent)
    before = cli.rows()
    done = _ingest(cli, video, path, "--wait", "--json")
    assert done.returncode != 0
    assert reason in done.stderr
    assert json.loads(done.stdout) == {"id": None, "status": "refused", "failure_reason": ANY}
    assert reason in json.loads(done.stdout)["failure_reason"]
    assert cli.rows() == before == {
        "clips": 0, "consents": 0, "blobs": 0, "data_keys": 0, "stored": 0,
    }  # fmt: skip


def test_files_over_the_size_cap_or_missing_are_refused_before_storing(
    cli: Cli, tmp_path: Path
) -> None:
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(2 * 1024 * 1024))
    done = cli.run(
        "ingest", big, "--site", "north", "--kind", "home-visit", "--family", "FAM-0042",
        "--consent", _consent(tmp_path), VERP_MAX_UPLOAD_MIB="1",
    )  # fmt: skip
    assert done.returncode != 0 and "largest accepted upload is 1.0 MiB" in done.stderr
    missing = _ingest(cli, tmp_path / "nope.mp4", _consent(tmp_path))
    assert missing.returncode != 0 and "cannot read" in missing.stderr
    unknown_site = cli.run(
        "ingest", big, "--site", "south", "--kind", "home-visit", "--family", "FAM-0042",
        "--consent", _consent(tmp_path),
    )  # fmt: skip
    assert unknown_site.returncode != 0 and "no site 'south'" in unknown_site.stderr
    assert cli.rows()["clips"] == cli.rows()["stored"] == 0


@pytest.mark.slow
def test_a_file_that_is_not_a_video_fails_with_a_reason_and_non_zero_exit(
    cli: Cli, tmp_path: Path
) -> None:
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"these are not moving pictures\n" * 1000)
    done = _ingest(cli, junk, _consent(tmp_path), "--wait", "--json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "destroyed"  # refused: destroyed, its reason kept
    assert result["failure_reason"]
    shown = cli.json("clips", "show", result["id"])
    assert shown["failure_reason"] == result["failure_reason"]


class _Anything:
    def __eq__(self, other: object) -> bool:
        return True


ANY = _Anything()
