"""The clips JSON API (``/api/v1/clips``). The second web engineer extends it.

:func:`clip_json` is the one shape of a clip in the API; DPOs and admins get the same
metadata but no links to footage-derived bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, url_for

from storage.db.footage import Clip
from storage.holds import is_held
from webapp.authz import ALL_ROLES, FOOTAGE_ROLES, load_clip, requires, user_or_401
from webapp.context import CurrentUser, services, unit_of_work
from webapp.labels import (
    KIND_LABELS,
    clip_failure_reason,
    clip_status_label,
    days_until,
    is_refused,
    label,
)
from webapp.playback import record_viewing

bp = Blueprint("clips_api", __name__, url_prefix="/api/v1/clips")

#: States in which the clip is still on its way to "ready" (clients keep polling).
IN_PROGRESS = ("receiving", "queued", "processing")
#: The audit action, and the playback-session target, of reading a clip's JSON.
CLIP_READ = "clip.read"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def clip_json(clip: Clip, user: CurrentUser, now: datetime, *, held: bool) -> dict[str, Any]:
    """A clip as the API shows it to ``user``.

    ``links.poster`` is present only for roles that may see footage and clips that are
    ready; ``days_left`` counts whole days until ``delete_after`` (negative: overdue).
    A refused upload (``refused``: destroyed, or being destroyed, because it was not a
    usable video) keeps its ``failure_reason`` and reads "Refused".
    """
    links: dict[str, str] = {
        "self": url_for("clips_api.clip", clip_id=clip.id),
        "page": url_for("library.clip", clip_id=clip.id),
    }
    if user.role in FOOTAGE_ROLES and clip.status == "ready":
        links["poster"] = url_for("library.poster", clip_id=clip.id)
        # The review area (webapp.views.media, annotations_api, moments_api, player).
        links["media"] = url_for("media.clip_media", clip_id=clip.id)
        links["thumbnails"] = url_for("media.thumbnails", clip_id=clip.id)
        links["annotations"] = url_for("annotations_api.list_annotations", clip_id=clip.id)
        links["moments"] = url_for("moments_api.list_moments", clip_id=clip.id)
        links["player"] = url_for("player.play", clip_id=clip.id)
    return {
        "id": clip.id,
        "kind": clip.kind,
        "kind_label": label(KIND_LABELS, clip.kind),
        "family_code": clip.family_code,
        "title": clip.title,
        "status": clip.status,
        "status_label": clip_status_label(clip),
        "refused": is_refused(clip),
        "in_progress": clip.status in IN_PROGRESS,
        "stage": clip.stage,
        "progress": clip.progress,
        "failure_reason": clip_failure_reason(clip),
        "created_at": _iso(clip.created_at),
        "updated_at": _iso(clip.updated_at),
        "delete_after": _iso(clip.delete_after),
        "days_left": days_until(clip.delete_after, now),
        "legal_hold": held,
        "media": {
            "duration_ms": clip.duration_ms,
            "width": clip.width,
            "height": clip.height,
            "frame_rate": clip.frame_rate,
        },
        "links": links,
    }


@bp.get("/<clip_id>")
@requires(*ALL_ROLES)
def clip(clip_id: str) -> Response:
    """One clip's metadata and processing state (polled by the upload page).

    Audited as ``clip.read`` once per playback-session-like window of this browser
    session and clip (webapp.playback), not once per poll. A clip whose destruction
    has begun is audited on every read: it must get no new session rows (they would
    belong to the clip being destroyed), and nobody polls it for long.
    """
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        row = load_clip(db, clip_id)
        body = clip_json(row, user, svc.clock.now(), held=is_held(db, row.id))
        going = row.destroy_requested_at is not None or row.status == "destroyed"
        if going:
            svc.audit.append(
                db,
                user.actor,
                CLIP_READ,
                target_type="clip",
                target_id=row.id,
                site_id=row.site_id,
                details={"clip_id": row.id},
            )
    if not going:
        record_viewing(user, row, CLIP_READ, CLIP_READ)
    return jsonify(body)
