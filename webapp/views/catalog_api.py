"""What exists: the clips list, the coding schemes, and the API's own description.

``GET /api/v1/clips`` lists the clips the user may know about in the one clip shape of
the API (:func:`webapp.views.clips_api.clip_json`); DPOs and admins get the metadata
without links to footage. Coding schemes are configuration, not personal data, so
every signed-in role may read them. ``/api/v1/openapi.json`` is the OpenAPI 3.1
document (webapp.openapi).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import select

from review.taxonomy import RESERVED_KEYS
from storage.db.footage import CLIP_STATES, KINDS, Clip
from storage.db.review import SUBJECTS
from storage.holds import held_clip_ids
from webapp.authz import ALL_ROLES, clip_scope, requires, user_or_401
from webapp.context import services, unit_of_work
from webapp.openapi import document
from webapp.reviewing import registry
from webapp.views.clips_api import clip_json

bp = Blueprint("catalog_api", __name__, url_prefix="/api/v1")

PAGE_SIZE = 200


@bp.get("/clips")
@requires(*ALL_ROLES)
def list_clips() -> Response:
    """The user's clips, newest first; ``kind`` and ``status`` filter (unknown values
    are ignored); destroyed clips only when asked for by ``status=destroyed``."""
    user = user_or_401()
    svc = services()
    kind, status = request.args.get("kind", ""), request.args.get("status", "")
    query = select(Clip).where(clip_scope(user)).order_by(Clip.created_at.desc(), Clip.id)
    if status in CLIP_STATES:
        query = query.where(Clip.status == status)
    else:
        query = query.where(Clip.status != "destroyed")
    if kind in KINDS:
        query = query.where(Clip.kind == kind)
    now = svc.clock.now()
    with unit_of_work() as db:
        rows = list(db.scalars(query.limit(PAGE_SIZE)))
        held = held_clip_ids(db, user.site_id)
        body = [clip_json(c, user, now, held=c.id in held) for c in rows]
        svc.audit.append(
            db, user.actor, "clip.list", site_id=user.site_id, details={"count": len(rows)}
        )
    return jsonify({"clips": body, "truncated": len(rows) == PAGE_SIZE})


@bp.get("/taxonomies")
@requires(*ALL_ROLES)
def taxonomies() -> Response:
    """The coding schemes in force at the user's site; ``kind`` (and ``subject``)
    narrow them to those a coder may use on such footage."""
    user = user_or_401()
    kind, subject = request.args.get("kind", ""), request.args.get("subject", "")
    schemes = registry().schemes(user.site_slug)
    if kind:
        schemes = [s for s in schemes if s.applies(kind, subject or None)]
    return jsonify(
        {
            "schemes": [s.to_dict() for s in schemes],
            "subjects": list(SUBJECTS),
            "reserved_keys": sorted(RESERVED_KEYS),
        }
    )


@bp.get("/taxonomies/<scheme_id>")
@requires(*ALL_ROLES)
def taxonomy(scheme_id: str) -> Response:
    """One coding scheme (its current version at the user's site); 404 if unknown."""
    user = user_or_401()
    return jsonify(registry().get(scheme_id, user.site_slug).to_dict())


@bp.get("/openapi.json")
@requires(*ALL_ROLES)
def openapi() -> Response:
    """The OpenAPI 3.1 description of /api/v1 (with the session cookie's real name)."""
    return jsonify(document(cookie_name=current_app.config["SESSION_COOKIE_NAME"]))
