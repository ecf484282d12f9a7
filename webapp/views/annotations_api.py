"""The annotations JSON API: annotations, threads, resolving, links and exports.

Annotations describe footage, so only reviewers (facilitators of their own clips,
supervisors of their site) use these routes; DPOs and admins get 403. Who sees which
annotation (drafts, other sites, a trainee's footage) is decided by ``review.access``;
every write is audited there. Times are whole milliseconds on the rendition's timeline.

An annotation in JSON is :func:`review.notes.as_dict` plus ``author`` (display
name), ``replies`` (the thread, oldest first) and ``links`` (this annotation's links).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from review import annotations as notes
from review import exports, links, threads
from review.access import site_slug
from review.timeline import parse_frame_rate
from storage.db.footage import Clip
from storage.db.review import Annotation, AnnotationLink, Reply
from storage.errors import ValidationError
from webapp.authz import FOOTAGE_ROLES, load_clip, requires, user_or_401
from webapp.context import CurrentUser, services, unit_of_work
from webapp.playback import record_viewing
from webapp.reviewing import author_names, json_object, optional_int, registry, require_int

bp = Blueprint("annotations_api", __name__, url_prefix="/api/v1")

EXPORT_FORMATS = exports.FORMATS
#: The playback-session target of the player's annotation track (webapp.playback).
ANNOTATION_TRACK = "annotations"


def reply_json(reply: Reply, names: dict[str, str]) -> dict[str, Any]:
    return {
        "id": reply.id,
        "annotation_id": reply.annotation_id,
        "author_id": reply.author_id,
        "author": names.get(reply.author_id, ""),
        "author_role": reply.author_role,
        "text": reply.text,
        "created_at": reply.created_at.isoformat(),
    }


def link_json(link: AnnotationLink) -> dict[str, Any]:
    return {
        "id": link.id,
        "clip_id": link.clip_id,
        "source_id": link.source_id,
        "target_id": link.target_id,
        "relation": link.relation,
        "created_by": link.created_by,
        "created_at": link.created_at.isoformat(),
    }


def _threads(db: Session, site_id: str, ids: Iterable[str]) -> dict[str, list[Reply]]:
    """Live replies of the (already visibility-checked) annotations ``ids``."""
    wanted = list(ids)
    found: dict[str, list[Reply]] = {i: [] for i in wanted}
    if not wanted:
        return found
    query = (
        select(Reply)
        .where(
            Reply.annotation_id.in_(wanted),
            Reply.site_id == site_id,
            Reply.deleted_at.is_(None),
        )
        .order_by(Reply.created_at, Reply.id)
    )
    for reply in db.scalars(query):
        found[reply.annotation_id].append(reply)
    return found


def enrich(
    db: Session, user: CurrentUser, clip_id: str, views: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Add author names, threads and links to :func:`notes.as_dict` views."""
    replies = _threads(db, user.site_id, [v["id"] for v in views])
    clip_links = links.links_of_clip(db, user.actor, clip_id)
    people = [v["author_id"] for v in views] + [
        r.author_id for thread in replies.values() for r in thread
    ]
    names = author_names(db, user.site_id, people)
    for view in views:
        view["author"] = names.get(view["author_id"], "")
        view["replies"] = [reply_json(r, names) for r in replies.get(view["id"], [])]
        view["links"] = [
            link_json(k) for k in clip_links if view["id"] in (k.source_id, k.target_id)
        ]
    return views


def _one(db: Session, user: CurrentUser, annotation: Annotation) -> dict[str, Any]:
    """The JSON view of one annotation."""
    clip = db.get(Clip, annotation.clip_id)
    assert clip is not None  # review.access loaded it a moment ago
    scheme = (
        registry().find(annotation.scheme_id, site_slug(db, clip.site_id))
        if annotation.scheme_id
        else None
    )
    rate = parse_frame_rate(clip.frame_rate) if clip.frame_rate else None
    return enrich(db, user, clip.id, [notes.as_dict(annotation, scheme, rate)])[0]


def _created(user: CurrentUser, clip: Clip, annotation: Annotation) -> dict[str, Any]:
    """The JSON view of an annotation this user just created on ``clip`` (of the user's
    site): no replies or links yet, and the author is the user, so nothing is read."""
    scheme = registry().find(annotation.scheme_id, user.site_slug) if annotation.scheme_id else None
    rate = parse_frame_rate(clip.frame_rate) if clip.frame_rate else None
    view = notes.as_dict(annotation, scheme, rate)
    return {**view, "author": user.display_name, "replies": [], "links": []}


