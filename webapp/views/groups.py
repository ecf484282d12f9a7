"""Groups: the list, a group's page, and the forms that manage them.

Everyone sees the groups of their site, a facilitator only the groups they co-facilitate
(other groups answer 404, as rows of another site do: :func:`webapp.authz.load_group`).
Admins and supervisors (the operational lead) create groups, edit schedule dates, enrol
families and move them between groups through the services of ``storage.programme``,
which validate and audit every change. Every page view is audited.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from storage.db.programme import DISCIPLINES, MAX_FAMILIES, Family, Group
from storage.db.tenancy import User
from storage.errors import ValidationError
from storage.programme import create_group, enrol_family, move_family, set_session_date
from storage.programme.overview import group_overview, session_label, site_groups
from storage.programme.report import group_figures
from storage.programme.scope import FACILITATOR_ROLES, MANAGE_ROLES
from webapp.authz import (
    ALL_ROLES,
    FOOTAGE_ROLES,
    load_group,
    load_site_row,
    requires,
    user_or_401,
)
from webapp.context import services, unit_of_work

bp = Blueprint("groups", __name__, url_prefix="/groups")

DISCIPLINE_LABELS = {"health": "Health", "childrens-services": "Children's services"}
STATUS_LABELS = {"planned": "Planned", "running": "Running", "ended": "Ended"}
#: Time of day given to a meeting whose date is set on a form and had no time before.
DEFAULT_MEETING_TIME = time(10, 0, tzinfo=UTC)


@bp.app_template_filter("discipline_label")
def discipline_label(value: str | None) -> str:
    return DISCIPLINE_LABELS.get(value or "", value or "")


@bp.app_template_filter("group_status_label")
def group_status_label(value: str | None) -> str:
    return STATUS_LABELS.get(value or "", value or "")


@bp.app_template_global("session_label")
def _session_label(kind: str, number: int) -> str:
    return session_label(kind, number)


def _can_manage(role: str) -> bool:
    return role in MANAGE_ROLES


@bp.get("")
@requires(*ALL_ROLES)
def index() -> str:
    """The site's groups (a facilitator's own), with supervision and what is due."""
    user = user_or_401()
    svc = services()
    now = svc.clock.now()
    with unit_of_work() as db:
        mine = user.id if user.role == "facilitator" else None
        groups = site_groups(db, user.site_id, mine)
        rows = [(g, group_figures(db, g, now)) for g in groups]
        svc.audit.append(
            db, user.actor, "group.list", site_id=user.site_id, details={"count": len(rows)}
        )
    return render_template(
        "programme/groups.html", rows=rows, can_manage=_can_manage(user.role), now=now
    )


@bp.get("/<group_id>")
@requires(*ALL_ROLES)
def group(group_id: str) -> str:
    """One group: co-facilitators, schedule, families and their clips, supervision, due."""
    user = user_or_401()
    svc = services()
    now = svc.clock.now()
    with unit_of_work() as db:
        row = load_group(db, group_id)
        overview = group_overview(db, row, now)
        others = [g for g in site_groups(db, user.site_id) if g.id != row.id]
        svc.audit.append(
            db, user.actor, "group.view", target_type="group", target_id=row.id,
            site_id=row.site_id,
        )  # fmt: skip
    return render_template(
        "programme/group.html",
        o=overview,
        other_groups=others,
        can_manage=_can_manage(user.role),
        can_record_supervision=user.role == "supervisor",
        # Supervision notes describe footage: like annotations, not for DPOs or admins.
        show_notes=user.role in FOOTAGE_ROLES,
        max_families=MAX_FAMILIES,
        now=now,
    )


def _practitioners(site_id: str) -> list[User]:
    with unit_of_work() as db:
        return list(
            db.scalars(
                select(User)
                .where(User.site_id == site_id, User.active, User.role.in_(FACILITATOR_ROLES))
                .order_by(User.display_name, User.email)
            )
        )


def _new_page(status: int = 200, error: str | None = None) -> tuple[str, int]:
    user = user_or_401()
    return render_template(
        "programme/group_new.html",
        people=_practitioners(user.site_id),
        disciplines=DISCIPLINES,
        form=request.form,
        error=error,
        today=services().clock.now().date().isoformat(),
    ), status


@bp.get("/new")
@requires(*MANAGE_ROLES)
def new() -> tuple[str, int]:
    """The form to create a group with its two co-facilitators and first visit date."""
    return _new_page()


def _date(value: str, before: datetime | None = None) -> datetime:
    """A form date as an aware datetime, keeping the time of day ``before`` had.

    Raises ValueError for text that is not an ISO date.
    """
    day = date.fromisoformat(value.strip())
    at = before.timetz() if before is not None else DEFAULT_MEETING_TIME
    return datetime.combine(day, at)


@bp.post("")
@requires(*MANAGE_ROLES)
def create() -> tuple[str, int] | Response:
    """Create the group (its default schedule starts with home visit 1 on the date given)."""
    user = user_or_401()
    svc = services()
    form = request.form
    facilitators = [
        (form.get(f"facilitator-{d}", ""), d, form.get(f"trainee-{d}") == "1") for d in DISCIPLINES
    ]
    if any(not user_id for user_id, _, _ in facilitators):
        return _new_page(400, "Choose both co-facilitators.")
    try:
        starts_on = _date(form.get("starts_on", ""))
    except ValueError:
        return _new_page(400, "Enter the date of the first home visit.")
    try:
        with unit_of_work() as db:
            created = create_group(
                db, svc.audit, user.actor, site_id=user.site_id,
                code=form.get("code", "")[:64], name=form.get("name", "")[:200],
                facilitators=facilitators, starts_on=starts_on,
            )  # fmt: skip
            group_id = created.id
    except ValidationError as exc:
        return _new_page(400, str(exc))
    flash("The group was created. Check the schedule dates below.", "success")
    return redirect(url_for("groups.group", group_id=group_id), 303)


@bp.post("/<group_id>/schedule")
@requires(*MANAGE_ROLES)
def schedule(group_id: str) -> Response:
    """Save the dates of the group's meetings that changed (each change audited)."""
    user = user_or_401()
    svc = services()
    changed = 0
    try:
        with unit_of_work() as db:
            overview = group_overview(db, load_group(db, group_id), svc.clock.now())
            for meeting in overview.schedule:
                text = request.form.get(f"date-{meeting.id}", "").strip()
                if not text:
                    continue
                when = _date(text, meeting.scheduled_at)
                if when == meeting.scheduled_at:
                    continue
                set_session_date(
                    db, svc.audit, user.actor, group_id, meeting.kind, meeting.number, when,
                    retention=svc.settings.retention,
                )  # fmt: skip
                changed += 1
    except ValueError:
        flash("A date was not understood; nothing was changed.", "error")
    except ValidationError as exc:
        flash(f"Nothing was changed: {exc}", "error")
    else:
        flash(f"{changed} date(s) changed." if changed else "No date changed.", "success")
    return redirect(url_for("groups.group", group_id=group_id) + "#schedule-h", 303)


