"""Who may see and change what in a clip's review.

The rules (they match webapp.authz's clip scope, so a page and its data agree):

* Everyone is confined to their own site; another site's clip is NotFound, and so is a
  clip of one's own site that one does not review (the same answer as a missing id).
* Reviewers are facilitators and supervisors. A supervisor reviews every clip of the
  site; a facilitator reviews the clips they uploaded, the footage in which they are
  the filmed trainee (``Clip.trainee_id``) and the clips of the groups they
  co-facilitate — so a supervisor's shared comments on a
  trainee's group session are visible to that trainee. DPOs and admins never read
  annotations (they describe the footage): PermissionDenied.
* Each use must be covered by the clip's consent (``storage.purposes``): a facilitator
  on a home visit works under *family-review*, everything else under *supervision*.
* A ``draft`` annotation is visible only to its author; ``shared`` ones to every
  reviewer of the clip. Only the author edits or deletes an annotation or reply.
* System actors (the CLI) read shared annotations of any site and write nothing.
* A signed-off review is locked (``Clip.signed_off_at``): writes raise Locked.

Locks (``lock=`` of :func:`load_clip`): coders of one clip must not queue behind each
other, so writing an annotation, reply or link takes only a *shared* lock on the clip
(PostgreSQL ``FOR SHARE``: writers of different annotations run side by side, while a
sign-off's ``FOR UPDATE`` waits for them and they wait for it, then see it). Conflicts on
one annotation are caught by its own row lock and optimistic ``revision``. Steps that
need a clip-wide invariant (sign-off, the moment limit, reordering) take the *exclusive*
lock. SQLite serialises writers anyway: ``exclusive`` takes its write lock up front
(storage.locking), ``shared`` takes nothing and the writer calls :func:`confirm_unlocked`
after its insert, while it holds the write lock, so a sign-off committed in between is
seen.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from review.errors import Locked, NotFound, PermissionDenied, ValidationError
from storage import errors as storage_errors
from storage.audit import Actor
from storage.db.footage import Clip
from storage.db.review import Annotation
from storage.db.tenancy import Site
from storage.locking import lock_row
from storage.programme import is_facilitator
from storage.purposes import default_purpose, require_clip_purpose

REVIEWER_ROLES = ("facilitator", "supervisor")

#: How :func:`load_clip` locks the clip row: not at all, shared, or exclusive.
LockMode = Literal["none", "shared", "exclusive"]


def is_system(actor: Actor) -> bool:
    return actor.role == "system"


def can_review(session: Session, actor: Actor, clip: Clip) -> bool:
    """Whether ``actor`` may read the clip's shared review (same-site check included).

    A facilitator reviews what they uploaded, what they are filmed in as a trainee, and
    every clip of the groups they co-facilitate (both co-facilitators prepare and hold
    the shared review with the family: docs/programme.md).
    """
    if is_system(actor):
        return actor.site_id is None or actor.site_id == clip.site_id
    if actor.site_id != clip.site_id or actor.role not in REVIEWER_ROLES:
        return False
    if actor.role == "supervisor" or actor.id in (clip.uploaded_by, clip.trainee_id):
        return True
    return clip.group_id is not None and is_facilitator(session, clip.group_id, actor.id)


def can_see(session: Session, actor: Actor, clip: Clip, annotation: Annotation) -> bool:
    """Whether ``actor`` may read this (not deleted) annotation of ``clip``."""
    if annotation.deleted_at is not None or annotation.clip_id != clip.id:
        return False
    if not can_review(session, actor, clip):
        return False
    return annotation.visibility == "shared" or annotation.author_id == actor.id


def load_clip(
    session: Session,
    actor: Actor,
    clip_id: str,
    *,
    write: bool = False,
    lock: LockMode | None = None,
    purpose: str | None = None,
) -> Clip:
    """The clip, if ``actor`` may review it, its row locked as ``lock`` says.

    ``write=True`` marks a write (refused to system actors) and defaults ``lock`` to
    ``"shared"``: enough to keep a sign-off from racing the write (see the module's
    docstring); ``"exclusive"`` serialises every writer of the clip, for invariants over
    the whole clip (a sign-off, two moments racing for the last slot).
    Raises NotFound (missing, other site, destroyed, or a clip this reviewer does not
    review: "exists but not yours" must answer exactly like "does not exist", or ids
    could be confirmed), PermissionDenied (a role that reviews nothing — decided before
    the clip is looked up, so it is the same for every id — or a system actor writing),
    ConsentError via storage when the consent does not cover the purpose (``purpose``
    or the role's default).
    """
    if not is_system(actor) and actor.role not in REVIEWER_ROLES:
        raise PermissionDenied("your role does not review footage")
    mode = lock or ("shared" if write else "none")
    clip = _get_clip(session, clip_id, mode) if clip_id else None
    if clip is None or (actor.site_id is not None and clip.site_id != actor.site_id):
        raise NotFound(f"no clip {clip_id}")
    if clip.status == "destroyed" or clip.destroy_requested_at is not None:
        raise NotFound(f"no clip {clip_id}")
    if write and is_system(actor):
        raise PermissionDenied("system actors do not write annotations")
    if not can_review(session, actor, clip):
        raise NotFound(f"no clip {clip_id}")
    if not is_system(actor) or purpose is not None:
        chosen = purpose or default_purpose(clip.kind, actor.role)
        try:
            require_clip_purpose(session, clip, chosen)
        except storage_errors.NotFound:
            raise NotFound(f"no clip {clip_id}") from None
    return clip


def _get_clip(session: Session, clip_id: str, mode: LockMode) -> Clip | None:
    if mode == "exclusive":
        return lock_row(session, Clip, clip_id)
    if mode == "shared" and session.get_bind().dialect.name == "postgresql":
        return session.get(Clip, clip_id, with_for_update={"read": True}, populate_existing=True)
    return session.get(Clip, clip_id)


def confirm_unlocked(session: Session, clip_id: str) -> None:
    """Re-read the clip's sign-off after this transaction's own write and raise Locked if
    it is there: on SQLite the write holds the database write lock, so this read is
    current and a sign-off that committed after :func:`load_clip` is caught. On
    PostgreSQL there is nothing to re-read: every writer loaded the clip with at least
    the shared row lock, so a sign-off cannot commit before this transaction ends, and
    the ``signed_off_at`` that :func:`require_unlocked` checked is still the current one.
    """
    if session.get_bind().dialect.name == "postgresql":
        return
    signed = session.scalar(select(Clip.signed_off_at).where(Clip.id == clip_id))
    if signed is not None:
        raise Locked("this review was signed off and can no longer be changed")


def require_reviewable(clip: Clip) -> int:
    """The clip's duration in ms if it is processed and can be annotated.

    Raises ValidationError for a clip that is not ``ready`` or has no duration.
    """
    if clip.status != "ready" or not clip.duration_ms or clip.duration_ms <= 0:
        raise ValidationError("the clip is not ready for review yet")
    return clip.duration_ms


def require_unlocked(clip: Clip) -> None:
    """Raise Locked once the clip's review has been signed off."""
    if clip.signed_off_at is not None:
        raise Locked("this review was signed off and can no longer be changed")


def load_annotation(
    session: Session, actor: Actor, annotation_id: str, *, write: bool = False
) -> tuple[Annotation, Clip]:
    """An annotation ``actor`` may see, with its clip; with ``write=True`` the clip is
    locked shared and the annotation row exclusively (so an edit checks the revision it
    read against the current one).

    Raises NotFound when it does not exist, is deleted, or is hidden (someone else's
    draft, another site); otherwise as :func:`load_clip`.
    """
    if not is_system(actor) and actor.role not in REVIEWER_ROLES:
        raise PermissionDenied("your role does not review footage")  # same for every id
    annotation = session.get(Annotation, annotation_id) if annotation_id else None
    if annotation is None or (actor.site_id is not None and annotation.site_id != actor.site_id):
        raise NotFound(f"no annotation {annotation_id}")
    clip = load_clip(session, actor, annotation.clip_id, write=write)
    if write:  # the clip first, then the annotation: the order a destruction locks them
        annotation = lock_row(session, Annotation, annotation_id)
        if annotation is None:
            raise NotFound(f"no annotation {annotation_id}")
    if not can_see(session, actor, clip, annotation):
        raise NotFound(f"no annotation {annotation_id}")
    return annotation, clip


def site_slug(session: Session, site_id: str) -> str:
    """The slug of a site (taxonomy overrides are chosen by slug)."""
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound(f"no site {site_id}")
    return site.slug
