"""A site with two groups whose programme report is worked out by hand (rows written
directly, so the report is tested on the tables alone, on SQLite and PostgreSQL).

Group ``GRP-A`` (running, ends in 20 days, home visit 2 was 30 days ago):

* family 1: three home-visit clips; filmed 28 and 27 days ago, shared reviews 6 and
  13 days later; a third filmed 10 days ago, not reviewed yet;
* family 2: one home-visit clip filmed 25 days ago, reviewed 2 days later, then destroyed
  when its retention ended (tombstone ``retention-expired``): it still counts;
* family 3: an upload the pipeline refused (tombstone ``upload-refused``), an upload still
  receiving and a clip of home visit 1: none counts as filmed at home visit 2;
* one reflective supervision held 5 days ago, one booked in 3 days (not counted);
* a trainee co-facilitator with block 1 signed off; two filmed group sessions of the
  trainee, one signed off.

Group ``GRP-B`` (ended 10 days ago): two families, none filmed, three supervisions.
The site's 'unassigned' group and another site's group have clips that must not count.

By hand: GRP-A has 3 families, 3 due, 2 filmed, 4 home-visit clips, 3 reviews held after
2, 6 and 13 days (median 6, range 2-13), 1 of 3 supervisions, 1 of 2 trainee reviews
signed off, 1 of 3 blocks. GRP-B: 2 families, 2 due, 0 filmed, 3 of 3 supervisions.
Site: 5 families, 5 due, 2 filmed, 3 reviews (median 6, 2-13), 4 supervisions, 1 group
with enough supervision, no ended group short.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from storage.db.footage import Clip, Consent
from storage.db.governance import Tombstone
from storage.db.programme import (
    Family,
    Group,
    GroupFacilitator,
    GroupSession,
    SupervisionSession,
    TrainingBlock,
)
from storage.db.tenancy import Site, User

FAMILY_CODES = ("FAM-A001", "FAM-A002", "FAM-A003", "FAM-B001", "FAM-B002")


@dataclass
class ReportWorld:
    site_id: str
    other_site_id: str
    now: datetime


class _Builder:
    def __init__(self, db: Session, now: datetime) -> None:
        self.db, self.now = db, now

    def ago(self, days: int) -> datetime:
        return self.now - timedelta(days=days)

    def add(self, row: object) -> None:
        self.db.add(row)
        self.db.flush()

    def site(self, slug: str) -> Site:
        site = Site(slug=slug, name=f"Site {slug}", created_at=self.ago(400))
        self.add(site)
        return site

    def user(self, site: Site, name: str, role: str = "facilitator") -> User:
        user = User(
            site_id=site.id,
            email=f"{name}@{site.slug}.example.org",
            display_name=name,
            role=role,
            password_hash="x",
            created_at=self.ago(300),
        )
        self.add(user)
        return user

    def group(self, site: Site, code: str, status: str, end: datetime, hv2: datetime) -> Group:
        group = Group(
            site_id=site.id,
            code=code,
            name=f"Group {code}",
            status=status,
            programme_end=end,
            created_at=self.ago(200),
        )
        self.add(group)
        self.add(
            GroupSession(site_id=site.id, group_id=group.id, kind="home-visit-2", number=1,
                         scheduled_at=hv2)
        )  # fmt: skip
        return group

    def family(self, group: Group, code: str) -> Family:
        family = Family(
            site_id=group.site_id, group_id=group.id, code=code, enrolled_at=self.ago(150)
        )
        self.add(family)
        return family

    def clip(
        self,
        group: Group,
        family: Family | None,
        filmed_days_ago: int,
        *,
        kind: str = "home-visit",
        review_after: int | None = None,
        status: str = "ready",
        tomb_reason: str | None = None,
        **extra: object,
    ) -> Clip:
        code = family.code if family else "GROUP-1"
        consent = Consent(
            site_id=group.site_id, family_code=code, family_id=family.id if family else None,
            participants=["parent-1"], purposes=["family-review", "supervision"],
            form_reference="CF-1", taken_by="x", taken_at=self.ago(200), created_at=self.ago(200),
        )  # fmt: skip
        self.add(consent)
        filmed = self.ago(filmed_days_ago)
        clip = Clip(
            site_id=group.site_id, consent_id=consent.id, kind=kind, family_code=code,
            group_id=group.id, family_id=family.id if family else None, status=status,
            created_at=filmed, updated_at=filmed,
            shared_review_at=None if review_after is None else filmed + timedelta(review_after),
            **extra,
        )  # fmt: skip
        self.add(clip)
        if tomb_reason is not None:
            self.add(
                Tombstone(
                    clip_id=clip.id, site_id=group.site_id, kind=kind, family_code=code,
                    consent_id=consent.id, form_reference="CF-1", purposes=[],
                    clip_created_at=filmed, destroyed_at=self.now, reason=tomb_reason,
                    destroyed_by="system:test",
                )
            )  # fmt: skip
        return clip

    def supervision(self, group: Group, supervisor: User, days_ago: int) -> None:
        self.add(
            SupervisionSession(
                site_id=group.site_id, group_id=group.id, held_at=self.ago(days_ago),
                supervisor_id=supervisor.id, notes="", created_at=self.ago(days_ago),
            )
        )  # fmt: skip


def build(db: Session, now: datetime) -> ReportWorld:
    """Write the rows described in the module docstring; returns the site ids."""
    b = _Builder(db, now)
    site, other = b.site("north"), b.site("south")
    supervisor = b.user(site, "sup", "supervisor")
    trainee, partner = b.user(site, "trainee"), b.user(site, "partner")
    a = b.group(site, "GRP-A", "running", b.ago(-20), b.ago(30))
    bg = b.group(site, "GRP-B", "ended", b.ago(10), b.ago(60))
    b.add(GroupFacilitator(site_id=site.id, group_id=a.id, user_id=trainee.id,
                           discipline="health", trainee=True, added_at=b.ago(200)))  # fmt: skip
    b.add(GroupFacilitator(site_id=site.id, group_id=a.id, user_id=partner.id,
                           discipline="childrens-services", added_at=b.ago(200)))  # fmt: skip
    visit_1 = GroupSession(site_id=site.id, group_id=a.id, kind="home-visit-1", number=1,
                           scheduled_at=b.ago(120))  # fmt: skip
    b.add(visit_1)
    f1, f2, f3 = (b.family(a, code) for code in FAMILY_CODES[:3])
    b.family(bg, FAMILY_CODES[3])
    b.family(bg, FAMILY_CODES[4])
    b.clip(a, f1, 28, review_after=6)
    b.clip(a, f1, 27, review_after=13)
    b.clip(a, f1, 10)
    b.clip(a, f2, 25, review_after=2, status="destroyed", tomb_reason="retention-expired")
    b.clip(a, f3, 20, status="destroyed", tomb_reason="upload-refused")
    b.clip(a, f3, 1, status="receiving")
    b.clip(a, f3, 100, session_id=visit_1.id)
    b.clip(a, None, 40, kind="group-delivery", trainee_id=trainee.id, signed_off_at=b.ago(30))
    b.clip(a, None, 20, kind="group-delivery", trainee_id=trainee.id)
    b.add(TrainingBlock(site_id=site.id, trainee_id=trainee.id, block=1,
                        signed_off_by=supervisor.id, signed_off_at=b.ago(90)))  # fmt: skip
    b.add(TrainingBlock(site_id=site.id, trainee_id=trainee.id, block=2))
    b.supervision(a, supervisor, 5)
    b.supervision(a, supervisor, -3)
    for days in (100, 70, 40):
        b.supervision(bg, supervisor, days)
    # Neither the 'unassigned' group nor another site counts.
    spare = Group(site_id=site.id, code="unassigned", name="", status="running",
                  unassigned=True, created_at=b.ago(300))  # fmt: skip
    b.add(spare)
    b.clip(spare, None, 50)
    far = b.group(other, "GRP-A", "running", b.ago(-20), b.ago(30))
    b.clip(far, b.family(far, "FAM-Z001"), 28, review_after=1)
    return ReportWorld(site.id, other.id, now)
