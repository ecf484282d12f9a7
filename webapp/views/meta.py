"""The landing redirect and the health check."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, redirect, url_for
from sqlalchemy import text
from werkzeug.wrappers import Response as BaseResponse

from webapp.authz import ALL_ROLES, public, requires, user_or_401
from webapp.context import unit_of_work

bp = Blueprint("meta", __name__)

#: Where each role starts after signing in.
HOME = {
    "facilitator": "library.index",
    "supervisor": "library.index",
    "dpo": "dpo.index",
    "admin": "admin.users",
}


def home_url(role: str) -> str:
    """The start page of a role."""
    return url_for(HOME.get(role, "account.index"))


@bp.get("/")
@requires(*ALL_ROLES)
def index() -> BaseResponse:
    """Send a signed-in user to the start page of their role."""
    return redirect(home_url(user_or_401().role))


@bp.get("/healthz")
@public
def healthz() -> Response:
    """For load balancers: the app runs and reaches its database. Reveals nothing else."""
    with unit_of_work() as db:
        db.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})
