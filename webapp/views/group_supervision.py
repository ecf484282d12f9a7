"""Recording a reflective supervision of a group: date, supervisor, the co-facilitators
who took part, the group's clips discussed and notes (escaped on every page, audited by
:func:`storage.programme.record_supervision`)."""

from __future__ import annotations

from datetime import UTC, datetime, time

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from storage.db.footage import Clip
from storage.db.tenancy import User
from storage.errors import ValidationError
from storage.programme import record_supervision
from storage.programme.overview import group_overview
from webapp.authz import load_group, requires, user_or_401
from webapp.context import services, unit_of_work

bp = Blueprint("group_supervision", __name__, url_prefix="/groups")

#: Who records supervisions on the web (the operational lead is usually a supervisor).
RECORD_ROLES = ("supervisor",)
MAX_NOTES = 10_000


def _page(group_id: str, status: int = 200, error: str | None = None) -> tuple[str, int]:
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        group = load_group(db, group_id)
        overview = group_overview(db, group, svc.clock.now())
        supervisors = list(
            db.scalars(
                select(User)
                .where(User.site_id == user.site_id, User.role == "supervisor", User.active)
                .order_by(User.display_name, User.email)
            )
        )
        clips = list(
            db.scalars(
                select(Clip)
                .where(Clip.group_id == group.id, Clip.status == "ready")
                .order_by(Clip.created_at)
            )
        )
    return render_template(
        "programme/supervision_new.html",
        o=overview,
        supervisors=supervisors,
        clips=clips,
        form=request.form,
        error=error,
        today=svc.clock.now().date().isoformat(),
    ), status


@bp.get("/<group_id>/supervision")
@requires(*RECORD_ROLES)
def new(group_id: str) -> tuple[str, int]:
    """The form to record a reflective supervision of the group."""
    return _page(group_id)


@bp.post("/<group_id>/supervision")
@requires(*RECORD_ROLES)
def record(group_id: str) -> tuple[str, int] | Response:
    """Record the supervision; back to the group page, which shows the new count."""
    user = user_or_401()
    svc = services()
    form = request.form
    try:
        held_on = datetime.combine(
            datetime.strptime(form.get("held_on", "").strip(), "%Y-%m-%d").date(),
            time(12, 0, tzinfo=UTC),
        )
    except ValueError:
        return _page(group_id, 400, "Enter the date the supervision was held.")
    now = svc.clock.now()
    if held_on.date() > now.date():
        return _page(group_id, 400, "Record a supervision once it has been held.")
    held_on = min(held_on, now)  # held today: counts at once
    try:
        with unit_of_work() as db:
            group = load_group(db, group_id)
            record_supervision(
                db, svc.audit, user.actor, group_id=group.id, held_at=held_on,
                supervisor_id=form.get("supervisor", "") or user.id,
                facilitator_ids=form.getlist("facilitators"),
                clip_ids=form.getlist("clips"), notes=form.get("notes", "")[:MAX_NOTES],
            )  # fmt: skip
    except ValidationError as exc:
        return _page(group_id, 400, str(exc))
    flash("The supervision was recorded.", "success")
    return redirect(url_for("groups.group", group_id=group_id) + "#supervision-h", 303)
