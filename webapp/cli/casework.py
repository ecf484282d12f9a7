"""`verp supervision ...`, `verp training ...` and `verp shares ...`: reflective supervision
of a group, trainees' training sign-off, and shares of a clip for supervision."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from storage.accounts import site_by_slug
from storage.db.programme import SupervisionAttendee, SupervisionItem
from storage.db.tenancy import Site, User
from storage.programme import (
    MAX_SHARE_DAYS,
    get_group,
    list_shares,
    list_supervisions,
    record_supervision,
    revoke_share,
    share_clip,
    share_state,
    sign_off_block,
    training_record,
)
from webapp.cli.common import CLI_ACTOR, emit, json_option, services
from webapp.cli.programme import SITE, parse_when, user_id


@click.group("supervision")
def supervision() -> None:
    """Reflective supervision of groups (at least three per group)."""


@supervision.command("add")
@SITE
@click.option("--group", "group_code", required=True, help="Code of the group.")
@click.option("--at", "held_at", required=True, help="When it was held (YYYY-MM-DD or ISO).")
@click.option("--supervisor", required=True, metavar="EMAIL", help="Who supervised.")
@click.option(
    "--facilitator", "facilitators", multiple=True, required=True, metavar="EMAIL",
    help="A co-facilitator who took part (repeat for both).",
)  # fmt: skip
@click.option("--clip", "clip_ids", multiple=True, metavar="ID", help="A clip discussed.")
@click.option("--moment", "moment_ids", multiple=True, metavar="ID", help="A moment discussed.")
@click.option("--notes", default="", help="Notes (kept as typed, shown escaped).")
@json_option
def supervision_add(
    site_slug: str,
    group_code: str,
    held_at: str,
    supervisor: str,
    facilitators: tuple[str, ...],
    clip_ids: tuple[str, ...],
    moment_ids: tuple[str, ...],
    notes: str,
    as_json: bool,
) -> None:
    """Record a reflective supervision session of a group."""
    with services() as svc, svc.db.session() as session:
        site = site_by_slug(session, site_slug)
        group = get_group(session, site.id, group_code)
        row = record_supervision(
            session, svc.audit, CLI_ACTOR, group_id=group.id, held_at=parse_when(held_at),
            supervisor_id=user_id(session, supervisor, site.id),
            facilitator_ids=[user_id(session, f, site.id) for f in facilitators],
            clip_ids=list(clip_ids), moment_ids=list(moment_ids), notes=notes,
        )  # fmt: skip
        held = len(list_supervisions(session, group.id))
        out = {
            "id": row.id,
            "group": group.code,
            "held_at": row.held_at.isoformat(),
            "supervisions": held,
        }
    emit(out, as_json, text=f"supervision recorded for {group_code}: {held} of 3 held")


@supervision.command("list")
@SITE
@click.option("--group", "group_code", required=True, help="Code of the group.")
@json_option
def supervision_list(site_slug: str, group_code: str, as_json: bool) -> None:
    """A group's supervision sessions (notes included: operator view)."""
    with services() as svc, svc.db.session() as session:
        site = site_by_slug(session, site_slug)
        group = get_group(session, site.id, group_code)
        rows: list[dict[str, Any]] = []
        for row in list_supervisions(session, group.id):
            attendees = session.scalars(
                select(User.email)
                .join(SupervisionAttendee, SupervisionAttendee.user_id == User.id)
                .where(SupervisionAttendee.supervision_id == row.id)
                .order_by(User.email)
            )
            items = session.scalars(
                select(SupervisionItem.clip_id).where(SupervisionItem.supervision_id == row.id)
            )
            supervisor = session.get(User, row.supervisor_id)
            rows.append(
                {
                    "id": row.id,
                    "held_at": row.held_at.isoformat(),
                    "supervisor": supervisor.email if supervisor else None,
                    "facilitators": list(attendees),
                    "clips": sorted(set(items)),
                    "notes": row.notes,
                }
            )
    text = "\n".join(f"{r['held_at']}\t{r['supervisor']}\t{len(r['clips'])} clip(s)" for r in rows)
    emit(rows, as_json, text=text or "none")


@click.group("training")
def training() -> None:
    """Trainee facilitators' training record (blocks 1-3)."""


