"""The programme pages: groups list and page (a facilitator sees only their groups), the
admin forms, recording a supervision, the programme report page and CSV, the upload page
inside a group (family, or session with the families present and the uses allowed), and
sharing a clip for supervision (refused when a family filmed did not consent). User text
is escaped on every page. Both database backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from storage.audit import Actor
from storage.consent import ConsentInput, record_consent
from storage.db.footage import Clip
from storage.db.programme import ClipShare, Family, Group, GroupSession, SupervisionSession
from storage.db.tenancy import User
from storage.programme import create_group, enrol_family
from tests.unit.webapp.helpers import audit_actions, text
from tests.webapp_fixtures import LoginAs, World, password_hash, post
from webapp.composition import Services

XSS = "<script>alert(1)</script>"


def _group(services: Services, world: World) -> Group:
    with services.db.session() as db:
        group = db.get(Group, world.sites["a"].group)
        assert group is not None
        db.expunge(group)
        return group


def _outsider(services: Services, world: World) -> str:
    """A facilitator of site a who co-facilitates no group; returns their email."""
    with services.db.session() as db:
        db.add(
            User(site_id=world.sites["a"].id, email="outsider@a.example.org",
                 display_name="Outsider", role="facilitator", password_hash=password_hash(),
                 created_at=services.clock.now())
        )  # fmt: skip
    return "outsider@a.example.org"


def _login_email(client: FlaskClient, email: str) -> None:
    from tests.webapp_fixtures import PASSWORD

    assert post(client, "/login", {"email": email, "password": PASSWORD}).status_code == 302


def test_facilitator_sees_only_their_groups(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    group = _group(services, world)
    login_as(client, "facilitator")
    listing = text(client.get("/groups"))
    assert group.code in listing
    page = text(client.get(f"/groups/{group.id}"))
    assert "FAM-A01" in page and "0 of 3" in page
    assert "Home visit 2" in page and "Postnatal session 3" in page
    assert "Enrol a family" not in page  # facilitators do not manage groups
    assert [e.target_id for e in audit_actions(services, "group.view")] == [group.id]
    other = FlaskClient(client.application)
    _login_email(other, _outsider(services, world))
    assert group.code not in text(other.get("/groups"))
    assert other.get(f"/groups/{group.id}").status_code == 404
    # Another site's group is 404 even for its own site's roles' counterparts here.
    assert client.get(f"/groups/{world.sites['b'].group}").status_code == 404


def test_admin_creates_a_group_and_names_are_escaped(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    site = world.sites["a"]
    login_as(client, "admin")
    data = {
        "code": "GRP-NEW1", "name": XSS, "starts_on": "2026-04-01",
        "facilitator-health": site.users["supervisor"],
        "facilitator-childrens-services": site.target_user, "trainee-childrens-services": "1",
    }  # fmt: skip
    response = post(client, "/groups", data)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "trainee" in page
    assert XSS not in client.get("/groups").get_data(as_text=True)
    # Both co-facilitators are required; the same code again returns the same group.
    missing = post(client, "/groups", {**data, "facilitator-health": ""})
    assert missing.status_code == 400 and "Choose both co-facilitators" in text(missing)
    wrong = post(client, "/groups", {**data, "code": "GRP-NEW2",
                                     "facilitator-health": site.target_user})  # fmt: skip
    assert wrong.status_code == 400 and "different people" in text(wrong)
    with services.db.session() as db:
        assert db.scalar(select(Group).where(Group.code == "GRP-NEW2")) is None


def test_schedule_dates_enrol_and_move(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    group = _group(services, world)
    site = world.sites["a"]
    with services.db.session() as db:
        last = db.scalar(
            select(GroupSession).where(
                GroupSession.group_id == group.id, GroupSession.kind == "postnatal",
                GroupSession.number == 3,
            )
        )  # fmt: skip
        assert last is not None and last.scheduled_at is not None
        other = create_group(
            db, services.audit, Actor.system("t"), site_id=site.id, code="GRP-OTHER",
            name="", facilitators=[(site.users["supervisor"], "health", False),
                                   (site.target_user, "childrens-services", False)],
            starts_on=services.clock.now(),
        )  # fmt: skip
        last_id, old_end, other_id = last.id, last.scheduled_at, other.id
    login_as(client, "supervisor")
    new_day = (old_end + timedelta(days=14)).date().isoformat()
    response = post(client, f"/groups/{group.id}/schedule", {f"date-{last_id}": new_day})
    assert response.status_code == 303
    with services.db.session() as db:
        row = db.get(Group, group.id)
        assert row is not None and row.programme_end == old_end + timedelta(days=14)
    assert (
        post(client, f"/groups/{group.id}/schedule", {f"date-{last_id}": "soon"}).status_code == 303
    )
    assert "not understood" in text(client.get(f"/groups/{group.id}"))
    assert post(client, f"/groups/{group.id}/families", {"code": "fam-0777"}).status_code == 303
    assert "FAM-0777" in text(client.get(f"/groups/{group.id}"))
    assert post(client, f"/groups/{group.id}/families", {"code": "Jane Smith"}).status_code == 303
    with services.db.session() as db:
        family = db.scalar(select(Family).where(Family.code == "FAM-0777"))
        assert (
            family is not None
            and db.scalar(select(Family).where(Family.code.like("%JANE%"))) is None
        )
        family_id = family.id
    url = f"/groups/{group.id}/families/{family_id}/move"
    assert post(client, url, {"to_group": other_id}).status_code == 303
    with services.db.session() as db:
        moved = db.get(Family, family_id)
        assert moved is not None and moved.group_id == other_id
    assert audit_actions(services, "family.move")
    # The family left: moving it again from the old group changes nothing.
    assert post(client, url, {"to_group": group.id}).status_code == 303
    with services.db.session() as db:
        still = db.get(Family, family_id)
        assert still is not None and still.group_id == other_id


def test_supervisor_records_a_supervision_with_escaped_notes(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    group = _group(services, world)
    site = world.sites["a"]
    login_as(client, "supervisor")
    assert "Record a supervision" in text(client.get(f"/groups/{group.id}"))
    form = {
        "held_on": services.clock.now().date().isoformat(),
        "supervisor": site.users["supervisor"],
        "facilitators": [site.users["facilitator"], site.target_user],
        "notes": f"Talked about pacing {XSS}",
    }
    future = {**form, "held_on": (services.clock.now() + timedelta(days=2)).date().isoformat()}
    assert post(client, f"/groups/{group.id}/supervision", future).status_code == 400
    assert post(client, f"/groups/{group.id}/supervision", form).status_code == 303
    page = client.get(f"/groups/{group.id}").get_data(as_text=True)
    assert "1 of 3" in page
    assert XSS not in page and "Talked about pacing &lt;script&gt;" in page
    for role in ("dpo", "admin"):  # the notes describe footage: not for these roles
        reader = client.application.test_client()
        login_as(reader, role)
        seen = reader.get(f"/groups/{group.id}").get_data(as_text=True)
        assert "1 of 3" in seen and "Talked about pacing" not in seen
    with services.db.session() as db:
        assert len(list(db.scalars(select(SupervisionSession)))) == 1
    assert audit_actions(services, "supervision.record")
    yesterday = (services.clock.now() - timedelta(days=1)).date().isoformat()
    nobody = {**form, "held_on": yesterday, "facilitators": []}
    assert post(client, f"/groups/{group.id}/supervision", nobody).status_code == 400


def test_programme_report_page_and_csv(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    group = _group(services, world)
    login_as(client, "dpo")
    page = text(client.get("/reports/programme"))
    assert group.code in page and "Families enrolled" in page
    assert "FAM-A01" not in page
    response = client.get("/reports/programme.csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    body = response.get_data(as_text=True)
    assert body.startswith("scope,group,") and group.code in body and "FAM-A01" not in body
    assert {e.details["format"] for e in audit_actions(services, "report.programme")} == {
        "html",
        "csv",
    }


def second_family(services: Services, world: World, purposes: tuple[str, ...]) -> str:
    """Enrol FAM-A02 in site a's group with a consent covering ``purposes``; its id."""
    site = world.sites["a"]
    from datetime import UTC, datetime

    with services.db.session() as db:
        record_consent(
            db, services.audit, Actor.system("t"), site.id,
            ConsentInput(family="FAM-A02", participants=("parent-1",), purposes=purposes,
                         form_reference="CF-A02", taken_by="x",
                         taken_at=datetime(2026, 3, 1, tzinfo=UTC)),
        )  # fmt: skip
        family = enrol_family(  # links the consent recorded under its code
            db, services.audit, Actor.system("t"), site_id=site.id, group_id=site.group,
            code="FAM-A02",
        )  # fmt: skip
        return family.id


