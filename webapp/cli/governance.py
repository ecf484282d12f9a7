"""`verp retention ...`, `verp consent withdraw`, `verp holds ...` (`verp audit` is in audit.py).

The commands a data-protection officer (or the operator on their behalf) runs: sweep and
inspect retention, report on it, withdraw consent, place and lift legal holds, verify and
export the audit log. None of them reads footage.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from storage.accounts import site_by_slug
from storage.audit.receipts import issue_receipt
from storage.audit.verify import verify_chain
from storage.clock import FixedClock
from storage.db.footage import Clip, Consent
from storage.db.governance import LegalHold
from storage.destruction import Destroyer
from storage.errors import NotFound
from storage.governance_status import STATES, retention_status
from storage.holds import lift_hold, list_holds, place_hold
from storage.keys import write_private_file
from storage.reports import FORMATS as REPORT_FORMATS
from storage.reports import build_report, render_csv, render_html
from storage.retention import apply_policies
from storage.withdrawal import withdraw_consent
from webapp.cli.common import CLI_ACTOR, emit, json_option, settings
from webapp.composition import Services, build_services

now_option = click.option(
    "--now", "now_text", default=None, metavar="ISO8601", help="Act as if it were this time."
)


def _parse_time(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"expected ISO 8601, e.g. 2026-05-01T09:00:00Z; got {value!r}", param_hint=option
        ) from None
    if parsed.tzinfo is None:
        raise click.BadParameter("needs a time zone, e.g. ...Z or +01:00", param_hint=option)
    return parsed.astimezone(UTC)


@contextmanager
def _services(now_text: str | None = None) -> Iterator[Services]:
    clock = FixedClock(_parse_time(now_text, "--now")) if now_text else None
    svc = build_services(settings(), clock=clock)
    try:
        yield svc
    finally:
        svc.close()


def _destroyer(svc: Services) -> Destroyer:
    return Destroyer(svc.db, svc.vault, svc.audit)


def _write_output(text: str, output: str | None) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        write_private_file(Path(output), text.encode("utf-8"))  # reports are personal data


# -- retention -------------------------------------------------------------------------
@click.group("retention")
def retention() -> None:
    """Retention: sweep expired footage, show where clips stand, report to the DPO."""


@retention.command("sweep")
@now_option
@json_option
def retention_sweep(now_text: str | None, as_json: bool) -> None:
    """Destroy every clip past its delete-after date that has no legal hold.

    Also finishes any destruction a crash interrupted. A clip counts as destroyed only once
    its wrapped key is verified gone from every live database file. Exit status 1 if a clip
    could not be destroyed (it stays marked and the next sweep retries it); 3 if only
    erasure is pending (keys destroyed, erasure not yet verified; the next sweep checks).
    """
    with _services(now_text) as svc:
        report = _destroyer(svc).sweep(svc.settings.retention)
    data = {
        "at": report.at.isoformat(),
        "destroyed": report.destroyed,
        "failed": report.failed,
        "held": report.held,
        "erasure_pending": report.erasure_pending,
        "policy_changes": [asdict(p) for p in report.policies if p.policy_changed],
        "checkpoint_seq": report.checkpoint_seq,
    }
    lines = [f"destroyed {len(report.destroyed)} clip(s)"]
    lines += [f"due but held: {clip}" for clip in report.held]
    lines += [f"FAILED {f['clip_id']}: {f['error']} (will retry)" for f in report.failed]
    lines += [
        f"ERASURE PENDING {p['clip_id']}: key destroyed, erasure not yet verified: "
        f"{p['problem']} (the next sweep checks again)"
        for p in report.erasure_pending
    ]
    emit(data, as_json, text="\n".join(lines))
    if report.failed:
        sys.exit(1)
    if report.erasure_pending:
        click.echo(
            f"erasure pending for {len(report.erasure_pending)} clip(s): their keys are "
            "destroyed but not yet verified gone from every database file",
            err=True,
        )
        sys.exit(3)


@retention.command("status")
@click.option("--site", "site_slug", default=None, help="Only this site.")
@now_option
@json_option
def retention_status_cmd(site_slug: str | None, now_text: str | None, as_json: bool) -> None:
    """Clips per site and kind: active, due within 30/7 days, overdue, held, destroyed."""
    with _services(now_text) as svc, svc.db.session() as session:
        site_id = site_by_slug(session, site_slug).id if site_slug else None
        rows = retention_status(session, svc.clock.now(), site_id)
    header = ["site", "kind", *STATES, "total"]
    table = [header] + [[str(row[c]) for c in header] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table)
    emit(rows, as_json, text=text if rows else "no clips")


@retention.command("report")
@click.option("--site", "site_slug", required=True, help="Site slug.")
@click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS), default="csv")
@click.option("--output", "-o", default=None, help="Write to this file (mode 0600).")
@now_option
def retention_report(site_slug: str, fmt: str, output: str | None, now_text: str | None) -> None:
    """Every clip and tombstone of a site, with a destruction certificate per destroyed clip."""
    with _services(now_text) as svc:
        with svc.db.session() as session:
            verified = verify_chain(session, svc.audit.key, svc.audit.checkpoints)
        with svc.db.session() as session:
            site = site_by_slug(session, site_slug)
            report = build_report(session, site.id, svc.clock.now(), verified)
            svc.audit.append(
                session,
                CLI_ACTOR,
                "retention.report",
                target_type="site",
                target_id=site.id,
                site_id=site.id,
                details={
                    "format": fmt,
                    "clips": len(report.clips),
                    "destroyed": len(report.destroyed),
                },
            )
        with svc.db.session() as session:  # after the commit: the receipt covers the above
            report.receipt = issue_receipt(session, svc.audit, CLI_ACTOR, svc.clock.now()).decode()
    if fmt == "csv":
        buffer = io.StringIO()
        render_csv(report, buffer)
        _write_output(buffer.getvalue(), output)
    else:
        _write_output(render_html(report), output)


@retention.command("recompute")
@json_option
def retention_recompute(as_json: bool) -> None:
    """Recompute every clip's delete-after from the current policy (audits policy changes)."""
    with _services() as svc, svc.db.session() as session:
        results = apply_policies(session, svc.audit, svc.settings.retention, CLI_ACTOR)
    data = [asdict(r) for r in results]
    text = "\n".join(
        f"{r.site_slug}: policy {'CHANGED' if r.policy_changed else 'unchanged'}, "
        f"{r.clips_changed} clip(s) rescheduled"
        for r in results
    )
    emit(data, as_json, text=text or "no sites")


