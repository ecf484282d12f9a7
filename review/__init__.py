"""Review domain: annotations, coding schemes, threads, links, moments for shared review,
exports, coder agreement and supervision sign-off. Pure domain code (no Flask).

Conventions for every service function: it takes the caller's SQLAlchemy ``session``
(the unit of work; nothing commits here), the ``AuditLog`` when it changes or exports
something, the loaded ``TaxonomyRegistry`` when codes matter, and the acting
``storage.audit.Actor`` (a user: id, role, site; or ``Actor.system(...)`` for the CLI,
which reads shared annotations only and writes nothing). It returns ORM rows or plain
values. Errors: ``review.errors`` (NotFound, PermissionDenied, ValidationError, Conflict,
Locked, TaxonomyError) and ``storage.errors.ConsentError``; bad input changes nothing.
Access rules live in ``review.access`` (see its docstring).

API summary::

    # start-up (refuses malformed scheme files: TaxonomyError lists file:line: reason)
    taxonomy.load_registry(taxonomy_dir: Path | None = None, *, builtin: Path | None = None)
        -> TaxonomyRegistry      # pass settings.taxonomy_dir
    TaxonomyRegistry.schemes(site_slug=None) / .get(id, site_slug=None) / .find(...)
        / .for_clip(site_slug, kind, subject=None) / .label(site_slug, scheme_id, code_id)
    Scheme.to_dict(), Scheme.code(id), Scheme.active_codes(); taxonomy.RESERVED_KEYS

    # annotations (times in ms on the rendition timeline; end exclusive; None = point)
    annotations.create_annotation(session, audit, registry, actor, clip_id, *, start_ms,
        end_ms=None, subject, codes=(), scheme_id=None, text="", visibility="shared")
        -> Annotation
    annotations.update_annotation(session, audit, registry, actor, annotation_id,
        changes: Mapping[str, Any], *, expected_revision=None) -> Annotation
    annotations.delete_annotation(session, audit, actor, annotation_id) -> None
    annotations.get_annotation(session, actor, annotation_id) -> Annotation
    annotations.list_annotations(session, actor, clip_id, *, subject=None, author_id=None)
        -> list[Annotation]
    annotations.annotation_views(session, registry, actor, clip_id) -> list[dict]
    annotations.annotation_history(session, actor, annotation_id) -> list[AnnotationRevision]
    annotations.as_dict(annotation, scheme | None, rate: Fraction | None) -> dict

    # threads and links
    threads.add_reply(session, audit, actor, annotation_id, text) -> Reply
    threads.list_replies(session, actor, annotation_id) -> list[Reply]
    threads.delete_reply(session, audit, actor, reply_id) -> None
    threads.set_resolved(session, audit, actor, annotation_id, resolved: bool) -> Annotation
    links.link_annotations(session, audit, actor, source_id, target_id,
        relation="received") -> AnnotationLink       # links.RELATIONS
    links.unlink(session, audit, actor, link_id) -> None
    links.links_of_clip(session, actor, clip_id) -> list[AnnotationLink]

    # moments and stills for a shared review (then enqueue the render for pending ones)
    moments.add_moment(session, audit, settings, actor, clip_id, *, start_ms, end_ms,
        caption=None) -> Moment
    moments.add_still(session, audit, actor, clip_id, *, at_ms, caption=None) -> Moment
    moments.update_moment(session, audit, vault, settings, actor, moment_id, *,
        caption=None, start_ms=None, end_ms=None) -> Moment
    moments.reorder_moments(session, audit, actor, clip_id, moment_ids) -> list[Moment]
    moments.delete_moment(session, audit, vault, actor, moment_id) -> None
    moments.playlist(session, actor, clip_id) -> list[Moment]
    moments.get_moment(session, actor, moment_id) -> Moment;  moments.as_dict(moment)

    # agreement (pure: agreement.compare(spans_a, spans_b, *, duration_ms, window_ms))
    agreement.compare_coders(session, audit, registry, actor, clip_id, *, coder_a, coder_b,
        scheme_id, window_ms, subject=None, level="code") -> Agreement   # .to_dict()

    # supervision and retention events
    supervision.sign_off(session, audit, settings, actor, clip_id, *, summary) -> SignOff
    supervision.get_sign_off(session, actor, clip_id) -> SignOff | None
    supervision.is_locked(session, actor, clip_id) -> bool
    supervision.mark_shared_review_done(session, audit, settings, actor, clip_id) -> str

    # exports (audited): Export(filename, content_type, data: bytes, count)
    exports.export_annotations(session, audit, registry, actor, clip_id,
        fmt: "csv" | "vtt" | "eaf" | "json", *, purpose=None) -> Export

    # frame arithmetic
    timeline.parse_frame_rate(text) / frame_at(ms, rate) / frame_start_ms(frame, rate)
"""
