"""`verp reports programme`: the programme report of a site (counts only: no footage, no
family codes) as HTML or CSV, for commissioners and the programme's national team."""

from __future__ import annotations

import io
from pathlib import Path

import click

from storage.accounts import site_by_slug
from storage.keys import write_private_file
from storage.programme.report import programme_report
from storage.programme.report_render import FORMATS, render_csv, render_html
from webapp.cli.common import CLI_ACTOR, services


@click.group("reports")
def reports() -> None:
    """Reports a site sends to its commissioners and the national team."""


@reports.command("programme")
@click.option("--site", "site_slug", required=True, help="Site slug.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True)
@click.option("--output", "-o", default=None, help="Write to this file (mode 0600).")
def programme(site_slug: str, fmt: str, output: str | None) -> None:
    """Per group: families enrolled and filmed at home visit 2, shared reviews and days
    from filming to review, reflective supervisions against the 3 required, trainee
    reviews signed off, what is due; then the site roll-up. Audited."""
    with services() as svc, svc.db.session() as session:
        site = site_by_slug(session, site_slug)
        built = programme_report(session, site.id, svc.clock.now())
        svc.audit.append(
            session, CLI_ACTOR, "report.programme", target_type="site", target_id=site.id,
            site_id=site.id, details={"format": fmt, "groups": len(built.groups)},
        )  # fmt: skip
        site_name = site.name
    if fmt == "csv":
        buffer = io.StringIO()
        render_csv(built, buffer)
        text = buffer.getvalue()
    else:
        text = render_html(built, site_name)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_private_file(Path(output), text.encode("utf-8"))
        click.echo(f"wrote {output}", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(reports)
