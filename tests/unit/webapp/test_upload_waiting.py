"""A clip waiting for its file can always be found again: the clip list and the clip page
say "Waiting for the file" with Continue and Cancel; the upload page names the unfinished
upload so the same video resumes; Cancel ends the upload and discards the clip."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from storage.db.footage import Clip, Upload
from tests.unit.webapp.helpers import audit_actions, text
from tests.webapp_fixtures import LoginAs, World, post
from webapp.composition import Services


def clip(services: Services, clip_id: str) -> Clip:
    with services.db.session() as db:
        row = db.get(Clip, clip_id)
        assert row is not None
        return row


def test_clip_list_and_clip_page_offer_continue_and_cancel_to_the_uploader(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    waiting = world.sites["a"].receiving_clip
    login_as(client, "facilitator")
    for url in ("/clips", f"/clips/{waiting}"):
        page = text(client.get(url))
        assert "Waiting for the file" in page and "Uploading" not in page, url
        assert f'href="/upload/{waiting}"' in page, url
        assert f'action="/upload/{waiting}/cancel"' in page, url
    assert "Upload started" in text(client.get(f"/clips/{waiting}"))


def test_others_see_the_state_but_no_buttons(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    waiting = world.sites["a"].receiving_clip
    for role in ("supervisor", "dpo"):
        login_as(client, role)
        page = text(client.get(f"/clips/{waiting}"))
        assert "Waiting for the file" in page
        assert f"/upload/{waiting}/cancel" not in page


def test_upload_page_names_the_unfinished_upload_to_resume(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    site = world.sites["a"]
    login_as(client, "facilitator")
    page = text(client.get(f"/upload/{site.receiving_clip}"))
    assert f'data-upload-url="/api/v1/uploads/{site.upload}"' in page
    assert 'data-upload-length="1000"' in page
    assert "This upload stopped after 0 MB of 1 KB" in page
    assert 'data-action="cancel-upload"' in page


def test_cancel_ends_the_upload_and_discards_the_clip_once(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    site = world.sites["a"]
    login_as(client, "facilitator")
    response = post(client, f"/upload/{site.receiving_clip}/cancel")
    assert response.status_code == 303 and response.headers["Location"].endswith("/clips")
    assert "The upload was cancelled" in text(client.get("/clips"))
    row = clip(services, site.receiving_clip)
    assert row.status in ("destroyed", "erasure-pending")
    assert row.destroy_reason == "upload-terminated"
    with services.db.session() as db:
        assert db.get(Upload, site.upload) is None  # the destruction removes upload rows
    assert [e.target_id for e in audit_actions(services, "upload.terminate")] == [
        site.receiving_clip
    ]
    again = post(client, f"/upload/{site.receiving_clip}/cancel")
    assert again.status_code == 303
    assert "The upload was cancelled" in text(client.get("/clips"))
    assert len(audit_actions(services, "upload.terminate")) == 1  # nothing ended twice


def test_cancel_needs_csrf(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    site = world.sites["a"]
    login_as(client, "facilitator")
    assert client.post(f"/upload/{site.receiving_clip}/cancel").status_code == 400
    assert clip(services, site.receiving_clip).status == "receiving"


def test_only_the_uploader_may_cancel(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    site = world.sites["a"]
    login_as(client, "supervisor")  # same site, not the uploader
    assert post(client, f"/upload/{site.receiving_clip}/cancel").status_code == 404
    login_as(client, "facilitator", site="b")
    assert post(client, f"/upload/{site.receiving_clip}/cancel").status_code == 404
    assert clip(services, site.receiving_clip).status == "receiving"


def test_a_clip_whose_video_arrived_is_not_cancelled(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    site = world.sites["a"]
    login_as(client, "facilitator")
    response = post(client, f"/upload/{site.clip}/cancel")
    assert response.status_code == 303
    assert "cannot be cancelled" in text(client.get(f"/clips/{site.clip}"))
    assert clip(services, site.clip).status == "ready"


def test_cancel_before_any_upload_started(
    client: FlaskClient, login_as: LoginAs, world: World, services: Services
) -> None:
    site = world.sites["a"]
    with services.db.session() as db:
        upload = db.get(Upload, site.upload)
        assert upload is not None
        upload.terminated = True  # as if the browser never sent the first request
    login_as(client, "facilitator")
    assert post(client, f"/upload/{site.receiving_clip}/cancel").status_code == 303
    assert clip(services, site.receiving_clip).destroy_reason == "upload-terminated"


def test_clip_cards_count_annotations_and_open_threads(
    client: FlaskClient, login_as: LoginAs, world: World
) -> None:
    login_as(client, "facilitator")
    page = re.sub(r"<[^>]+>", "", text(client.get("/clips")))
    # The seeded clip: two shared annotations, one of them with a reply and unresolved.
    assert "2 annotations · 1 open thread" in page
    login_as(client, "dpo")
    assert "annotation" not in text(client.get("/clips"))


def test_saving_the_consent_says_so_on_the_file_step(
    client: FlaskClient, login_as: LoginAs
) -> None:
    from tests.unit.webapp.test_upload import form

    login_as(client, "facilitator")
    response = post(client, "/upload", form(), follow_redirects=True)
    assert response.status_code == 200
    assert "The consent is saved. Now add the video." in text(response)
