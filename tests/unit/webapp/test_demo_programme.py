"""The programme part of the demo seed (no media): two groups each with a health and a
children's-services co-facilitator, families with their consents, meetings held,
supervisions, the trainee's first block, a national-team supervisor at another site; the
programme report shows those figures; a second run creates nothing."""

from __future__ import annotations

from sqlalchemy import select

from storage.accounts import authenticate
from storage.db.footage import Consent
from storage.db.programme import Family, Group, GroupFacilitator
from storage.db.tenancy import Site, User
from storage.programme.report import programme_report
from webapp import demo
from webapp.composition import Services
from webapp.demo_programme import CONSENTS, PEOPLE


def test_demo_programme_seed(services: Services) -> None:
    first = demo.seed(services, with_media=False, say=lambda _line: None)
    assert {"group GRP-A", "group GRP-B"} <= set(first.created)
    with services.db.session() as db:
        groups = {
            g.code: g for g in db.scalars(select(Group).where(Group.site_id == first.site_id))
        }
        assert {"GRP-A", "GRP-B"} <= set(groups)
        for code in ("GRP-A", "GRP-B"):
            team = list(
                db.scalars(
                    select(GroupFacilitator).where(GroupFacilitator.group_id == groups[code].id)
                )
            )
            assert sorted(t.discipline for t in team) == ["childrens-services", "health"]
            assert groups[code].status == "running"
        lead = db.scalar(
            select(GroupFacilitator).where(
                GroupFacilitator.group_id == groups["GRP-A"].id,
                GroupFacilitator.user_id == first.users["facilitator"],
            )
        )
        assert lead is not None and lead.trainee and lead.discipline == "health"
        families = {f.code: f.group_id for f in db.scalars(select(Family))}
        assert families == {
            "FAM-0042": groups["GRP-A"].id, "FAM-0043": groups["GRP-A"].id,
            "FAM-0044": groups["GRP-A"].id, "FAM-0051": groups["GRP-B"].id,
            "FAM-0052": groups["GRP-B"].id,
        }  # fmt: skip
        for code, purposes in CONSENTS.items():
            consent = db.scalar(select(Consent).where(Consent.family_code == code))
            assert consent is not None and consent.family_id is not None
            assert tuple(consent.purposes) == purposes
        national = db.scalar(select(Site).where(Site.slug == "national"))
        assert national is not None
        for email, _role, _name, _discipline, password, _site in PEOPLE.values():
            assert authenticate(db, email, password) is not None
        reviewer = db.scalar(select(User).where(User.email == PEOPLE["national"][0]))
        assert reviewer is not None and reviewer.site_id == national.id
        report = programme_report(db, first.site_id, services.clock.now())
    a, b = report.groups
    assert (a.code, a.families_enrolled, a.families_due_home_visit_2) == ("GRP-A", 3, 3)
    assert (a.supervisions_held, a.training_blocks_signed_off) == (2, 1)
    assert any(d.startswith("Soon: 1 more reflective supervision") for d in a.due)
    assert (b.code, b.families_enrolled, b.families_due_home_visit_2) == ("GRP-B", 2, 0)
    assert b.supervisions_held == 1
    again = demo.seed(services, with_media=False, say=lambda _line: None)
    assert again.created == [] and again.programme.groups == first.programme.groups


def test_demo_co_facilitators_share_a_family_clip(services: Services) -> None:
    """Both co-facilitators of group A reach FAM-0042's home visit; group B's do not."""
    from flask.testing import FlaskClient

    from ingest.clips import register_clip
    from storage.audit import Actor
    from storage.programme import family_consent
    from tests.webapp_fixtures import post
    from webapp.app import create_app

    seeded = demo.seed(services, with_media=False, say=lambda _line: None)
    with services.db.session() as db:
        site = db.get(Site, seeded.site_id)
        consent = family_consent(db, seeded.programme.families["FAM-0042"])
        assert site is not None and consent is not None
        fsw = Actor(seeded.programme.people["fsw_a"], "facilitator", site.id)
        clip = register_clip(
            db, services.vault, services.audit, services.settings, actor=fsw, site=site,
            kind="home-visit", consent=consent, uploaded_by=fsw.id,
        )  # fmt: skip
        assert clip.group_id == seeded.programme.groups["GRP-A"]
        clip_id = clip.id
    app = create_app(services=services)
    app.config["TESTING"] = True
    logins = {
        "facilitator": (demo.email("facilitator"), demo.PASSWORDS["facilitator"], 200),
        **{key: (PEOPLE[key][0], PEOPLE[key][4], 200 if key == "fsw_a" else 404)
           for key in ("fsw_a", "hv_b", "fsw_b")},
    }  # fmt: skip
    for who, (email, password, expected) in logins.items():
        client = FlaskClient(app)
        assert post(client, "/login", {"email": email, "password": password}).status_code == 302
        assert client.get(f"/clips/{clip_id}").status_code == expected, who
