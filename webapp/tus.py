"""The tus 1.0.0 endpoint at ``/api/v1/uploads/``: a thin adapter over :mod:`ingest.tus`.

Parses headers, streams the PATCH body from ``request.stream`` in chunks (never
``request.data``: bodies can be gigabytes) and adds the tus response headers. Domain
errors are turned into status codes by ``webapp.errors``; this module only adds the
``Tus-Resumable`` (and, on 412, ``Tus-Version``) headers every tus response carries.

The signed-in user comes from ``flask.g.user`` (a ``webapp.context.CurrentUser``);
requests without one get 401, except ``OPTIONS`` (discovery), which is public.

CSRF: every request but OPTIONS must carry ``Tus-Resumable: 1.0.0`` (checked before
anything else). A custom header cannot be sent cross-site without a CORS preflight,
which this app never grants, so the header is this endpoint's CSRF defence and the
blueprint is exempted from Flask-WTF's token check. It has to be: that check reads
``request.form``, which refuses any body over ``MAX_CONTENT_LENGTH`` before the view
can lift the limit, and standard tus clients send the whole file in one PATCH.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.utils import format_datetime

from flask import Blueprint, Response, current_app, request, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import ClientDisconnected

from ingest.jobs import enqueue_process
from ingest.pipeline import process_clip
from ingest.tus import (
    UploadState,
    append_chunk,
    create_upload,
    terminate_upload,
    upload_status,
)
from ingest.tus_headers import CHECKSUMS, EXTENSIONS, TUS_VERSION, check_version, parse_metadata
from storage.audit import Actor
from webapp.authz import public
from webapp.context import current_user, services
from webapp.errors import Unauthenticated

log = logging.getLogger("verp.web")

bp = Blueprint("tus", __name__, url_prefix="/api/v1/uploads")

_OVERRIDABLE = ("PATCH", "DELETE", "HEAD")


@bp.record_once
def _exempt_from_form_csrf(state: BlueprintSetupState) -> None:
    """The Tus-Resumable header is this endpoint's CSRF defence (see module docstring)."""
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


@bp.after_request
def _tus_headers(response: Response) -> Response:
    if request.method != "OPTIONS":
        response.headers["Tus-Resumable"] = TUS_VERSION
    if response.status_code == 412:
        response.headers["Tus-Version"] = TUS_VERSION
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/", methods=["OPTIONS"], strict_slashes=False)
@bp.route("/<upload_id>", methods=["OPTIONS"])
@public
def options(upload_id: str | None = None) -> Response:
    """Server capabilities (tus discovery); carries no data, needs no tus version.

    Public: clients ask before they have a session (and a CORS preflight never carries
    cookies). It says nothing about any upload: ``upload_id`` is not even looked up.
    """
    response = Response(status=204)
    response.headers["Tus-Version"] = TUS_VERSION
    response.headers["Tus-Extension"] = ",".join(EXTENSIONS)
    response.headers["Tus-Max-Size"] = str(services().settings.max_upload_bytes)
    response.headers["Tus-Checksum-Algorithm"] = ",".join(CHECKSUMS)
    return response


@bp.route("/", methods=["POST"], strict_slashes=False)
def create() -> Response:
    """Creation: ``Upload-Length`` + ``Upload-Metadata`` -> 201 with ``Location``."""
    actor = _actor()
    state = create_upload(
        services(),
        actor,
        length=request.headers.get("Upload-Length"),
        metadata=parse_metadata(request.headers.get("Upload-Metadata")),
    )
    response = _with_state(Response(status=201), state, offset=False)
    response.headers["Location"] = url_for("tus.upload", upload_id=state.id)
    response.headers["Verp-Clip-Id"] = state.clip_id
    return response


@bp.route("/<upload_id>", methods=["HEAD", "PATCH", "DELETE", "POST"])
def upload(upload_id: str) -> Response:
    """HEAD (offset), PATCH (append), DELETE (terminate); POST only with an override."""
    method = request.method
    if method == "POST":
        # Clients behind proxies that drop PATCH/DELETE tunnel them through POST.
        method = request.headers.get("X-HTTP-Method-Override", "").upper()
        if method not in _OVERRIDABLE:
            refused = Response("use PATCH, HEAD or DELETE", status=405, mimetype="text/plain")
            refused.headers["Allow"] = "OPTIONS, HEAD, PATCH, DELETE, POST"
            return refused
    actor = _actor()
    svc = services()
    if method == "HEAD":
        state = upload_status(svc, actor, upload_id)
        response = _with_state(Response(status=200), state)
        response.headers["Upload-Length"] = str(state.length)
        return response
    if method == "DELETE":
        terminate_upload(svc, actor, upload_id)
        return Response(status=204)
    state = append_chunk(
        svc,
        actor,
        upload_id,
        offset=request.headers.get("Upload-Offset"),
        content_type=request.headers.get("Content-Type"),
        content_length=request.content_length,
        checksum=request.headers.get("Upload-Checksum"),
        read=_body_reader(),
        on_complete=_hand_off,
    )
    return _with_state(Response(status=204), state)


def _actor() -> Actor:
    # First, before anything else: the custom header is also what stops cross-site requests.
    check_version(request.headers.get("Tus-Resumable"))
    user = current_user()
    if user is None:
        raise Unauthenticated()
    return user.actor


def _body_reader() -> Callable[[int], bytes]:
    """``read(n)`` over the request body; a dropped connection reads as the end."""
    # A PATCH body is bounded by its upload's Upload-Length (at most the upload cap), not
    # by the app's form-size limit. (None here would mean "use the app's limit".)
    request.max_content_length = services().settings.max_upload_bytes
    stream = request.stream

    def read(size: int) -> bytes:
        try:
            return stream.read(size)
        except (ClientDisconnected, ConnectionError, OSError):
            return b""

    return read


def _hand_off(clip_id: str) -> None:
    """Queue the finished clip (or, with ``VERP_INLINE_PROCESSING``, process it now).

    A queue failure loses nothing: the worker re-enqueues every ``queued`` clip it finds
    (ingest.claims.stalled), so the client still gets its 204.
    """
    if current_app.config.get("VERP_INLINE_PROCESSING"):
        process_clip(services(), clip_id)
        return
    try:
        enqueue_process(services(), clip_id)
    except Exception:
        log.exception("could not enqueue clip %s; the worker's sweep will pick it up", clip_id)


def _with_state(response: Response, state: UploadState, *, offset: bool = True) -> Response:
    if offset:
        response.headers["Upload-Offset"] = str(state.offset)
    if state.expires_at is not None:
        response.headers["Upload-Expires"] = format_datetime(state.expires_at, usegmt=True)
    return response
