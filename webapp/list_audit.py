"""One audit entry per list, not one per poster.

A list page (the library) records one ``library.view`` entry naming the clips whose poster
it shows (``details["posters"]``), and a clip page records ``clip.view``; each page asks
for its posters with ``?via=<that entry's seq>``. A poster request that such a recent entry
of the same user covers writes nothing more; any other poster request (a bookmarked image
URL, a forged or stale ``via``, a clip shared in from another site — whose own site's log
must show it) is audited as ``clip.poster`` as before.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from storage.db.footage import Clip
from storage.db.governance import AuditEntry
from webapp.context import CurrentUser, services

#: How long after the list was shown its posters are covered by its entry.
COVER = timedelta(minutes=15)


def covered(db: Session, user: CurrentUser, clip_id: str, via: str) -> bool:
    """Whether entry ``via`` (a seq) is ``user``'s recent list or clip page that showed
    the poster of ``clip_id``. Any malformed ``via`` is simply not covering."""
    if not via.isdigit() or len(via) > 18:
        return False
    entry = db.get(AuditEntry, int(via))
    clip = db.get(Clip, clip_id)  # already loaded by the view: no query
    if entry is None or clip is None or entry.actor_id != user.id:
        return False
    if entry.site_id != clip.site_id:
        return False  # a clip shared in from another site: its own site's log gets the entry
    if services().clock.now() - entry.at > COVER:  # ``at`` is aware (UTCDateTime)
        return False
    if entry.action == "clip.view":
        return entry.target_id == clip_id
    posters = (entry.details or {}).get("posters")
    return entry.action == "library.view" and isinstance(posters, list) and clip_id in posters
