"""What the review views share: the coding schemes, JSON bodies, names, moment hand-off.

* :func:`registry` loads the coding schemes once per app (on first use, not at import)
  from ``settings.taxonomy_dir`` and the shipped defaults; a malformed scheme file is a
  TaxonomyError (500) on every review request until fixed, never a half-loaded scheme.
* :func:`json_object` reads the body of an API call; anything but a JSON object is a
  ValidationError (422 for a JSON body, 400 otherwise).
* :func:`render_moments` hands freshly chosen moments to the worker after their
  transaction committed — or, with ``VERP_INLINE_PROCESSING`` (tests, like finished
  uploads in webapp.tus), renders them inside the request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any, cast

from flask import current_app, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from review.taxonomy import TaxonomyRegistry, load_registry
from storage.db.tenancy import User
from storage.errors import ValidationError
from webapp.context import services

log = logging.getLogger("verp.web")
EXTENSION = "verp.taxonomies"
_lock = threading.Lock()


def registry() -> TaxonomyRegistry:
    """The app's coding schemes (loaded once). Raises review's TaxonomyError."""
    extensions = current_app.extensions
    found = extensions.get(EXTENSION)
    if found is None:
        with _lock:
            found = extensions.get(EXTENSION)
            if found is None:
                found = load_registry(services().settings.taxonomy_dir)
                extensions[EXTENSION] = found
    return cast(TaxonomyRegistry, found)


def json_object() -> dict[str, Any]:
    """The request's JSON object; raises ValidationError for anything else."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("send a JSON object (Content-Type: application/json)")
    return body


def optional_int(body: dict[str, Any], name: str) -> int | None:
    """``body[name]`` as a whole number or None; raises ValidationError for other types."""
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be a whole number of milliseconds")
    return value


def require_int(body: dict[str, Any], name: str) -> int:
    """``body[name]`` as a whole number; raises ValidationError if missing or not one."""
    value = optional_int(body, name)
    if value is None:
        raise ValidationError(f"{name} is required")
    return value


def author_names(db: Session, site_id: str, ids: Iterable[str]) -> dict[str, str]:
    """Display names of the users of ``site_id`` among ``ids`` (others are left out)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = select(User.id, User.display_name).where(User.id.in_(wanted), User.site_id == site_id)
    return {uid: name or "" for uid, name in db.execute(query).all()}


def render_moments(moment_ids: Iterable[str]) -> None:
    """Cut the media of pending moments (call after their transaction committed).

    A queue failure is logged, not raised: the moments are saved and stay ``pending``;
    saving the moment again re-queues it.
    """
    svc = services()
    inline = bool(current_app.config.get("VERP_INLINE_PROCESSING"))
    for moment_id in moment_ids:
        if inline:
            from ingest.moments import render_moment

            render_moment(svc, moment_id)
            continue
        try:
            from ingest.jobs import enqueue_render_moment

            enqueue_render_moment(svc, moment_id)
        except Exception:
            log.exception("could not queue moment %s for rendering", moment_id)
