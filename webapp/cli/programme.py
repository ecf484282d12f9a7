"""`verp groups ...` and `verp families ...`: the groups a site runs and their families.

Codes are typed as people use them (group ``G-2026-A``, family ``FAM-0042``); dates as
``YYYY-MM-DD`` (midnight UTC) or ISO 8601 with an offset. Every change is audited with the
CLI's system actor (the operator holds the server's keys).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import click
from sqlalchemy import func, select

from storage.accounts import site_by_slug
from storage.db.programme import Family, Group
from storage.db.tenancy import User
from storage.errors import NotFound, ValidationError
from storage.programme import (
    create_group,
    enrol_family,
    get_family,
    get_group,
    mark_session_held,
    move_family,
    set_session_date,
    supervision_count,
)
from storage.programme.overview import GroupOverview, group_overview
from storage.programme.schedule import group_session
from webapp.cli.common import CLI_ACTOR, emit, json_option, services

SITE = click.option("--site", "site_slug", required=True, help="Slug of the site.")


def parse_when(value: str) -> datetime:
    """``YYYY-MM-DD`` (midnight UTC) or an ISO 8601 date-time with an offset."""
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time.min, UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"not a date: {value!r} (YYYY-MM-DD or ISO 8601)") from None
    if parsed.tzinfo is None:
        raise ValidationError(f"{value!r} needs a time-zone offset (e.g. 2026-03-01T10:00Z)")
    return parsed.astimezone(UTC)


def user_id(session: Any, email: str, site_id: str | None) -> str:
    """The id of user ``email`` (at ``site_id`` unless None); NotFound otherwise."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or (site_id is not None and user.site_id != site_id):
        raise NotFound(f"no user {email!r}" + (" at this site" if site_id else ""))
    return str(user.id)


@click.group("groups")
def groups() -> None:
    """Groups: co-facilitators, schedule, families (docs/programme.md)."""


@groups.command("add")
@click.argument("code")
@SITE
@click.option("--name", default="", help="A name people use for the group.")
@click.option("--health", required=True, metavar="EMAIL", help="Health co-facilitator.")
@click.option(
    "--childrens-services", "childrens", required=True, metavar="EMAIL",
    help="Children's-services co-facilitator.",
)  # fmt: skip
@click.option(
    "--trainee", multiple=True, metavar="EMAIL", help="A co-facilitator who is a trainee."
)
@click.option("--starts", required=True, help="Home visit 1 (YYYY-MM-DD); the rest follows.")
@json_option
def groups_add(
    code: str,
    site_slug: str,
    name: str,
    health: str,
    childrens: str,
    trainee: tuple[str, ...],
    starts: str,
    as_json: bool,
) -> None:
    """Add group CODE with its two co-facilitators and a default 11-meeting schedule."""
    with services() as svc, svc.db.session() as session:
        site = site_by_slug(session, site_slug)
        trainees = {t.strip().lower() for t in trainee}
        team = [
            (user_id(session, email, site.id), discipline, email.strip().lower() in trainees)
            for email, discipline in ((health, "health"), (childrens, "childrens-services"))
        ]
        group = create_group(
            session, svc.audit, CLI_ACTOR, site_id=site.id, code=code, name=name,
            facilitators=team, starts_on=parse_when(starts),
        )  # fmt: skip
        out = overview_dict(group_overview(session, group, svc.clock.now()))
    emit(out, as_json, text=f"group {out['code']} ends {out['programme_end']}")


@groups.command("list")
@click.option("--site", "site_slug", default=None, help="Only this site.")
@json_option
def groups_list(site_slug: str | None, as_json: bool) -> None:
    """List groups with families, supervisions held and programme end."""
    with services() as svc, svc.db.session() as session:
        query = select(Group).order_by(Group.site_id, Group.code)
        if site_slug:
            query = query.where(Group.site_id == site_by_slug(session, site_slug).id)
        rows = []
        for group in session.scalars(query):
            families = session.scalar(
                select(func.count(Family.id)).where(Family.group_id == group.id)
            )
            rows.append(
                {
                    "id": group.id,
                    "code": group.code,
                    "name": group.name,
                    "status": group.status,
                    "families": families or 0,
                    "supervisions": supervision_count(session, group.id),
                    "programme_end": group.programme_end.isoformat()
                    if group.programme_end
                    else None,
                }
            )
    text = "\n".join(
        f"{r['code']}\t{r['status']}\t{r['families']} families\t"
        f"{r['supervisions']}/3 supervisions\tends {r['programme_end']}"
        for r in rows
    )
    emit(rows, as_json, text=text or "no groups")


@groups.command("show")
@click.argument("code")
@SITE
@json_option
def groups_show(code: str, site_slug: str, as_json: bool) -> None:
    """Schedule, co-facilitators, families and footage, supervision and what is due."""
    with services() as svc, svc.db.session() as session:
        site = site_by_slug(session, site_slug)
        group = get_group(session, site.id, code)
        out = overview_dict(group_overview(session, group, svc.clock.now()))
    emit(out, as_json, text=_show_text(out))


