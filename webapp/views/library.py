"""The library: clips the user may see, one clip's page, and its poster image."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Blueprint, Response, render_template, request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from storage.db.footage import CLIP_STATES, KINDS, Blob, Clip, Consent
from storage.db.programme import ClipFamily
from storage.db.review import Annotation, Reply
from storage.errors import ConsentError, NotFound
from storage.holds import held_clip_ids, is_held
from storage.programme import effective_purposes
from storage.purposes import check_clip_purpose, default_purpose
from webapp.authz import ALL_ROLES, FOOTAGE_ROLES, clip_scope, load_clip, requires, user_or_401
from webapp.context import services, unit_of_work
from webapp.list_audit import covered
from webapp.nav import clip_actions_for

bp = Blueprint("library", __name__, url_prefix="/clips")

PAGE_SIZE = 200
POSTER = "poster"


@dataclass(frozen=True)
class Filters:
    kind: str
    status: str
    family: str

    @classmethod
    def from_args(cls) -> Filters:
        """Filters from the query string; unknown values are ignored, not errors."""
        kind = request.args.get("kind", "")
        status = request.args.get("status", "")
        family = request.args.get("family", "").strip().upper()[:64]
        return cls(
            kind=kind if kind in KINDS else "",
            status=status if status in CLIP_STATES else "",
            family="".join(ch for ch in family if ch.isalnum() or ch == "-"),
        )


def poster_ids(db: Session, clips: Sequence[Clip], role: str) -> set[str]:
    """The ready clips whose poster ``role`` may see: the consent of everyone filmed covers
    the role's ordinary purpose (so no page asks for a poster it would be refused)."""
    ready = [c for c in clips if c.status == "ready"]
    if role not in FOOTAGE_ROLES or not ready:
        return set()
    own = {
        c.id: c
        for c in db.scalars(select(Consent).where(Consent.id.in_({c.consent_id for c in ready})))
    }
    present: dict[str, list[Consent]] = defaultdict(list)
    rows = db.execute(
        select(ClipFamily.clip_id, Consent)
        .join(Consent, Consent.id == ClipFamily.consent_id)
        .where(ClipFamily.clip_id.in_([c.id for c in ready]))
    )
    for clip_id, consent in rows:
        present[clip_id].append(consent)
    allowed = set()
    for clip in ready:
        try:
            purpose = default_purpose(clip.kind, role)
            check_clip_purpose(clip, own.get(clip.consent_id), purpose, present[clip.id])
        except (ConsentError, NotFound):
            continue
        allowed.add(clip.id)
    return allowed


@dataclass(frozen=True)
class NoteCounts:
    """A clip card's figures: annotations the user can see, and threads still open (a
    reply and not resolved)."""

    annotations: int = 0
    open_threads: int = 0


def note_counts(db: Session, clip_ids: Sequence[str], user_id: str) -> dict[str, NoteCounts]:
    """Per clip, the shared annotations plus the user's own drafts, and the open threads
    among them (two grouped queries, whatever the number of clips)."""
    if not clip_ids:
        return {}
    visible = (
        Annotation.clip_id.in_(clip_ids),
        Annotation.deleted_at.is_(None),
        or_(Annotation.visibility == "shared", Annotation.author_id == user_id),
    )
    totals: dict[str, int] = {
        clip_id: int(n)
        for clip_id, n in db.execute(
            select(Annotation.clip_id, func.count()).where(*visible).group_by(Annotation.clip_id)
        ).all()
    }
    replied = (
        select(Reply.id)
        .where(Reply.annotation_id == Annotation.id, Reply.deleted_at.is_(None))
        .exists()
    )
    open_threads: dict[str, int] = {
        clip_id: int(n)
        for clip_id, n in db.execute(
            select(Annotation.clip_id, func.count())
            .where(*visible, Annotation.resolved.is_(False), replied)
            .group_by(Annotation.clip_id)
        ).all()
    }
    return {
        clip_id: NoteCounts(totals.get(clip_id, 0), open_threads.get(clip_id, 0))
        for clip_id in clip_ids
    }


