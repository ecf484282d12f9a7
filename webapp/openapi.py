"""The OpenAPI 3.1 document of ``/api/v1``, built as a plain dict (served as JSON).

Kept beside the views it describes; a test validates it with openapi-spec-validator and
checks it against the app's url_map both ways (every route documented, no phantom
path or method). Paths are relative to the server URL ``/api/v1``.
"""

from __future__ import annotations

from typing import Any

from webapp.api_schemas import (
    BOOL,
    INT,
    MS,
    STR,
    Schema,
    array,
    obj,
    ref,
    schemas,
)

JSON = "application/json"


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


ERRORS = {
    "401": _error("Not signed in."),
    "403": _error("Role not allowed, or the consent does not cover this use."),
    "404": _error("No such object, or another site's."),
}


def _json(description: str, schema: Schema) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def op(
    summary: str,
    ok: dict[str, dict[str, Any]],
    *,
    body: Schema | None = None,
    query: tuple[tuple[str, Schema, str], ...] = (),
    extra: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One operation: its success responses, common errors, body and query parameters."""
    responses: dict[str, Any] = {**ok, **ERRORS}
    for status in extra:
        responses[status] = _error(EXTRA[status])
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
    if query:
        operation["parameters"] = [
            {"name": n, "in": "query", "required": False, "schema": s, "description": d}
            for n, s, d in query
        ]
    return operation


EXTRA = {
    "400": "Malformed request or CSRF token missing.",
    "409": "Locked (signed off), stale revision, or the moment is not rendered yet.",
    "405": "Method not allowed here (the Allow header lists the ones that are).",
    "410": "The clip's key was destroyed, or (tus) the upload expired.",
    "412": "Tus-Resumable missing or unsupported.",
    "413": "Upload too large.",
    "415": "A tus PATCH without Content-Type: application/offset+octet-stream.",
    "416": "Range not satisfiable: no body, Content-Range: bytes */size.",
    "422": "Well-formed JSON whose content was refused; nothing changed.",
    "460": "tus: the body does not match Upload-Checksum (reason phrase Checksum Mismatch).",
}
WRITE = ("400", "409", "422")
NO_CONTENT = {"204": {"description": "Done."}}
RANGE_HEADERS = (
    ("Range", "bytes=a-b, bytes=a- or bytes=-n; several ranges: the first satisfiable one"),
    ("If-Range", "an ETag; any other validator sends the whole body"),
)


#: Every tus request but OPTIONS carries it (and it is the endpoint's CSRF defence).
TUS_RESUMABLE = {
    "name": "Tus-Resumable",
    "in": "header",
    "required": True,
    "schema": {"enum": ["1.0.0"]},
    "description": "the tus version; anything else is 412 with Tus-Version",
}

#: tus discovery: public (clients ask before they have a session), headers only.
DISCOVERY: dict[str, Any] = {
    "description": "tus 1.0.0 (https://tus.io/protocols/resumable-upload); needs no session",
    "summary": "tus discovery",
    "security": [],
    "responses": {
        "204": {
            "description": "Capabilities",
            "headers": {
                name: {"schema": STR, "required": True}
                for name in ("Tus-Version", "Tus-Extension", "Tus-Max-Size")
            },
        }
    },
}


def _media(summary: str, types: tuple[str, ...]) -> dict[str, Any]:
    binary = {"type": "string", "format": "binary"}
    content = {t: {"schema": binary} for t in types}
    operation = op(
        summary,
        {
            "200": {"description": "The whole body.", "content": content},
            "206": {"description": "One byte range (Content-Range).", "content": content},
            "304": {"description": "If-None-Match matched the ETag."},
            # Empty body: the answer is the Content-Range header (RFC 9110 §15.5.17).
            "416": {
                "description": EXTRA["416"],
                "headers": {"Content-Range": {"schema": STR, "required": True}},
            },
        },
        extra=("409", "410"),
    )
    operation["parameters"] = [
        {"name": n, "in": "header", "required": False, "schema": STR, "description": d}
        for n, d in RANGE_HEADERS
    ]
    return operation


def _file(
    summary: str,
    media_type: str,
    query: tuple[tuple[str, Schema, str], ...] = (),
    schema: Schema | None = None,
) -> dict[str, Any]:
    """A whole file; ``schema`` describes a JSON one (text files are strings)."""
    ok = {"description": "The file.", "content": {media_type: {"schema": schema or STR}}}
    return op(summary, {"200": ok}, query=query, extra=("410",))


def _paths() -> dict[str, dict[str, Any]]:
    clip, ann, moment = ref("Clip"), ref("Annotation"), ref("Moment")
    tus = {
        "description": "tus 1.0.0 (https://tus.io/protocols/resumable-upload)",
        "parameters": [TUS_RESUMABLE],
    }
    paths: dict[str, dict[str, Any]] = {
        "/clips": {"get": op("Clips the user may see", {"200": _json("Clips", obj(
            clips=array(clip), truncated=BOOL))}, query=(
            ("kind", STR, "filter by kind"), ("status", STR, "filter by status")))},
        "/clips/{clip_id}": {"get": op("One clip", {"200": _json("The clip", clip)})},
        "/clips/{clip_id}/media": {"get": _media("Playback rendition (MP4)", ("video/mp4",))},
        "/clips/{clip_id}/thumbnails.vtt": {"get": _file("Thumbnail track", "text/vtt")},
        "/clips/{clip_id}/sprite.jpg": {"get": _file("Thumbnail sprite", "image/jpeg")},
        "/clips/{clip_id}/annotations": {
            "get": op("Annotations with threads and links", {"200": _json(
                "Annotations", obj(annotations=array(ann)))}),
            "post": op("Add an annotation", {"201": _json("Created", ann)},
                       body=ref("AnnotationInput"), extra=WRITE),
        },
        "/clips/{clip_id}/links": {"get": op("Links between annotations", {"200": _json(
            "Links", obj(links=array(ref("Link"))))})},
        "/clips/{clip_id}/moments": {
            "get": op("Shared-review playlist", {"200": _json("Moments", obj(
                moments=array(moment), max_moments=INT, max_moment_seconds=INT,
                max_stills=INT, default_caption=STR))}),
            "post": op("Choose a moment or still", {"201": _json("Created", moment)},
                       body=obj(("start_ms",), kind={"enum": ["moment", "still"]},
                                 start_ms=MS, end_ms=MS, caption=STR), extra=WRITE),
        },
        "/clips/{clip_id}/moments/order": {"put": op(
            "Reorder the playlist", {"200": _json("Moments", obj(moments=array(moment)))},
            body=obj(("ids",), ids=array(STR)), extra=WRITE)},
        "/clips/{clip_id}/shared-review-done": {"post": op(
            "Record the shared review with the family", {"200": _json("Done", obj(
                shared_review=STR, delete_after=STR))}, extra=WRITE)},
        "/clips/{clip_id}/agreement": {"get": op(
            "Cohen's kappa between two coders", {"200": _json("Agreement", ref("Agreement"))},
            query=(("coder_a", STR, "user id"), ("coder_b", STR, "user id"),
                   ("scheme_id", STR, "coding scheme"), ("window_ms", INT, "window length"),
                   ("subject", STR, "only this subject"), ("level", STR, "code or cluster")),
            extra=("400",))},
        "/clips/{clip_id}/sign-off": {
            "get": op("The review's sign-off", {"200": _json("Sign-off", ref("SignOff"))}),
            "post": op("Sign the review off (supervisors)", {"201": _json(
                "Signed off", ref("SignOff"))}, body=obj(("summary",), summary=STR),
                extra=WRITE),
        },
        "/annotations/{annotation_id}": {
            "get": op("One annotation", {"200": _json("Annotation", ann)}),
            "patch": op("Edit one's own annotation", {"200": _json("Annotation", ann)},
                        body=ref("AnnotationInput"), extra=WRITE),
            "delete": op("Delete one's own annotation", NO_CONTENT, extra=("400", "409")),
        },
        "/annotations/{annotation_id}/replies": {
            "get": op("The thread", {"200": _json("Replies", obj(replies=array(
                ref("Reply"))))}),
            "post": op("Reply", {"201": _json("Reply", ref("Reply"))},
                       body=obj(("text",), text=STR), extra=WRITE),
        },
        "/annotations/{annotation_id}/resolve": {"post": op(
            "Resolve or reopen the thread", {"200": _json("Annotation", ann)},
            body=obj(("resolved",), resolved=BOOL), extra=WRITE)},
        "/replies/{reply_id}": {"delete": op("Delete one's own reply", NO_CONTENT,
                                             extra=("400", "409"))},
        "/links": {"post": op("Link two annotations", {"201": _json("Link", ref("Link"))},
                              body=obj(("source_id", "target_id"), source_id=STR,
                                        target_id=STR, relation=STR), extra=WRITE)},
        "/links/{link_id}": {"delete": op("Remove a link", NO_CONTENT, extra=("400", "409"))},
        "/moments/{moment_id}": {
            "get": op("One moment", {"200": _json("Moment", moment)}),
            "patch": op("Change caption or times", {"200": _json("Moment", moment)},
                        body=obj(caption=STR, start_ms=MS, end_ms=MS), extra=WRITE),
            "delete": op("Remove a moment and its cut", NO_CONTENT, extra=("400", "409")),
        },
        "/moments/{moment_id}/media": {"get": _media(
            "A moment (MP4) or still (JPEG)", ("video/mp4", "image/jpeg"))},
        "/taxonomies": {"get": op("Coding schemes in force", {"200": _json("Schemes", obj(
            schemes=array(ref("Scheme")), subjects=array(STR),
            reserved_keys=array(STR)))}, query=(("kind", STR, "footage kind"),
                                                  ("subject", STR, "subject")))},
        "/taxonomies/{scheme_id}": {"get": op("One coding scheme", {"200": _json(
            "Scheme", ref("Scheme"))})},
        "/openapi.json": {"get": op("This document", {"200": _json("OpenAPI", obj())})},
        "/uploads/": {
            "options": DISCOVERY,
            "post": {**op("tus creation", {"201": {"description": "Created (Location)"}},
                          extra=("400", "412", "413")), **tus},
        },
        "/uploads/{upload_id}": {
            "options": DISCOVERY,
            "head": {**op("tus offset", {"200": {"description": "Upload-Offset"}},
                          extra=("410", "412")), **tus},
            "patch": {**op("tus append", NO_CONTENT, extra=(
                "400", "409", "410", "412", "413", "415", "460")), **tus},
            "delete": {**op("tus termination", NO_CONTENT, extra=("412",)), **tus},
            "post": {**op("tus method override (X-HTTP-Method-Override)", NO_CONTENT,
                          extra=("400", "405", "409", "410", "412", "413", "415", "460")),
                     **tus},
        },
    }  # fmt: skip
    for fmt, media_type in (
        ("csv", "text/csv"),
        ("vtt", "text/vtt"),
        ("eaf", "application/xml"),
        ("json", JSON),
    ):
        # Without download=1 the WebVTT is the player's track (audited once per session).
        download = (("download", STR, "1: an attachment, audited as an export"),)
        paths[f"/clips/{{clip_id}}/annotations.{fmt}"] = {
            "get": _file(
                f"Annotations export ({fmt})",
                media_type,
                download if fmt == "vtt" else (),
                ref("AnnotationsExport") if fmt == "json" else None,
            )
        }
    return paths


def document(cookie_name: str = "__Host-verp") -> dict[str, Any]:
    """The whole OpenAPI 3.1 document; ``cookie_name`` is the session cookie's name as
    configured (``__Host-verp`` with secure cookies, ``verp`` on plain-http localhost)."""
    paths = _paths()
    for path, item in paths.items():  # declare each {name} of a path (OpenAPI requires it)
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        params = [{"name": n, "in": "path", "required": True, "schema": STR} for n in names]
        if params:
            item["parameters"] = params
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "verp API",
            "version": "1",
            "description": "Clips, annotations, moments, supervision and footage of verp. "
            "Sign in through /login (session cookie); every state-changing request "
            "carries the X-CSRFToken header (the token of <meta name=csrf-token>). "
            'Errors are {"error": {"code", "message"}}.',
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"session": []}],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": cookie_name},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
            },
        },
    }