# -- consent withdraw --------------------------------------------------------------------
@click.command("withdraw")
@click.argument("consent_id")
@click.option("--purposes", required=True, help="Comma-separated purposes, or 'all'.")
@click.option("--reason", required=True, help="Why (kept on the consent record).")
@json_option
def consent_withdraw(consent_id: str, purposes: str, reason: str, as_json: bool) -> None:
    """Withdraw consent: 'all' destroys the covered footage at once; some purposes stop those
    uses and recompute retention."""
    chosen = None if purposes.strip() == "all" else [p.strip() for p in purposes.split(",")]
    with _services() as svc:
        with svc.db.session() as session:
            consent = session.get(Consent, consent_id)
            if consent is None:
                raise NotFound(f"no consent {consent_id}")
            site_id = consent.site_id
        result = withdraw_consent(
            _destroyer(svc),
            svc.settings.retention,
            CLI_ACTOR,
            site_id=site_id,
            consent_id=consent_id,
            purposes=chosen,
            reason=reason,
        )
    lines = [f"withdrawn: {', '.join(result.withdrawn)}"]
    lines.append(f"still consented: {', '.join(result.active_purposes) or 'nothing'}")
    lines += [f"destroyed clip {c}" for c in result.destroyed]
    lines += [f"held (destroyed once the hold is lifted): {c}" for c in result.held]
    lines += [f"FAILED {f['clip_id']}: {f['error']} (the sweep retries)" for f in result.failed]
    lines += [f"clip {c['clip_id']} now due {c['new']}" for c in result.retention_changed]
    emit(asdict(result), as_json, text="\n".join(lines))
    if result.failed:
        sys.exit(1)