def _meeting(services: Services, world: World, kind: str = "antenatal", number: int = 2) -> str:
    with services.db.session() as db:
        meeting = db.scalar(
            select(GroupSession.id).where(
                GroupSession.group_id == world.sites["a"].group, GroupSession.kind == kind,
                GroupSession.number == number,
            )
        )  # fmt: skip
        assert meeting is not None
        return meeting


def test_upload_inside_a_group(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    site = world.sites["a"]
    second = second_family(services, world, ("family-review",))
    login_as(client, "facilitator")
    start = text(client.get("/upload"))
    assert f"/upload?group={site.group}" in start
    page = client.get(f"/upload?group={site.group}").get_data(as_text=True)
    assert 'name="family_id"' in page and 'name="present"' in page
    assert 'data-purposes="family-review"' in page  # FAM-A02's consent
    assert "Antenatal session 2" in page and "Home visit 2" not in page.split("f-meeting")[1][:2000]
    # A home visit of a family of the group: its consent is recorded on the form.
    family_form: dict[str, Any] = {
        "group": site.group, "kind": "home-visit", "family_id": site.family,
        "participants": ["parent-1", "infant"], "purposes": ["family-review", "supervision"],
        "form_reference": "CF-9", "taken_on": "2026-03-01",
    }  # fmt: skip
    response = post(client, "/upload", family_form)
    assert response.status_code == 302, text(response)[:400]
    clip_id = response.headers["Location"].rsplit("/", 1)[1]
    with services.db.session() as db:
        clip = db.get(Clip, clip_id)
        assert clip is not None
        assert (clip.group_id, clip.family_id, clip.session_id) == (site.group, site.family, None)
    no_family = post(client, "/upload", {**family_form, "family_id": ""})
    assert no_family.status_code == 400 and "Choose the family" in text(no_family)
    # A group session with both families present: only the uses both agreed to.
    session_form = {
        "group": site.group, "kind": "group-delivery", "meeting": _meeting(services, world),
        "present": [site.family, second],
    }  # fmt: skip
    response = post(client, "/upload", session_form)
    assert response.status_code == 302, text(response)[:400]
    clip_id = response.headers["Location"].rsplit("/", 1)[1]
    step2 = text(client.get(f"/upload/{clip_id}"))
    assert "May be used for: Watch the video together with the family" in step2
    assert "supervision" not in step2.split("May be used for:")[1].split(".")[0].lower()
    with services.db.session() as db:
        clip = db.get(Clip, clip_id)
        assert clip is not None and clip.session_id is not None and clip.family_id is None
    nobody = post(client, "/upload", {**session_form, "present": []})
    assert nobody.status_code == 400 and "Tick the families" in text(nobody)
    other_site = post(client, "/upload", {**session_form, "group": world.sites["b"].group})
    assert other_site.status_code == 404


def session_clip(services: Services, world: World, present: list[str]) -> str:
    """A group-session clip of site a's group with ``present`` families; its id."""
    from ingest.clips import register_clip
    from storage.db.tenancy import Site
    from storage.programme import Placement, family_consent

    site = world.sites["a"]
    with services.db.session() as db:
        consent = family_consent(db, present[0])
        site_row = db.get(Site, site.id)
        assert consent is not None and site_row is not None
        clip = register_clip(
            db, services.vault, services.audit, services.settings,
            actor=Actor(site.users["facilitator"], "facilitator", site.id), site=site_row,
            kind="group-delivery", consent=consent, uploaded_by=site.users["facilitator"],
            placement=Placement(group_id=site.group, session_id=_meeting(services, world),
                                present_family_ids=tuple(present)),
        )  # fmt: skip
        clip.status = "ready"
        return clip.id


def test_programme_forms_need_the_csrf_token(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    site = world.sites["a"]
    login_as(client, "supervisor")
    before = len(audit_actions(services, "family.enrol"))
    for url, data in (
        (f"/groups/{site.group}/families", {"code": "FAM-0999"}),
        (f"/groups/{site.group}/supervision", {"held_on": "2026-03-01"}),
        (f"/clips/{site.clip}/shares", {"email": world.email("supervisor"), "days": "3"}),
        (f"/clips/shares/{site.share}/revoke", {}),
        ("/groups", {"code": "GRP-X"}),
    ):
        assert client.post(url, data=data).status_code == 400, url
    assert len(audit_actions(services, "family.enrol")) == before
    with services.db.session() as db:
        share = db.get(ClipShare, site.share)
        assert share is not None and share.revoked_at is None


def test_library_shows_no_poster_that_would_be_refused(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    """A group session with a family present who did not agree to supervision: the
    supervisor's library and clip page do not ask for its poster (it would be a 403)."""
    site = world.sites["a"]
    second = second_family(services, world, ("family-review",))
    refused = session_clip(services, world, [site.family, second])
    login_as(client, "supervisor")
    assert client.get(f"/clips/{refused}/poster").status_code == 403
    listing = client.get("/clips").get_data(as_text=True)
    assert f"/clips/{refused}" in listing and f"/clips/{refused}/poster" not in listing
    assert f"/clips/{site.clip}/poster" in listing  # everyone consented: shown
    assert f"/clips/{refused}/poster" not in client.get(f"/clips/{refused}").get_data(as_text=True)
