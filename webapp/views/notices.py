"""The user's notices: replies to their annotations, moments ready, uploads refused and
reviews awaiting their sign-off (storage.notices). Opening the list marks them seen."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.db.footage import Clip
from storage.notices import Notice, mark_seen, notices_for
from webapp.authz import clip_scope, requires, user_or_401
from webapp.context import CurrentUser, services, unit_of_work

bp = Blueprint("notices", __name__, url_prefix="/notices")

#: Roles with anything to be told: the people who annotate, upload and sign off.
NOTICE_ROLES = ("facilitator", "supervisor")


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
    or a moment's caption must not keep showing here (nor count in the navigation)."""
    items = notices_for(db, user.id, now)
    ids = {n.clip_id for n in items}
    if not ids:
        return items
    visible = set(db.scalars(select(Clip.id).where(Clip.id.in_(ids), clip_scope(user))))
    return [n for n in items if n.clip_id in visible]


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
