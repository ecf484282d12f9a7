"""The shared-review and supervision JSON API: moments, stills, their order, the shared
review's completion, coder agreement and the supervisor's sign-off.

Moments are chosen by reviewers of the clip (``review.moments``); a new or re-timed
moment is ``pending`` until the worker has cut it (webapp.reviewing.render_moments), then
``ready`` with ``links.media``. Marking the shared review done and signing a review off
are retention events (``review.supervision``): both recompute the clip's deletion date.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from review import agreement, moments, supervision
from review.errors import ValidationError
from storage.db.review import Moment, SignOff
from webapp.authz import FOOTAGE_ROLES, load_clip, requires, user_or_401
from webapp.context import services, unit_of_work
from webapp.reviewing import (
    author_names,
    json_object,
    optional_int,
    registry,
    render_moments,
    require_int,
)

bp = Blueprint("moments_api", __name__, url_prefix="/api/v1")

MOMENT_KINDS = ("moment", "still")


def moment_json(moment: Moment) -> dict[str, Any]:
    """A moment as the API shows it; ``links.media`` only once it is rendered."""
    body = moments.as_dict(moment)
    body.pop("blob_id", None)  # an internal id: clients use links.media
    links = {"self": url_for("moments_api.get_moment", moment_id=moment.id)}
    if moment.status == "ready" and moment.blob_id:
        links["media"] = url_for("media.moment_media", moment_id=moment.id)
    body["links"] = links
    return body


@bp.get("/clips/<clip_id>/moments")
@requires(*FOOTAGE_ROLES)
def list_moments(clip_id: str) -> Response:
    """The shared-review playlist with the limits the picker must respect."""
    user = user_or_401()
    settings = services().settings
    with unit_of_work() as db:
        rows = moments.playlist(db, user.actor, clip_id)
        body = [moment_json(m) for m in rows]
    return jsonify(
        {
            "moments": body,
            "max_moments": settings.max_moments,
            "max_moment_seconds": settings.max_moment_seconds,
            "max_stills": moments.MAX_STILLS,
            "default_caption": moments.DEFAULT_QUESTION,
        }
    )


@bp.post("/clips/<clip_id>/moments")
@requires(*FOOTAGE_ROLES)
def add_moment(clip_id: str) -> tuple[Response, int]:
    """Choose a moment (``kind: "moment"``, ``start_ms``, ``end_ms``) or a still
    (``kind: "still"``, ``start_ms``) with an optional ``caption``; it is cut next."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        load_clip(db, clip_id)  # another site's clip is 404 whatever the body says
        body = json_object()
        kind = body.get("kind", "moment")
        if kind not in MOMENT_KINDS:
            raise ValidationError("kind must be moment or still")
        caption = body.get("caption")
        start = require_int(body, "start_ms")
        if kind == "moment":
            row = moments.add_moment(
                db, svc.audit, svc.settings, user.actor, clip_id,
                start_ms=start, end_ms=require_int(body, "end_ms"), caption=caption,
            )  # fmt: skip
        else:
            row = moments.add_still(
                db, svc.audit, user.actor, clip_id, at_ms=start, caption=caption
            )
        moment_id = row.id
    render_moments([moment_id])
    return jsonify(_reload(moment_id)), 201


def _reload(moment_id: str) -> dict[str, Any]:
    """The moment as it is now (rendering may have finished in the meantime)."""
    user = user_or_401()
    with unit_of_work() as db:
        return moment_json(moments.get_moment(db, user.actor, moment_id))


@bp.get("/moments/<moment_id>")
@requires(*FOOTAGE_ROLES)
def get_moment(moment_id: str) -> Response:
    return jsonify(_reload(moment_id))


