"""Coding schemes (taxonomies): versioned TOML files, validated once at start-up.

A scheme file holds ``id``, ``version``, ``title``, optional ``description``,
``applies_to`` (footage kinds), optional ``subjects`` and ``colour``, and an array of
``[[codes]]`` tables (``id``, ``label``, optional ``description``, ``key``, ``colour``,
``group``, ``parent``, ``retired``). docs/coding-schemes.md is the full reference.

Where schemes come from, least specific first (a later scheme with the same ``id``
replaces the earlier one for the sites it applies to):

1. ``config/taxonomies/*.toml`` (shipped defaults),
2. ``<settings.taxonomy_dir>/*.toml`` (this installation),
3. ``config/taxonomies/sites/<site-slug>/*.toml``,
4. ``<settings.taxonomy_dir>/sites/<site-slug>/*.toml``.

Any defect in any file refuses the whole registry with a :class:`TaxonomyError` naming
each file, line and reason: a half-loaded coding scheme would silently change what
coders can record.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from review.errors import NotFound, Problem, TaxonomyError
from review.parsing import RESERVED_KEYS, parse_scheme

__all__ = ["RESERVED_KEYS", "Code", "Scheme", "TaxonomyRegistry", "load_registry"]
DEFAULT_COLOUR = "#5F6B7A"


@dataclass(frozen=True)
class Code:
    """One code of a scheme. ``parent`` nests it under another code of the same scheme."""

    id: str
    label: str
    description: str = ""
    key: str | None = None
    colour: str = DEFAULT_COLOUR
    group: str = ""
    parent: str | None = None
    retired: bool = False
    line: int | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "description": self.description,
            "key": self.key,
            "colour": self.colour,
            "group": self.group,
            "parent": self.parent,
            "retired": self.retired,
        }


@dataclass(frozen=True)
class Scheme:
    """A versioned coding scheme as loaded from one file."""

    id: str
    version: str
    title: str
    description: str
    applies_to: tuple[str, ...]
    subjects: tuple[str, ...]
    codes: tuple[Code, ...]
    source: str = field(default="", compare=False)

    def code(self, code_id: str) -> Code | None:
        """The code with this id (retired ones included), or None."""
        for code in self.codes:
            if code.id == code_id:
                return code
        return None

    def label(self, code_id: str) -> str:
        """A code's label; an id this version no longer knows is shown as itself."""
        code = self.code(code_id)
        return code.label if code is not None else code_id

    def active_codes(self) -> list[Code]:
        return [c for c in self.codes if not c.retired]

    def root(self, code_id: str) -> str:
        """The top-level ancestor of a code (itself when it has no parent)."""
        seen: set[str] = set()
        current = code_id
        while current not in seen:
            seen.add(current)
            code = self.code(current)
            if code is None or code.parent is None:
                return current
            current = code.parent
        return current

    def applies(self, kind: str, subject: str | None = None) -> bool:
        """Whether coders may use this scheme on footage of ``kind`` about ``subject``."""
        if kind not in self.applies_to:
            return False
        return subject is None or not self.subjects or subject in self.subjects

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "applies_to": list(self.applies_to),
            "subjects": list(self.subjects),
            "codes": [c.to_dict() for c in self.codes],
        }


@dataclass(frozen=True)
class _Layer:
    site: str | None  # None: every site
    schemes: Mapping[str, Scheme]


class TaxonomyRegistry:
    """The schemes in force for each site. Immutable once loaded."""

    def __init__(self, layers: Iterable[_Layer] = ()) -> None:
        self._layers = tuple(layers)

    def schemes(self, site_slug: str | None = None) -> list[Scheme]:
        """The current scheme of every id for ``site_slug`` (None: the shared defaults)."""
        merged = self._ranked(site_slug)
        return [merged[k][1] for k in sorted(merged)]

    def _ranked(self, site_slug: str | None) -> dict[str, tuple[int, Scheme]]:
        """Current schemes by id, each with the rank of the layer it came from."""
        merged: dict[str, tuple[int, Scheme]] = {}
        for rank, layer in enumerate(self._layers):
            if layer.site is None or layer.site == site_slug:
                merged.update({sid: (rank, s) for sid, s in layer.schemes.items()})
        return merged

    def in_load_order(self, site_slug: str | None = None) -> list[Scheme]:
        """The current schemes, least specific source first (shipped defaults first)."""
        ranked = sorted(self._ranked(site_slug).values(), key=lambda rs: (rs[0], rs[1].id))
        return [scheme for _, scheme in ranked]

    def find(self, scheme_id: str, site_slug: str | None = None) -> Scheme | None:
        for scheme in self.schemes(site_slug):
            if scheme.id == scheme_id:
                return scheme
        return None

    def get(self, scheme_id: str, site_slug: str | None = None) -> Scheme:
        """The current scheme ``scheme_id`` at ``site_slug``; raises NotFound."""
        scheme = self.find(scheme_id, site_slug)
        if scheme is None:
            raise NotFound(f"no coding scheme {scheme_id!r}")
        return scheme

    def for_clip(self, site_slug: str, kind: str, subject: str | None = None) -> list[Scheme]:
        """The schemes a coder may use on a clip of ``kind`` (optionally for ``subject``)."""
        return [s for s in self.schemes(site_slug) if s.applies(kind, subject)]

    def label(self, site_slug: str, scheme_id: str | None, code_id: str) -> str:
        """A code's current label; unknown schemes and codes fall back to the id."""
        scheme = self.find(scheme_id, site_slug) if scheme_id else None
        return scheme.label(code_id) if scheme is not None else code_id

    def site_slugs(self) -> list[str]:
        """Sites that have their own schemes or overrides."""
        return sorted({layer.site for layer in self._layers if layer.site is not None})

    def sources(self) -> list[str]:
        return [s.source for layer in self._layers for s in layer.schemes.values()]


