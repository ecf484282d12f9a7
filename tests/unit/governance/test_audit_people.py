"""Names instead of ids in what a DPO reads: person labels, the audit export and the
retention report's certificates (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from storage.audit import Actor
from storage.audit.export import export_entries
from storage.audit.people import person_labels, system_label
from storage.audit.verify import verify_chain
from storage.clock import FixedClock
from storage.db.footage import Clip
from storage.db.tenancy import User
from storage.destruction import Destroyer, request_destruction
from storage.reports import build_report, render_csv, render_html
from tests.unit.governance.factory import make_clip, make_consent, make_world
from webapp.composition import Services


@contextmanager
def counted(services: Services) -> Iterator[list[str]]:
    """The SQL statements run inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(services.db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(services.db.engine, "before_cursor_execute", record)


def _user(services: Services, site_id: str, email: str, name: str, role: str) -> str:
    with services.db.session() as session:
        user = User(
            site_id=site_id,
            email=email,
            display_name=name,
            role=role,
            password_hash="x",
            created_at=services.clock.now(),
        )
        session.add(user)
        session.flush()
        return user.id


def test_person_labels_names_a_batch_in_one_query(services: Services) -> None:
    world = make_world(services)
    dpo = _user(services, world.site_id, "dana@north.example", "Dana Reed", "dpo")
    gone = "0123456789abcdef-not-a-user"
    with services.db.session() as session, counted(services) as statements:
        labels = person_labels(session, [dpo, world.user_id, "system:retention-sweep", gone, None])
    assert len(statements) == 1
    assert labels[dpo] == "Dana Reed (data protection officer)"
    assert labels[world.user_id] == "sup@north.example (supervisor)"  # no name: the email
    assert labels["system:retention-sweep"] == "verp (retention sweep)"
    assert labels[gone] == "unknown user (01234567)"
    assert system_label("system:brand-new") == "verp (brand new)"
    with services.db.session() as session, counted(services) as statements:
        assert person_labels(session, ["system:cli", None]) == {"system:cli": "verp (command line)"}
    assert statements == []  # nothing to look up: no query


def test_export_puts_names_and_emails_beside_the_ids(services: Services) -> None:
    world = make_world(services)
    dpo = _user(services, world.site_id, "=cmd@north.example", "Dana Reed", "dpo")
    actor = Actor(dpo, "dpo", world.site_id)
    with services.db.session() as session:
        services.audit.append(
            session, actor, "user.role", target_type="user", target_id=world.user_id
        )
    for fmt in ("csv", "jsonl"):
        out = io.StringIO()
        with services.db.session() as session:
            export_entries(session, out, site_id=world.site_id, fmt=fmt)
        if fmt == "csv":
            rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(out.getvalue())))
        else:
            rows = [json.loads(line) for line in out.getvalue().splitlines()]
        (row,) = [r for r in rows if r["action"] == "user.role"]
        assert row["actor_id"] == dpo and row["actor_name"] == "Dana Reed"
        # A formula-like email is defused in CSV, kept as is in JSON Lines.
        assert row["actor_email"] == (
            "'=cmd@north.example" if fmt == "csv" else "=cmd@north.example"
        )
        assert row["target_email"] == "sup@north.example"
        system = [r for r in rows if r["action"] == "site.create"]
        assert system and system[0]["actor_name"] in ("", None)


def test_certificates_name_who_requested_and_who_destroyed(
    services: Services, clock: FixedClock
) -> None:
    world = make_world(services)
    dpo = _user(services, world.site_id, "dana@north.example", "<b>Dana</b>", "dpo")
    consent = make_consent(services, world)
    clip_id = make_clip(services, world, consent, review_rows=False)
    with services.db.session() as session:
        clip = session.get(Clip, clip_id)
        assert clip is not None
        request_destruction(
            session, services.audit, Actor(dpo, "dpo", world.site_id), clip, "consent-withdrawn"
        )
    Destroyer(services.db, services.vault, services.audit).destroy(
        clip_id, Actor.system("retention-sweep", site_id=world.site_id)
    )
    with services.db.session() as session:
        verified = verify_chain(session, services.audit.key, services.audit.checkpoints)
        report = build_report(session, world.site_id, clock.now(), verified)
    (tomb,) = report.destroyed
    assert tomb["requested_by"] == dpo
    assert tomb["requested_by_name"] == "<b>Dana</b> (data protection officer)"
    assert tomb["destroyed_by_name"] == "verp (retention sweep)"
    out = io.StringIO()
    render_csv(report, out)
    (row,) = [r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["record"] == "destroyed"]
    assert row["requested_by_name"] == "<b>Dana</b> (data protection officer)"
    page = render_html(report)
    assert "by &lt;b&gt;Dana&lt;/b&gt; (data protection officer)" in page and "<b>Dana" not in page
    assert "by verp (retention sweep)" in page
