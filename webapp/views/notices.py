"""The user's notices: replies to their annotations, moments ready, uploads refused and
reviews awaiting their sign-off (storage.notices). Opening the list marks them seen."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.footage import Clip, Consent
from storage.errors import ConsentError, NotFound, PermissionDenied
from storage.notices import Notice, mark_seen, notices_for
from storage.purposes import check_clip_purpose, default_purpose, present_consents_of
from webapp.authz import clip_scope, requires, user_or_401
from webapp.context import CurrentUser, services, unit_of_work

bp = Blueprint("notices", __name__, url_prefix="/notices")

#: Roles with anything to be told: the people who annotate, upload and sign off.
NOTICE_ROLES = ("facilitator", "supervisor")
#: Notices that carry someone's words or lead to the footage: shown only while the
#: consent covers the user's use of the clip.
GATED = ("reply", "moment", "awaiting")


def notice_url(notice: Notice) -> str:
    """Where a notice leads: the annotation in the player, the sign-off page, the clip."""
    if notice.kind == "reply" and notice.annotation_id:
        base = url_for("player.play", clip_id=notice.clip_id)
        return f"{base}#annotation-{notice.annotation_id}"
    if notice.kind == "awaiting":
        return url_for("supervision.compare", clip_id=notice.clip_id)
    return url_for("library.clip", clip_id=notice.clip_id)


def visible_notices(db: Session, user: CurrentUser, now: datetime) -> list[Notice]:
    """The user's notices about clips they may still open now: after a move to another
    group, a lost share or a facilitator's clip given to someone else, a reply's text
    or a moment's caption must not keep showing here (nor count in the navigation).

    A reply, a moment or a review awaiting sign-off also needs the consent to cover what
    the user would do with the clip now (as the player checks): once a family withdraws
    that purpose, its notices go with their text. A refused upload stays: it tells its
    uploader only what became of their own upload.
    """
    items = notices_for(db, user.id, now)
    ids = {n.clip_id for n in items}
    if not ids:
        return items
    rows = db.execute(
        select(Clip, Consent)
        .outerjoin(Consent, Consent.id == Clip.consent_id)
        .where(Clip.id.in_(ids), clip_scope(user))
    ).all()
    present = present_consents_of(db, ids)
    in_reach = {clip.id for clip, _ in rows}
    consented = {clip.id for clip, consent in rows if _consented(clip, consent, user.role, present)}
    return [n for n in items if n.clip_id in (consented if n.kind in GATED else in_reach)]


def _consented(
    clip: Clip, consent: Consent | None, role: str, present: dict[str, list[Consent]]
) -> bool:
    """Whether ``clip``'s consents cover ``role``'s use of it now."""
    try:
        purpose = default_purpose(clip.kind, role)
        check_clip_purpose(clip, consent, purpose, present.get(clip.id, []))
    except (ConsentError, NotFound, PermissionDenied):
        return False
    return True


def new_count(items: list[Notice]) -> int:
    """The navigation badge: new events plus reviews awaiting the user."""
    return sum(1 for n in items if n.kind == "awaiting" or n.new)


@bp.get("")
@requires(*NOTICE_ROLES)
def index() -> str:
    """The list, newest first; what was new is marked, then everything counts as seen."""
    user = user_or_401()
    svc = services()
    now = svc.clock.now()
    with unit_of_work() as db:
        items = visible_notices(db, user, now)
        mark_seen(db, user.id, now)
        svc.audit.append(
            db, user.actor, "notices.view", site_id=user.site_id, details={"count": len(items)}
        )
    return render_template(
        "notices/index.html",
        events=[(n, notice_url(n)) for n in items if n.kind != "awaiting"],
        waiting=[(n, notice_url(n)) for n in items if n.kind == "awaiting"],
    )
