"""Uploading a clip from a tablet: first the family's consent, then the video.

Step 1 (``/upload``) asks for the group, then the family filmed or the group session and
the families present (:mod:`webapp.views.upload_placement`), records the consent and
registers the clip (status ``receiving``, its data key, its deletion date) — no consent,
no upload. Step 2
(``/upload/<clip_id>``) sends the file with the resumable tus client
(``static/js/tus.js``) to the ingest endpoint, naming the clip in ``Upload-Metadata``,
then follows processing through ``/api/v1/clips/<id>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from ingest.clips import register_clip
from ingest.reception import discard_clip
from ingest.upload_expiry import end_upload
from storage.consent import parse_consent, record_consent
from storage.db.footage import KINDS, PURPOSES, Upload
from storage.db.tenancy import Site, User
from storage.errors import NotFound, ValidationError
from storage.programme import Placement, effective_purposes
from webapp.authz import UPLOAD_ROLES, load_clip, load_group, requires, user_or_401
from webapp.context import CurrentUser, services, unit_of_work
from webapp.labels import PARTICIPANT_CHOICES
from webapp.views.upload_placement import (
    FAMILY_KINDS,
    NO_GROUP,
    SESSION_KIND,
    GroupChoice,
    allowed_purposes,
    family_placement,
    group_choice,
    session_placement,
    upload_groups,
)

bp = Blueprint("upload", __name__, url_prefix="/upload")

TUS_ENDPOINT = "/api/v1/uploads/"
#: The destruction reason of a clip whose upload its uploader cancelled.
CANCELLED = "upload-terminated"
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass
class ConsentForm:
    """The consent form's values and per-field problems (plain language)."""

    values: MultiDict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    def consent_data(self, user: CurrentUser) -> dict[str, object]:
        """The fields in the shape :func:`storage.consent.parse_consent` reads."""
        participants = self.values.getlist("participants")
        participants += [p.strip() for p in self.values.get("other_participants", "").split(",")]
        return {
            "family": self.values.get("family", "").strip(),
            "participants": [p for p in participants if p],
            "purposes": self.values.getlist("purposes"),
            "form_reference": self.values.get("form_reference", "").strip(),
            "taken_by": self.values.get("taken_by", "").strip() or user.display_name,
            "taken_at": self.values.get("taken_on", "").strip(),
        }

    def check(self, today: date) -> None:
        """Fill :attr:`errors` with one plain-language problem per field."""
        v = self.values
        if v.get("kind") not in KINDS:
            self.errors["kind"] = "Choose what kind of clip this is."
        family = v.get("family", "").strip()
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{2,63}", family) or not any(
            c.isdigit() for c in family
        ):
            self.errors["family"] = (
                "Enter the family code, for example FAM-0042 (never the family's name)."
            )
        others = [p.strip() for p in v.get("other_participants", "").split(",") if p.strip()]
        if not v.getlist("participants") and not others:
            self.errors["participants"] = "Tick who is in the video."
        elif any(not _LABEL.match(p) for p in others):
            self.errors["participants"] = (
                "Describe other people by role, e.g. grandparent, without spaces or names."
            )
        purposes = v.getlist("purposes")
        if not purposes or any(p not in PURPOSES for p in purposes):
            self.errors["purposes"] = "Tick at least one use the family agreed to."
        if not v.get("form_reference", "").strip():
            self.errors["form_reference"] = "Enter the reference on the signed consent form."
        try:
            taken = date.fromisoformat(v.get("taken_on", "").strip())
            if taken > today:
                self.errors["taken_on"] = "The consent date cannot be in the future."
        except ValueError:
            self.errors["taken_on"] = "Enter the date the consent form was signed."


def _choice(group_ref: str) -> GroupChoice | None:
    """The chosen group's families and sessions (None: no group). NotFound for a group
    the user may not see."""
    if not group_ref or group_ref == NO_GROUP:
        return None
    with unit_of_work() as db:
        return group_choice(db, load_group(db, group_ref))


def _form_page(form: ConsentForm, status: int = 200) -> tuple[str, int]:
    user = user_or_401()
    choice = _choice(form.values.get("group", ""))
    with unit_of_work() as db:
        groups = upload_groups(db, user) if choice is None else []
        trainees = list(
            db.scalars(
                select(User)
                .where(User.site_id == user.site_id, User.role == "facilitator", User.active)
                .order_by(User.display_name)
            )
        )
    return render_template(
        "upload/consent.html",
        form=form,
        kinds=KINDS,
        purposes=PURPOSES,
        participants=PARTICIPANT_CHOICES,
        trainees=[(t.id, t.display_name) for t in trainees],
        today=services().clock.now().date().isoformat(),
        choice=choice,
        groups=groups,
        no_group=NO_GROUP,
        session_kind=SESSION_KIND,
        present=form.values.getlist("present"),
        allowed=allowed_purposes(choice, form.values.getlist("present")) if choice else (),
    ), status


@bp.get("")
@requires(*UPLOAD_ROLES)
def consent() -> tuple[str, int]:
    """Step 1: the consent form; with ``?group=`` the group's families and sessions."""
    user = user_or_401()
    group_ref = request.args.get("group", "")
    defaults: MultiDict[str, str] = MultiDict(
        {
            "taken_by": user.display_name,
            "taken_on": services().clock.now().date().isoformat(),
            "group": group_ref,
        }
    )
    return _form_page(ConsentForm(defaults))


