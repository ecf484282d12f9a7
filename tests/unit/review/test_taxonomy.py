"""Coding-scheme files: parsing, validation with file/line/reason, site overrides."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from review.errors import NotFound, TaxonomyError
from review.parsing import RESERVED_KEYS, parse_scheme
from review.taxonomy import Scheme, build_scheme, builtin_dir, load_registry

GOOD = """\
id = "demo"
version = 2
title = "Demo scheme"
applies_to = ["home-visit"]
subjects = ["infant"]
colour = "#112233"

[[codes]]
id = "cluster"
label = "A cluster"
colour = "#009E73"

[[codes]]
id = "child"
label = "A child code"
parent = "cluster"
key = "1"

[[codes]]
id = "old"
label = "An old code"
retired = true
key = "1"

[[codes]]
id = "plain"
label = "No colour anywhere"
"""


def scheme(text: str = GOOD, source: str = "demo.toml") -> Scheme:
    return build_scheme(parse_scheme(text, source), source)


def problems(text: str) -> list[tuple[int | None, str]]:
    with pytest.raises(TaxonomyError) as caught:
        parse_scheme(text, "bad.toml")
    assert all(p.path == "bad.toml" for p in caught.value.problems)
    return [(p.line, p.reason) for p in caught.value.problems]


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_with_inherited_colours_and_string_version() -> None:
    s = scheme()
    assert (s.id, s.version, s.title) == ("demo", "2", "Demo scheme")
    child = s.code("child")
    assert child is not None and child.colour == "#009E73"  # from its parent
    plain = s.code("plain")
    assert plain is not None and plain.colour == "#112233"  # the scheme default
    assert [c.id for c in s.active_codes()] == ["cluster", "child", "plain"]
    assert s.root("child") == "cluster" and s.root("plain") == "plain"
    assert s.label("gone") == "gone"  # an id this version no longer knows
    assert s.applies("home-visit", "infant") and not s.applies("home-visit", "parent")
    assert not s.applies("group-delivery")


def test_a_retired_code_may_keep_a_key_an_active_code_uses() -> None:
    # "old" and "child" both have key 1: only active codes own their key.
    assert scheme().code("old") is not None


def test_toml_syntax_errors_carry_the_line() -> None:
    found = problems('id = "x"\nversion = "1"\ntitle = "T"\napplies_to = [\n')
    assert len(found) == 1
    line, reason = found[0]
    assert line is not None and line >= 4
    assert reason.startswith("TOML syntax")


@pytest.mark.parametrize(
    ("edit", "line", "reason"),
    [
        (('id = "demo"', 'id = "Demo Scheme"'), 1, "'id' must be lower-case"),
        (('title = "Demo scheme"', 'title = ""'), 3, "'title' must not be empty"),
        (
            ('applies_to = ["home-visit"]', 'applies_to = ["car-park"]'),
            4,
            "unknown value 'car-park'",
        ),
        (('subjects = ["infant"]', 'subjects = ["dog"]'), 5, "unknown value 'dog'"),
        (('colour = "#112233"', 'colour = "red"'), 6, "'colour' must look like"),
        (('parent = "cluster"', 'parent = "nowhere"'), 16, "parent 'nowhere' is not a code"),
        (
            ('key = "1"\n\n[[codes]]\nid = "old"', 'key = "a"\n\n[[codes]]\nid = "old"'),
            17,
            "reserved",
        ),
        (
            ('key = "1"\n\n[[codes]]\nid = "old"', 'key = "12"\n\n[[codes]]\nid = "old"'),
            17,
            "single",
        ),
        (('id = "child"', 'id = "cluster"'), 14, "duplicate code id"),
        (('label = "A child code"', 'labl = "A child code"'), 15, "unknown field 'labl'"),
        (("retired = true", 'retired = "yes"'), 22, "'retired' must be true or false"),
    ],
)
def test_semantic_errors_name_the_line_and_reason(
    edit: tuple[str, str], line: int, reason: str
) -> None:
    old, new = edit
    assert old in GOOD
    found = problems(GOOD.replace(old, new, 1))
    assert any(ln == line and reason in text for ln, text in found), found


def test_missing_fields_and_empty_codes_are_all_reported() -> None:
    found = problems('title = "T"\ncodes = []\n')
    reasons = " | ".join(text for _, text in found)
    for needed in ("'id'", "'version'", "'applies_to'", "'codes' must be a non-empty array"):
        assert needed in reasons


def test_a_parent_cycle_is_refused() -> None:
    text = GOOD.replace(
        'id = "cluster"\nlabel = "A cluster"',
        'id = "cluster"\nlabel = "A cluster"\nparent = "child"',
    )
    assert any("loops back" in reason for _, reason in problems(text))


def test_active_keys_must_be_unique_within_a_scheme() -> None:
    text = GOOD.replace(
        'id = "plain"\nlabel = "No colour anywhere"', 'id = "plain"\nlabel = "P"\nkey = "1"'
    )
    assert any("already used by code 'child'" in reason for _, reason in problems(text))


def test_keys_ignore_case_within_a_scheme_and_across_schemes(tmp_path: Path) -> None:
    text = GOOD.replace(
        'id = "plain"\nlabel = "No colour anywhere"', 'id = "plain"\nlabel = "P"\nkey = "Q"'
    ).replace('key = "1"', 'key = "q"')
    assert any("key 'Q' is already used by code" in reason for _, reason in problems(text))
    # adult-responses (home visits too) uses "w"; "W" in another scheme is the same key.
    path = write(tmp_path, "upper.toml", GOOD.replace('key = "1"', 'key = "W"'))
    with pytest.raises(TaxonomyError) as caught:
        load_registry(tmp_path)
    (problem,) = caught.value.problems
    assert problem.path == str(path) and "key 'W' is already used by code 'waiting'" in str(
        problem.reason
    )


def test_shipped_keys_are_unique_ignoring_case_per_footage_kind() -> None:
    registry = load_registry(builtin_dir())
    for kind in ("home-visit", "group-delivery", "shared-review"):
        keys = [
            code.key.casefold()
            for s in registry.schemes()
            if kind in s.applies_to
            for code in s.active_codes()
            if code.key
        ]
        assert len(keys) == len(set(keys)), kind


PLAYER_JS = Path(__file__).resolve().parents[3] / "webapp" / "static" / "js"
# `key === "x"` (event.key or a handler's key argument) and `case "x":` of a key switch.
_KEY_TEST = re.compile(r"""\bkey\s*===?\s*(["'])(.+?)\1""")
_KEY_SWITCH = re.compile(r"switch\s*\(\s*(?:event\.)?key\s*\)\s*\{")
_CASE = re.compile(r"""\bcase\s+(["'])(.+?)\1\s*:""")


def player_bindings(text: str) -> set[str]:
    """The keys a player script binds: key comparisons and the cases of key switches."""
    found = {m.group(2) for m in _KEY_TEST.finditer(text)}
    for switch in _KEY_SWITCH.finditer(text):
        depth, end = 1, switch.end()
        while depth and end < len(text):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        found |= {m.group(2) for m in _CASE.finditer(text, switch.end(), end)}
    return found


def test_player_bindings_are_read_from_the_scripts() -> None:
    script = 'switch (event.key) {\n  case " ":\n  case "x": go(); break;\n}\n'
    script += 'switch (mode) { case "m": break; }\nif (key === "Q" || event.key == \'Z\') {}\n'
    assert player_bindings(script) == {" ", "x", "Q", "Z"}


def test_every_key_the_player_binds_is_reserved() -> None:
    scripts = sorted(PLAYER_JS.glob("player*.js"))
    assert len(scripts) >= 2  # player.js and player-annotations.js at least
    bound = set().union(*(player_bindings(s.read_text(encoding="utf-8")) for s in scripts))
    # The reader must see what we know is bound, or the check below would prove nothing.
    assert {" ", ",", ".", "ArrowLeft", "a", "A", "i", "I", "o", "O"} <= bound
    assert bound <= RESERVED_KEYS, f"bound by the player but not reserved: {bound - RESERVED_KEYS}"


@pytest.mark.parametrize("key", ["i", "I", "o", "O"])
def test_a_scheme_cannot_take_the_mark_in_and_out_keys(key: str) -> None:
    text = GOOD.replace(
        'key = "1"\n\n[[codes]]\nid = "old"', f'key = "{key}"\n\n[[codes]]\nid = "old"'
    )
    found = problems(text)
    assert any(line == 17 and f"key {key!r} is reserved" in reason for line, reason in found)


def test_the_shipped_schemes_load_and_cover_the_domain(tmp_path: Path) -> None:
    registry = load_registry()
    ids = [s.id for s in registry.schemes()]
    assert ids == ["adult-responses", "group-facilitation", "infant-cues"]
    infant = registry.get("infant-cues")
    roots = {c.id for c in infant.codes if c.parent is None}
    assert roots == {
        "engagement-potent",
        "engagement-subtle",
        "disengagement-potent",
        "disengagement-subtle",
    }
    for cue in ("smiling", "mutual-gaze", "gaze-aversion", "crying", "hiccups", "glazed-look"):
        assert infant.code(cue) is not None
    adult = registry.get("adult-responses")
    principles = [c.id for c in adult.codes if c.parent is None]
    assert principles == [
        "being-attentive",
        "encouraging-initiatives",
        "receiving-initiatives",
        "developing-attuned-interactions",
        "guiding",
        "deepening-discussion",
    ]
    assert adult.root("waiting") == "encouraging-initiatives"
    assert adult.root("short-turns") == "developing-attuned-interactions"
    # Keys: single characters, none reserved, no two the same across the schemes.
    keys = [c.key for s in registry.schemes() for c in s.active_codes() if c.key]
    assert len(keys) == len(set(keys)) and len(keys) >= 20
    assert not set(keys) & RESERVED_KEYS
    for s in registry.schemes():
        for code in s.codes:
            assert code.colour.startswith("#") and len(code.colour) == 7


def test_a_site_overrides_a_scheme_and_other_sites_keep_the_default(tmp_path: Path) -> None:
    site_text = (builtin_dir() / "group-facilitation.toml").read_text()
    site_text = site_text.replace('version = "1"', 'version = "north-2"')
    site_text += '\n[[codes]]\nid = "uses-video"\nlabel = "Uses the video well"\nkey = "V"\n'
    write(tmp_path / "sites" / "north", "group-facilitation.toml", site_text)
    write(tmp_path, "extra.toml", GOOD.replace('key = "1"', 'key = "Q"'))
    registry = load_registry(tmp_path)
    north = registry.get("group-facilitation", "north")
    assert north.version == "north-2" and north.code("uses-video") is not None
    south = registry.get("group-facilitation", "south")
    assert south.version == "1" and south.code("uses-video") is None
    assert registry.find("demo", "south") is not None  # installation-wide addition
    assert registry.site_slugs() == ["north"]
    assert [s.id for s in registry.for_clip("north", "group-delivery", "facilitator")] == [
        "adult-responses",
        "group-facilitation",
    ]
    with pytest.raises(NotFound):
        registry.get("nope", "north")


def test_a_malformed_site_file_refuses_the_whole_registry(tmp_path: Path) -> None:
    path = write(
        tmp_path / "sites" / "north",
        "broken.toml",
        GOOD.replace('title = "Demo scheme"', "title = "),
    )
    with pytest.raises(TaxonomyError) as caught:
        load_registry(tmp_path)
    (problem,) = caught.value.problems
    assert problem.path == str(path) and problem.line == 3
    assert str(path) in str(caught.value) and ":3:" in str(caught.value)


def test_keys_clashing_with_another_scheme_are_refused(tmp_path: Path) -> None:
    # "1" is the infant-cues key for smiling; this scheme also applies to home visits.
    path = write(tmp_path, "clash.toml", GOOD)
    with pytest.raises(TaxonomyError) as caught:
        load_registry(tmp_path)
    (problem,) = caught.value.problems
    assert problem.path == str(path) and problem.line == 17
    assert "key '1' is already used by code 'smiling' of scheme 'infant-cues'" in problem.reason


def test_duplicate_ids_in_one_directory_and_missing_dirs_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace('key = "1"', 'key = "Q"')
    write(tmp_path, "one.toml", text)
    write(tmp_path, "two.toml", text)
    with pytest.raises(TaxonomyError, match="also defined in"):
        load_registry(tmp_path)
    with pytest.raises(TaxonomyError, match="does not exist"):
        load_registry(tmp_path / "missing")


def test_a_bad_site_directory_name_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "sites" / "North Site", "x.toml", GOOD)
    with pytest.raises(TaxonomyError, match="not a site slug"):
        load_registry(tmp_path)
