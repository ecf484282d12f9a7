"""ELAN annotation format (EAF 3.0) export.

Layout, chosen so ELAN can open and edit the file:

* one time-alignable tier per subject (``infant``, ``parent``...; ``PARTICIPANT`` = the
  subject) holding each annotation's note (or its code labels when it has no note).
  ELAN does not allow overlapping annotations on one tier, so an annotation that
  overlaps an earlier one of the same subject goes to a numbered overflow tier
  (``infant 2``), created only when needed;
* under each such tier, one ``Symbolic_Subdivision`` tier per coding scheme used
  (``infant codes (infant-cues)``), whose annotations are that annotation's codes, each
  pointing at a CONTROLLED_VOCABULARY entry (``CVE_REF``);
* one CONTROLLED_VOCABULARY per scheme (``CV_ID`` = scheme id, every code an entry),
  referenced by the LINGUISTIC_TYPE of its code tiers.

A point annotation becomes one frame long (ELAN alignable annotations need an extent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from xml.etree import ElementTree as ET

from review.formats import ExportRow
from review.taxonomy import Scheme
from storage.db.review import SUBJECTS

NOTE_TYPE = "verp-note"
LANG = "eng"
LANG_DEF = "http://cdb.iso.org/lg/CDB-00138502-001"
CONSTRAINTS = {
    "Time_Subdivision": "Time subdivision of parent annotation's time interval, no time "
    "gaps allowed within this interval",
    "Symbolic_Subdivision": "Symbolic subdivision of a parent annotation. Annotations "
    "refering to the same parent are ordered",
    "Symbolic_Association": "1-1 association with a parent annotation",
    "Included_In": "Time alignable annotations within the parent annotation's time "
    "interval, gaps are allowed",
}
# Characters XML 1.0 cannot carry at all; input validation already refuses them, this
# keeps an old row from producing a file ELAN cannot parse.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def cve_id(scheme_id: str, code_id: str) -> str:
    """An XML-ID-safe, document-unique id for a code's vocabulary entry."""
    return f"cve_{scheme_id}_{code_id}"


def render_eaf(
    rows: Sequence[ExportRow],
    schemes: Mapping[str, Scheme | None],
    *,
    duration_ms: int,
    frame_ms: int,
    media_name: str,
    created: datetime,
) -> bytes:
    """The EAF 3.0 document for ``rows`` (UTF-8 bytes with an XML declaration)."""
    root = ET.Element(
        "ANNOTATION_DOCUMENT",
        {
            "AUTHOR": "verp",
            "DATE": created.isoformat(timespec="seconds"),
            "FORMAT": "3.0",
            "VERSION": "3.0",
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "http://www.mpi.nl/tools/elan/EAFv3.0.xsd",
        },
    )
    header = ET.SubElement(root, "HEADER", {"MEDIA_FILE": "", "TIME_UNITS": "milliseconds"})
    ET.SubElement(
        header,
        "MEDIA_DESCRIPTOR",
        {
            "MEDIA_URL": f"file:///{media_name}",
            "MIME_TYPE": "video/mp4",
            "RELATIVE_MEDIA_URL": f"./{media_name}",
        },
    )
    spans = [(row, row.start_ms, _end(row, duration_ms, frame_ms)) for row in rows]
    times = sorted({t for _, start, end in spans for t in (start, end)})
    slot = {t: f"ts{i + 1}" for i, t in enumerate(times)}
    order = ET.SubElement(root, "TIME_ORDER")
    for t in times:
        ET.SubElement(order, "TIME_SLOT", {"TIME_SLOT_ID": slot[t], "TIME_VALUE": str(t)})
    counter = _Ids()
    used_schemes: list[str] = []
    for subject in SUBJECTS:
        mine = sorted(
            (s for s in spans if s[0].subject == subject), key=lambda s: (s[1], s[2], s[0].id)
        )
        for lane_no, lane in enumerate(_lanes(mine), start=1):
            tier_id = subject if lane_no == 1 else f"{subject} {lane_no}"
            tier = ET.SubElement(
                root,
                "TIER",
                {"LINGUISTIC_TYPE_REF": NOTE_TYPE, "PARTICIPANT": subject, "TIER_ID": tier_id},
            )
            code_tiers: dict[str, list[tuple[str, ExportRow]]] = {}
            for row, start, end in lane:
                ann_id = counter.next()
                value = row.text.strip() or "; ".join(row.labels)
                wrapper = ET.SubElement(tier, "ANNOTATION")
                alignable = ET.SubElement(
                    wrapper,
                    "ALIGNABLE_ANNOTATION",
                    {
                        "ANNOTATION_ID": ann_id,
                        "TIME_SLOT_REF1": slot[start],
                        "TIME_SLOT_REF2": slot[end],
                    },
                )
                ET.SubElement(alignable, "ANNOTATION_VALUE").text = _xml_text(value)
                if row.scheme_id and row.codes:
                    code_tiers.setdefault(row.scheme_id, []).append((ann_id, row))
            for scheme_id, items in code_tiers.items():
                if scheme_id not in used_schemes:
                    used_schemes.append(scheme_id)
                _code_tier(root, tier_id, scheme_id, items, schemes.get(scheme_id), counter)
    ET.SubElement(header, "PROPERTY", {"NAME": "lastUsedAnnotationId"}).text = str(counter.last)
    ET.SubElement(
        root,
        "LINGUISTIC_TYPE",
        {"GRAPHIC_REFERENCES": "false", "LINGUISTIC_TYPE_ID": NOTE_TYPE, "TIME_ALIGNABLE": "true"},
    )
    for scheme_id in used_schemes:
        ET.SubElement(
            root,
            "LINGUISTIC_TYPE",
            {
                "CONSTRAINTS": "Symbolic_Subdivision",
                "CONTROLLED_VOCABULARY_REF": scheme_id,
                "GRAPHIC_REFERENCES": "false",
                "LINGUISTIC_TYPE_ID": f"codes-{scheme_id}",
                "TIME_ALIGNABLE": "false",
            },
        )
    ET.SubElement(
        root, "LANGUAGE", {"LANG_DEF": LANG_DEF, "LANG_ID": LANG, "LANG_LABEL": "English (eng)"}
    )
    for stereotype, description in CONSTRAINTS.items():
        ET.SubElement(root, "CONSTRAINT", {"DESCRIPTION": description, "STEREOTYPE": stereotype})
    for scheme_id in used_schemes:
        _vocabulary(root, scheme_id, schemes.get(scheme_id), rows)
    ET.indent(root, space="    ")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


