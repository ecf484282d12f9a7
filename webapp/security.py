"""HTTP hardening: cookies, CSRF, Content-Security-Policy and the other security headers.

Referrer-Policy is ``no-referrer``, so browsers send neither a Referer nor a real Origin
on form posts; Flask-WTF's "strict referrer" check is therefore off and cross-site
requests are refused by the CSRF token, SameSite cookies and, where the browser sends
it, ``Sec-Fetch-Site``.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, g, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from config import Settings

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
PERMISSIONS = "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HSTS = "max-age=31536000; includeSubDomains"

csrf = CSRFProtect()


def configure(app: Flask, settings: Settings, secret_key: bytes) -> None:
    """Cookie, CSRF and proxy settings plus the header hook; call once from create_app."""
    app.config.update(
        SECRET_KEY=secret_key,
        # "__Host-" makes browsers refuse the cookie unless Secure, host-only, path /.
        SESSION_COOKIE_NAME="__Host-verp" if settings.secure_cookies else "verp",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_minutes),
        # The cookie is re-sent only when the session changed; webapp.sessions stamps
        # each second of use into it, which also moves its expiry forward.
        SESSION_REFRESH_EACH_REQUEST=False,
        PREFERRED_URL_SCHEME="https" if settings.secure_cookies else "http",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the (idle-limited) session
        WTF_CSRF_SSL_STRICT=False,  # see module docstring
        WTF_CSRF_HEADERS=["X-CSRFToken"],
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    if settings.proxy_hops:
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )
    csrf.init_app(app)
    app.before_request(refuse_cross_site)
    hsts = settings.secure_cookies

    @app.after_request
    def headers(response: Response) -> Response:
        return add_headers(response, hsts=hsts)


def refuse_cross_site() -> None:
    """Refuse state-changing requests a browser marks as coming from another site."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("Sec-Fetch-Site", "") == "cross-site":
        raise CSRFError("cross-site request")


def add_headers(response: Response, *, hsts: bool) -> Response:
    """Security headers on every response; no caching of anything but static assets."""
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Permissions-Policy"] = PERMISSIONS
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if hsts:
        headers["Strict-Transport-Security"] = HSTS
    if request.endpoint != "static" or g.get("user") is not None:
        if "no-store" not in headers.get("Cache-Control", ""):  # keep "private, no-store"
            headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response