@bp.post("/<group_id>/families")
@requires(*MANAGE_ROLES)
def enrol(group_id: str) -> Response:
    """Enrol a family by its code (its consents recorded under that code become its own)."""
    user = user_or_401()
    svc = services()
    code = request.form.get("code", "").strip()[:64]
    try:
        with unit_of_work() as db:
            row = load_group(db, group_id)
            family = enrol_family(
                db, svc.audit, user.actor, site_id=user.site_id, group_id=row.id, code=code
            )
            flash(f"Family {family.code} is enrolled in {row.code}.", "success")
    except ValidationError as exc:
        flash(str(exc), "error")
    return redirect(url_for("groups.group", group_id=group_id) + "#families-h", 303)


@bp.post("/<group_id>/families/<family_id>/move")
@requires(*MANAGE_ROLES)
def move(group_id: str, family_id: str) -> Response:
    """Move a family to another group of the site (audited; its home-visit clips follow)."""
    user = user_or_401()
    svc = services()
    target = request.form.get("to_group", "")
    try:
        with unit_of_work() as db:
            load_group(db, group_id)
            family = load_site_row(db, Family, family_id)
            if family.group_id != group_id:
                flash("That family is not in this group any more.", "error")
                return redirect(url_for("groups.group", group_id=group_id), 303)
            to = load_site_row(db, Group, target) if target else None
            if to is None:
                flash("Choose the group to move the family to.", "error")
                return redirect(url_for("groups.group", group_id=group_id), 303)
            move_family(
                db, svc.audit, user.actor, family.id, to.id, retention=svc.settings.retention
            )
            flash(f"Family {family.code} moved to {to.code}.", "success")
    except ValidationError as exc:
        flash(str(exc), "error")
    return redirect(url_for("groups.group", group_id=group_id) + "#families-h", 303)