# -- holds -------------------------------------------------------------------------------
@click.group("holds")
def holds() -> None:
    """Legal holds: they suspend destruction of a clip."""


@holds.command("place")
@click.argument("clip_id")
@click.option("--reason", required=True, help="Why the clip must be kept.")
@click.option("--by", default=None, help="Who placed it (a person or authority; max 64).")
@json_option
def holds_place(clip_id: str, reason: str, by: str | None, as_json: bool) -> None:
    """Place a legal hold on CLIP_ID."""
    with _services() as svc, svc.db.session() as session:
        clip = session.get(Clip, clip_id)
        if clip is None:
            raise NotFound("no such clip")
        hold = place_hold(
            session,
            svc.audit,
            CLI_ACTOR,
            site_id=clip.site_id,
            clip_id=clip_id,
            reason=reason,
            by=by,
        )
        out = {"hold_id": hold.id, "clip_id": clip_id, "placed_by": hold.placed_by}
    emit(out, as_json, text=f"hold {out['hold_id']} placed on clip {clip_id}")


@holds.command("lift")
@click.argument("hold_id")
@click.option("--by", default=None, help="Who lifted it.")
@json_option
def holds_lift(hold_id: str, by: str | None, as_json: bool) -> None:
    """Lift legal hold HOLD_ID (the clip is destroyed by the next sweep if it is due)."""
    with _services() as svc, svc.db.session() as session:
        found = session.get(LegalHold, hold_id)
        if found is None:
            raise NotFound("no such legal hold")
        hold = lift_hold(
            session, svc.audit, CLI_ACTOR, site_id=found.site_id, hold_id=hold_id, by=by
        )
        out = {"hold_id": hold.id, "clip_id": hold.clip_id, "lifted_by": hold.lifted_by}
    emit(out, as_json, text=f"hold {hold_id} lifted")


@holds.command("list")
@click.option("--site", "site_slug", default=None, help="Only this site.")
@click.option("--all", "include_lifted", is_flag=True, help="Include lifted holds.")
@json_option
def holds_list(site_slug: str | None, include_lifted: bool, as_json: bool) -> None:
    """List legal holds (active ones unless --all)."""
    with _services() as svc, svc.db.session() as session:
        site_id = site_by_slug(session, site_slug).id if site_slug else None
        found = list_holds(session, site_id=site_id, active_only=not include_lifted)
        rows = [_hold_row(h) for h in found]
    text = "\n".join(
        f"{r['hold_id']} clip {r['clip_id']} since {r['placed_at']} by {r['placed_by']}"
        + (f" (lifted {r['lifted_at']})" if r["lifted_at"] else "")
        + f": {r['reason']}"
        for r in rows
    )
    emit(rows, as_json, text=text or "no legal holds")


def _hold_row(hold: LegalHold) -> dict[str, str | None]:
    return {
        "hold_id": hold.id,
        "clip_id": hold.clip_id,
        "site_id": hold.site_id,
        "reason": hold.reason,
        "placed_by": hold.placed_by,
        "placed_at": hold.placed_at.isoformat(),
        "lifted_by": hold.lifted_by,
        "lifted_at": hold.lifted_at.isoformat() if hold.lifted_at else None,
    }


def register(cli: click.Group) -> None:
    cli.add_command(retention)
    cli.add_command(holds)
    existing = cli.commands.get("consent")
    if isinstance(existing, click.Group):
        existing.add_command(consent_withdraw)  # `verp consent record` lives in ingest's CLI
    else:
        group = click.Group("consent", help="Consent records.")
        group.add_command(consent_withdraw)
        cli.add_command(group)
