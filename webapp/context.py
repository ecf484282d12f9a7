"""Request-time access to the wired services and the signed-in user.

Views never build infrastructure: they ask :func:`services` for what the composition
root built when the app was created, and :func:`current_user` for who is asking.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from flask import current_app, g, request
from sqlalchemy.orm import Session

from storage.audit import Actor
from webapp.composition import Services

EXTENSION = "verp"


@dataclass(frozen=True)
class CurrentUser:
    """A snapshot of the signed-in user and their site (no live ORM object leaks out)."""

    id: str
    email: str
    display_name: str
    role: str
    site_id: str
    site_slug: str
    site_name: str
    totp_enabled: bool
    must_enrol: bool = False
    #: An admin set or reset the password: the user must choose their own first.
    must_change_password: bool = False

    @property
    def actor(self) -> Actor:
        return Actor(id=self.id, role=self.role, site_id=self.site_id)


def services() -> Services:
    """The app's :class:`Services` (built once by ``create_app``)."""
    return cast(Services, current_app.extensions[EXTENSION])


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A database unit of work: commits on success, rolls back on error."""
    with services().db.session() as session:
        yield session


def current_user() -> CurrentUser | None:
    """The signed-in user of this request, or None."""
    return cast(CurrentUser | None, g.get("user"))


def client_address() -> str:
    """The client's address as seen after trusted proxies (see ``web.proxy_hops``)."""
    return request.remote_addr or "unknown"
