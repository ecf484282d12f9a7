"""Validation of the ``[retention]`` settings table (policies per footage kind and site).

Shape (see config/default.toml)::

    [retention]
    max_days = 730                 # hard maximum for everything, from upload
    [retention.kinds.<kind>]
    from = "sign-off" | ["shared-review", "programme-end"]
    margin_days = 30
    max_days = 365
    purpose_margin_days = { training-events = 180 }
    [retention.sites.<site-slug>]
    programme_end = 2026-09-30
    [retention.sites.<site-slug>.<kind>]   # any field of a kind policy
    margin_days = 14

Every error names the offending setting, e.g. ``retention.kinds.home-visit.margin_days``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

EVENTS = ("upload", "shared-review", "sign-off", "programme-end")
KIND_FIELDS = ("from", "margin_days", "max_days", "purpose_margin_days")
TOP_FIELDS = ("max_days", "kinds", "sites", "file")


class RetentionSettingsError(ValueError):
    """A retention setting is invalid; the message names it."""


def validate_retention(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A validated, normalised copy of the ``[retention]`` table.

    Raises RetentionSettingsError naming the first invalid setting.
    """
    for key in raw:
        if key not in TOP_FIELDS:
            raise RetentionSettingsError(
                f"retention.{key}: unknown setting; expected one of {TOP_FIELDS}"
            )
    cap = _whole(raw.get("max_days", 730), "retention.max_days", minimum=1)
    kinds_raw = raw.get("kinds")
    if not isinstance(kinds_raw, Mapping) or not kinds_raw:
        raise RetentionSettingsError("retention.kinds: at least one footage kind needs a policy")
    kinds = {
        str(kind): _kind(policy, f"retention.kinds.{kind}", cap, complete=True)
        for kind, policy in kinds_raw.items()
    }
    sites_raw = raw.get("sites", {})
    if not isinstance(sites_raw, Mapping):
        raise RetentionSettingsError("retention.sites: expected a table of site slugs")
    sites = {str(slug): _site(table, str(slug), kinds, cap) for slug, table in sites_raw.items()}
    out: dict[str, Any] = {
        "max_days": cap,
        "kinds": kinds,
        "sites": sites,
    }
    if raw.get("file"):
        out["file"] = str(raw["file"])
    return out


def _site(table: Any, slug: str, kinds: Mapping[str, Any], cap: int) -> dict[str, Any]:
    name = f"retention.sites.{slug}"
    if not isinstance(table, Mapping):
        raise RetentionSettingsError(f"{name}: expected a table")
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key == "programme_end":
            out[key] = _date(value, f"{name}.programme_end")
        elif key in kinds:
            out[key] = _kind(value, f"{name}.{key}", cap, complete=False)
        else:
            raise RetentionSettingsError(
                f"{name}.{key}: unknown setting; expected programme_end or a kind in "
                f"retention.kinds ({', '.join(kinds)})"
            )
    return out


def _kind(policy: Any, name: str, cap: int, *, complete: bool) -> dict[str, Any]:
    if not isinstance(policy, Mapping):
        raise RetentionSettingsError(f"{name}: expected a table")
    for key in policy:
        if key not in KIND_FIELDS:
            raise RetentionSettingsError(
                f"{name}.{key}: unknown setting; expected one of {KIND_FIELDS}"
            )
    if complete:
        for key in ("from", "margin_days", "max_days"):
            if key not in policy:
                raise RetentionSettingsError(f"{name}.{key}: required")
    out: dict[str, Any] = {}
    if "from" in policy:
        out["from"] = _events(policy["from"], f"{name}.from")
    if "margin_days" in policy:
        out["margin_days"] = _whole(policy["margin_days"], f"{name}.margin_days", minimum=0)
    if "max_days" in policy:
        out["max_days"] = _whole(policy["max_days"], f"{name}.max_days", minimum=1)
        if out["max_days"] > cap:
            raise RetentionSettingsError(
                f"{name}.max_days: {out['max_days']} exceeds the hard maximum "
                f"retention.max_days = {cap}"
            )
    if "purpose_margin_days" in policy:
        margins = policy["purpose_margin_days"]
        if not isinstance(margins, Mapping):
            raise RetentionSettingsError(f"{name}.purpose_margin_days: expected a table")
        out["purpose_margin_days"] = {
            str(p): _whole(d, f"{name}.purpose_margin_days.{p}", minimum=0)
            for p, d in margins.items()
        }
    return out


def _events(value: Any, name: str) -> list[str]:
    events = [value] if isinstance(value, str) else value
    if not isinstance(events, list) or not events:
        raise RetentionSettingsError(f"{name}: expected an event or a list of events {EVENTS}")
    for event in events:
        if event not in EVENTS:
            raise RetentionSettingsError(f"{name}: unknown event {event!r}; expected {EVENTS}")
    return [str(e) for e in events]


def _whole(value: Any, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise RetentionSettingsError(f"{name}: expected a whole number >= {minimum}, got {value!r}")
    return value


def _date(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        raise RetentionSettingsError(f"{name}: expected a date (YYYY-MM-DD), not a date-time")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise RetentionSettingsError(f"{name}: expected a date (YYYY-MM-DD), got {value!r}")