class _Ids:
    """Annotation ids ``a1, a2, ...`` (xsd:ID values, unique in the document)."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> str:
        self.last += 1
        return f"a{self.last}"


def _end(row: ExportRow, duration_ms: int, frame_ms: int) -> int:
    if row.end_ms is not None:
        return row.end_ms
    end = min(row.start_ms + frame_ms, duration_ms)
    return end if end > row.start_ms else row.start_ms + 1


def _lanes(spans: list[tuple[ExportRow, int, int]]) -> list[list[tuple[ExportRow, int, int]]]:
    """Greedy interval partitioning: each span goes to the first lane it does not overlap."""
    lanes: list[list[tuple[ExportRow, int, int]]] = []
    for span in spans:
        for lane in lanes:
            if lane[-1][2] <= span[1]:
                lane.append(span)
                break
        else:
            lanes.append([span])
    return lanes


def _code_tier(
    root: ET.Element,
    parent_tier: str,
    scheme_id: str,
    items: list[tuple[str, ExportRow]],
    scheme: Scheme | None,
    counter: _Ids,
) -> None:
    tier = ET.SubElement(
        root,
        "TIER",
        {
            "LINGUISTIC_TYPE_REF": f"codes-{scheme_id}",
            "PARENT_REF": parent_tier,
            "PARTICIPANT": parent_tier.split(" ")[0],
            "TIER_ID": f"{parent_tier} codes ({scheme_id})",
        },
    )
    for parent_id, row in items:
        previous: str | None = None
        for code_id in row.codes:
            ann_id = counter.next()
            attrs = {
                "ANNOTATION_ID": ann_id,
                "ANNOTATION_REF": parent_id,
                "CVE_REF": cve_id(scheme_id, code_id),
            }
            if previous is not None:
                attrs["PREVIOUS_ANNOTATION"] = previous
            wrapper = ET.SubElement(tier, "ANNOTATION")
            ref = ET.SubElement(wrapper, "REF_ANNOTATION", attrs)
            label = scheme.label(code_id) if scheme is not None else code_id
            ET.SubElement(ref, "ANNOTATION_VALUE").text = _xml_text(label)
            previous = ann_id


def _vocabulary(
    root: ET.Element, scheme_id: str, scheme: Scheme | None, rows: Sequence[ExportRow]
) -> None:
    cv = ET.SubElement(root, "CONTROLLED_VOCABULARY", {"CV_ID": scheme_id})
    title = f"{scheme.title} (version {scheme.version})" if scheme is not None else scheme_id
    ET.SubElement(cv, "DESCRIPTION", {"LANG_REF": LANG}).text = _xml_text(title)
    entries: dict[str, tuple[str, str]] = {}
    if scheme is not None:
        for code in scheme.codes:
            entries[code.id] = (code.label, code.description)
    # Codes this scheme version no longer lists still need an entry for their CVE_REF.
    for row in rows:
        if row.scheme_id == scheme_id:
            for code_id in row.codes:
                entries.setdefault(code_id, (code_id, ""))
    for code_id, (label, description) in entries.items():
        entry = ET.SubElement(cv, "CV_ENTRY_ML", {"CVE_ID": cve_id(scheme_id, code_id)})
        value = ET.SubElement(
            entry, "CVE_VALUE", {"DESCRIPTION": _xml_text(description), "LANG_REF": LANG}
        )
        value.text = _xml_text(label)


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)
