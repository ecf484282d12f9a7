"""`verp init` and `verp sites`."""

from __future__ import annotations

import click

from storage.accounts import create_site
from storage.migrate import head_revision
from webapp.cli.common import CLI_ACTOR, emit, json_option, services, settings
from webapp.composition import initialize


@click.command("init")
@json_option
def init_cmd(as_json: bool) -> None:
    """Create VERP_HOME, key files (mode 0600) and the schema. Safe to run again."""
    cfg = settings()
    created = initialize(cfg)
    emit(
        {"home": str(cfg.home), "created": created, "schema": head_revision()},
        as_json,
        text="\n".join([f"created {c}" for c in created] + [f"verp ready in {cfg.home}"]),
    )


@click.group("sites")
def sites() -> None:
    """Manage sites (each a separate data controller)."""


@sites.command("add")
@click.argument("slug")
@click.option("--name", default="", help="Display name of the site.")
@json_option
def sites_add(slug: str, name: str, as_json: bool) -> None:
    """Add a site with a short lower-case SLUG."""
    with services() as svc, svc.db.session() as session:
        site = create_site(session, svc.audit, CLI_ACTOR, slug, name)
        out = {"id": site.id, "slug": site.slug, "name": site.name}
    emit(out, as_json, text=f"site {slug} created")


def register(cli: click.Group) -> None:
    cli.add_command(init_cmd)
    cli.add_command(sites)
