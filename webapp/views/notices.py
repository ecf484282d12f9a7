"""The user's notices: replies to their annotations, moments ready, uploads refused and
reviews awaiting their sign-off (storage.notices). Opening the list marks them seen."""

from __future__ import annotations

from flask import Blueprint, render_template, url_for

from storage.notices import Notice, mark_seen, notices_for
from webapp.authz import requires, user_or_401
from webapp.context import services, unit_of_work

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


@bp.get("")
@requires(*NOTICE_ROLES)
def index() -> str:
    """The list, newest first; what was new is marked, then everything counts as seen."""
    user = user_or_401()
    svc = services()
    now = svc.clock.now()
    with unit_of_work() as db:
        items = notices_for(db, user.id, now)
        mark_seen(db, user.id, now)
        svc.audit.append(
            db, user.actor, "notices.view", site_id=user.site_id, details={"count": len(items)}
        )
    return render_template(
        "notices/index.html",
        events=[(n, notice_url(n)) for n in items if n.kind != "awaiting"],
        waiting=[(n, notice_url(n)) for n in items if n.kind == "awaiting"],
    )