@training.command("signoff")
@click.argument("trainee")
@click.option("--block", required=True, type=click.IntRange(1, 3), help="Training block.")
@click.option("--by", "signer", required=True, metavar="EMAIL", help="The supervisor.")
@click.option("--summary", default="", help="What the review found.")
@json_option
def training_signoff(trainee: str, block: int, signer: str, summary: str, as_json: bool) -> None:
    """Sign off training block N of TRAINEE (an email) by supervisor --by."""
    with services() as svc, svc.db.session() as session:
        row = sign_off_block(
            session, svc.audit, CLI_ACTOR, trainee_id=user_id(session, trainee, None),
            block=block, summary=summary, supervisor_id=user_id(session, signer, None),
        )  # fmt: skip
        at = row.signed_off_at.isoformat() if row.signed_off_at else None
        out = {"trainee": trainee, "block": block, "signed_off_at": at}
    emit(out, as_json, text=f"block {block} of {trainee} signed off")


@training.command("show")
@click.argument("trainee")
@json_option
def training_show(trainee: str, as_json: bool) -> None:
    """TRAINEE's blocks, sign-offs and the video reviews made for each."""
    with services() as svc, svc.db.session() as session:
        record = training_record(session, user_id(session, trainee, None))
        rows: list[dict[str, Any]] = [
            {
                "block": b.block,
                "signed_off": b.signed_off,
                "signed_off_at": b.signed_off_at.isoformat() if b.signed_off_at else None,
                "clips": b.clip_ids,
                "clips_signed_off": b.clips_signed_off,
            }
            for b in record
        ]
    text = "\n".join(
        f"block {r['block']}: {'signed off' if r['signed_off'] else 'open'}, "
        f"{len(r['clips'])} video review(s)"
        for r in rows
    )
    emit(rows, as_json, text=text)


@click.group("shares")
def shares() -> None:
    """Clips shared for supervision with a named supervisor (possibly at another site)."""


@shares.command("add")
@click.argument("clip_id")
@click.option("--to", "recipient", required=True, metavar="EMAIL", help="The supervisor.")
@click.option(
    "--days", required=True, type=click.IntRange(1, MAX_SHARE_DAYS), help="How long it lasts."
)
@click.option("--reason", required=True, help="Why (one line).")
@click.option("--by", "decider", required=True, metavar="EMAIL", help="Who decided (site lead).")
@json_option
def shares_add(
    clip_id: str, recipient: str, days: int, reason: str, decider: str, as_json: bool
) -> None:
    """Share CLIP_ID for supervision; refused unless everyone filmed consented to it."""
    with services() as svc, svc.db.session() as session:
        share = share_clip(
            session, svc.audit, CLI_ACTOR, clip_id=clip_id,
            supervisor_id=user_id(session, recipient, None), days=days, reason=reason,
            shared_by=user_id(session, decider, None),
            receiving_sites=svc.settings.share_receiving_sites,
        )  # fmt: skip
        out = {"id": share.id, "clip_id": clip_id, "expires_at": share.expires_at.isoformat()}
    emit(out, as_json, text=f"share {out['id']} until {out['expires_at']}")


@shares.command("revoke")
@click.argument("share_id")
@json_option
def shares_revoke(share_id: str, as_json: bool) -> None:
    """End a share at once."""
    with services() as svc, svc.db.session() as session:
        share = revoke_share(session, svc.audit, CLI_ACTOR, share_id)
        out = {"id": share.id, "state": share_state(share, svc.clock.now())}
    emit(out, as_json, text=f"share {share_id}: {out['state']}")


@shares.command("list")
@click.option("--site", "site_slug", default=None, help="Only shares of this site's clips.")
@click.option("--active", is_flag=True, help="Only shares in force now.")
@json_option
def shares_list(site_slug: str | None, active: bool, as_json: bool) -> None:
    """Shares with their recipient, expiry and state (active, expired, revoked...)."""
    with services() as svc, svc.db.session() as session:
        site_id = site_by_slug(session, site_slug).id if site_slug else None
        now = svc.clock.now()
        rows: list[dict[str, Any]] = []
        for share in list_shares(session, site_id, active_at=now if active else None):
            recipient = session.get(User, share.supervisor_id)
            where = session.get(Site, recipient.site_id) if recipient else None
            rows.append(
                {
                    "id": share.id,
                    "clip_id": share.clip_id,
                    "supervisor": recipient.email if recipient else None,
                    "supervisor_site": where.slug if where else None,
                    "expires_at": share.expires_at.isoformat(),
                    "state": share_state(share, now),
                    "reason": share.reason,
                }
            )
    text = "\n".join(f"{r['id']}\t{r['clip_id']}\t{r['supervisor']}\t{r['state']}" for r in rows)
    emit(rows, as_json, text=text or "none")


def register(cli: click.Group) -> None:
    cli.add_command(supervision)
    cli.add_command(training)
    cli.add_command(shares)
