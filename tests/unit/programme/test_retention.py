"""Retention anchored to the group: "programme-end" is the clip's group's end; the site's
configured date applies only to the unassigned group; a withdrawal by a family present
shortens retention of the recording."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from config import Settings
from storage.clock import FixedClock
from storage.db.footage import Clip
from storage.db.programme import Group
from storage.errors import NotFound, PermissionDenied, ValidationError
from storage.programme import set_discipline
from storage.retention import recompute_clip
from tests.conftest import make_settings, open_services
from tests.unit.programme.world import OPERATOR, build, clip, consent

SITE_END = "2027-01-31"


def _settings(tmp_path: Path, db_url: str) -> Settings:
    """Settings whose site "north" configures a programme end (the pre-groups way)."""
    base = make_settings(tmp_path / "home", **{"database.url": db_url})
    retention = {**base.retention, "sites": {"north": {"programme_end": SITE_END}}}
    return dataclasses.replace(base, retention=retention)


def test_programme_end_is_the_groups_and_the_site_date_only_for_unassigned(
    tmp_path: Path, db_url: str, clock: FixedClock
) -> None:
    settings = _settings(tmp_path, db_url)
    for svc in open_services(settings, clock):
        prog = build(svc)
        grouped = clip(svc, prog, consent(svc, prog, "FAM-A1"), family="FAM-A1")
        loose = clip(svc, prog, consent(svc, prog, "FAM-0500"))  # not enrolled: unassigned
        reviewed = clock.now() + timedelta(days=1)
        with svc.db.session() as session:
            for clip_id in (grouped, loose):
                row = session.get(Clip, clip_id)
                assert row is not None
                row.shared_review_at = reviewed
                recompute_clip(session, settings.retention, row, "north")
        with svc.db.session() as session:
            group = session.get(Group, prog.groups["G-A"])
            first, second = session.get(Clip, grouped), session.get(Clip, loose)
            assert group is not None and group.programme_end is not None
            assert first is not None and second is not None
            latest = max(group.programme_end, reviewed)
            assert first.delete_after == latest + timedelta(days=30)
            site_end = datetime(2027, 2, 1, tzinfo=UTC)  # the end of the configured day
            cap = second.created_at + timedelta(days=365)
            assert second.delete_after == min(cap, max(site_end, reviewed) + timedelta(days=30))
            assert first.delete_after != second.delete_after


def test_disciplines_are_checked_and_audited(
    tmp_path: Path, db_url: str, clock: FixedClock
) -> None:
    settings = make_settings(tmp_path / "home", **{"database.url": db_url})
    for svc in open_services(settings, clock):
        prog = build(svc)
        with svc.db.session() as session:
            user = set_discipline(session, svc.audit, OPERATOR, prog.users["hv_b"], None)
            assert user.discipline is None
        for actor, user_id, value, error in (
            (prog.actor("supervisor"), prog.users["hv_b"], "health", PermissionDenied),
            (prog.actor("admin"), prog.users["south_facilitator"], "health", NotFound),
            (prog.actor("admin"), prog.users["dpo"], "health", ValidationError),
            (prog.actor("admin"), prog.users["hv_b"], "nursing", ValidationError),
        ):
            with pytest.raises(error), svc.db.session() as session:
                set_discipline(session, svc.audit, actor, user_id, value)
