"""The user's own account: profile, password, second factor, "log out everywhere".

The secret offered during TOTP enrolment is derived from the server's web secret and a
random nonce kept in the session, so the secret itself never travels in the (signed but
readable) session cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from storage.errors import ValidationError
from webapp import sessions, throttle, totp, user_admin
from webapp.authz import ALL_ROLES, requires, user_or_401
from webapp.context import CurrentUser, services, unit_of_work
from webapp.errors import Throttled

bp = Blueprint("account", __name__, url_prefix="/account")

ENROL_NONCE = "totp_nonce"


@bp.get("")
@requires(*ALL_ROLES)
def index() -> str:
    """Profile, password change, second-factor status and sign-out-everywhere."""
    return render_template("account/index.html")


@bp.post("/password")
@requires(*ALL_ROLES)
def password() -> tuple[str, int] | Response:
    """Change one's password; other browsers are signed out, this one stays in."""
    return _change_password("account/index.html", url_for("account.index"))


@bp.get("/new-password")
@requires(*ALL_ROLES, allow_unenrolled=True)
def new_password() -> str | Response:
    """The forced first step after an admin set or reset the password: choose your own."""
    if not user_or_401().must_change_password:
        return redirect(url_for("account.index"))
    return render_template("account/new_password.html")


@bp.post("/new-password")
@requires(*ALL_ROLES, allow_unenrolled=True)
def new_password_submit() -> tuple[str, int] | Response:
    """Replace the password an admin set; then on to the page the user wanted."""
    return _change_password("account/new_password.html", url_for("meta.index"))


def _change_password(template: str, done: str) -> tuple[str, int] | Response:
    """Check and store a new password from the form (throttled, audited); ``template``
    shows the problem in the form, ``done`` is where a success leads."""
    user = user_or_401()
    svc = services()
    cfg = svc.settings
    # A stolen session must not become a way to guess the password itself.
    key = throttle.throttle_key("password", user.id)
    with unit_of_work() as db:
        wait = throttle.retry_after(
            db, key, now=svc.clock.now(), limit=cfg.login_attempts, window=cfg.login_window_seconds
        )
    if wait:
        raise Throttled(wait)
    try:
        with unit_of_work() as db:
            row = user_admin.change_password(
                db,
                svc.audit,
                user.actor,
                user.site_id,
                user.id,
                request.form.get("current", ""),
                request.form.get("new", ""),
                request.form.get("confirm", ""),
            )
            sessions.begin(db, row, must_enrol=user.must_enrol)
    except ValidationError as exc:
        if isinstance(exc, user_admin.WrongPassword):
            with unit_of_work() as db:
                throttle.record_failure(
                    db, key, now=svc.clock.now(), window=cfg.login_window_seconds
                )
        return render_template(template, password_error=str(exc)), 400
    flash("Your password was changed. Other devices have been signed out.", "success")
    return redirect(done)


def _pending_secret(user: CurrentUser) -> str:
    """The enrolment secret offered to ``user`` (stable while the session's nonce lasts)."""
    nonce = session.get(ENROL_NONCE)
    if not isinstance(nonce, str):
        nonce = secrets.token_urlsafe(16)
        session[ENROL_NONCE] = nonce
    key = current_app.config["SECRET_KEY"]
    digest = hmac.new(key, f"totp-enrol\x1f{user.id}\x1f{nonce}".encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()[:20]).decode("ascii")


@bp.get("/totp", endpoint="totp")
@requires(*ALL_ROLES, allow_unenrolled=True)
def totp_setup() -> str:
    """Set up a second factor: the secret and otpauth URI as text, then a code to confirm."""
    user = user_or_401()
    if user.totp_enabled:
        return render_template("account/totp.html", enabled=True)
    secret = _pending_secret(user)
    return render_template(
        "account/totp.html",
        enabled=False,
        secret=totp.grouped(secret),
        uri=totp.provisioning_uri(secret, user.email, user.site_name),
    )


@bp.post("/totp")
@requires(*ALL_ROLES, allow_unenrolled=True)
def totp_confirm() -> tuple[str, int] | Response:
    """Turn the second factor on once the user typed a valid code from their app."""
    user = user_or_401()
    if user.totp_enabled:
        return redirect(url_for("account.totp"))
    svc = services()
    secret = _pending_secret(user)
    with unit_of_work() as db:
        if not totp.verify(db, user.id, secret, request.form.get("code", "")[:32], svc.clock.now()):
            page = render_template(
                "account/totp.html",
                enabled=False,
                failed=True,
                secret=totp.grouped(secret),
                uri=totp.provisioning_uri(secret, user.email, user.site_name),
            )
            return page, 400
        user_admin.enable_totp(db, svc.audit, user.actor, user.site_id, user.id, secret)
        sessions.finish_enrolment(db, user)
    session.pop(ENROL_NONCE, None)
    flash("Two-step sign-in is on. You will be asked for a code each time you sign in.", "success")
    return redirect(url_for("account.index"))


@bp.post("/logout-everywhere")
@requires(*ALL_ROLES, allow_unenrolled=True)
def logout_everywhere() -> Response:
    """Sign this user out of every browser and device, this one included."""
    user = user_or_401()
    svc = services()
    with unit_of_work() as db:
        user_admin.log_out_everywhere(db, svc.audit, user.actor, user.site_id, user.id)
        sessions.end(db)
    flash("You have been signed out on every device.", "info")
    return redirect(url_for("auth.login"))
