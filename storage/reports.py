"""The DPO retention report of one site: clips, tombstones and destruction certificates.

Built from metadata only (no footage is read). Rendered as CSV (one row per clip or
destroyed clip, a ``record`` column telling which) or as a self-contained HTML page in
which every value is HTML-escaped. Each destruction certificate names the audit entry that
records the destruction and its chain hash, and says whether that entry is still in the
log unchanged and whether the whole chain verified when the report was made.
"""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass, field
from datetime import datetime
from string import Template
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit.people import person_labels
from storage.audit.verify import VerifyResult
from storage.db.footage import Clip, Consent
from storage.db.governance import AuditEntry, LegalHold, Tombstone
from storage.db.tenancy import Site
from storage.errors import ValidationError
from storage.governance_status import clip_state
from storage.kek import horizons

FORMATS = ("csv", "html")
CSV_COLUMNS = (
    "record",
    "clip_id",
    "kind",
    "family_code",
    "consent_id",
    "form_reference",
    "purposes",
    "withdrawn_purposes",
    "created_at",
    "delete_after",
    "hold",
    "state",
    "destroyed_at",
    "reason",
    "requested_by",
    "requested_by_name",
    "destroyed_by",
    "destroyed_by_name",
    "method",
    "annotations",
    "blobs",
    "audit_seq",
    "audit_hash",
    "audit_entry_intact",
    "gone_from_live_at",
    "kek_epoch",
    "unrecoverable_from_copies_at",
    "shred_horizon",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class RetentionReport:
    site_slug: str
    generated_at: datetime
    chain_ok: bool
    chain_problem: str | None
    clips: list[dict[str, Any]] = field(default_factory=list)
    destroyed: list[dict[str, Any]] = field(default_factory=list)
    #: a signed audit receipt (storage/audit/receipts.py) taken with the report, as JSON text
    receipt: str | None = None


def build_report(
    session: Session, site_id: str, now: datetime, verified: VerifyResult
) -> RetentionReport:
    """Collect the report of ``site_id`` (reads only). ``verified`` is a fresh chain check."""
    site = session.get(Site, site_id)
    if site is None:
        raise ValidationError(f"no site {site_id}")
    report = RetentionReport(site.slug, now, verified.ok, verified.problem)
    holds: dict[str, list[LegalHold]] = {}
    active = select(LegalHold).where(LegalHold.site_id == site_id, LegalHold.lifted_at.is_(None))
    for hold in session.scalars(active):
        holds.setdefault(hold.clip_id, []).append(hold)
    consents = {c.id: c for c in session.scalars(select(Consent).where(Consent.site_id == site_id))}
    tombs = select(Tombstone).where(Tombstone.site_id == site_id)
    tomb_rows = list(session.scalars(tombs.order_by(Tombstone.destroyed_at, Tombstone.clip_id)))
    who = person_labels(  # one query for every person the report names
        session,
        [h.placed_by for hs in holds.values() for h in hs]
        + [t.requested_by for t in tomb_rows]
        + [t.destroyed_by for t in tomb_rows],
    )
    live = select(Clip).where(Clip.site_id == site_id, Clip.status != "destroyed")
    for clip in session.scalars(live.order_by(Clip.created_at, Clip.id)):
        consent = consents.get(clip.consent_id)
        report.clips.append(
            {
                "record": "clip",
                "clip_id": clip.id,
                "kind": clip.kind,
                "family_code": clip.family_code,
                "consent_id": clip.consent_id,
                "form_reference": consent.form_reference if consent else "",
                "purposes": list(consent.purposes) if consent else [],
                "withdrawn_purposes": list(consent.withdrawn_purposes) if consent else [],
                "created_at": clip.created_at,
                "delete_after": clip.delete_after,
                "hold": "; ".join(
                    f"{h.id} since {h.placed_at:%Y-%m-%d} by {who[h.placed_by]}: {h.reason}"
                    for h in holds.get(clip.id, [])
                ),
                "state": clip_state(clip, clip.id in holds, now),
            }
        )
    horizon = horizons(session, [(t.kek_provider, t.kek_version) for t in tomb_rows], now)
    for tomb in tomb_rows:
        shred = horizon[(tomb.kek_provider, tomb.kek_version)]
        entry = session.get(AuditEntry, tomb.audit_seq) if tomb.audit_seq else None
        intact = (
            entry is not None
            and entry.hash == tomb.audit_hash
            and entry.action == "clip.destroy"
            and entry.target_id == tomb.clip_id
        )
        report.destroyed.append(
            {
                "record": "destroyed",
                "clip_id": tomb.clip_id,
                "kind": tomb.kind,
                "family_code": tomb.family_code,
                "consent_id": tomb.consent_id,
                "form_reference": tomb.form_reference,
                "purposes": list(tomb.purposes),
                "withdrawn_purposes": list(tomb.withdrawn_purposes),
                "created_at": tomb.clip_created_at,
                "delete_after": tomb.delete_after,
                "hold": "",
                "state": "destroyed",
                "destroyed_at": tomb.destroyed_at,
                "reason": tomb.reason,
                "requested_at": tomb.requested_at,
                "requested_by": tomb.requested_by,
                "requested_by_name": who.get(tomb.requested_by or "", "nobody (automatic)"),
                "destroyed_by": tomb.destroyed_by,
                "destroyed_by_name": who[tomb.destroyed_by],
                "key_destroyed_at": tomb.key_destroyed_at,
                "method": tomb.method,
                "annotations": tomb.annotation_count,
                "blobs": tomb.blob_count,
                "audit_seq": tomb.audit_seq,
                "audit_hash": tomb.audit_hash,
                "audit_entry_intact": intact,
                # T1: gone from the live system; T2: unrecoverable from any copy.
                "gone_from_live_at": tomb.destroyed_at,
                "kek_epoch": shred.epoch,
                "unrecoverable_from_copies_at": shred.at
                if shred.state == "unrecoverable"
                else None,
                "shred_horizon": shred.text,
            }
        )
    return report


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def render_csv(report: RetentionReport, out: TextIO) -> None:
    """Write the report as CSV; formula-like cells are prefixed with an apostrophe."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in [*report.clips, *report.destroyed, *_receipt_rows(report.receipt)]:
        cells = [_text(row.get(column)) for column in CSV_COLUMNS]
        writer.writerow(["'" + c if c.startswith(_FORMULA_START) else c for c in cells])


_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Retention report: $site</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top}
.cert{border:2px solid #333;padding:1em;margin:1em 0;page-break-inside:avoid}
.bad{color:#a00;font-weight:bold}code{word-break:break-all}</style></head>
<body><h1>Retention report: $site</h1>
<p>Generated $generated. Audit chain: $chain</p>
$receipt
<h2>Footage held ($clip_count)</h2>
<table><tr>$clip_head</tr>
$clip_rows</table>
<h2>Destroyed footage ($dead_count)</h2>
<table><tr>$dead_head</tr>
$dead_rows</table>
<h2>Destruction certificates</h2>
$certificates
</body></html>
""")