@bp.patch("/moments/<moment_id>")
@requires(*FOOTAGE_ROLES)
def update_moment(moment_id: str) -> Response:
    """Change ``caption`` and/or ``start_ms``/``end_ms``; new times mean a new cut."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        moments.get_moment(db, user.actor, moment_id)  # 404 before the body
        body = json_object()
        unknown = sorted(set(body) - {"caption", "start_ms", "end_ms"})
        if unknown:
            raise ValidationError(f"unknown field(s): {', '.join(unknown)}")
        row = moments.update_moment(
            db, svc.audit, svc.vault, svc.settings, user.actor, moment_id,
            caption=body.get("caption"), start_ms=optional_int(body, "start_ms"),
            end_ms=optional_int(body, "end_ms"),
        )  # fmt: skip
        pending = row.status == "pending"
    if pending:
        render_moments([moment_id])
    return jsonify(_reload(moment_id))


@bp.delete("/moments/<moment_id>")
@requires(*FOOTAGE_ROLES)
def delete_moment(moment_id: str) -> tuple[str, int]:
    """Remove a moment or still and destroy its encrypted cut."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        moments.delete_moment(db, svc.audit, svc.vault, user.actor, moment_id)
    return "", 204


@bp.put("/clips/<clip_id>/moments/order")
@requires(*FOOTAGE_ROLES)
def reorder(clip_id: str) -> Response:
    """Set the playlist order: ``ids`` lists every moment and still of the clip once."""
    user = user_or_401()
    with unit_of_work() as db:
        load_clip(db, clip_id)
        ids = json_object().get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValidationError("ids must be a list of moment ids")
        rows = moments.reorder_moments(db, services().audit, user.actor, clip_id, ids)
        body = [moment_json(m) for m in rows]
    return jsonify({"moments": body})


@bp.post("/clips/<clip_id>/shared-review-done")
@requires(*FOOTAGE_ROLES)
def shared_review_done(clip_id: str) -> Response:
    """Record that the home visit's shared review with the family took place (now)."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        delete_after = supervision.mark_shared_review_done(
            db, svc.audit, svc.settings, user.actor, clip_id
        )
    return jsonify({"shared_review": "done", "delete_after": delete_after})


@bp.get("/clips/<clip_id>/agreement")
@requires(*FOOTAGE_ROLES)
def compare(clip_id: str) -> Response:
    """Cohen's kappa between two coders (``coder_a``, ``coder_b`` user ids) for one
    ``scheme_id`` over windows of ``window_ms`` (default: the site setting);
    ``level=cluster`` compares top-level codes; ``subject`` narrows the annotations."""
    user = user_or_401()
    svc = services()
    args = request.args
    with unit_of_work() as db:
        load_clip(db, clip_id)
        window = args.get("window_ms", str(svc.settings.agreement_window_ms))
        if not window.isdigit():
            raise ValidationError("window_ms must be a whole number of milliseconds")
        result = agreement.compare_coders(
            db, svc.audit, registry(), user.actor, clip_id,
            coder_a=args.get("coder_a", ""), coder_b=args.get("coder_b", ""),
            scheme_id=args.get("scheme_id", ""), window_ms=int(window),
            subject=args.get("subject") or None, level=args.get("level", "code"),
        )  # fmt: skip
    return jsonify(result.to_dict())


def sign_off_json(row: SignOff | None, names: dict[str, str]) -> dict[str, Any]:
    if row is None:
        return {"signed_off": False}
    return {
        "signed_off": True,
        "clip_id": row.clip_id,
        "supervisor_id": row.supervisor_id,
        "supervisor": names.get(row.supervisor_id, ""),
        "summary": row.summary,
        "signed_at": row.signed_at.isoformat(),
    }


@bp.get("/clips/<clip_id>/sign-off")
@requires(*FOOTAGE_ROLES)
def get_sign_off(clip_id: str) -> Response:
    user = user_or_401()
    with unit_of_work() as db:
        row = supervision.get_sign_off(db, user.actor, clip_id)
        names = author_names(db, user.site_id, [row.supervisor_id] if row else [])
        body = sign_off_json(row, names)
    return jsonify(body)


@bp.post("/clips/<clip_id>/sign-off")
@requires("supervisor")
def sign_off(clip_id: str) -> tuple[Response, int]:
    """Sign the review off with a ``summary``; locks annotations, replies and moments."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        load_clip(db, clip_id)
        summary: Any = json_object().get("summary")
        row = supervision.sign_off(
            db, svc.audit, svc.settings, user.actor, clip_id, summary=summary
        )
        body = sign_off_json(row, author_names(db, user.site_id, [row.supervisor_id]))
    return jsonify(body), 201
