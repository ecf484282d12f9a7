"""`verp annotations ...` and `verp taxonomies ...`: review data from the command line.

The CLI acts as a system actor: it reads the *shared* annotations of a clip (never a
reviewer's drafts) and every read or export is audited.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from review.access import load_clip
from review.annotations import annotation_views
from review.errors import TaxonomyError
from review.exports import FORMATS, export_annotations
from review.taxonomy import Scheme, TaxonomyRegistry, load_registry
from storage.db.footage import PURPOSES
from storage.keys import write_private_file
from webapp.cli.common import CLI_ACTOR, emit, json_option, services, settings


def _registry() -> TaxonomyRegistry:
    return load_registry(settings().taxonomy_dir)


@click.group("annotations")
def annotations_group() -> None:
    """List and export a clip's annotations."""


@annotations_group.command("export")
@click.argument("clip_id", metavar="CLIP")
@click.option("--format", "fmt", required=True, type=click.Choice(FORMATS), help="Export format.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to FILE (mode 0600) instead of standard output.",
)
@click.option(
    "--purpose",
    type=click.Choice(PURPOSES),
    default=None,
    help="Consent purpose of this export; checked against the clip's consent.",
)
def annotations_export(clip_id: str, fmt: str, out: Path | None, purpose: str | None) -> None:
    """Export the shared annotations of CLIP as csv, vtt, eaf or json."""
    registry = _registry()
    with services() as svc, svc.db.session() as session:
        export = export_annotations(
            session, svc.audit, registry, CLI_ACTOR, clip_id, fmt, purpose=purpose
        )
    if out is None:
        sys.stdout.buffer.write(export.data)
        sys.stdout.buffer.flush()
    else:
        # Annotations describe a child: keep the file private to the operator.
        write_private_file(out, export.data)
        click.echo(f"wrote {export.count} annotations to {out}", err=True)


@annotations_group.command("list")
@click.argument("clip_id", metavar="CLIP")
@json_option
def annotations_list(clip_id: str, as_json: bool) -> None:
    """List the shared annotations of CLIP in timeline order."""
    registry = _registry()
    with services() as svc, svc.db.session() as session:
        clip = load_clip(session, CLI_ACTOR, clip_id)
        rows = annotation_views(session, registry, CLI_ACTOR, clip.id)
        svc.audit.append(
            session,
            CLI_ACTOR,
            "annotations.list",
            target_type="clip",
            target_id=clip.id,
            site_id=clip.site_id,
            details={"count": len(rows)},
        )
    lines = []
    for row in rows:
        end = f"-{row['end_ms'] / 1000:.3f}" if row["end_ms"] is not None else ""
        labels = ", ".join(c["label"] for c in row["codes"])
        lines.append(f"{row['start_ms'] / 1000:.3f}{end}\t{row['subject']}\t{labels}\t{row['id']}")
    emit(rows, as_json, text="\n".join(lines) if lines else "no shared annotations")


@click.group("taxonomies")
def taxonomies() -> None:
    """Inspect and check the coding schemes (config/taxonomies and VERP_TAXONOMY_DIR)."""


@taxonomies.command("list")
@click.option("--site", "site", default=None, help="Schemes in force at this site slug.")
@json_option
def taxonomies_list(site: str | None, as_json: bool) -> None:
    """List the current coding schemes (with a site's overrides applied)."""
    schemes = _registry().schemes(site)
    rows = [_summary(s) for s in schemes]
    text = "\n".join(
        f"{r['id']}\tv{r['version']}\t{r['codes']} codes\t{r['title']}\t{r['source']}" for r in rows
    )
    emit(rows, as_json, text=text)


@taxonomies.command("show")
@click.argument("scheme_id", metavar="ID")
@click.option("--site", "site", default=None, help="The scheme as in force at this site slug.")
@json_option
def taxonomies_show(scheme_id: str, site: str | None, as_json: bool) -> None:
    """Show one scheme's codes, keys and colours."""
    scheme = _registry().get(scheme_id, site)
    lines = [f"{scheme.id} version {scheme.version}: {scheme.title}", f"source: {scheme.source}"]
    for code in scheme.codes:
        indent = "    " if code.parent else "  "
        key = f"[{code.key}] " if code.key else ""
        retired = " (retired)" if code.retired else ""
        lines.append(f"{indent}{key}{code.id}: {code.label} {code.colour}{retired}")
    emit({**scheme.to_dict(), "source": scheme.source}, as_json, text="\n".join(lines))


@taxonomies.command("check")
@json_option
def taxonomies_check(as_json: bool) -> None:
    """Validate every scheme file; exit status 1 and list file:line: reason if any is bad."""
    try:
        registry = _registry()
    except TaxonomyError as exc:
        problems = [{"file": p.path, "line": p.line, "reason": p.reason} for p in exc.problems]
        emit({"ok": False, "problems": problems}, as_json, text="\n".join(map(str, exc.problems)))
        sys.exit(1)
    files = sorted(registry.sources())
    emit({"ok": True, "files": files}, as_json, text=f"{len(files)} scheme files OK")


def _summary(scheme: Scheme) -> dict[str, object]:
    return {
        "id": scheme.id,
        "version": scheme.version,
        "title": scheme.title,
        "codes": len(scheme.codes),
        "applies_to": list(scheme.applies_to),
        "source": scheme.source,
    }


def register(cli: click.Group) -> None:
    cli.add_command(annotations_group)
    cli.add_command(taxonomies)
