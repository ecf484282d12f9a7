"""Pure renderers for annotation exports: CSV, WebVTT and JSON (EAF is in ``eaf.py``).

Each takes :class:`ExportRow` values (one per annotation, already filtered to what the
requester may see) and returns text. User text is made safe for where it lands: CSV
cells that a spreadsheet would run as a formula get a leading apostrophe, WebVTT cue
text is escaped and cannot end a cue early.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from review.timeline import seconds

#: Cells starting with these are formulas (or become one) in Excel/LibreOffice/Sheets.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "annotation_id",
    "start_s",
    "end_s",
    "start_frame",
    "end_frame",
    "subject",
    "scheme",
    "scheme_version",
    "codes",
    "code_labels",
    "text",
    "author",
    "author_role",
    "visibility",
    "resolved",
    "created_at",
    "updated_at",
)
#: The words the pages use for each subject (docs/review.md, glossary).
SUBJECT_WORDS = {
    "infant": "Baby",
    "parent": "Parent",
    "facilitator": "Facilitator",
    "group": "Group",
}
#: How long a point annotation shows as a WebVTT cue.
VTT_POINT_MS = 1000


@dataclass(frozen=True)
class ExportRow:
    """One annotation as exported. ``end_frame`` is the last frame covered (inclusive)."""

    id: str
    start_ms: int
    end_ms: int | None
    start_frame: int | None
    end_frame: int | None
    subject: str
    scheme_id: str | None
    scheme_version: str | None
    codes: tuple[str, ...]
    labels: tuple[str, ...]
    text: str
    author: str
    author_id: str
    author_role: str
    visibility: str
    resolved: bool
    created_at: str
    updated_at: str
    #: Shapes drawn on the frame (review.shapes), carried by the JSON export only.
    shapes: tuple[dict[str, Any], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "subject": self.subject,
            "scheme_id": self.scheme_id,
            "scheme_version": self.scheme_version,
            "codes": [
                {"id": c, "label": lab} for c, lab in zip(self.codes, self.labels, strict=True)
            ],
            "text": self.text,
            "author": self.author,
            "author_id": self.author_id,
            "author_role": self.author_role,
            "visibility": self.visibility,
            "resolved": self.resolved,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "shapes": [dict(shape) for shape in self.shapes],
        }


def safe_cell(value: str) -> str:
    """Neutralise spreadsheet formula injection: prefix risky cells with an apostrophe."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def to_csv(rows: Sequence[ExportRow]) -> str:
    """One CSV row per annotation (RFC 4180, CRLF line ends, header first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells: list[str] = [
            row.id,
            seconds(row.start_ms),
            "" if row.end_ms is None else seconds(row.end_ms),
            "" if row.start_frame is None else str(row.start_frame),
            "" if row.end_frame is None else str(row.end_frame),
            row.subject,
            row.scheme_id or "",
            row.scheme_version or "",
            ";".join(row.codes),
            "; ".join(row.labels),
            row.text,
            row.author,
            row.author_role,
            row.visibility,
            "yes" if row.resolved else "no",
            row.created_at,
            row.updated_at,
        ]
        writer.writerow([safe_cell(cell) for cell in cells])
    return out.getvalue()


def vtt_time(ms: int) -> str:
    """``HH:MM:SS.mmm`` as WebVTT requires (hours always present)."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def vtt_text(value: str) -> str:
    """Cue text that renders literally and cannot close or split the cue."""
    text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # "-->" would be read as a timing line; a blank line would end the cue.
    text = text.replace("--&gt;", "\u2192")
    return re.sub(r"\n\s*\n+", "\n", text).strip()


def to_vtt(rows: Sequence[ExportRow], duration_ms: int) -> str:
    """A WebVTT track: one cue per annotation, ordered by start time.

    A point annotation shows for VTT_POINT_MS (never past the end of the clip).
    Cue text: ``Subject: code labels — note``.
    """
    lines = ["WEBVTT", ""]
    for row in sorted(rows, key=lambda r: (r.start_ms, r.end_ms or r.start_ms, r.id)):
        end = (
            row.end_ms if row.end_ms is not None else min(row.start_ms + VTT_POINT_MS, duration_ms)
        )
        end = max(end, row.start_ms + 1)
        head = SUBJECT_WORDS.get(row.subject, row.subject.capitalize())
        body = " — ".join(part for part in ("; ".join(row.labels), row.text.strip()) if part)
        lines += [row.id, f"{vtt_time(row.start_ms)} --> {vtt_time(end)}"]
        lines += [vtt_text(f"{head}: {body}"), ""]
    return "\n".join(lines)


def to_json(
    clip: Mapping[str, Any],
    rows: Sequence[ExportRow],
    schemes: Sequence[Mapping[str, Any]],
    replies: Mapping[str, Sequence[Mapping[str, Any]]],
    links: Sequence[Mapping[str, Any]],
) -> str:
    """The whole review as one JSON document (annotations with their threads, links)."""
    annotations = []
    for row in rows:
        item = row.as_dict()
        item["replies"] = list(replies.get(row.id, ()))
        annotations.append(item)
    document = {
        "format": "verp-annotations",
        "version": 1,
        "clip": dict(clip),
        "schemes": list(schemes),
        "annotations": annotations,
        "links": list(links),
    }
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
