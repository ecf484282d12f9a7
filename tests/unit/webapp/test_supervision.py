"""Supervision: the queue, comparing a supervisor's and a trainee's coding (kappa worked
out by hand below), and signing the review off."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ingest.clips import register_clip
from review.annotations import create_annotation
from review.taxonomy import load_registry
from storage.audit import Actor
from storage.db.footage import Clip, Consent
from storage.db.governance import AuditEntry
from storage.db.tenancy import Site
from tests.unit.webapp.test_annotations_api import send
from tests.webapp_fixtures import LoginAs, World, post
from webapp.composition import Services


@dataclass(frozen=True)
class Training:
    clip: str
    supervisor: str
    trainee: str


@pytest.fixture
def training(services: Services, world: World) -> Training:
    """A trainee's 10 s group session, coded by the supervisor (A) and the trainee (B).

    Windows of 1 s. A: models-safe-base over [0, 4 s). B: models-safe-base over [0, 3 s)
    and invites-reflection at 5.5 s. So per code (both/only A/only B/neither):
    models-safe-base 3/1/0/6 -> p_o .9, p_e .4*.3+.6*.7 = .54, kappa .36/.46 = .7826;
    invites-reflection 0/0/1/9 -> p_o .9, p_e .9, kappa 0. Pooled 3/1/1/15 -> p_o .9,
    p_e .2*.2+.8*.8 = .68, kappa .22/.32 = .6875. Windows 3 and 5 differ (8/10 agree).
    """
    site = world.sites["a"]
    supervisor = Actor(site.users["supervisor"], "supervisor", site.id)
    trainee = Actor(site.target_user, "facilitator", site.id)
    registry = load_registry(services.settings.taxonomy_dir)
    with services.db.session() as db:
        consent = db.get(Consent, site.consent)
        row = db.get(Site, site.id)
        assert consent is not None and row is not None
        clip = register_clip(
            db, services.vault, services.audit, services.settings, actor=supervisor,
            site=row, kind="group-delivery", consent=consent, uploaded_by=supervisor.id,
            title="Group session 3", trainee_id=trainee.id,
        )  # fmt: skip
        clip.status, clip.duration_ms, clip.frame_rate = "ready", 10_000, "25"
        clip_id = clip.id
    with services.db.session() as db:
        for actor, start, end, code in (
            (supervisor, 0, 4000, "models-safe-base"),
            (trainee, 0, 3000, "models-safe-base"),
            (trainee, 5500, None, "invites-reflection"),
        ):
            create_annotation(
                db, services.audit, registry, actor, clip_id, start_ms=start, end_ms=end,
                subject="facilitator", scheme_id="group-facilitation", codes=[code],
            )  # fmt: skip
    return Training(clip_id, supervisor.id, trainee.id)


def test_queue_lists_trainee_footage_awaiting_review(
    client: FlaskClient, world: World, login_as: LoginAs, training: Training
) -> None:
    login_as(client, "supervisor")
    html = client.get("/supervision").get_data(as_text=True)
    assert "Group session 3" in html
    assert f'href="/supervision/{training.clip}"' in html
    assert "Target A" in html  # the trainee's name
    assert world.sites["a"].clip not in html  # a home visit is not trainee footage
    assert "Recently signed off" not in html


def test_agreement_api_matches_the_hand_computation(
    client: FlaskClient, login_as: LoginAs, training: Training
) -> None:
    login_as(client, "supervisor")
    query = (
        f"coder_a={training.supervisor}&coder_b={training.trainee}"
        "&scheme_id=group-facilitation&window_ms=1000"
    )
    body = client.get(f"/api/v1/clips/{training.clip}/agreement?{query}").get_json()
    assert body["window_ms"] == 1000 and body["windows"] == 10
    assert body["kappa"] == pytest.approx(0.6875)
    assert body["percent_agreement"] == pytest.approx(0.9)
    assert body["window_agreement"] == pytest.approx(0.8)
    per_code = {c["code"]: c for c in body["per_code"]}
    assert per_code["models-safe-base"]["kappa"] == pytest.approx(0.36 / 0.46)
    assert (per_code["models-safe-base"]["both"], per_code["models-safe-base"]["only_a"]) == (3, 1)
    assert per_code["invites-reflection"]["kappa"] == pytest.approx(0.0)
    assert [d["index"] for d in body["differences"]] == [3, 5]
    bad = client.get(f"/api/v1/clips/{training.clip}/agreement?{query}".replace("1000", "1s"))
    assert bad.status_code == 400


def test_compare_page_shows_window_kappa_and_the_differences(
    client: FlaskClient, login_as: LoginAs, training: Training, services: Services
) -> None:
    login_as(client, "supervisor")
    response = client.get(f"/supervision/{training.clip}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "0.69" in html  # overall kappa
    assert "0.78" in html  # models-safe-base
    assert "90%" in html and "80%" in html
    assert "1 s" in html and "10 windows" in html
    assert "Models a safe base" in html and "Invites reflection" in html
    assert "0:03.000\u20130:04.000" in html and "0:05.000\u20130:06.000" in html
    assert f"/clips/{training.clip}/play?t=3000" in html
    assert html.count('class="mt__diff"') == 2  # the mini timeline marks both windows
    wider = client.get(f"/supervision/{training.clip}?window=2.5").get_data(as_text=True)
    assert "2.5 s" in wider and "4 windows" in wider
    with services.db.session() as db:
        count = db.scalar(select(func.count()).where(AuditEntry.action == "annotations.agreement"))
    assert count == 2


def test_sign_off_needs_a_summary_then_locks_the_review(
    app: Flask, login_as: LoginAs, training: Training, services: Services
) -> None:
    client = app.test_client()
    login_as(client, "supervisor")
    url = f"/supervision/{training.clip}/sign-off"
    empty = post(client, url, {"summary": "   "})
    # Kept on the page with the reason beside the box, nothing signed.
    assert empty.status_code == 400
    html = empty.get_data(as_text=True)
    assert 'id="summary-error"' in html and "Write a summary" in html
    assert 'aria-invalid="true"' in html
    with services.db.session() as db:
        clip = db.get(Clip, training.clip)
        assert clip is not None and clip.signed_off_at is None
    done = post(client, url, {"summary": "Warm, clear session. Next: invite quieter parents."})
    assert done.status_code == 303
    page = client.get(f"/supervision/{training.clip}").get_data(as_text=True)
    assert "The review is locked" in page and "Next: invite quieter parents." in page
    with services.db.session() as db:
        clip = db.get(Clip, training.clip)
        assert clip is not None and clip.signed_off_at is not None
    late = send(
        client, "POST", f"/api/v1/clips/{training.clip}/annotations",
        {"start_ms": 100, "subject": "group", "text": "one more"},
    )  # fmt: skip
    assert late.status_code == 409
    again = send(client, "POST", f"/api/v1/clips/{training.clip}/sign-off", {"summary": "x"})
    assert again.status_code == 409
    queue = client.get("/supervision").get_data(as_text=True)
    assert "Recently signed off" in queue


def test_sign_off_api(client: FlaskClient, login_as: LoginAs, training: Training) -> None:
    login_as(client, "supervisor")
    url = f"/api/v1/clips/{training.clip}/sign-off"
    assert client.get(url).get_json() == {"signed_off": False}
    response = send(client, "POST", url, {"summary": "Agreed next steps."})
    assert response.status_code == 201
    body = response.get_json()
    assert body["signed_off"] is True and body["supervisor"] == "Supervisor A"
    assert client.get(url).get_json()["summary"] == "Agreed next steps."


def test_trainees_cannot_sign_off_and_supervisors_not_their_own(
    app: Flask, login_as: LoginAs, training: Training, services: Services, world: World
) -> None:
    trainee = app.test_client()
    login_as(trainee, "facilitator")
    url = f"/api/v1/clips/{training.clip}/sign-off"
    assert send(trainee, "POST", url, {"summary": "I did well"}).status_code == 403
    assert trainee.get("/supervision").status_code == 403
    with services.db.session() as db:
        clip = db.get(Clip, training.clip)
        assert clip is not None
        clip.trainee_id = world.sites["a"].users["supervisor"]
    supervisor = app.test_client()
    login_as(supervisor, "supervisor")
    assert send(supervisor, "POST", url, {"summary": "Mine"}).status_code == 403
    page = supervisor.get(f"/supervision/{training.clip}").get_data(as_text=True)
    assert "another supervisor signs it off" in page


@pytest.mark.parametrize("window", ["abc", "0", "0.039", "-1", "3600.5", "nan", "inf", "<b>2</b>"])
def test_a_bad_window_keeps_the_form_with_the_reason_beside_it(
    client: FlaskClient, login_as: LoginAs, training: Training, window: str
) -> None:
    login_as(client, "supervisor")
    response = client.get(f"/supervision/{training.clip}", query_string={"window": window})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="window-error"' in html and 'aria-invalid="true"' in html
    assert "Compared with 1 s meanwhile" in html and "10 windows" in html  # the default
    assert 'name="coder_a"' in html and 'name="summary"' in html  # the page, not an error
    assert "<b>2</b>" not in html  # the typed value is echoed escaped


@pytest.mark.parametrize(
    ("window", "windows"), [("2,5", "4 windows"), (" 0.04 ", "250 windows"), ("3600", "(1 window)")]
)
def test_window_boundaries_and_a_decimal_comma(
    client: FlaskClient, login_as: LoginAs, training: Training, window: str, windows: str
) -> None:
    login_as(client, "supervisor")
    response = client.get(f"/supervision/{training.clip}", query_string={"window": window})
    assert response.status_code == 200
    assert windows in response.get_data(as_text=True)


def test_empty_summary_keeps_what_was_typed_elsewhere_and_needs_csrf(
    client: FlaskClient, login_as: LoginAs, training: Training, services: Services
) -> None:
    login_as(client, "supervisor")
    url = f"/supervision/{training.clip}/sign-off"
    assert client.post(url, data={"summary": "Fine."}).status_code == 400  # no CSRF token
    with services.db.session() as db:
        clip = db.get(Clip, training.clip)
        assert clip is not None and clip.signed_off_at is None
    html = post(client, url, {"summary": "\n\t "}).get_data(as_text=True)
    assert "Write a summary of the review before signing it off." in html