@bp.post("")
@requires(*UPLOAD_ROLES)
def consent_submit() -> tuple[str, int] | Response:
    """Record the consent and register the clip, then go to step 2 (the file)."""
    user = user_or_401()
    svc = services()
    form = ConsentForm(MultiDict(request.form))
    choice = _choice(form.values.get("group", ""))
    if choice is not None and form.values.get("kind") == SESSION_KIND:
        return _submit_session(form, choice)
    placement: Placement | None = None
    problems: dict[str, str] = {}
    if choice is not None:
        try:
            placement, family = family_placement(choice, form.values.get("family_id", ""))
            form.values.setlist("family", [family.code])
        except ValidationError as exc:
            problems["family"] = str(exc)
        if form.values.get("kind") not in FAMILY_KINDS:
            problems["kind"] = "Choose what was filmed."
    form.check(svc.clock.now().date())
    form.errors.update(problems)
    if form.errors:
        return _form_page(form, 400)
    trainee = request.form.get("trainee") or None
    try:
        parsed = parse_consent(form.consent_data(user), now=svc.clock.now())
        with unit_of_work() as db:
            site = db.get(Site, user.site_id)
            assert site is not None  # the session's user belongs to a site
            row = record_consent(db, svc.audit, user.actor, site.id, parsed, recorded_by=user.id)
            clip = register_clip(
                db,
                svc.vault,
                svc.audit,
                svc.settings,
                actor=user.actor,
                site=site,
                kind=request.form["kind"],
                consent=row,
                uploaded_by=user.id,
                title=request.form.get("title", ""),
                trainee_id=trainee,
                placement=placement,
            )
            clip_id = clip.id
    except ValidationError as exc:
        form.errors["form"] = str(exc).removeprefix("consent: ")
        return _form_page(form, 400)
    flash("The consent is saved. Now add the video.", "success")
    return redirect(url_for("upload.file", clip_id=clip_id))


def _submit_session(form: ConsentForm, choice: GroupChoice) -> tuple[str, int] | Response:
    """Register a group-session recording under the consents of the families present."""
    user = user_or_401()
    svc = services()
    trainee = form.values.get("trainee") or None
    try:
        with unit_of_work() as db:
            placement, consent = session_placement(
                db, choice, form.values.get("meeting", ""), form.values.getlist("present")
            )
            site = db.get(Site, user.site_id)
            assert site is not None  # the session's user belongs to a site
            clip = register_clip(
                db, svc.vault, svc.audit, svc.settings, actor=user.actor, site=site,
                kind=SESSION_KIND, consent=consent, uploaded_by=user.id,
                title=form.values.get("title", ""), trainee_id=trainee, placement=placement,
            )  # fmt: skip
            clip_id = clip.id
    except ValidationError as exc:
        form.errors["present"] = str(exc)
        return _form_page(form, 400)
    flash("The consent is saved. Now add the video.", "success")
    return redirect(url_for("upload.file", clip_id=clip_id))


@bp.get("/<clip_id>")
@requires(*UPLOAD_ROLES)
def file(clip_id: str) -> str | Response:
    """Step 2: choose or record the video and send it; shows upload and processing.

    Reached from the consent form, and from the clip list and the clip page ("Continue")
    for a clip still waiting for its file: an unfinished upload of this user's is named
    on the page, so choosing the same video resumes it at the server's offset (tus HEAD).
    """
    user = user_or_401()
    with unit_of_work() as db:
        clip = load_clip(db, clip_id)
        if clip.uploaded_by != user.id or clip.status not in ("receiving", "queued", "processing"):
            return redirect(url_for("library.clip", clip_id=clip.id))
        allowed = sorted(effective_purposes(db, clip))
        unfinished = live_upload(db, clip.id, user.id)
    return render_template(
        "upload/file.html",
        clip=clip,
        allowed=allowed,
        unfinished=unfinished,
        endpoint=TUS_ENDPOINT,
        max_bytes=services().settings.max_upload_bytes,
        chunk_bytes=current_app.config["VERP_UPLOAD_CHUNK_BYTES"],
    )


def live_upload(db: Session, clip_id: str, user_id: str) -> Upload | None:
    """The user's unfinished, not terminated upload of a clip (the newest), if any."""
    return db.scalar(
        select(Upload)
        .where(
            Upload.clip_id == clip_id,
            Upload.user_id == user_id,
            Upload.terminated.is_(False),
            Upload.completed_at.is_(None),
        )
        .order_by(Upload.created_at.desc())
        .limit(1)
    )


@bp.post("/<clip_id>/cancel")
@requires(*UPLOAD_ROLES)
def cancel(clip_id: str) -> Response:
    """Cancel a clip still waiting for its file: its unfinished upload is terminated and
    the clip discarded (key shredded, parts deleted, a tombstone kept). Idempotent: a
    clip already cancelled says so again. Only the person who started it may cancel."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        clip = load_clip(db, clip_id)
        if clip.uploaded_by != user.id:
            raise NotFound(f"no clip {clip_id}")
        status, reason = clip.status, clip.destroy_reason
        unfinished = live_upload(db, clip.id, user.id)
        upload_id = unfinished.id if unfinished else None
    done = "The upload was cancelled. Nothing of the video was kept; the consent record stays."
    if status != "receiving":
        if reason == CANCELLED:  # e.g. the upload page's Cancel already terminated it
            flash(done, "success")
            return redirect(url_for("library.index"), code=303)
        flash("The whole video has already arrived, so the upload cannot be cancelled.", "error")
        return redirect(url_for("library.clip", clip_id=clip_id), code=303)
    if upload_id is not None:
        end_upload(svc, user.actor, upload_id, reason=CANCELLED, action="upload.terminate")
    discard_clip(svc, clip_id, actor=user.actor, reason=CANCELLED)
    flash(done, "success")
    return redirect(url_for("library.index"), code=303)
