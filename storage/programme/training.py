"""Trainee facilitators' training record: three blocks, each signed off by a supervisor,
with the video reviews of the trainee's group delivery made for each block.

The reviewing supervisor may be at the trainee's site, or (the programme's national
training team) at another site while a clip of the trainee is shared with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.db.footage import Clip
from storage.db.programme import TRAINING_BLOCKS, ClipShare, GroupFacilitator, TrainingBlock
from storage.db.tenancy import User
from storage.errors import NotFound, PermissionDenied, ValidationError
from storage.programme.scope import active_user, require_role

MAX_SUMMARY = 10_000


def sign_off_block(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    *,
    trainee_id: str,
    block: int,
    summary: str,
    supervisor_id: str | None = None,
) -> TrainingBlock:
    """Sign off training ``block`` of a trainee; audited ``training.signoff``.

    The signer is the acting supervisor (a system actor names one with
    ``supervisor_id``). Idempotent: a block already signed off is returned unchanged.
    Raises PermissionDenied (not a supervisor), NotFound (a trainee the supervisor cannot
    reach: another site with no clip of the trainee shared with them), ValidationError
    (block not 1-3, a user who is not a trainee facilitator, summary too long).
    """
    require_role(actor, ("supervisor",), "sign off training")
    if block not in TRAINING_BLOCKS:
        raise ValidationError(f"block must be one of {', '.join(map(str, TRAINING_BLOCKS))}")
    if len(summary) > MAX_SUMMARY:
        raise ValidationError(f"the summary is limited to {MAX_SUMMARY} characters")
    signer = active_user(session, actor.id if actor.role != "system" else supervisor_id, None)
    if signer.role != "supervisor":
        raise PermissionDenied(f"{signer.email} is not a supervisor")
    trainee = session.get(User, trainee_id)
    now = audit.clock.now()
    if trainee is None or not _reachable(session, signer, trainee, now):
        raise NotFound("no such trainee")
    if not is_trainee(session, trainee.id):
        raise ValidationError(f"{trainee.email} is not a trainee facilitator of any group")
    row = session.scalar(
        select(TrainingBlock).where(
            TrainingBlock.trainee_id == trainee.id, TrainingBlock.block == block
        )
    )
    if row is not None and row.signed_off_at is not None:
        return row
    if row is None:
        row = TrainingBlock(site_id=trainee.site_id, trainee_id=trainee.id, block=block)
        session.add(row)
    row.signed_off_by, row.signed_off_at, row.summary = signer.id, now, summary.strip()
    session.flush()
    audit.append(
        session,
        actor if actor.role != "system" else Actor(signer.id, signer.role, signer.site_id),
        "training.signoff",
        target_type="user",
        target_id=trainee.id,
        site_id=trainee.site_id,
        details={"block": block, "training_block_id": row.id, "signed_off_by": signer.id},
    )
    return row


def is_trainee(session: Session, user_id: str) -> bool:
    """Whether ``user_id`` co-facilitates any group as a trainee."""
    query = select(
        exists().where(GroupFacilitator.user_id == user_id, GroupFacilitator.trainee.is_(True))
    )
    return bool(session.scalar(query))


@dataclass(frozen=True)
class BlockRecord:
    """One training block of a trainee: its sign-off and the video reviews made for it."""

    block: int
    signed_off: bool
    signed_off_by: str | None
    signed_off_at: datetime | None
    summary: str
    clip_ids: list[str] = field(default_factory=list)
    clips_signed_off: int = 0


def training_record(session: Session, trainee_id: str) -> list[BlockRecord]:
    """The trainee's three blocks, in order, with their sign-off and reviewed clips.

    Clips are the trainee's live group-delivery/shared-review footage whose
    ``training_block`` names the block.
    """
    blocks = {
        row.block: row
        for row in session.scalars(
            select(TrainingBlock).where(TrainingBlock.trainee_id == trainee_id)
        )
    }
    clips = session.scalars(
        select(Clip)
        .where(
            Clip.trainee_id == trainee_id,
            Clip.training_block.is_not(None),
            Clip.status != "destroyed",
        )
        .order_by(Clip.created_at, Clip.id)
    ).all()
    record: list[BlockRecord] = []
    for number in TRAINING_BLOCKS:
        row = blocks.get(number)
        mine = [c for c in clips if c.training_block == number]
        record.append(
            BlockRecord(
                block=number,
                signed_off=row is not None and row.signed_off_at is not None,
                signed_off_by=row.signed_off_by if row else None,
                signed_off_at=row.signed_off_at if row else None,
                summary=row.summary if row else "",
                clip_ids=[c.id for c in mine],
                clips_signed_off=sum(1 for c in mine if c.signed_off_at is not None),
            )
        )
    return record


def _reachable(session: Session, signer: User, trainee: User, now: datetime) -> bool:
    if signer.site_id == trainee.site_id:
        return True
    shared = select(
        exists().where(
            ClipShare.supervisor_id == signer.id,
            ClipShare.revoked_at.is_(None),
            ClipShare.expires_at > now,
            ClipShare.clip_id == Clip.id,
            Clip.trainee_id == trainee.id,
        )
    )
    return bool(session.scalar(shared))