@bp.get("/clips/<clip_id>/annotations")
@requires(*FOOTAGE_ROLES)
def list_annotations(clip_id: str) -> Response:
    """The clip's annotations the user may see, in timeline order, with threads/links."""
    user = user_or_401()
    with unit_of_work() as db:
        views = notes.annotation_views(db, registry(), user.actor, clip_id)
        body = enrich(db, user, clip_id, views)
    return jsonify({"annotations": body})


def _annotation_fields(body: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """The editable fields present in ``body`` (unknown keys refused)."""
    allowed = {*notes.EDITABLE, "revision"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}")
    fields = {k: v for k, v in body.items() if k in notes.EDITABLE}
    if not partial:
        fields.setdefault("codes", [])
        fields.setdefault("text", "")
    return fields


@bp.post("/clips/<clip_id>/annotations")
@requires(*FOOTAGE_ROLES)
def create_annotation(clip_id: str) -> tuple[Response, int]:
    """Add an annotation (point: ``start_ms``; interval: ``start_ms`` + ``end_ms``)."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        # Another site's clip is 404 whatever the body says. Kept in hand, so the clip
        # stays in the session and review.access does not read it again.
        clip = load_clip(db, clip_id)
        body = json_object()
        fields = _annotation_fields(body, partial=False)
        start = require_int(body, "start_ms")
        end = optional_int(body, "end_ms")
        subject = body.get("subject")
        if not isinstance(subject, str):
            raise ValidationError("subject is required (infant, parent, facilitator or group)")
        row = notes.create_annotation(
            db,
            svc.audit,
            registry(),
            user.actor,
            clip_id,
            start_ms=start,
            end_ms=end,
            subject=subject,
            codes=fields["codes"],
            scheme_id=fields.get("scheme_id"),
            text=fields["text"],
            visibility=fields.get("visibility", "shared"),
            shapes=fields.get("shapes"),
        )
    # After the commit: the write transaction (and its audit lock) ends with the append.
    return jsonify(_created(user, clip, row)), 201


@bp.get("/annotations/<annotation_id>")
@requires(*FOOTAGE_ROLES)
def get_annotation(annotation_id: str) -> Response:
    user = user_or_401()
    with unit_of_work() as db:
        row = notes.get_annotation(db, user.actor, annotation_id)
        result = _one(db, user, row)
    return jsonify(result)


@bp.patch("/annotations/<annotation_id>")
@requires(*FOOTAGE_ROLES)
def update_annotation(annotation_id: str) -> Response:
    """Change the author's own annotation; ``revision`` (the one displayed) turns a
    concurrent edit into 409 instead of a silent overwrite."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        notes.get_annotation(db, user.actor, annotation_id)  # 404 before the body
        body = json_object()
        changes = _annotation_fields(body, partial=True)
        expected = body.get("revision")
        if expected is not None and (isinstance(expected, bool) or not isinstance(expected, int)):
            raise ValidationError("revision must be a whole number")
        row = notes.update_annotation(
            db, svc.audit, registry(), user.actor, annotation_id, changes,
            expected_revision=expected,
        )  # fmt: skip
        result = _one(db, user, row)
    return jsonify(result)


@bp.delete("/annotations/<annotation_id>")
@requires(*FOOTAGE_ROLES)
def delete_annotation(annotation_id: str) -> tuple[str, int]:
    user = user_or_401()
    with unit_of_work() as db:
        notes.delete_annotation(db, services().audit, user.actor, annotation_id)
    return "", 204


@bp.get("/annotations/<annotation_id>/replies")
@requires(*FOOTAGE_ROLES)
def list_replies(annotation_id: str) -> Response:
    user = user_or_401()
    with unit_of_work() as db:
        rows = threads.list_replies(db, user.actor, annotation_id)
        names = author_names(db, user.site_id, [r.author_id for r in rows])
        body = [reply_json(r, names) for r in rows]
    return jsonify({"replies": body})


@bp.post("/annotations/<annotation_id>/replies")
@requires(*FOOTAGE_ROLES)
def add_reply(annotation_id: str) -> tuple[Response, int]:
    user = user_or_401()
    with unit_of_work() as db:
        notes.get_annotation(db, user.actor, annotation_id)  # 404 before the body
        text: Any = json_object().get("text")
        reply = threads.add_reply(db, services().audit, user.actor, annotation_id, text)
        names = author_names(db, user.site_id, [reply.author_id])
        result = reply_json(reply, names)
    return jsonify(result), 201


@bp.delete("/replies/<reply_id>")
@requires(*FOOTAGE_ROLES)
def delete_reply(reply_id: str) -> tuple[str, int]:
    user = user_or_401()
    with unit_of_work() as db:
        threads.delete_reply(db, services().audit, user.actor, reply_id)
    return "", 204


@bp.post("/annotations/<annotation_id>/resolve")
@requires(*FOOTAGE_ROLES)
def resolve(annotation_id: str) -> Response:
    """Resolve (``{"resolved": true}``) or reopen (``false``) the annotation's thread."""
    user = user_or_401()
    with unit_of_work() as db:
        notes.get_annotation(db, user.actor, annotation_id)  # 404 before the body
        resolved = json_object().get("resolved")
        if not isinstance(resolved, bool):
            raise ValidationError("resolved must be true or false")
        row = threads.set_resolved(db, services().audit, user.actor, annotation_id, resolved)
        result = _one(db, user, row)
    return jsonify(result)


@bp.get("/clips/<clip_id>/links")
@requires(*FOOTAGE_ROLES)
def list_links(clip_id: str) -> Response:
    user = user_or_401()
    with unit_of_work() as db:
        body = [link_json(k) for k in links.links_of_clip(db, user.actor, clip_id)]
    return jsonify({"links": body})


@bp.post("/links")
@requires(*FOOTAGE_ROLES)
def create_link() -> tuple[Response, int]:
    """Link two annotations of one clip: ``source_id`` → ``target_id`` with a
    ``relation`` (received, not-received, related; default received)."""
    user = user_or_401()
    body = json_object()
    source, target = body.get("source_id"), body.get("target_id")
    relation = body.get("relation", "received")
    if not all(isinstance(v, str) and v for v in (source, target, relation)):
        raise ValidationError("source_id and target_id are required annotation ids")
    with unit_of_work() as db:
        link = links.link_annotations(
            db, services().audit, user.actor, str(source), str(target), str(relation)
        )
        result = link_json(link)
    return jsonify(result), 201


@bp.delete("/links/<link_id>")
@requires(*FOOTAGE_ROLES)
def delete_link(link_id: str) -> tuple[str, int]:
    user = user_or_401()
    with unit_of_work() as db:
        links.unlink(db, services().audit, user.actor, link_id)
    return "", 204


def _export(clip_id: str, fmt: str) -> Response:
    """The clip's annotations as a file, audited as ``annotations.export`` each time.

    The player's annotation track fetches ``annotations.vtt`` (without ``?download=1``)
    on every load to announce annotations on screen: that is part of watching, audited
    as ``annotations.view`` once per playback session (webapp.playback).
    """
    user = user_or_401()
    download = fmt != "vtt" or request.args.get("download") == "1"
    with unit_of_work() as db:
        done = exports.export_annotations(
            db, services().audit, registry(), user.actor, clip_id, fmt, audited=download
        )
        clip = db.get(Clip, clip_id)  # the export has checked that the user may see it
    if not download:
        assert clip is not None
        details = {"format": fmt, "count": done.count}
        record_viewing(user, clip, ANNOTATION_TRACK, "annotations.view", details=details)
    response = Response(done.data, content_type=done.content_type)
    disposition = "attachment" if download else "inline"
    response.headers["Content-Disposition"] = f'{disposition}; filename="{done.filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _register_exports() -> None:
    """One route per format (``annotations.csv`` ...), so each is plainly documented."""
    for fmt in EXPORT_FORMATS:

        @requires(*FOOTAGE_ROLES)
        def view(clip_id: str, fmt: str = fmt) -> Response:
            return _export(clip_id, fmt)

        view.__name__ = f"export_{fmt}"
        view.__doc__ = f"The clip's annotations as {fmt.upper()} (audited)."
        bp.add_url_rule(
            f"/clips/<clip_id>/annotations.{fmt}", f"export_{fmt}", view, methods=["GET"]
        )


_register_exports()
