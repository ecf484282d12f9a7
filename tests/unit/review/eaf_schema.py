"""A structural validator for EAF 3.0 documents, written from the EAF 3.0 schema rules.

No network fetch of the XSD: this checks what the schema (and ELAN on loading) demands
of the parts our exporter writes — element order, required attributes, ID uniqueness and
syntax, every reference resolving (time slots, tiers, linguistic types, vocabularies,
languages, parent annotations, CV entries), plus ELAN's rule that annotations on one
time-alignable tier do not overlap. Returns a list of problems (empty when valid).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from xml.etree import ElementTree as ET

# xsd:sequence of ANNOTATION_DOCUMENT, in order; each may repeat except HEADER/TIME_ORDER.
DOCUMENT_ORDER = (
    "LICENSE",
    "HEADER",
    "TIME_ORDER",
    "TIER",
    "LINGUISTIC_TYPE",
    "LOCALE",
    "LANGUAGE",
    "CONSTRAINT",
    "CONTROLLED_VOCABULARY",
    "LEXICON_REF",
    "REF_LINK_SET",
    "EXTERNAL_REF",
)
HEADER_ORDER = ("MEDIA_DESCRIPTOR", "LINKED_FILE_DESCRIPTOR", "PROPERTY")
STEREOTYPES = {"Time_Subdivision", "Symbolic_Subdivision", "Symbolic_Association", "Included_In"}
NCNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
BOOLEAN = {"true", "false", "1", "0"}


def validate_eaf(data: bytes) -> list[str]:
    errors: list[str] = []
    root = ET.fromstring(data)
    if root.tag != "ANNOTATION_DOCUMENT":
        return [f"root element is {root.tag}"]
    for attr in ("DATE", "AUTHOR", "VERSION"):
        if attr not in root.attrib:
            errors.append(f"ANNOTATION_DOCUMENT lacks {attr}")
    if root.get("FORMAT") != "3.0":
        errors.append("FORMAT is not 3.0")
    _check_order([c.tag for c in root], DOCUMENT_ORDER, "ANNOTATION_DOCUMENT", errors)
    counts = Counter(c.tag for c in root)
    if counts["HEADER"] != 1 or counts["TIME_ORDER"] != 1:
        errors.append("exactly one HEADER and one TIME_ORDER are required")
    header = root.find("HEADER")
    if header is not None:
        _check_order([c.tag for c in header], HEADER_ORDER, "HEADER", errors)
        for media in header.findall("MEDIA_DESCRIPTOR"):
            for attr in ("MEDIA_URL", "MIME_TYPE"):
                if not media.get(attr):
                    errors.append(f"MEDIA_DESCRIPTOR lacks {attr}")
    ids: list[str] = []  # every xsd:ID value: unique across the document
    slots: dict[str, int] = {}
    for slot in root.iterfind("TIME_ORDER/TIME_SLOT"):
        slot_id = slot.get("TIME_SLOT_ID", "")
        ids.append(slot_id)
        value = slot.get("TIME_VALUE")
        if value is not None:
            if not value.isdigit():
                errors.append(f"TIME_SLOT {slot_id} has a bad TIME_VALUE {value!r}")
            else:
                slots[slot_id] = int(value)
    types = {}
    for lt in root.findall("LINGUISTIC_TYPE"):
        lt_id = lt.get("LINGUISTIC_TYPE_ID")
        if not lt_id:
            errors.append("LINGUISTIC_TYPE lacks LINGUISTIC_TYPE_ID")
            continue
        if lt_id in types:
            errors.append(f"LINGUISTIC_TYPE {lt_id} defined twice")
        types[lt_id] = lt
        for attr in ("TIME_ALIGNABLE", "GRAPHIC_REFERENCES"):
            if lt.get(attr) is not None and lt.get(attr) not in BOOLEAN:
                errors.append(f"LINGUISTIC_TYPE {lt_id}: {attr} is not a boolean")
    constraints = {c.get("STEREOTYPE") for c in root.findall("CONSTRAINT")}
    if not constraints <= STEREOTYPES:
        errors.append(f"unknown CONSTRAINT stereotypes {constraints - STEREOTYPES}")
    languages = {lang.get("LANG_ID") for lang in root.findall("LANGUAGE")}
    vocabularies: dict[str, set[str]] = {}
    for cv in root.findall("CONTROLLED_VOCABULARY"):
        cv_id = cv.get("CV_ID", "")
        if not cv_id or cv_id in vocabularies:
            errors.append(f"CONTROLLED_VOCABULARY id {cv_id!r} missing or repeated")
        _check_order([c.tag for c in cv], ("DESCRIPTION", "CV_ENTRY_ML"), f"CV {cv_id}", errors)
        entries: set[str] = set()
        for entry in cv.findall("CV_ENTRY_ML"):
            cve = entry.get("CVE_ID", "")
            ids.append(cve)
            entries.add(cve)
            values = entry.findall("CVE_VALUE")
            if not values:
                errors.append(f"CV_ENTRY_ML {cve} has no CVE_VALUE")
            for value in values:
                if value.get("LANG_REF") not in languages:
                    errors.append(f"CVE_VALUE of {cve} refers to an unknown language")
        for description in cv.findall("DESCRIPTION"):
            if description.get("LANG_REF") not in languages:
                errors.append(f"DESCRIPTION of CV {cv_id} refers to an unknown language")
        vocabularies[cv_id] = entries
    for lt_id, lt in types.items():
        cv_ref = lt.get("CONTROLLED_VOCABULARY_REF")
        if cv_ref is not None and cv_ref not in vocabularies:
            errors.append(f"LINGUISTIC_TYPE {lt_id} refers to unknown CV {cv_ref}")
        stereotype = lt.get("CONSTRAINTS")
        if stereotype is not None and stereotype not in constraints:
            errors.append(f"LINGUISTIC_TYPE {lt_id} uses undeclared constraint {stereotype}")
    tiers = {t.get("TIER_ID", ""): t for t in root.findall("TIER")}
    if len(tiers) != len(root.findall("TIER")):
        errors.append("TIER_ID values are not unique")
    owner: dict[str, str] = {}  # annotation id -> tier id
    for tier_id, tier in tiers.items():
        for annotation in tier.iterfind("ANNOTATION/*"):
            owner[annotation.get("ANNOTATION_ID", "")] = tier_id
    for tier_id, tier in tiers.items():
        errors.extend(_check_tier(tier_id, tier, tiers, types, slots, vocabularies, owner, ids))
    for value, n in Counter(ids).items():
        if n > 1:
            errors.append(f"ID {value!r} is used {n} times")
        if not NCNAME.match(value):
            errors.append(f"ID {value!r} is not a valid xsd:ID")
    last = root.find("HEADER/PROPERTY[@NAME='lastUsedAnnotationId']")
    numbers = [int(a[1:]) for a in owner if a[1:].isdigit()]
    if (
        last is None
        or not (last.text or "").isdigit()
        or int(last.text or 0) < max(numbers, default=0)
    ):
        errors.append("lastUsedAnnotationId is missing or too small")
    return errors


def _check_tier(
    tier_id: str,
    tier: ET.Element,
    tiers: dict[str, ET.Element],
    types: dict[str, ET.Element],
    slots: dict[str, int],
    vocabularies: dict[str, set[str]],
    owner: dict[str, str],
    ids: list[str],
) -> list[str]:
    errors: list[str] = []
    lt = types.get(tier.get("LINGUISTIC_TYPE_REF", ""))
    if lt is None:
        return [f"TIER {tier_id} refers to an unknown LINGUISTIC_TYPE"]
    parent = tier.get("PARENT_REF")
    if parent is not None and parent not in tiers:
        errors.append(f"TIER {tier_id} has unknown PARENT_REF {parent}")
    alignable = lt.get("TIME_ALIGNABLE") in ("true", "1")
    if lt.get("CONSTRAINTS") and parent is None:
        errors.append(f"TIER {tier_id}: a constrained type needs a parent tier")
    cv = vocabularies.get(lt.get("CONTROLLED_VOCABULARY_REF") or "")
    extents: list[tuple[int, int]] = []
    for wrapper in tier.findall("ANNOTATION"):
        children = list(wrapper)
        if len(children) != 1 or children[0].tag not in ("ALIGNABLE_ANNOTATION", "REF_ANNOTATION"):
            errors.append(f"TIER {tier_id}: ANNOTATION must hold exactly one annotation")
            continue
        ann = children[0]
        ann_id = ann.get("ANNOTATION_ID", "")
        ids.append(ann_id)
        values = ann.findall("ANNOTATION_VALUE")
        if len(values) != 1:
            errors.append(f"{ann_id}: needs exactly one ANNOTATION_VALUE")
        if ann.tag == "ALIGNABLE_ANNOTATION":
            if not alignable:
                errors.append(f"{ann_id}: alignable annotation on a non-alignable tier")
            ref1, ref2 = ann.get("TIME_SLOT_REF1"), ann.get("TIME_SLOT_REF2")
            if ref1 not in slots or ref2 not in slots:
                errors.append(f"{ann_id}: time slot reference does not resolve")
                continue
            if slots[ref1] >= slots[ref2]:
                errors.append(f"{ann_id}: does not end after it begins")
            extents.append((slots[ref1], slots[ref2]))
        else:
            target = ann.get("ANNOTATION_REF")
            if target not in owner or owner[target] != parent:
                errors.append(f"{ann_id}: ANNOTATION_REF must point into the parent tier")
            previous = ann.get("PREVIOUS_ANNOTATION")
            if previous is not None and owner.get(previous) != tier_id:
                errors.append(f"{ann_id}: PREVIOUS_ANNOTATION must be on the same tier")
        cve = ann.get("CVE_REF")
        if cve is not None and (cv is None or cve not in cv):
            errors.append(f"{ann_id}: CVE_REF {cve} is not an entry of the tier's vocabulary")
    extents.sort()
    for (_, end), (start, _) in itertools.pairwise(extents):
        if start < end:
            errors.append(f"TIER {tier_id}: annotations overlap (ELAN refuses this)")
            break
    return errors


def _check_order(tags: list[str], order: tuple[str, ...], where: str, errors: list[str]) -> None:
    position = 0
    for tag in tags:
        if tag not in order:
            errors.append(f"{where}: unexpected element {tag}")
            continue
        index = order.index(tag)
        if index < position:
            errors.append(f"{where}: {tag} is out of order")
        position = index