def builtin_dir() -> Path:
    """The shipped ``config/taxonomies`` directory."""
    return Path(str(resources.files("config").joinpath("taxonomies")))


def load_registry(
    taxonomy_dir: Path | None = None, *, builtin: Path | None = None
) -> TaxonomyRegistry:
    """Load and validate every scheme (see the module docstring for the search order).

    ``taxonomy_dir`` is ``settings.taxonomy_dir``. Raises TaxonomyError listing every
    defect (unreadable or malformed file, duplicate scheme id in one directory, a
    shortcut key used twice among the schemes a site uses on the same kind of footage).
    """
    roots = [builtin or builtin_dir()]
    problems: list[Problem] = []
    if taxonomy_dir is not None:
        if taxonomy_dir.is_dir():
            roots.append(taxonomy_dir)
        else:
            problems.append(Problem(str(taxonomy_dir), None, "taxonomy directory does not exist"))
    generic = [_read_layer(root, None, problems) for root in roots]
    specific: list[_Layer] = []
    for root in roots:
        sites = root / "sites"
        if not sites.is_dir():
            continue
        for site_dir in sorted(p for p in sites.iterdir() if p.is_dir()):
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", site_dir.name):
                problems.append(Problem(str(site_dir), None, "not a site slug"))
                continue
            specific.append(_read_layer(site_dir, site_dir.name, problems))
    registry = TaxonomyRegistry([*generic, *specific])
    for site in [None, *registry.site_slugs()]:
        problems.extend(_key_clashes(registry.in_load_order(site)))
    if problems:
        raise TaxonomyError(_unique(problems))
    return registry


def _read_layer(directory: Path, site: str | None, problems: list[Problem]) -> _Layer:
    schemes: dict[str, Scheme] = {}
    for path in sorted(directory.glob("*.toml")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), None, f"cannot read: {exc}"))
            continue
        try:
            scheme = build_scheme(parse_scheme(text, str(path)), str(path))
        except TaxonomyError as exc:
            problems.extend(exc.problems)
            continue
        if scheme.id in schemes:
            other = schemes[scheme.id].source
            problems.append(
                Problem(str(path), 1, f"scheme {scheme.id!r} is also defined in {other}")
            )
            continue
        schemes[scheme.id] = scheme
    return _Layer(site, schemes)


def build_scheme(data: Mapping[str, Any], source: str) -> Scheme:
    """Turn validated scheme data (from :func:`review.parsing.parse_scheme`) into a Scheme.

    Colours are inherited (code, then its ancestors, then the scheme's ``colour``).
    """
    raw_codes: list[Mapping[str, Any]] = list(data["codes"])
    by_id = {c["id"]: c for c in raw_codes}
    default = str(data.get("colour") or DEFAULT_COLOUR)

    def colour_of(code: Mapping[str, Any], depth: int = 0) -> str:
        if code.get("colour"):
            return str(code["colour"])
        parent = by_id.get(code.get("parent") or "")
        return colour_of(parent, depth + 1) if parent is not None and depth < 32 else default

    codes = tuple(
        Code(
            id=c["id"],
            label=c["label"],
            description=c.get("description", ""),
            key=c.get("key"),
            colour=colour_of(c),
            group=c.get("group", ""),
            parent=c.get("parent"),
            retired=bool(c.get("retired", False)),
            line=c.get("_line"),
        )
        for c in raw_codes
    )
    return Scheme(
        id=data["id"],
        version=data["version"],
        title=data["title"],
        description=data.get("description", ""),
        applies_to=tuple(data["applies_to"]),
        subjects=tuple(data.get("subjects", ())),
        codes=codes,
        source=source,
    )


def _key_clashes(schemes: list[Scheme]) -> list[Problem]:
    """Active shortcut keys must be unique among schemes used on the same footage kind,
    ignoring case (the player treats "s" and "S" as one key).

    ``schemes`` come least specific first, so the added or overriding file is blamed.
    """
    problems: list[Problem] = []
    taken: dict[tuple[str, str], tuple[Scheme, Code]] = {}
    for scheme in schemes:
        for code in scheme.active_codes():
            if code.key is None:
                continue
            for kind in scheme.applies_to:
                other = taken.get((kind, code.key.casefold()))
                if other is not None and other[0].id != scheme.id:
                    problems.append(
                        Problem(
                            scheme.source,
                            code.line,
                            f"code {code.id!r}: key {code.key!r} is already used by code "
                            f"{other[1].id!r} of scheme {other[0].id!r} ({other[0].source}); "
                            "keys ignore case",
                        )
                    )
                    break
                taken[(kind, code.key.casefold())] = (scheme, code)
    return problems


def _unique(problems: list[Problem]) -> list[Problem]:
    seen: list[Problem] = []
    for problem in problems:
        if problem not in seen:
            seen.append(problem)
    return seen