_CLIP_COLUMNS = (
    "clip_id", "kind", "family_code", "consent_id", "form_reference", "purposes",
    "withdrawn_purposes", "created_at", "delete_after", "hold", "state",
)  # fmt: skip
_DEAD_COLUMNS = (
    "clip_id", "kind", "consent_id", "form_reference", "purposes", "delete_after",
    "destroyed_at", "reason",
)  # fmt: skip

_CERT = Template("""<div class="cert">
<h3>Certificate of destruction: clip <code>$clip_id</code></h3>
<p><b>What:</b> a $kind clip of family $family_code, recorded $created_at, held under consent
<code>$consent_id</code> (form $form_reference; purposes: $purposes; withdrawn: $withdrawn).</p>
<p><b>When:</b> destruction requested $requested_at by $requested_by_name (user id
<code>$requested_by</code>); data key destroyed $key_destroyed_at; completed $destroyed_at
by $destroyed_by_name (<code>$destroyed_by</code>).</p>
<p><b>Why:</b> $reason (due $delete_after).</p>
<p><b>How:</b> $method: the clip's wrapped data key was destroyed, so no copy of its
encrypted blobs, including backups of the blob store, can be decrypted with anything the
live system holds; then its $blobs encrypted blob(s) were deleted and its $annotations
annotation(s) removed. An older copy of the database (backup, replica) may still hold the
wrapped key until the key-encryption key that wrapped it is retired (below).</p>
<p><b>Gone from the live system:</b> $gone_from_live_at.
<b>Unrecoverable from any copy</b> (database backups, replicas, old pages): $shred_horizon.</p>
<p><b>Audit record:</b> entry #$audit_seq, chain hash <code>$audit_hash</code>.
Entry present and unchanged: $intact.</p></div>
""")


def render_html(report: RetentionReport) -> str:
    """The report as one HTML page; every value is escaped."""
    esc = _escaped
    chain = (
        "verified"
        if report.chain_ok
        else f'<span class="bad">FAILED: {esc(report.chain_problem)}</span>'
    )
    certificates = "".join(
        _CERT.substitute(
            {key: esc(row.get(key)) for key in row}
            | {
                "withdrawn": esc(row["withdrawn_purposes"]) or "none",
                "intact": "yes"
                if row["audit_entry_intact"]
                else '<span class="bad">NO: the audit entry is missing or altered</span>',
            }
        )
        for row in report.destroyed
    )
    return _PAGE.substitute(
        site=esc(report.site_slug),
        generated=esc(report.generated_at),
        chain=chain,
        clip_count=len(report.clips),
        clip_head=_head(_CLIP_COLUMNS),
        clip_rows=_rows(report.clips, _CLIP_COLUMNS),
        dead_count=len(report.destroyed),
        dead_head=_head(_DEAD_COLUMNS),
        dead_rows=_rows(report.destroyed, _DEAD_COLUMNS),
        certificates=certificates or "<p>None.</p>",
        receipt=_receipt_html(report.receipt),
    )


def _receipt_rows(receipt: str | None) -> list[dict[str, Any]]:
    """The receipt as one CSV row: its chain position, and the whole document in "reason"."""
    if receipt is None:
        return []
    body = json.loads(receipt)
    compact = json.dumps(body, sort_keys=True, separators=(",", ":"))
    checkpoint = body["checkpoint"]
    return [
        {
            "record": "audit_receipt",
            "audit_seq": checkpoint["seq"],
            "audit_hash": checkpoint["head_hash"],
            "reason": compact,
        }
    ]


def _receipt_html(receipt: str | None) -> str:
    if receipt is None:
        return ""
    return (
        "<h2>Audit receipt</h2><p>Keep this signed receipt of the audit log as it was when "
        "this report was made; <code>verp audit verify --receipt FILE</code> later proves the "
        "log was not cut back or rewritten before it (docs/format.md).</p>"
        f"<pre>{html.escape(receipt, quote=True)}</pre>"
    )


def _escaped(value: Any) -> str:
    return html.escape(_text(value), quote=True)


def _head(columns: tuple[str, ...]) -> str:
    return "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in columns)


def _rows(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    return "\n".join(
        "<tr>" + "".join(f"<td>{_escaped(row.get(c))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