def overview_dict(view: GroupOverview) -> dict[str, Any]:
    """The group page's contents as plain values (for --json and the text listing)."""
    group, figures = view.group, view.figures
    return {
        "id": group.id,
        "code": group.code,
        "name": group.name,
        "status": group.status,
        "programme_end": _iso(group.programme_end),
        "facilitators": [
            {"email": f.email, "discipline": f.discipline, "trainee": f.trainee}
            for f in view.facilitators
        ],
        "schedule": [
            {
                "kind": row.kind,
                "number": row.number,
                "scheduled_at": _iso(row.scheduled_at),
                "held_at": _iso(row.held_at),
                "recordings": len(row.clips),
            }
            for row in view.schedule
        ],
        "families": [
            {"code": f.code, "clips": len(f.clips), "reviewed": f.reviewed} for f in view.families
        ],
        "supervision": {
            "held": figures.supervisions_held,
            "required": figures.supervisions_required,
        },
        "due": list(figures.due),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _show_text(out: dict[str, Any]) -> str:
    lines = [f"group {out['code']} ({out['name']}): {out['status']}, ends {out['programme_end']}"]
    lines += [
        f"  {f['discipline']}: {f['email']}{' (trainee)' if f['trainee'] else ''}"
        for f in out["facilitators"]
    ]
    for m in out["schedule"]:
        held = f", held {m['held_at']}" if m["held_at"] else ""
        lines.append(
            f"  {m['kind']}:{m['number']}  {m['scheduled_at']}{held}  {m['recordings']} rec."
        )
    lines += [f"  family {f['code']}: {f['clips']} clip(s)" for f in out["families"]]
    sup = out["supervision"]
    lines.append(f"  supervision: {sup['held']} of {sup['required']}")
    lines += [f"  due: {item}" for item in out["due"]]
    return "\n".join(lines)


@groups.command("schedule")
@click.argument("code")
@click.argument("meeting", metavar="KIND:N")
@click.argument("when")
@SITE
@click.option("--held", is_flag=True, help="Record that the meeting was held at WHEN.")
@json_option
def groups_schedule(
    code: str, meeting: str, when: str, site_slug: str, held: bool, as_json: bool
) -> None:
    """Move meeting KIND:N (home-visit-1:1, antenatal:1-6, home-visit-2:1, postnatal:1-3)
    to WHEN, or with --held record it as held. The programme end follows the last
    postnatal session and the group's clips' retention is recomputed (audited)."""
    kind, _, number = meeting.strip().lower().partition(":")
    if not number.isdigit():
        raise ValidationError("a meeting is KIND:N, e.g. antenatal:3 or home-visit-2:1")
    at = parse_when(when)
    with services() as svc, svc.db.session() as session:
        site = site_by_slug(session, site_slug)
        group = get_group(session, site.id, code)
        change = mark_session_held if held else set_session_date
        change(
            session, svc.audit, CLI_ACTOR, group.id, kind, int(number), at,
            retention=svc.settings.retention,
        )  # fmt: skip
        row = group_session(session, group.id, kind, int(number))
        out = {
            "group": group.code,
            "meeting": f"{kind}:{number}",
            "scheduled_at": row.scheduled_at.isoformat() if row.scheduled_at else None,
            "held_at": row.held_at.isoformat() if row.held_at else None,
            "programme_end": group.programme_end.isoformat() if group.programme_end else None,
        }
    emit(out, as_json)


@click.group("families")
def families() -> None:
    """Families (pseudonymous codes) enrolled in groups."""


@families.command("add")
@click.argument("code")
@SITE
@click.option("--group", "group_code", required=True, help="Code of the group.")
@json_option
def families_add(code: str, site_slug: str, group_code: str, as_json: bool) -> None:
    """Enrol family CODE in a group (at most 8 per group)."""
    with services() as svc, svc.db.session() as session:
        site = site_by_slug(session, site_slug)
        group = get_group(session, site.id, group_code)
        family = enrol_family(
            session, svc.audit, CLI_ACTOR, site_id=site.id, group_id=group.id, code=code
        )
        out = {"id": family.id, "code": family.code, "group": group.code}
    emit(out, as_json, text=f"family {out['code']} enrolled in {out['group']}")


@families.command("move")
@click.argument("code")
@SITE
@click.option("--group", "group_code", required=True, help="Code of the new group.")
@json_option
def families_move(code: str, site_slug: str, group_code: str, as_json: bool) -> None:
    """Move family CODE (and its home-visit clips) to another group; audited."""
    with services() as svc, svc.db.session() as session:
        site = site_by_slug(session, site_slug)
        family = get_family(session, site.id, code)
        group = get_group(session, site.id, group_code)
        move_family(
            session, svc.audit, CLI_ACTOR, family.id, group.id, retention=svc.settings.retention
        )
        out = {"id": family.id, "code": family.code, "group": group.code}
    emit(out, as_json, text=f"family {out['code']} now in {out['group']}")


@families.command("list")
@SITE
@click.option("--group", "group_code", default=None, help="Only this group.")
@json_option
def families_list(site_slug: str, group_code: str | None, as_json: bool) -> None:
    """List families with their group."""
    with services() as svc, svc.db.session() as session:
        site = site_by_slug(session, site_slug)
        query = (
            select(Family, Group)
            .join(Group, Group.id == Family.group_id)
            .where(Family.site_id == site.id)
            .order_by(Group.code, Family.code)
        )
        if group_code:
            query = query.where(Group.id == get_group(session, site.id, group_code).id)
        rows = [{"code": f.code, "group": g.code} for f, g in session.execute(query)]
    emit(rows, as_json, text="\n".join(f"{r['code']}\t{r['group']}" for r in rows) or "none")


def register(cli: click.Group) -> None:
    cli.add_command(groups)
    cli.add_command(families)
