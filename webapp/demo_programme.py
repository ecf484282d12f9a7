"""The programme part of `verp demo`: two groups, co-facilitators, families, supervision.

Group ``GRP-A`` (running; home visit 2 was two weeks ago; ends in about a week) is run by
the demo facilitator (a health visitor in training) and a family support worker; group
``GRP-B`` (running, earlier in the programme) by another health visitor and family support
worker. Families FAM-0042, FAM-0043 and FAM-0044 are in A (FAM-0044 agreed to review with
the family only, not to supervision), FAM-0051 and FAM-0052 in B. Group A has had two
reflective supervisions, B one; the trainee's first training block is signed off. A
supervisor of the programme's national team has an account at another site, to receive
shares. Everything goes through the services of ``storage.programme`` (audited) and is
idempotent. The media part (clips of these families) lives in :mod:`webapp.demo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.accounts import add_user, create_site
from storage.audit import Actor
from storage.consent import ConsentInput, record_consent
from storage.db.footage import Consent
from storage.db.programme import Family, Group, GroupSession, SupervisionSession, TrainingBlock
from storage.db.tenancy import Site, User
from storage.programme import (
    create_group,
    enrol_family,
    mark_session_held,
    record_supervision,
    sign_off_block,
)
from webapp.composition import Services

NATIONAL_SLUG = "national"
NATIONAL_NAME = "Programme national team (demo)"
#: Extra demo accounts: key -> (email, role, name, discipline, password, site slug).
PEOPLE = {
    "fsw_a": ("fsw-a@demo.verp.example", "facilitator", "Priya Family-Support",
              "childrens-services", "demo-fsw-a-pass", "demo"),
    "hv_b": ("hv-b@demo.verp.example", "facilitator", "Morgan Health-Visitor", "health",
             "demo-hv-b-pass", "demo"),
    "fsw_b": ("fsw-b@demo.verp.example", "facilitator", "Chris Family-Support",
              "childrens-services", "demo-fsw-b-pass", "demo"),
    "national": ("national@demo.verp.example", "supervisor", "Dana National-Trainer", None,
                 "demo-national-pass", NATIONAL_SLUG),
}  # fmt: skip
#: code -> (name, days since home visit 1, its families).
GROUPS = {
    "GRP-A": ("Tuesday group, Riverside", 90, ("FAM-0042", "FAM-0043", "FAM-0044")),
    "GRP-B": ("Thursday group, Northgate", 40, ("FAM-0051", "FAM-0052")),
}
#: Each family's consent (recorded before enrolment, as at the first home visit).
CONSENTS = {
    "FAM-0042": ("family-review", "supervision"),
    "FAM-0043": ("family-review", "supervision", "training-events"),
    "FAM-0044": ("family-review",),  # did not agree to supervision
    "FAM-0051": ("family-review", "supervision"),
    "FAM-0052": ("family-review", "supervision", "evaluation"),
}
#: Reflective supervisions held per group, days ago.
SUPERVISIONS = {"GRP-A": (45, 12), "GRP-B": (10,)}


@dataclass
class DemoProgramme:
    groups: dict[str, str] = field(default_factory=dict)  # code -> id
    families: dict[str, str] = field(default_factory=dict)  # code -> id
    people: dict[str, str] = field(default_factory=dict)  # key -> user id
    created: list[str] = field(default_factory=list)


def seed_programme(
    svc: Services, site_id: str, users: dict[str, str], actor: Actor
) -> DemoProgramme:
    """Create whatever of the demo programme is missing (see the module docstring)."""
    result = DemoProgramme()
    _people(svc, site_id, users, result)
    lead = {"GRP-A": users["facilitator"], "GRP-B": result.people["hv_b"]}
    partner = {"GRP-A": result.people["fsw_a"], "GRP-B": result.people["fsw_b"]}
    now = svc.clock.now()
    for code, (name, days, families) in GROUPS.items():
        with svc.db.session() as db:
            existing = db.scalar(select(Group).where(Group.site_id == site_id, Group.code == code))
            if existing is None:
                result.created.append(f"group {code}")
            group = existing or create_group(
                db, svc.audit, actor, site_id=site_id, code=code, name=name,
                facilitators=[(lead[code], "health", code == "GRP-A"),
                              (partner[code], "childrens-services", False)],
                starts_on=_day(now - timedelta(days=days)),
            )  # fmt: skip
            result.groups[code] = group.id
            for family in families:
                result.families[family] = _family(svc, db, site_id, group.id, family, actor)
            _held(svc, db, group.id, now, actor)
        _supervisions(svc, site_id, group.id, code, lead[code], partner[code], users, actor)
    _training(svc, site_id, users, actor)
    return result


def _day(at: datetime) -> datetime:
    return at.replace(hour=10, minute=0, second=0, microsecond=0)


def _people(svc: Services, site_id: str, users: dict[str, str], result: DemoProgramme) -> None:
    with svc.db.session() as db:
        national = db.scalar(select(Site).where(Site.slug == NATIONAL_SLUG))
        if national is None:
            national = create_site(db, svc.audit, Actor.system("demo"), NATIONAL_SLUG,
                                   NATIONAL_NAME)  # fmt: skip
        sites = {"demo": site_id, NATIONAL_SLUG: national.id}
        for key, (email, role, name, discipline, password, slug) in PEOPLE.items():
            user = db.scalar(select(User).where(User.email == email))
            if user is None:
                user = add_user(
                    db, svc.audit, Actor.system("demo"), site_id=sites[slug], email=email,
                    role=role, password=password, display_name=name,
                )  # fmt: skip
                user.discipline = discipline
                result.created.append(f"user {email}")
            result.people[key] = user.id
        facilitator = db.get(User, users["facilitator"])
        if facilitator is not None and facilitator.discipline is None:
            facilitator.discipline = "health"


def _family(
    svc: Services, db: Session, site_id: str, group_id: str, code: str, actor: Actor
) -> str:
    family = db.scalar(select(Family).where(Family.site_id == site_id, Family.code == code))
    if family is not None:
        return family.id
    recorded = db.scalar(
        select(Consent.id).where(Consent.site_id == site_id, Consent.family_code == code)
    )
    if recorded is None:
        record_consent(
            db, svc.audit, actor, site_id,
            ConsentInput(
                family=code, participants=("parent-1", "infant"), purposes=CONSENTS[code],
                form_reference=f"CF-DEMO-{code[-4:]}", taken_by="Sam Facilitator",
                taken_at=svc.clock.now() - timedelta(days=100),
            ),
        )  # fmt: skip
    return enrol_family(db, svc.audit, actor, site_id=site_id, group_id=group_id, code=code).id


def _held(svc: Services, db: Session, group_id: str, now: datetime, actor: Actor) -> None:
    """Mark every meeting whose date has passed as held (the group is then running)."""
    meetings = db.scalars(
        select(GroupSession).where(
            GroupSession.group_id == group_id,
            GroupSession.held_at.is_(None),
            GroupSession.scheduled_at <= now,
        )
    )
    for meeting in list(meetings):
        assert meeting.scheduled_at is not None
        mark_session_held(
            db, svc.audit, actor, group_id, meeting.kind, meeting.number, meeting.scheduled_at,
            retention=svc.settings.retention,
        )  # fmt: skip


def _supervisions(
    svc: Services, site_id: str, group_id: str, code: str, lead: str, partner: str,
    users: dict[str, str], actor: Actor,
) -> None:  # fmt: skip
    with svc.db.session() as db:
        done = db.scalar(
            select(SupervisionSession.id).where(SupervisionSession.group_id == group_id)
        )
        if done is not None:
            return
        for days in SUPERVISIONS[code]:
            record_supervision(
                db, svc.audit, actor, group_id=group_id,
                held_at=_day(svc.clock.now() - timedelta(days=days)),
                supervisor_id=users["supervisor"], facilitator_ids=[lead, partner],
                notes="Reflected on pacing the session and on inviting quieter parents in.",
            )  # fmt: skip


def _training(svc: Services, site_id: str, users: dict[str, str], actor: Actor) -> None:
    """The trainee's first training block, signed off by the site's supervisor."""
    trainee = users["facilitator"]
    with svc.db.session() as db:
        signed = db.scalar(
            select(TrainingBlock.id).where(
                TrainingBlock.trainee_id == trainee, TrainingBlock.signed_off_at.is_not(None)
            )
        )
        if signed is None:
            sign_off_block(
                db, svc.audit, actor, trainee_id=trainee, block=1,
                summary="Three days' training completed.", supervisor_id=users["supervisor"],
            )  # fmt: skip
