"""THE one place where errors become HTTP responses.

Errors of the web layer itself::

    WebError
    ├── Unauthenticated    no valid session (401 for the API, a redirect to the login page)
    └── Throttled          too many failed logins / codes (this email and address, or this
                           address whatever the email) (429)

Domain errors of storage, ingest and review are mapped in :data:`RULES` (first match
wins, so subclasses come before their bases). JSON requests (``/api/...`` or a JSON
body or ``Accept: application/json``) get ``{"error": {"code": ..., "message": ...}}``;
pages get a friendly HTML page. Messages of 404/403/500 are generic on purpose: they
must not reveal whether another site's object exists or why decryption failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Response as BaseResponse

from ingest.errors import (
    ChecksumMismatch,
    ChecksumUnsupported,
    IngestError,
    MediaRejected,
    OffsetMismatch,
    TusVersionUnsupported,
    UploadContentType,
    UploadExpired,
    UploadRequestInvalid,
    UploadTooLarge,
)
from review.errors import Conflict, Locked, ReviewError, TaxonomyError
from storage.errors import (
    ConsentError,
    DecryptionError,
    KeyNotFound,
    NotFound,
    PermissionDenied,
    StorageError,
    ValidationError,
)
from webapp.refusals import record_refusal

log = logging.getLogger("verp.web")


class WebError(Exception):
    """Base of the web layer's own errors."""


class Unauthenticated(WebError):
    """The request needs a signed-in user and has none (or the session expired)."""


class Throttled(WebError):
    """Too many failed attempts; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, retry_after)
        super().__init__(
            f"Too many failed attempts. Please wait {_minutes(self.retry_after)} and try again."
        )


@dataclass(frozen=True)
class Rule:
    """How one error class is shown: status, stable code, and whether its text is shown."""

    error: type[Exception]
    status: int
    code: str
    message: str | None = None  # None: show the error's own (user-facing) text


GENERIC = {
    400: "The request could not be understood.",
    401: "Please sign in.",
    403: "You do not have permission to do that.",
    404: "We could not find that page or item.",
    405: "That action is not allowed here.",
    410: "This item has been permanently destroyed.",
    413: "That upload is too large.",
    429: "Too many requests. Please wait a moment and try again.",
    500: "Something went wrong on our side. Please try again; if it keeps happening, tell "
    "your site administrator.",
}

RULES: tuple[Rule, ...] = (
    Rule(Unauthenticated, 401, "unauthenticated", GENERIC[401]),
    Rule(Conflict, 409, "conflict"),
    Rule(Locked, 409, "locked"),
    Rule(TaxonomyError, 500, "internal", GENERIC[500]),
    Rule(Throttled, 429, "throttled"),
    Rule(NotFound, 404, "not_found", GENERIC[404]),
    Rule(PermissionDenied, 403, "forbidden", GENERIC[403]),
    Rule(ConsentError, 403, "consent_required", "The family's consent does not cover this use."),
    Rule(ValidationError, 400, "invalid"),
    Rule(KeyNotFound, 410, "destroyed", GENERIC[410]),
    Rule(DecryptionError, 500, "internal", GENERIC[500]),
    Rule(StorageError, 500, "internal", GENERIC[500]),
    Rule(MediaRejected, 422, "media_rejected"),
    # tus 1.0.0 (webapp/tus.py): the protocol fixes these codes; 460 = Checksum Mismatch.
    Rule(TusVersionUnsupported, 412, "tus_version"),
    Rule(UploadRequestInvalid, 400, "invalid"),
    Rule(ChecksumUnsupported, 400, "checksum_unsupported"),
    Rule(UploadContentType, 415, "unsupported_media_type"),
    Rule(OffsetMismatch, 409, "offset_mismatch"),
    Rule(UploadTooLarge, 413, "too_large"),
    Rule(ChecksumMismatch, 460, "checksum_mismatch"),
    Rule(UploadExpired, 410, "upload_expired"),
    Rule(IngestError, 500, "internal", GENERIC[500]),
    Rule(ReviewError, 400, "invalid"),
)


#: Reason phrases of status codes outside the HTTP registry that verp sends (Werkzeug
#: would send "UNKNOWN"): tus 1.0.0 defines 460.
REASON_PHRASES = {460: "Checksum Mismatch"}


def status_line(status: int) -> str:
    """``"460 Checksum Mismatch"``: the status with its reason phrase."""
    reason = REASON_PHRASES.get(status) or HTTP_STATUS_CODES.get(status, "Error")
    return f"{status} {reason}"


def wants_json() -> bool:
    """True for API calls: JSON errors instead of pages."""
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """A JSON or HTML error response of the stable shape."""
    if wants_json():
        response = jsonify({"error": {"code": code, "message": message}})
    else:
        response = Response(
            render_template("error.html", status=status, code=code, message=message),
            mimetype="text/html",
        )
    response.status = status_line(status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    """Install the handlers; call once from ``create_app``."""
    rules = RULES

    def handle_domain(exc: Exception) -> BaseResponse:
        rule = next(r for r in rules if isinstance(exc, r.error))
        status = rule.status
        if status == 400 and request.is_json:
            status = 422  # a well-formed JSON body whose content was refused
        if status >= 500:
            # The class name only: messages of storage errors may carry ids.
            log.error("request failed: %s on %s", type(exc).__name__, request.endpoint)
        if isinstance(exc, Unauthenticated) and not wants_json():
            return _to_login()
        if status in (403, 404):
            record_refusal(exc, status)  # access.refused, at most once a minute per page
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Throttled) else None
        message = rule.message or _own_message(exc)
        return error_response(status, rule.code, message, headers)

    for rule in rules:
        app.register_error_handler(rule.error, handle_domain)

    @app.errorhandler(CSRFError)
    def handle_csrf(exc: CSRFError) -> Response:
        return error_response(
            400,
            "csrf_failed",
            "This form has expired or was not sent from verp. Please reload the page and "
            "try again.",
        )

    @app.errorhandler(HTTPException)
    def handle_http(exc: HTTPException) -> Any:
        status = exc.code or 500
        if status < 400:
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        # Keep what the protocol requires of the answer, e.g. Allow on a 405.
        kept = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after")}
        return error_response(status, code, GENERIC.get(status, exc.description or code), kept)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception) -> Response:
        log.exception("unexpected error on %s", request.endpoint)
        return error_response(500, "internal", GENERIC[500])


def _own_message(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason
    return str(exc) or "The request could not be processed."


def _to_login() -> BaseResponse:
    target = request.full_path if request.method == "GET" else "/"
    return redirect(url_for("auth.login", next=target.rstrip("?")), code=302)


def _minutes(seconds: int) -> str:
    minutes = (seconds + 59) // 60
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
