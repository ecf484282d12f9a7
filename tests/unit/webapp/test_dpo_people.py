"""The DPO pages speak about people: names and roles, sentences, filters by person (name or
email), clip, family and kind of action, and refused attempts in the log."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient

from storage.audit import Actor
from storage.db.tenancy import User
from tests.unit.webapp.helpers import audit_actions, text
from tests.webapp_fixtures import LoginAs, World, post
from webapp.composition import Services
from webapp.context import CurrentUser
from webapp.list_audit import covered
from webapp.views.dpo_audit import PAGE


def _rows(page: str) -> str:
    """The audit table only (the filter form and notices also hold names)."""
    start = page.find("<tbody>")
    return page[start : page.find("</tbody>", start)] if start >= 0 else ""


def test_the_audit_page_finds_entries_by_a_users_email_and_shows_their_name(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    client.get(f"/clips/{world.sites['a'].clip}")
    login_as(client, "dpo")
    rows = _rows(text(client.get("/dpo/audit?person=facilitator@a.example.org")))
    assert "Facilitator A (Facilitator)" in rows and "facilitator@a.example.org" in rows
    assert "Signed in" in rows and "Opened the page of the home visit clip of family" in rows
    assert "Dpo A" not in rows  # the DPO's own entries are not the facilitator's
    shown = re.sub(r'href="[^"]*"', "", rows)  # ids only in links, never as text
    assert world.sites["a"].users["facilitator"][:8] not in shown
    same = _rows(text(client.get("/dpo/audit?person=FACILITATOR@A.example.org")))
    assert "Signed in" in same  # case does not matter
    by_name = _rows(text(client.get("/dpo/audit?person=ilitator a")))
    assert "Facilitator A (Facilitator)" in by_name
    # Another site's user is not found here, and LIKE wildcards are plain characters.
    assert "No entries match" in text(client.get("/dpo/audit?person=facilitator@b.example.org"))
    assert "No entries match" in text(client.get("/dpo/audit?person=%25"))


def test_entries_about_an_account_are_found_by_that_persons_email(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    admin = Actor(world.sites["a"].users["admin"], "admin", world.sites["a"].id)
    with services.db.session() as db:
        services.audit.append(
            db, admin, "user.deactivate", target_type="user", target_id=world.sites["a"].target_user
        )
    login_as(client, "dpo")
    rows = _rows(text(client.get("/dpo/audit?person=target@a.example.org")))
    assert "Admin A (Site admin)" in rows
    assert "Deactivated the account of Target A (Facilitator)" in rows


def test_details_read_as_sentences_not_key_value_pairs(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "dpo")
    post(
        client,
        f"/dpo/consents/{world.sites['a'].consent}/withdraw",
        {"purposes": ["evaluation"], "reason": "family asked"},
    )
    rows = _rows(text(client.get("/dpo/audit?family=FAM-A01")))
    assert "Recorded a withdrawal of the consent of family FAM-A01" in rows
    assert "Purposes: programme evaluation. Other purposes remain. " in rows
    assert re.search(r"\d clip\(s\) concerned\.", rows)
    assert "family asked" not in rows  # the reason stays on the consent, not in the log
    assert "purposes=" not in rows and "consent_id=" not in rows and "['" not in rows


def test_filters_by_clip_family_and_kind_of_action(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "dpo")
    clip = world.sites["a"].clip
    by_clip = _rows(text(client.get(f"/dpo/audit?clip={clip}")))
    assert "Placed a legal hold on the home visit clip of family FAM-A01" in by_clip
    assert "Signed in" not in by_clip
    by_family = _rows(text(client.get("/dpo/audit?family=fam-a01")))
    assert "Recorded the consent of family FAM-A01" in by_family
    assert "Registered the new clip" in by_family and "Signed in" not in by_family
    signins = _rows(text(client.get("/dpo/audit?group=signin")))
    assert "Signed in" in signins and "Placed a legal hold" not in signins
    bad = client.get("/dpo/audit?group=nonsense")
    assert bad.status_code == 400 and "Choose a kind of action" in text(bad)


def test_search_records_which_filters_never_their_values(
    client: FlaskClient, login_as: LoginAs, services: Services
) -> None:
    login_as(client, "dpo")
    client.get("/dpo/audit?person=someone@example.org&group=refused")
    entry = audit_actions(services, "audit.search")[-1]
    assert entry.details == {"filters": ["group", "person"]}
    assert "example.org" not in str(entry.details)


def test_user_text_is_escaped(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    with services.db.session() as db:
        user = db.get(User, world.sites["a"].users["facilitator"])
        assert user is not None
        user.display_name = "<script>alert(1)</script>"
    login_as(client, "facilitator")
    login_as(client, "dpo")
    raw = client.get("/dpo/audit?person=facilitator@a").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in raw and "&lt;script&gt;alert(1)" in raw


def test_pages_break_at_exactly_a_page(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    actor = Actor.system("test", site_id=world.sites["a"].id)
    with services.db.session() as db:
        for _ in range(PAGE):
            services.audit.append(db, actor, "test.noise")
    login_as(client, "dpo")
    full = text(client.get("/dpo/audit?action=test.noise"))
    assert full.count("Test noise") == PAGE and "Older entries" not in full
    with services.db.session() as db:
        services.audit.append(db, actor, "test.noise")
    first = text(client.get("/dpo/audit?action=test.noise"))
    assert first.count("Test noise") == PAGE and "Older entries" in first
    start = first.index("before=") + len("before=")
    before = first[start : first.index("&", start)]
    second = text(client.get(f"/dpo/audit?action=test.noise&before={before}"))
    assert second.count("Test noise") == 1 and "Older entries" not in second


def test_a_dpo_asking_for_footage_is_recorded_once_and_filterable(
    client: FlaskClient,
    login_as: LoginAs,
    world: World,
    services: Services,
    advance: Callable[[timedelta], None],
) -> None:
    login_as(client, "dpo")
    clip = world.sites["a"].clip
    for _ in range(3):
        assert client.get(f"/api/v1/clips/{clip}/media").status_code == 403
    [entry] = audit_actions(services, "access.refused")
    assert entry.target_id == clip and entry.details["refusal"] == "role"
    advance(timedelta(minutes=2))
    assert client.get(f"/api/v1/clips/{clip}/media").status_code == 403
    assert len(audit_actions(services, "access.refused")) == 2  # a new minute, a new entry
    rows = _rows(text(client.get("/dpo/audit?group=refused")))
    assert "Dpo A (Data protection officer)" in rows
    assert "Was refused access to the home visit clip of family FAM-A01" in rows
    assert "Their role may not do this." in rows and "Signed in" not in rows


def test_a_cross_site_404_is_recorded_but_anonymous_and_unknown_urls_are_not(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    other = world.sites["b"].clip
    assert client.get(f"/clips/{other}").status_code in (302, 401)  # anonymous: not logged
    login_as(client, "facilitator")
    assert client.get("/no/such/page").status_code == 404  # a routing 404: not logged
    assert audit_actions(services, "access.refused") == []
    assert client.get(f"/clips/{other}").status_code == 404
    [entry] = audit_actions(services, "access.refused")
    assert entry.site_id == world.sites["a"].id  # in the refused user's site's log
    assert entry.details["refusal"] == "not-found" and entry.details["status"] == 404


def test_a_list_logs_one_entry_not_one_per_poster(
    client: FlaskClient,
    login_as: LoginAs,
    world: World,
    services: Services,
    advance: Callable[[timedelta], None],
) -> None:
    login_as(client, "facilitator")
    page = text(client.get("/clips"))
    [listed] = audit_actions(services, "library.view")
    clip = world.sites["a"].clip
    poster = f"/clips/{clip}/poster?via={listed.seq}"
    assert poster in page
    for _ in range(3):
        assert client.get(poster).status_code == 200
    assert audit_actions(services, "clip.poster") == []
    assert client.get(f"/clips/{clip}/poster").status_code == 200  # no list: audited
    assert client.get(f"/clips/{clip}/poster?via=999999").status_code == 200  # forged
    assert client.get(f"/clips/{clip}/poster?via=x1").status_code == 200  # malformed
    assert len(audit_actions(services, "clip.poster")) == 3
    advance(timedelta(minutes=16))
    assert client.get(poster).status_code == 200  # a stale list no longer covers it
    assert len(audit_actions(services, "clip.poster")) == 4


def test_another_users_list_entry_does_not_cover_a_poster(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    login_as(client, "supervisor")
    client.get("/clips")
    seq = audit_actions(services, "library.view")[-1].seq
    login_as(client, "facilitator")
    clip = world.sites["a"].clip
    assert client.get(f"/clips/{clip}/poster?via={seq}").status_code == 200
    assert len(audit_actions(services, "clip.poster")) == 1


def test_a_dpos_clip_page_links_to_consent_audit_and_hold(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    clip = world.sites["a"].clip
    login_as(client, "facilitator")
    assert f"/dpo/clips/{clip}/audit" not in text(client.get(f"/clips/{clip}"))
    login_as(client, "dpo")
    page = text(client.get(f"/clips/{clip}"))
    for link in ("consent", "audit", "hold"):
        assert f"/dpo/clips/{clip}/{link}" in page
    consent = client.get(f"/dpo/clips/{clip}/consent")
    assert consent.headers["Location"].endswith(f"/dpo/consents/{world.sites['a'].consent}")
    trail = client.get(f"/dpo/clips/{clip}/audit")
    assert trail.headers["Location"].endswith(f"/dpo/audit?clip={clip}")
    hold = client.get(f"/dpo/clips/{clip}/hold")
    assert hold.headers["Location"].endswith(f"/dpo/holds?clip={clip}#place-h")
    assert client.get(f"/dpo/clips/{world.sites['b'].clip}/audit").status_code == 404


def test_holds_certificates_and_tombstones_name_people(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "dpo")
    receiving = world.sites["a"].receiving_clip
    holds = text(client.get(f"/dpo/holds?clip={receiving}"))
    assert f'<option value="{receiving}" selected>' in holds
    post(client, "/dpo/holds", {"clip_id": receiving, "reason": "complaint 9"})
    holds = text(client.get("/dpo/holds"))
    assert "by Dpo A (data protection officer)" in holds
    assert "by verp (test setup)" in holds  # the world's hold, placed by a process
    tombs = text(client.get("/dpo/tombstones"))
    assert "verp (test setup)" in tombs and "system:" not in tombs
    certificate = text(client.get(f"/dpo/tombstones/{world.sites['a'].destroyed_clip}"))
    assert "by verp (test setup)" in certificate and "system:test-setup" not in certificate


def test_the_csv_export_has_names_and_emails_beside_ids(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    login_as(client, "dpo")
    body = client.get("/dpo/audit/export.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body)))
    mine = [r for r in rows if r["actor_id"] == world.sites["a"].users["facilitator"]]
    assert mine and {r["actor_name"] for r in mine} == {"Facilitator A"}
    assert {r["actor_email"] for r in mine} == {"facilitator@a.example.org"}
    system = [r for r in rows if r["actor_id"].startswith("system:")]
    assert system and {r["actor_email"] for r in system} == {""}


def test_a_list_entry_covers_only_its_users_recent_own_site_posters(
    app: Flask, world: World, services: Services, advance: Callable[[timedelta], None]
) -> None:
    site = world.sites["a"]
    clip = site.clip
    user = CurrentUser(
        site.users["facilitator"], "f@x", "F", "facilitator", site.id, "a", "A", False
    )

    def listed(site_id: str, posters: list[str], action: str = "library.view") -> str:
        with services.db.session() as db:
            entry = services.audit.append(
                db, user.actor, action, site_id=site_id, details={"posters": posters}
            )
            return str(entry.seq)

    own = listed(site.id, [clip])
    elsewhere = listed(world.sites["b"].id, [clip])  # a list in another site's log
    other_clip = listed(site.id, [site.receiving_clip])
    wrong_action = listed(site.id, [clip], "clip.list")
    with app.app_context(), services.db.session() as db:
        assert covered(db, user, clip, own)
        assert not covered(db, user, clip, elsewhere)
        assert not covered(db, user, clip, other_clip)
        assert not covered(db, user, clip, wrong_action)
        assert not covered(db, user, clip, "9" * 19)  # too long to be a seq
        assert not covered(db, user, "no-such-clip", own)
    advance(timedelta(minutes=15, seconds=1))
    with app.app_context(), services.db.session() as db:
        assert not covered(db, user, clip, own)


def test_the_consent_page_names_who_was_filmed_and_links_the_familys_trail(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "dpo")
    page = text(client.get(f"/dpo/consents/{world.sites['a'].consent}"))
    assert "<dd>Parent 1, Baby</dd>" in page and "parent-1" not in page
    assert "/dpo/audit?family=FAM-A01" in page
