"""Refused access attempts in the audit log (``access.refused``), without flooding it.

Recorded: a signed-in user refused by role (403), by the family's consent (403), or asking
for an item that is not theirs to see or not at their site (a domain 404, e.g. another
site's clip). Not recorded: anonymous requests (the login throttle covers those), unknown
URLs (routing 404s), and the redirects of a forced password change or second-factor set-up.
One entry per user, page and item per :data:`WINDOW`, so a page retrying a refused
request many times leaves one entry; and at most :data:`USER_CAP` entries per user per
window, so someone walking through many item ids cannot flood the log a DPO reads: the
last entry before the cap says so (``more_not_recorded``), and every further refusal in
that window is still answered and written to the application log.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import request
from sqlalchemy import func, select

from storage.db.governance import AuditEntry
from storage.errors import ConsentError, NotFound, PermissionDenied
from webapp.context import current_user, services, unit_of_work

log = logging.getLogger(__name__)

ACTION = "access.refused"
WINDOW = timedelta(minutes=1)
#: Most ``access.refused`` entries per user per WINDOW (any pages, any items).
USER_CAP = 20


def refusal_kind(exc: BaseException) -> str | None:
    """``role``, ``consent`` or ``not-found`` for a refusal worth an entry; else None."""
    if isinstance(exc, ConsentError):
        return "consent"
    if isinstance(exc, PermissionDenied):
        return "role"
    if isinstance(exc, NotFound):
        return "not-found"
    return None


def _target() -> tuple[str | None, str | None]:
    """The first ``<thing>_id`` of the URL as (thing, id), e.g. ("clip", "…")."""
    for key, value in (request.view_args or {}).items():
        if key.endswith("_id") and isinstance(value, str):
            return key.removesuffix("_id"), value[:64]
    return None, None


def record_refusal(exc: BaseException, status: int) -> None:
    """Append ``access.refused`` for the signed-in user unless one for the same page and
    item was written within :data:`WINDOW`. Never raises: a failure is logged and the
    refusal is answered anyway."""
    kind = refusal_kind(exc)
    user = current_user()
    if kind is None or user is None or request.endpoint is None:
        return
    if user.must_change_password or user.must_enrol:
        return
    target_type, target_id = _target()
    try:
        svc = services()
        now = svc.clock.now()
        with unit_of_work() as db:
            mine = (
                AuditEntry.actor_id == user.id,
                AuditEntry.action == ACTION,
                AuditEntry.at >= now - WINDOW,
            )
            recorded = db.scalar(select(func.count()).select_from(AuditEntry).where(*mine)) or 0
            if recorded >= USER_CAP:
                log.warning("refusal not recorded (cap reached) on %s", request.endpoint)
                return
            target = (
                AuditEntry.target_id == target_id if target_id else AuditEntry.target_id.is_(None)
            )
            recent = db.scalars(
                select(AuditEntry.details)
                .where(*mine, target)
                .order_by(AuditEntry.seq.desc())
                .limit(20)
            )
            if any((d or {}).get("endpoint") == request.endpoint for d in recent):
                return
            details = {
                "refusal": kind,
                "status": status,
                "endpoint": request.endpoint,
                "method": request.method,
            }
            if recorded == USER_CAP - 1:
                details["more_not_recorded"] = True
            svc.audit.append(
                db,
                user.actor,
                ACTION,
                target_type=target_type,
                target_id=target_id,
                site_id=user.site_id,
                details=details,
            )
    except Exception:
        log.exception("could not record a refused request on %s", request.endpoint)
