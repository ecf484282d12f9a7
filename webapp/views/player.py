"""The review pages: the player (annotate, discuss, pick moments) and the full-screen
shared review shown to the parent.

Both pages are footage pages: footage roles only, and the consent must cover the
viewer's purpose (``requires(..., footage=True)`` + ``load_clip(footage=True)``). The
pages carry no footage themselves; ``static/js/player.js`` and
``static/js/shared-review.js`` fetch it from the JSON API and the media endpoints. The
page's settings travel in a ``<script type="application/json">`` block (data, not code:
the Content-Security-Policy allows no inline script).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from ingest.pipeline import SPRITE_URL
from review.access import require_reviewable
from storage.db.footage import Clip
from webapp.authz import FOOTAGE_ROLES, load_clip, requires, user_or_401
from webapp.context import CurrentUser, services, unit_of_work
from webapp.playback import session_key

bp = Blueprint("player", __name__, url_prefix="/clips")

#: Clip kinds whose review ends in a shared review with the family.
SHARED_REVIEW_KINDS = ("home-visit",)
SPEEDS = (0.25, 0.5, 0.75, 1, 1.25, 1.5, 2)


def player_config(clip: Clip, user: CurrentUser) -> dict[str, Any]:
    """Everything player.js needs: ids, URLs, media facts and what the user may do."""
    settings = services().settings
    clip_id = clip.id
    thumbnails = url_for("media.thumbnails", clip_id=clip_id)
    return {
        "clip": {
            "id": clip_id,
            "kind": clip.kind,
            "duration_ms": clip.duration_ms,
            "frame_rate": clip.frame_rate,
            "locked": clip.signed_off_at is not None,
        },
        "user": {"id": user.id, "role": user.role},
        "speeds": list(SPEEDS),
        "moments_enabled": clip.kind in SHARED_REVIEW_KINDS,
        "max_moments": settings.max_moments,
        "max_moment_seconds": settings.max_moment_seconds,
        "urls": {
            "media": url_for("media.clip_media", clip_id=clip_id),
            "thumbnails": thumbnails,
            "sprite": thumbnails.rsplit("/", 1)[0] + "/" + SPRITE_URL,
            "annotations": url_for("annotations_api.list_annotations", clip_id=clip_id),
            "annotation": url_for("annotations_api.get_annotation", annotation_id="ID"),
            "replies": url_for("annotations_api.add_reply", annotation_id="ID"),
            "resolve": url_for("annotations_api.resolve", annotation_id="ID"),
            "links": url_for("annotations_api.create_link"),
            "link": url_for("annotations_api.delete_link", link_id="ID"),
            "reply": url_for("annotations_api.delete_reply", reply_id="ID"),
            "taxonomies": url_for("catalog_api.taxonomies", kind=clip.kind),
            "moments": url_for("moments_api.list_moments", clip_id=clip_id),
            "moment": url_for("moments_api.get_moment", moment_id="ID"),
            "order": url_for("moments_api.reorder", clip_id=clip_id),
            "shared_review": url_for("player.shared_review", clip_id=clip_id),
            "done": url_for("moments_api.shared_review_done", clip_id=clip_id),
            "player": url_for("player.play", clip_id=clip_id),
            "clip_page": url_for("library.clip", clip_id=clip_id),
        },
    }


def _open(clip_id: str, page: str) -> Clip | Response:
    """Load a ready clip for a review page (audited), or redirect to its clip page."""
    user = user_or_401()
    with unit_of_work() as db:
        clip = load_clip(db, clip_id, footage=True)
        if clip.status != "ready":
            return redirect(url_for("library.clip", clip_id=clip.id))
        require_reviewable(clip)
        services().audit.append(
            db,
            user.actor,
            "clip.view",
            target_type="clip",
            target_id=clip.id,
            site_id=clip.site_id,
            details={"page": page},
        )
    # Start the playback session key now, before the video's parallel Range requests.
    session_key()
    return clip


@bp.get("/<clip_id>/play")
@requires(*FOOTAGE_ROLES, footage=True)
def play(clip_id: str) -> str | Response:
    """The player: timeline with annotations, threads, links, moments."""
    user = user_or_401()
    clip = _open(clip_id, "player")
    if not isinstance(clip, Clip):
        return clip
    config = player_config(clip, user)
    return render_template(
        "review/player.html",
        clip=clip,
        config=config,
        speeds=SPEEDS,
        locked=clip.signed_off_at is not None,
        moments_enabled=config["moments_enabled"],
    )


@bp.get("/<clip_id>/shared-review")
@requires(*FOOTAGE_ROLES, footage=True)
def shared_review(clip_id: str) -> str | Response:
    """Full-screen shared review: one moment or still at a time, large captions."""
    user = user_or_401()
    clip = _open(clip_id, "shared-review")
    if not isinstance(clip, Clip):
        return clip
    config = player_config(clip, user)
    config["shared_review_done"] = clip.shared_review_at is not None
    return render_template("review/shared_review.html", clip=clip, config=config)
