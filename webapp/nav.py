"""The navigation bar: one entry per area, shown only to the roles that may use it.

Extension point: append a :class:`NavItem` to :data:`NAV` for a new area. Entries whose
endpoint is not registered in the app are skipped, so the list may name areas that a
deployment leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request, url_for

from webapp.context import CurrentUser


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    roles: tuple[str, ...]
    #: Blueprint names under which this entry shows as the current page.
    sections: tuple[str, ...] = ()


NAV: list[NavItem] = [
    NavItem("Clips", "library.index", ("facilitator", "supervisor", "dpo", "admin"), ("library",)),
    NavItem("Upload", "upload.consent", ("facilitator", "supervisor"), ("upload",)),
    NavItem(
        "Groups",
        "groups.index",
        ("facilitator", "supervisor", "dpo", "admin"),
        ("groups", "group_supervision", "programme_report"),
    ),
    NavItem("Supervision", "supervision.queue", ("supervisor",), ("supervision",)),
    NavItem("Notices", "notices.index", ("facilitator", "supervisor"), ("notices",)),
    NavItem("Data protection", "dpo.index", ("dpo", "admin"), ("dpo", "dpo_audit")),
    NavItem("Users", "admin.users", ("admin",), ("admin",)),
]


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool
    #: A number shown beside the label (new notices); 0 shows none.
    count: int = 0


def notice_count(user: CurrentUser) -> int:
    """New notices plus reviews awaiting ``user`` (storage.notices), for the nav badge."""
    from webapp.context import services, unit_of_work
    from webapp.views.notices import new_count, visible_notices

    with unit_of_work() as db:
        return new_count(visible_notices(db, user, services().clock.now()))


def nav_for(user: CurrentUser | None) -> list[NavLink]:
    """The links ``user`` sees, in order; empty for anonymous users and during TOTP setup."""
    if user is None or user.must_enrol or user.must_change_password:
        return []
    endpoints = current_app.view_functions
    section = request.blueprint or ""
    return [
        NavLink(
            item.label,
            url_for(item.endpoint),
            section in item.sections,
            notice_count(user) if item.endpoint == "notices.index" else 0,
        )
        for item in NAV
        if user.role in item.roles and item.endpoint in endpoints
    ]


@dataclass(frozen=True)
class ClipAction:
    """A button on a clip's page leading to another area (e.g. the player)."""

    label: str
    endpoint: str  # takes a ``clip_id`` argument
    roles: tuple[str, ...]
    #: Clip states in which the action makes sense.
    states: tuple[str, ...] = ("ready",)
    #: Only for clips of the user's own site (not for a clip shared in from elsewhere).
    own_site_only: bool = False


#: The states in which a clip still has a consent, an audit trail and can be held.
GOVERNANCE_STATES = ("receiving", "queued", "processing", "ready", "failed", "erasure-pending")

#: Extension point: the player, moments and supervision areas add their entry here.
CLIP_ACTIONS: list[ClipAction] = [
    ClipAction("Watch and annotate", "player.play", ("facilitator", "supervisor")),
    ClipAction("Compare coding and sign off", "supervision.compare", ("supervisor",)),
    ClipAction(
        "Share for supervision", "shares.shares", ("supervisor", "admin"), own_site_only=True
    ),
    # The DPO's way from a clip to its consent, its audit trail and a legal hold (dpo.py).
    ClipAction("Its consent", "dpo.clip_consent", ("dpo", "admin"), GOVERNANCE_STATES, True),
    ClipAction("Who saw it (audit)", "dpo.clip_audit", ("dpo", "admin"), GOVERNANCE_STATES, True),
    ClipAction("Place a legal hold", "dpo.clip_hold", ("dpo", "admin"), GOVERNANCE_STATES, True),
]


def clip_actions_for(
    user: CurrentUser, clip_id: str, status: str, own_site: bool = True
) -> list[NavLink]:
    """The clip-page buttons ``user`` may use for a clip in ``status`` (``own_site``:
    the clip belongs to the user's site)."""
    endpoints = current_app.view_functions
    return [
        NavLink(action.label, url_for(action.endpoint, clip_id=clip_id), False)
        for action in CLIP_ACTIONS
        if user.role in action.roles
        and status in action.states
        and action.endpoint in endpoints
        and (own_site or not action.own_site_only)
    ]
