"""The audit log in plain language: who (name and role), what they did, and the details
as a sentence, for the DPO pages.

Audit entries hold ids only (storage.audit); this module turns a page of them into words.
Names are batch-loaded for the whole page (:func:`load_names`: one query per kind of
thing, never one per row). Every string returned is plain text — templates escape it.
An action this module does not know still reads sensibly (its id, humanised).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit.people import system_label
from storage.db.footage import Clip, Consent
from storage.db.governance import AuditEntry
from storage.db.programme import Family, Group
from storage.db.tenancy import User
from webapp.audit_words import GROUPS, PHRASES
from webapp.labels import KIND_LABELS, PURPOSE_NAMES, ROLE_LABELS, label

__all__ = ["GROUPS", "PHRASES", "Described", "Names", "Person", "describe", "group_of"]

REFUSALS = {
    "role": "Their role may not do this.",
    "consent": "The family's consent does not cover this use.",
    "not-found": "Not theirs to see, at another site, or no longer there.",
}
_ID_KEYS = ("clip_id", "consent_id", "user_id", "supervisor_id", "signed_off_by", "trainee")
_FIRST = frozenset({"purposes", "purpose", "refusal", "reason"})
_HIDDEN_KEYS = frozenset(
    {"head_hash", "previous_hash", "policy_hash", "blob_id", "key_id", "rendition", "method"}
)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(\+00:00|Z)?")


@dataclass(frozen=True)
class Person:
    """A user as the DPO pages name them."""

    id: str
    name: str
    email: str
    role: str

    @property
    def label(self) -> str:
        """``Name (Role)``; the email when the name is empty."""
        return f"{self.name or self.email} ({label(ROLE_LABELS, self.role)})"


@dataclass
class Names:
    """The people, clips and consents one page of entries refers to, by id."""

    people: dict[str, Person] = field(default_factory=dict)
    clips: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (family, kind)
    consents: dict[str, str] = field(default_factory=dict)  # id -> family code
    groups: dict[str, str] = field(default_factory=dict)  # id -> group code
    families: dict[str, str] = field(default_factory=dict)  # id -> family code

    def thing(self, ident: str) -> str:
        """Any id as the person, clip, consent, group or family it is; else ``item <8>``."""
        if ident in self.people or ident.startswith("system:"):
            return self.person(ident)
        if ident in self.clips:
            return self.clip(ident)
        if ident in self.consents:
            return self.consent(ident)
        if ident in self.groups:
            return f"group {self.groups[ident]}"
        if ident in self.families:
            return f"family {self.families[ident]}"
        return f"item {ident[:8]}"

    def person(self, user_id: str | None) -> str:
        """A user id as ``Name (Role)``; system actors and unknown ids read safely."""
        if not user_id:
            return "someone unknown"
        if user_id.startswith("system:"):
            return system_label(user_id)
        found = self.people.get(user_id)
        return found.label if found else f"a former user ({user_id[:8]})"

    def clip(self, clip_id: str) -> str:
        """A clip id as ``the home visit of family FAM-A01``."""
        found = self.clips.get(clip_id)
        if found is None:
            return f"clip {clip_id[:8]}"
        family, kind = found
        kind_text = label(KIND_LABELS, kind).split(" (")[0].lower()
        return f"the {kind_text} clip of family {family}"

    def consent(self, consent_id: str) -> str:
        """A consent id as ``the consent of family FAM-A01``."""
        family = self.consents.get(consent_id)
        return f"the consent of family {family}" if family else f"consent {consent_id[:8]}"


@dataclass(frozen=True)
class Described:
    """One entry in words: ``who`` did ``what`` (a sentence) plus ``details``."""

    who: str
    what: str
    details: str
    group: str


def group_of(action: str) -> str:
    """The id of the group an action belongs to ('' for actions no group lists)."""
    for group, (_, actions) in GROUPS.items():
        if action in actions:
            return group
    return ""


def load_names(session: Session, entries: Sequence[AuditEntry]) -> Names:
    """Batch-load every person, clip, consent, group and family the ``entries`` mention —
    their actor, target and any id inside their details — in at most 5 queries (one per
    kind, whatever the number of entries)."""
    ids: set[str] = set()
    for entry in entries:
        if entry.actor_id and not entry.actor_id.startswith("system:"):
            ids.add(entry.actor_id)
        if entry.target_id and _UUID.fullmatch(entry.target_id):
            ids.add(entry.target_id)
        _collect(entry.details, ids)
    names = Names()
    if not ids:
        return names
    rows = session.execute(
        select(User.id, User.display_name, User.email, User.role).where(User.id.in_(ids))
    )
    names.people = {r.id: Person(r.id, r.display_name, r.email, r.role) for r in rows}
    rest = ids - names.people.keys()
    if rest:
        found = session.execute(
            select(Clip.id, Clip.family_code, Clip.kind).where(Clip.id.in_(rest))
        )
        names.clips = {r.id: (r.family_code, r.kind) for r in found}
        rest -= names.clips.keys()
    if rest:
        pairs = session.execute(select(Consent.id, Consent.family_code).where(Consent.id.in_(rest)))
        names.consents = {r.id: r.family_code for r in pairs}
        rest -= names.consents.keys()
    if rest:
        codes = session.execute(select(Group.id, Group.code).where(Group.id.in_(rest)))
        names.groups = {r.id: r.code for r in codes}
        rest -= names.groups.keys()
    if rest:
        codes = session.execute(select(Family.id, Family.code).where(Family.id.in_(rest)))
        names.families = {r.id: r.code for r in codes}
    return names


def _collect(value: Any, ids: set[str]) -> None:
    """Every UUID-looking string inside ``value`` (nested lists and mappings)."""
    if isinstance(value, str):
        if _UUID.fullmatch(value):
            ids.add(value)
    elif isinstance(value, list):
        for item in value:
            _collect(item, ids)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, ids)


def describe(entry: AuditEntry, names: Names) -> Described:
    """``entry`` in plain language; an unknown action reads as its humanised id."""
    who = names.person(entry.actor_id)
    phrase = PHRASES.get(entry.action) or _humanise(entry.action)
    target = _target(entry, names)
    what = f"{phrase} {target}".strip() if target else phrase
    return Described(
        who, what[:1].upper() + what[1:], _details(entry, names), group_of(entry.action)
    )


def _target(entry: AuditEntry, names: Names) -> str:
    kind, ident = entry.target_type or "", entry.target_id or ""
    if not ident:
        return ""
    if kind == "clip":
        return names.clip(ident)
    if kind == "consent":
        return names.consent(ident)
    if kind == "user":
        return names.person(ident)
    if kind == "site":
        return ""
    if kind in ("group", "family") or ident in names.groups or ident in names.families:
        return names.thing(ident)
    return f"{_humanise(kind).lower() or 'item'} {ident[:8]}"


def _details(entry: AuditEntry, names: Names) -> str:
    """The details mapping as sentences, skipping hashes and internal ids."""
    details: Mapping[str, Any] = entry.details or {}
    parts: list[str] = []
    for key in sorted(details, key=lambda k: (k not in _FIRST, k)):
        if key in _HIDDEN_KEYS:
            continue
        text = _detail(key, details[key], names)
        if text:
            parts.append(text)
    return " ".join(parts)


def _detail(key: str, value: Any, names: Names) -> str:
    if key == "purposes" and isinstance(value, list):
        return f"Purposes: {_purposes(value)}."
    if key == "purpose" and isinstance(value, str):
        return f"For {label(PURPOSE_NAMES, value)}."
    if key == "reason":
        return f"Reason given: “{value}”."
    if key == "clip_id" and isinstance(value, str):
        return f"Clip: {names.clip(value)}."
    if key == "consent_id" and isinstance(value, str):
        return f"Under {names.consent(value)}."
    if key in _ID_KEYS and isinstance(value, str):
        return f"{_humanise(key.removesuffix('_id'))}: {names.person(value)}."
    if key == "page":
        return f"Page: {_humanise(str(value)).lower()}."
    if key == "all" and isinstance(value, bool):
        return "No purpose is left: all are withdrawn." if value else "Other purposes remain."
    if key == "clips" and isinstance(value, int | list):
        return f"{value if isinstance(value, int) else len(value)} clip(s) concerned."
    if key == "count":
        return f"{value} item(s) shown."
    if key == "entries":
        return f"{value} entries."
    if key == "format":
        return f"As {str(value).upper()}."
    if key == "ok":
        return "The log was intact." if value else "The log was NOT intact."
    if key == "kind" and isinstance(value, str):
        return f"Kind: {label(KIND_LABELS, value).lower()}."
    if key == "role" and isinstance(value, str):
        return f"Role: {label(ROLE_LABELS, value)}."
    if key in ("old", "new"):
        return f"{'Before' if key == 'old' else 'After'}: {_plain(value, names)}."
    if key == "path":
        return f"Address: {value}."
    if key == "refusal":
        return REFUSALS.get(str(value), f"Refused: {value}.")
    if key == "more_not_recorded" and value is True:
        return "Further refusals of this person within the minute were not recorded."
    if key == "status":
        return ""  # the refusal says why; the code is in exports
    if key == "method":
        return ""
    if key == "endpoint":
        return f"Page: {_humanise(str(value).split('.')[-1]).lower()}."
    if key == "posters":
        return ""  # the poster ids of a list; the count says how many
    if key in _HIDDEN_KEYS or (key.endswith("_id") and isinstance(value, str)):
        thing = names.thing(value) if isinstance(value, str) else ""
        return "" if not thing or thing.startswith("item ") else f"{_humanise(key[:-3])}: {thing}."
    return f"{_humanise(key)}: {_plain(value, names)}."


def _purposes(values: Iterable[Any]) -> str:
    return ", ".join(label(PURPOSE_NAMES, str(v)) for v in values) or "none"


def _plain(value: Any, names: Names | None = None) -> str:
    """A detail value in words: ids by name, ISO times as dates, lists joined."""
    names = names or Names()
    if isinstance(value, list):
        return ", ".join(_plain(v, names) for v in value) or "none"
    if isinstance(value, dict):
        return "; ".join(
            _plain(v, names)
            if _UUID.fullmatch(str(v))
            else f"{_humanise(str(k)).lower()} {_plain(v, names)}"
            for k, v in value.items()
        )
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    text = str(value)
    if _UUID.fullmatch(text):
        return names.thing(text)
    if _ISO_TIME.fullmatch(text):
        return datetime.fromisoformat(text).strftime("%d %b %Y, %H:%M UTC")
    return text


def _humanise(token: str) -> str:
    """``clip.retention_change`` -> ``Clip retention change``."""
    words = token.replace(".", " ").replace("_", " ").replace("-", " ").split()
    return " ".join(words).capitalize()
