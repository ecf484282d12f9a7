"""The Flask app factory.

``create_app()`` wires the services once (through :mod:`webapp.composition`), installs
security (cookies, CSRF, headers), sessions, authorisation, error handlers and every
blueprint listed in :func:`blueprints`.

Extension points for new areas:

* add the blueprint to :func:`blueprints` (and a row per route to the authorisation
  matrix test, which fails for any route it does not know);
* decorate every view with :func:`webapp.authz.requires` (routes without a policy are
  refused);
* extend ``templates/base.html`` and add a :class:`webapp.nav.NavItem` to show it;
* raise domain errors: :mod:`webapp.errors` turns them into responses.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, Flask

from config import Settings, load_settings
from storage.keys import read_secret_file
from webapp import authz, labels, security, sessions
from webapp.composition import Services, build_services
from webapp.context import EXTENSION, current_user
from webapp.errors import register_error_handlers
from webapp.nav import nav_for

#: Largest request body accepted for forms and JSON (the tus endpoint streams its own).
MAX_REQUEST_BYTES = 32 * 1024 * 1024
#: Size of each tus PATCH the upload page sends (a lost chunk costs at most this much).
UPLOAD_CHUNK_BYTES = 5 * 1024 * 1024


def blueprints() -> list[tuple[Blueprint, tuple[str, ...] | None]]:
    """Every blueprint of the app with, for blueprints written without
    :func:`webapp.authz.requires`, the roles that may use all of their routes.

    Imported here rather than at module level so importing the package does no work.
    """
    from webapp.tus import bp as tus_bp
    from webapp.views import (
        account,
        admin,
        annotations_api,
        auth,
        catalog_api,
        clips_api,
        dpo,
        dpo_audit,
        group_supervision,
        groups,
        library,
        media,
        meta,
        moments_api,
        notices,
        player,
        programme_report,
        shares,
        supervision,
        upload,
    )

    # The review area: player, shared review, supervision and their JSON API.
    review_views = (media, annotations_api, moments_api, catalog_api, player, supervision)
    return [
        (meta.bp, None),
        (auth.bp, None),
        (account.bp, None),
        (library.bp, None),
        (upload.bp, None),
        (clips_api.bp, None),
        (dpo.bp, None),
        (dpo_audit.bp, None),
        (admin.bp, None),
        (notices.bp, None),
        # The programme: groups, their supervision record, the report, shares of clips.
        (groups.bp, None),
        (group_supervision.bp, None),
        (programme_report.bp, None),
        (shares.bp, None),
        (tus_bp, authz.UPLOAD_ROLES),
        *[(module.bp, None) for module in review_views],
    ]


def create_app(
    settings: Settings | None = None,
    *,
    services: Services | None = None,
    config: dict[str, Any] | None = None,
) -> Flask:
    """Build the web app.

    ``services`` (e.g. from a test fixture) wins over ``settings``; without either, the
    settings come from the environment. ``config`` overrides Flask config keys, e.g.
    ``VERP_INLINE_PROCESSING=True`` to process finished uploads in the request (tests).
    """
    if services is None:
        services = build_services(settings or load_settings())
    settings = services.settings
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        TEMPLATES_AUTO_RELOAD=False,
        VERP_UPLOAD_CHUNK_BYTES=UPLOAD_CHUNK_BYTES,
        VERP_INLINE_PROCESSING=False,
    )
    security.configure(app, settings, read_secret_file(settings.secret_key_file))
    app.config.update(config or {})
    app.extensions[EXTENSION] = services
    app.before_request(sessions.load_user)
    app.before_request(authz.enforce_declared)
    register_error_handlers(app)
    for blueprint, roles in blueprints():
        app.register_blueprint(blueprint)
        if roles is not None:
            authz.protect_blueprint_views(app, blueprint.name, *roles)

    register_template_helpers(app)
    return app


def register_template_helpers(app: Flask) -> None:
    """The layout's context (user, navigation) and the label filters templates use."""

    @app.context_processor
    def layout_context() -> dict[str, Any]:
        user = current_user()
        return {"user": user, "nav": nav_for(user), "asset_version": ASSET_VERSION}

    maps = {
        "role_label": labels.ROLE_LABELS,
        "kind_label": labels.KIND_LABELS,
        "purpose_label": labels.PURPOSE_LABELS,
        "status_label": labels.STATUS_LABELS,
        "state_label": labels.STATE_LABELS,
        "reason_label": labels.REASON_LABELS,
    }
    for name, mapping in maps.items():
        app.add_template_filter(functools.partial(labels.label, mapping), name)
    app.add_template_filter(labels.days_until, "days_left")
    app.add_template_filter(labels.clip_status_label, "clip_status_label")
    app.add_template_filter(labels.clip_failure_reason, "clip_failure_reason")
    app.add_template_test(labels.is_refused, "refused")
    app.add_template_filter(labels.when, "when")
    app.add_template_filter(labels.day, "day")
    app.add_template_filter(labels.duration, "duration")
    app.add_template_filter(labels.short_id, "short_id")
    app.add_template_filter(labels.filesize, "filesize")


#: Appended to static URLs so browsers fetch new assets after an upgrade.
ASSET_VERSION = "1"
