"""`verp users ...`: site user accounts."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select

from storage.accounts import add_user, site_by_slug
from storage.db.programme import DISCIPLINES
from storage.db.tenancy import ROLES, Site, User
from storage.errors import NotFound
from storage.programme import set_discipline
from webapp.cli.common import CLI_ACTOR, emit, json_option, services


@click.group("users")
def users() -> None:
    """Manage user accounts."""


@users.command("add")
@click.argument("email")
@click.option("--site", "site_slug", required=True, help="Site slug the user belongs to.")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The user's role.")
@click.option("--name", default="", help="Display name.")
@click.option(
    "--discipline",
    type=click.Choice(DISCIPLINES),
    default=None,
    help="A practitioner's discipline (groups need one co-facilitator of each).",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@json_option
def users_add(
    email: str,
    site_slug: str,
    role: str,
    name: str,
    discipline: str | None,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Add a user EMAIL with ROLE at SITE (prompts for a password)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with services() as svc, svc.db.session() as session:
        site = site_by_slug(session, site_slug)
        user = add_user(
            session,
            svc.audit,
            CLI_ACTOR,
            site_id=site.id,
            email=email,
            role=role,
            password=password,
            display_name=name,
        )
        if discipline is not None:
            set_discipline(session, svc.audit, CLI_ACTOR, user.id, discipline)
        out = {
            "id": user.id,
            "email": user.email,
            "role": user.role,
            "site": site.slug,
            "discipline": user.discipline,
        }
    emit(out, as_json, text=f"user {out['email']} ({role}) added to {site_slug}")


@users.command("list")
@click.option("--site", "site_slug", default=None, help="Only this site.")
@json_option
def users_list(site_slug: str | None, as_json: bool) -> None:
    """List users."""
    with services() as svc, svc.db.session() as session:
        query = select(User, Site).join(Site, User.site_id == Site.id).order_by(User.email)
        if site_slug:
            query = query.where(Site.slug == site_slug)
        rows = [
            {
                "id": u.id,
                "email": u.email,
                "role": u.role,
                "discipline": u.discipline,
                "site": s.slug,
                "active": u.active,
            }
            for u, s in session.execute(query).tuples()
        ]
    emit(rows, as_json, text="\n".join(f"{r['email']}\t{r['role']}\t{r['site']}" for r in rows))


@users.command("discipline")
@click.argument("email")
@click.argument("discipline", type=click.Choice([*DISCIPLINES, "none"]))
@json_option
def users_discipline(email: str, discipline: str, as_json: bool) -> None:
    """Record the discipline of practitioner EMAIL (``none`` clears it); audited."""
    with services() as svc, svc.db.session() as session:
        user = session.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFound(f"no user {email!r}")
        chosen = None if discipline == "none" else discipline
        set_discipline(session, svc.audit, CLI_ACTOR, user.id, chosen)
        out = {"email": user.email, "discipline": user.discipline}
    emit(out, as_json, text=f"{out['email']}: {out['discipline'] or 'no discipline'}")


def register(cli: click.Group) -> None:
    cli.add_command(users)