@bp.get("")
@requires(*ALL_ROLES)
def index() -> str:
    """The clips of the user's site they may see, newest first, with filters."""
    user = user_or_401()
    svc = services()
    filters = Filters.from_args()
    query = select(Clip).where(clip_scope(user)).order_by(Clip.created_at.desc(), Clip.id)
    if filters.status:
        query = query.where(Clip.status == filters.status)
    else:
        query = query.where(Clip.status != "destroyed")
    if filters.kind:
        query = query.where(Clip.kind == filters.kind)
    if filters.family:
        query = query.where(Clip.family_code.startswith(filters.family, autoescape=True))
    with unit_of_work() as db:
        clips = list(db.scalars(query.limit(PAGE_SIZE)))
        held = held_clip_ids(db, user.site_id)
        posters = poster_ids(db, clips, user.role)
        counts = (
            note_counts(db, [c.id for c in clips], user.id) if user.role in FOOTAGE_ROLES else {}
        )
        listed = svc.audit.append(  # one entry for the list and its posters (list_audit)
            db,
            user.actor,
            "library.view",
            site_id=user.site_id,
            details={"count": len(clips), "posters": sorted(posters)},
        )
        via = listed.seq
    return render_template(
        "library/index.html",
        clips=clips,
        held=held,
        filters=filters,
        kinds=KINDS,
        states=CLIP_STATES,
        now=svc.clock.now(),
        show_posters=user.role in FOOTAGE_ROLES,
        posters=posters,
        via=via,
        counts=counts,
        truncated=len(clips) == PAGE_SIZE,
    )


@bp.get("/<clip_id>")
@requires(*ALL_ROLES)
def clip(clip_id: str) -> str:
    """One clip's facts: consent purposes, retention, processing state. Audited."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        row = load_clip(db, clip_id)
        consent = db.get(Consent, row.consent_id)
        held = is_held(db, row.id)
        show_poster = row.id in poster_ids(db, [row], user.role)
        present = sorted(
            db.scalars(
                select(Consent.family_code)
                .join(ClipFamily, ClipFamily.consent_id == Consent.id)
                .where(ClipFamily.clip_id == row.id)
            )
        )
        allowed = sorted(effective_purposes(db, row)) if present else []
        via = svc.audit.append(
            db, user.actor, "clip.view", target_type="clip", target_id=row.id, site_id=row.site_id
        ).seq
    # A supervisor of another site reaches a clip only through a share: the holding
    # site's consent form, families present and legal holds are not theirs to see.
    shared_in = row.site_id != user.site_id
    if shared_in:
        consent, held, present, allowed = None, False, [], []
    return render_template(
        "library/clip.html",
        clip=row,
        shared_in=shared_in,
        consent=consent,
        held=held,
        now=svc.clock.now(),
        show_poster=show_poster,
        via=via,
        present=present,
        allowed=allowed,
        actions=clip_actions_for(user, row.id, row.status, row.site_id == user.site_id),
    )


@bp.get("/<clip_id>/poster")
@requires(*FOOTAGE_ROLES, footage=True)
def poster(clip_id: str) -> Response:
    """The clip's poster frame (footage-derived: decrypted here, audited, never cached)."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        row = load_clip(db, clip_id, footage=True)
        blob = db.scalar(
            select(Blob)
            .where(Blob.clip_id == row.id, Blob.rendition == POSTER)
            .order_by(Blob.created_at.desc())
            .limit(1)
        )
        if blob is None:
            raise NotFound(f"clip {clip_id} has no poster")
        data = b"".join(svc.vault.iter_plaintext(db, blob))
        # A list entry is written in the viewer's site's log: it covers only that site's
        # clips, so a clip shared in from another site is audited in its own site's log.
        same_site = row.site_id == user.site_id
        if not same_site or not covered(db, user, row.id, request.args.get("via", "")):
            svc.audit.append(
                db,
                user.actor,
                "clip.poster",
                target_type="clip",
                target_id=row.id,
                site_id=row.site_id,
            )
    response = Response(data, mimetype=blob.content_type or "image/jpeg")
    response.headers["Content-Disposition"] = "inline"
    return response
