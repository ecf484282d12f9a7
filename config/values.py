"""Reading one setting from the merged raw settings: typed, range-checked, and coerced
from the text of an environment variable. Errors name the setting."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the setting."""


def get(raw: Mapping[str, Any], dotted: str) -> Any:
    section, key = dotted.split(".", 1)
    return raw.get(section, {}).get(key)


def assign(raw: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    section, key = dotted.split(".", 1)
    if section not in raw or not isinstance(raw[section], dict):
        raise SettingsError(f"{source}: unknown setting section {section!r}")
    current = raw[section].get(key)
    raw[section][key] = coerce(value, current, source)


def coerce(value: Any, current: Any, source: str) -> Any:
    if not isinstance(value, str):
        return value
    if isinstance(current, list):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(current, bool):
        lowered = value.strip().lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise SettingsError(f"{source}: expected true or false, got {value!r}")
    if isinstance(current, int):
        try:
            return int(value)
        except ValueError:
            raise SettingsError(f"{source}: expected a whole number, got {value!r}") from None
    if isinstance(current, float):
        try:
            return float(value)
        except ValueError:
            raise SettingsError(f"{source}: expected a number, got {value!r}") from None
    return value


def positive(raw: Mapping[str, Any], dotted: str) -> int:
    value = get(raw, dotted)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SettingsError(f"{dotted}: expected a positive whole number, got {value!r}")
    return value


def non_negative(raw: Mapping[str, Any], dotted: str) -> int:
    value = get(raw, dotted)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SettingsError(f"{dotted}: expected a whole number >= 0, got {value!r}")
    return value


def positive_number(raw: Mapping[str, Any], dotted: str) -> float:
    value = get(raw, dotted)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SettingsError(f"{dotted}: expected a positive number, got {value!r}")
    return float(value)


def home_path(raw: Mapping[str, Any], dotted: str, home: Path, default: str) -> Path:
    value = get(raw, dotted)
    return Path(str(value)).expanduser() if value else home / default


def optional(raw: Mapping[str, Any], dotted: str) -> str | None:
    value = get(raw, dotted)
    return str(value) if value else None


def slugs(raw: Mapping[str, Any], dotted: str) -> tuple[str, ...]:
    """A list of site slugs (lower-case letters, digits and hyphens), without repeats."""
    value = get(raw, dotted)
    if not isinstance(value, list):
        raise SettingsError(f"{dotted}: expected a list of site slugs, got {value!r}")
    found: list[str] = []
    for item in value:
        slug = item.strip().lower() if isinstance(item, str) else ""
        if not slug or not all(c.isascii() and (c.isalnum() or c == "-") for c in slug):
            raise SettingsError(f"{dotted}: {item!r} is not a site slug")
        if slug not in found:
            found.append(slug)
    return tuple(found)
