"""Playback sessions: audit watching once per session, not once per Range request.

A video element fetches a clip in dozens of Range requests (and again on every seek);
auditing each would drown the log a DPO reads. A *playback session* is one signed-in
browser session watching one thing of one clip (``playback``, ``thumbnails`` or
``moment:<id>``) with no gap longer than :data:`IDLE`. Its first request appends the
audit entry; later requests only keep it alive. Requests that repeat by design are
audited the same way: the player's annotation track (``annotations``, appending
``annotations.view``) and the upload page polling a clip's JSON (``clip.read``).

The session key is a random id in the signed session cookie (a new login clears the
cookie, so it starts new sessions). Rows live in ``playback_sessions`` so every web
worker agrees, and the unique key (session, clip, target) decides which of several
concurrent first requests records the start: the others hit the constraint and audit
nothing. Rows go with their clip when it is destroyed, and are pruned after a day.
While a row was confirmed alive less than a minute ago (noted in the signed cookie),
requests skip the database altogether: a seek costs no write and no extra query.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import session
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.db.footage import Clip
from storage.db.web import PlaybackSession
from webapp.context import CurrentUser, services

#: A playback session ends after this long without a request (pausing for longer and
#: then watching again counts as watching again).
IDLE = timedelta(minutes=10)
#: last_seen_at is written at most this often (each Range request would otherwise write).
TOUCH_EVERY = timedelta(minutes=1)
#: Ended sessions are deleted after this long.
KEEP = timedelta(days=1)
SESSION_FIELD = "play_sid"
#: Per playback session: when its row was last known alive (seconds since the epoch).
SEEN_FIELD = "play_seen"


def session_key() -> str:
    """This browser session's playback key (created on first use)."""
    key = session.get(SESSION_FIELD)
    if not isinstance(key, str) or not key:
        key = secrets.token_urlsafe(24)
        session[SESSION_FIELD] = key
    return key


def record_viewing(
    user: CurrentUser,
    clip: Clip,
    target: str,
    action: str,
    *,
    target_type: str = "clip",
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Append ``action`` to the audit log if this request starts a playback session.

    Runs in its own unit of work so a lost race (IntegrityError) rolls back nothing
    else. Returns True when it audited. Storage errors propagate.
    """
    svc = services()
    key = session_key()
    now = svc.clock.now()
    seen_key = f"{clip.id}:{target}"
    if _confirmed_recently(seen_key, now):
        return False  # the row was alive less than TOUCH_EVERY ago: no database trip

    def audit(db: Session) -> None:
        svc.audit.append(
            db,
            user.actor,
            action,
            target_type=target_type,
            target_id=target_id or clip.id,
            site_id=clip.site_id,
            details={"clip_id": clip.id, **(details or {})},
        )

    try:
        with svc.db.session() as db:
            row = db.scalar(
                select(PlaybackSession).where(
                    PlaybackSession.session_key == key,
                    PlaybackSession.clip_id == clip.id,
                    PlaybackSession.target == target,
                )
            )
            if row is None:
                db.add(
                    PlaybackSession(
                        user_id=user.id,
                        site_id=clip.site_id,
                        clip_id=clip.id,
                        target=target,
                        session_key=key,
                        started_at=now,
                        last_seen_at=now,
                    )
                )
                db.flush()  # raises IntegrityError if a concurrent request got here first
                audit(db)
                _prune(db, now)
                _remember(seen_key, now)
                return True
            if row.last_seen_at < now - IDLE:
                # Only one of several concurrent requests can move a stale row forward.
                moved = db.execute(
                    update(PlaybackSession)
                    .where(
                        PlaybackSession.id == row.id,
                        PlaybackSession.last_seen_at == row.last_seen_at,
                    )
                    .values(started_at=now, last_seen_at=now)
                )
                if getattr(moved, "rowcount", 0) == 1:
                    audit(db)
                    _remember(seen_key, now)
                    return True
                return False
            if now - row.last_seen_at >= TOUCH_EVERY:
                row.last_seen_at = now
            _remember(seen_key, row.last_seen_at)
            return False
    except IntegrityError:
        return False


def _prune(db: Session, now: datetime) -> None:
    """Delete sessions that ended long ago (cheap: indexed on last_seen_at)."""
    db.execute(delete(PlaybackSession).where(PlaybackSession.last_seen_at < now - KEEP))


def _confirmed_recently(seen_key: str, now: datetime) -> bool:
    """Whether this browser session confirmed the playback session's row less than
    TOUCH_EVERY ago (kept in the signed session cookie, so it cannot be forged)."""
    seen = session.get(SEEN_FIELD)
    stamp = seen.get(seen_key) if isinstance(seen, dict) else None
    if not isinstance(stamp, int | float):
        return False
    return 0 <= now.timestamp() - stamp < TOUCH_EVERY.total_seconds()


def _remember(seen_key: str, alive_at: datetime) -> None:
    """Note when the row was last known alive; forget entries of ended sessions."""
    seen = session.get(SEEN_FIELD)
    kept = dict(seen) if isinstance(seen, dict) else {}
    horizon = alive_at.timestamp() - IDLE.total_seconds()
    kept = {k: v for k, v in kept.items() if isinstance(v, int | float) and v > horizon}
    kept[seen_key] = int(alive_at.timestamp())
    session[SEEN_FIELD] = kept
