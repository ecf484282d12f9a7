"""Sharing a clip for supervision with a named supervisor, possibly at another site (for
example the programme's national training team), for a fixed number of days.

The clip's page links here (``webapp.nav.CLIP_ACTIONS``). The page shows which purposes
the consent of everyone filmed allows now; a clip whose filmed families do not all
consent to supervision cannot be shared (the service refuses it too). Shares are made,
listed and revoked by the site's supervisors and admins through
:mod:`storage.programme`, which audits each one; the DPO dashboard lists them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from storage.db.footage import Clip
from storage.db.programme import ClipShare
from storage.db.tenancy import Site, User
from storage.errors import ConsentError, ValidationError
from storage.programme import (
    MAX_SHARE_DAYS,
    effective_purposes,
    may_receive,
    present_families,
    revoke_share,
    share_clip,
    share_state,
)
from webapp.authz import load_site_row, requires, user_or_401
from webapp.context import services, unit_of_work

bp = Blueprint("shares", __name__, url_prefix="/clips")

#: Who may share a clip of their site and revoke its shares.
SHARE_ROLES = ("supervisor", "admin")
SHARE_PURPOSE = "supervision"
DEFAULT_DAYS = 14
#: The same answer for an unknown address and an account that is not a supervisor.
NO_SUPERVISOR = "No supervisor has that email address. Check it with them."


def _own_clip(db: Session, clip_id: str) -> Clip:
    """A clip of the user's own site (a clip shared in from another site is not theirs to
    share on or to see the shares of): NotFound otherwise."""
    return cast(Clip, load_site_row(db, Clip, clip_id))


def _page(clip_id: str, status: int = 200, error: str | None = None) -> tuple[str, int]:
    user = user_or_401()
    svc = services()
    now = svc.clock.now()
    with unit_of_work() as db:
        clip = _own_clip(db, clip_id)
        purposes = effective_purposes(db, clip)
        present = present_families(db, clip.id)
        rows = db.execute(
            select(ClipShare, User, Site)
            .join(User, User.id == ClipShare.supervisor_id)
            .join(Site, Site.id == User.site_id)
            .where(ClipShare.clip_id == clip.id)
            .order_by(ClipShare.created_at.desc())
        ).all()
        shares = [(s, u, site, share_state(s, now)) for s, u, site in rows]
        allowed = svc.settings.share_receiving_sites
        receiving = db.scalars(
            select(Site.name).where(Site.slug.in_(allowed), Site.id != clip.site_id)
        ).all()
        svc.audit.append(
            db, user.actor, "share.view", target_type="clip", target_id=clip.id,
            site_id=clip.site_id,
        )  # fmt: skip
    return render_template(
        "programme/share.html",
        clip=clip,
        purposes=sorted(purposes),
        present=present,
        can_share=SHARE_PURPOSE in purposes and clip.status == "ready",
        shares=shares,
        receiving=sorted(receiving),
        max_days=MAX_SHARE_DAYS,
        default_days=DEFAULT_DAYS,
        form=request.form,
        error=error,
    ), status


@bp.get("/<clip_id>/shares")
@requires(*SHARE_ROLES)
def shares(clip_id: str) -> tuple[str, int]:
    """The clip's shares and the form to share it for supervision."""
    return _page(clip_id)


@bp.post("/<clip_id>/shares")
@requires(*SHARE_ROLES)
def share(clip_id: str) -> tuple[str, int] | Response:
    """Share the clip with the supervisor named by email for the days given."""
    user = user_or_401()
    svc = services()
    form = request.form
    email = form.get("email", "").strip().lower()[:320]
    try:
        days = int(form.get("days", ""))
    except ValueError:
        return _page(clip_id, 400, f"Enter a number of days from 1 to {MAX_SHARE_DAYS}.")
    try:
        with unit_of_work() as db:
            clip = _own_clip(db, clip_id)
            supervisor = db.scalar(select(User).where(func.lower(User.email) == email, User.active))
            allowed = svc.settings.share_receiving_sites
            if (
                supervisor is None
                or supervisor.role != "supervisor"
                or not may_receive(db, supervisor, clip.site_id, allowed)
            ):
                return _page(clip_id, 400, NO_SUPERVISOR)
            share_clip(
                db, svc.audit, user.actor, clip_id=clip.id, supervisor_id=supervisor.id,
                days=days, reason=form.get("reason", "")[:500], receiving_sites=allowed,
            )  # fmt: skip
    except ConsentError:
        return _page(
            clip_id, 409, "This clip cannot be shared for supervision: not everyone "
            "filmed has consented to supervision.",
        )  # fmt: skip
    except ValidationError as exc:
        return _page(clip_id, 400, str(exc))
    flash(f"Shared with {email} for {days} days.", "success")
    return redirect(url_for("shares.shares", clip_id=clip_id), 303)


@bp.post("/shares/<share_id>/revoke")
@requires(*SHARE_ROLES)
def revoke(share_id: str) -> Response:
    """End a share at once (audited); back to the clip's shares."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        row = load_site_row(db, ClipShare, share_id)
        clip_id = row.clip_id
        revoke_share(db, svc.audit, user.actor, row.id)
    flash("The share was revoked: the supervisor can no longer open the clip.", "success")
    target = request.form.get("next", "")
    if target == "dpo":
        return redirect(url_for("dpo.index") + "#shares-h", 303)
    return redirect(url_for("shares.shares", clip_id=clip_id), 303)


#: How many shares the DPO dashboard lists (newest first).
DASHBOARD_LIMIT = 50


def site_shares(db: Session, site_id: str, now: datetime) -> list[dict[str, Any]]:
    """The site's shares for the DPO dashboard, newest first: clip, recipient and their
    site, who shared, why, until when and the state (active, expired, revoked...)."""
    rows = db.execute(
        select(ClipShare, Clip, User, Site)
        .join(Clip, Clip.id == ClipShare.clip_id)
        .join(User, User.id == ClipShare.supervisor_id)
        .join(Site, Site.id == User.site_id)
        .where(ClipShare.site_id == site_id)
        .order_by(ClipShare.created_at.desc(), ClipShare.id)
        .limit(DASHBOARD_LIMIT)
    ).all()
    return [
        {"share": s, "clip": c, "to": u, "to_site": site, "state": share_state(s, now)}
        for s, c, u, site in rows
    ]
