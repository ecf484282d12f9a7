"""Consent records: strict parsing of a consent (JSON file or form) and recording it.

No footage is accepted without a consent that covers at least one purpose. A consent
names the family only by a pseudonymous code and the participants only by short role
labels (``parent-1``, ``infant``), so nothing here should identify a person by name.

Accepted input (a mapping, e.g. a parsed JSON object)::

    {
      "family": "FAM-0042",                      # letters, digits, hyphens; >= 1 digit
      "participants": ["parent-1", "infant"],    # short labels, no spaces
      "purposes": ["family-review", "supervision"],   # or {"family-review": true, ...}
      "form_reference": "CF-2026-0117",
      "taken_by": "facilitator-07",
      "taken_at": "2026-03-01T14:30:00Z"         # ISO 8601 with offset, or a date
    }

Any problem raises :class:`ConsentInvalid` (a ValidationError) whose message names the
field; nothing is stored until :func:`record_consent`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from storage.audit import Actor, AuditLog
from storage.db.footage import PURPOSES, Consent
from storage.errors import ValidationError

FIELDS = ("family", "participants", "purposes", "form_reference", "taken_by", "taken_at")
MAX_CONSENT_FILE = 64 * 1024
# A consent signed "now" on a tablet whose clock runs slightly ahead is still fine.
CLOCK_SKEW = timedelta(minutes=5)

_FAMILY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{2,63}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ConsentInvalid(ValidationError):
    """The consent is missing, malformed or covers no purpose; nothing was stored."""


@dataclass(frozen=True)
class ConsentInput:
    """A validated consent, not yet stored. ``taken_at`` is aware UTC."""

    family: str
    participants: tuple[str, ...]
    purposes: tuple[str, ...]
    form_reference: str
    taken_by: str
    taken_at: datetime


def parse_consent(data: Any, *, now: datetime | None = None) -> ConsentInput:
    """Validate a consent mapping and return it normalised.

    ``now`` (aware) is the instant ``taken_at`` may not be after (default: the system
    time). The family code is upper-cased. Raises :class:`ConsentInvalid` naming the
    first problem: not an object, unknown or missing field, bad family code, bad
    participant label, unknown or no purpose, bad or future ``taken_at``.
    """
    if not isinstance(data, Mapping):
        raise ConsentInvalid("consent: expected a JSON object with the consent fields")
    unknown = sorted(str(k) for k in data if k not in FIELDS)
    if unknown:
        raise ConsentInvalid(
            f"consent: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS)}"
        )
    missing = [f for f in FIELDS if data.get(f) is None or data.get(f) == ""]
    if missing:
        raise ConsentInvalid(f"consent: missing field(s) {', '.join(missing)}")
    return ConsentInput(
        family=_family(data["family"]),
        participants=_participants(data["participants"]),
        purposes=_purposes(data["purposes"]),
        form_reference=_text(data["form_reference"], "form_reference"),
        taken_by=_text(data["taken_by"], "taken_by"),
        taken_at=_taken_at(data["taken_at"], now or datetime.now(UTC)),
    )


def load_consent_file(path: Path, *, now: datetime | None = None) -> ConsentInput:
    """Read and validate a consent JSON file.

    Raises :class:`ConsentInvalid` when the file is missing, unreadable, too large, not
    UTF-8 JSON, or not a valid consent (see :func:`parse_consent`).
    """
    try:
        if path.stat().st_size > MAX_CONSENT_FILE:
            raise ConsentInvalid(f"consent file {path}: larger than {MAX_CONSENT_FILE} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConsentInvalid(f"consent file {path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConsentInvalid(f"consent file {path}: cannot read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConsentInvalid(
            f"consent file {path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})"
        ) from None
    return parse_consent(data, now=now)


def record_consent(
    session: Session,
    audit: AuditLog,
    actor: Actor,
    site_id: str,
    consent: ConsentInput,
    recorded_by: str | None = None,
) -> Consent:
    """Store a validated consent for ``site_id`` and audit ``consent.record``.

    Runs in the caller's unit of work. The audit entry carries ids and purposes only.
    """
    row = Consent(
        site_id=site_id,
        family_code=consent.family,
        participants=list(consent.participants),
        purposes=list(consent.purposes),
        form_reference=consent.form_reference,
        taken_by=consent.taken_by,
        taken_at=consent.taken_at,
        recorded_by=recorded_by,
        created_at=audit.clock.now(),
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor,
        "consent.record",
        target_type="consent",
        target_id=row.id,
        site_id=site_id,
        details={"purposes": list(consent.purposes)},
    )
    return row


def consent_summary(consent: Consent) -> dict[str, Any]:
    """A plain dict of a stored consent (for CLI and API output)."""
    return {
        "id": consent.id,
        "family": consent.family_code,
        "participants": list(consent.participants),
        "purposes": list(consent.purposes),
        "active_purposes": consent.active_purposes,
        "form_reference": consent.form_reference,
        "taken_by": consent.taken_by,
        "taken_at": consent.taken_at.isoformat(),
        "withdrawn_at": consent.withdrawn_at.isoformat() if consent.withdrawn_at else None,
    }


def check_family_code(value: Any) -> str:
    """A pseudonymous family code, upper-cased; :class:`ConsentInvalid` if it is malformed
    or looks like a name (the rule every family code follows, enrolled or consented)."""
    return _family(value)


def _family(value: Any) -> str:
    if not isinstance(value, str) or not _FAMILY.match(value):
        raise ConsentInvalid(
            "consent: 'family' must be a pseudonymous family code of 3-64 letters, digits "
            "and hyphens (e.g. FAM-0042), not a name"
        )
    if not any(ch.isdigit() for ch in value):
        # Codes are issued with a number in them; a digit-free word is most likely a name.
        raise ConsentInvalid(
            "consent: 'family' must contain at least one digit (e.g. FAM-0042); "
            "families are never identified by name"
        )
    return value.upper()


def _participants(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConsentInvalid("consent: 'participants' must be a non-empty list of labels")
    labels: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _LABEL.match(item):
            raise ConsentInvalid(
                "consent: each participant must be a short label of letters, digits, hyphens "
                "or underscores without spaces (e.g. parent-1, infant), not a name"
            )
        if item not in labels:
            labels.append(item)
    return tuple(labels)


def _purposes(value: Any) -> tuple[str, ...]:
    if isinstance(value, Mapping):
        chosen: list[Any] = []
        for key, flag in value.items():
            if not isinstance(flag, bool):
                raise ConsentInvalid(
                    f"consent: purpose {key!r} must be true or false, got {flag!r}"
                )
            if flag:
                chosen.append(key)
        for key in value:
            if key not in PURPOSES:
                raise ConsentInvalid(_unknown_purpose(key))
    elif isinstance(value, list):
        chosen = value
    else:
        raise ConsentInvalid("consent: 'purposes' must be a list of purpose ids")
    purposes: list[str] = []
    for item in chosen:
        if not isinstance(item, str) or item not in PURPOSES:
            raise ConsentInvalid(_unknown_purpose(item))
        if item not in purposes:
            purposes.append(item)
    if not purposes:
        raise ConsentInvalid(
            f"consent: covers no purpose; consent to at least one of {', '.join(PURPOSES)}"
        )
    return tuple(purposes)


def _unknown_purpose(item: Any) -> str:
    return f"consent: unknown purpose {item!r}; use {', '.join(PURPOSES)}"


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConsentInvalid(f"consent: {name!r} must be non-empty text")
    text = value.strip()
    if len(text) > 200 or _CONTROL.search(text):
        raise ConsentInvalid(f"consent: {name!r} must be one line of at most 200 characters")
    return text


def _taken_at(value: Any, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise ConsentInvalid("consent: 'taken_at' must be an ISO 8601 date or date-time")
    text = value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), time.min, UTC)
        else:
            parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ConsentInvalid(
            f"consent: 'taken_at' is not an ISO 8601 date or date-time: {value!r} "
            "(e.g. 2026-03-01T14:30:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise ConsentInvalid(
            f"consent: 'taken_at' needs a time-zone offset (e.g. 2026-03-01T14:30:00Z), "
            f"got {value!r}"
        )
    parsed = parsed.astimezone(UTC)
    if parsed > now + CLOCK_SKEW:
        raise ConsentInvalid("consent: 'taken_at' is in the future")
    return parsed
