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

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from ingest.clips import register_clip
from storage.consent import parse_consent, record_consent
from storage.db.footage import KINDS, PURPOSES
from storage.db.tenancy import Site, User
from storage.errors import ValidationError
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
    return redirect(url_for("upload.file", clip_id=clip_id))


@bp.get("/<clip_id>")
@requires(*UPLOAD_ROLES)
def file(clip_id: str) -> str | Response:
    """Step 2: choose or record the video and send it; shows upload and processing."""
    user = user_or_401()
    with unit_of_work() as db:
        clip = load_clip(db, clip_id)
        if clip.uploaded_by != user.id or clip.status not in ("receiving", "queued", "processing"):
            return redirect(url_for("library.clip", clip_id=clip.id))
        allowed = sorted(effective_purposes(db, clip))
    return render_template(
        "upload/file.html",
        clip=clip,
        allowed=allowed,
        endpoint=TUS_ENDPOINT,
        max_bytes=services().settings.max_upload_bytes,
        chunk_bytes=current_app.config["VERP_UPLOAD_CHUNK_BYTES"],
    )
