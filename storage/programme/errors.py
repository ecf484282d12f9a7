"""Errors raised by the programme services (groups, families, presence, shares).

::

    storage.errors.StorageError
    ├── NotFound                    (storage.errors) a group, family, user or clip not at the site
    ├── PermissionDenied            (storage.errors) the actor's role may not do this
    ├── ValidationError             (storage.errors) bad input; nothing was changed
    │   ├── GroupFull               a group already has MAX_FAMILIES families
    │   └── FacilitatorsInvalid     not exactly one co-facilitator per discipline
    └── ConsentError                (storage.errors) a consent (the clip's, or that of a
                                    family present in it) does not cover the purpose

All are mapped to HTTP status codes in webapp/errors.py through their storage base classes.
"""

from __future__ import annotations

from storage.errors import ValidationError


class GroupFull(ValidationError):
    """The group already has the most families a group may have; nothing was changed."""


class FacilitatorsInvalid(ValidationError):
    """A group needs exactly two co-facilitators, one of each discipline."""
