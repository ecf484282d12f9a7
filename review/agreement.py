"""Inter-rater agreement between two coders of the same clip, over fixed time windows.

Definition (docs/coding-schemes.md has worked examples):

1. The clip ``[0, duration)`` is cut into windows of ``window_ms`` (the last may be
   shorter): window ``i`` is ``[i*w, min((i+1)*w, duration))``.
2. For each coder, a code is *present* in a window when one of the coder's annotations
   carrying it touches the window: an interval ``[start, end)`` that overlaps it, or a
   point whose time falls inside it.
3. Per code, each window is one binary decision per coder (present/absent), giving a
   2x2 table ``both / only_a / only_b / neither``. Cohen's kappa is
   ``(p_o - p_e) / (1 - p_e)`` with ``p_o = (both + neither) / N`` and
   ``p_e = p_a * p_b + (1 - p_a) * (1 - p_b)`` (``p_a``, ``p_b`` the share of windows
   each coder marked). When ``p_e = 1`` (both coders marked the code in every window)
   kappa is undefined and reported as None with a reason; percent agreement is 1.
4. *Overall* kappa is the pooled kappa over the window x code presence matrix: every
   (window, code) cell is one decision, the four counts are summed over the codes, and
   the same formula is applied. The codes considered are those either coder used.
5. Percent agreement is ``p_o``; ``window_agreement`` is the share of windows in which
   the two coders' label sets are identical. Windows where they differ are listed, with
   what only A and only B saw, and ``substitutions`` counts (code_a, code_b) pairs seen
   in the same window by one coder but not the other ("A read gaze aversion where B read
   turning away").

Exact arithmetic (fractions) is used so kappa is reproducible by hand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from sqlalchemy.orm import Session

from review.access import load_clip, require_reviewable, site_slug
from review.annotations import list_annotations
from review.errors import PermissionDenied, ValidationError
from review.taxonomy import TaxonomyRegistry
from storage.audit import Actor, AuditLog

MIN_WINDOW_MS = 40
MAX_WINDOWS = 100_000
LEVELS = ("code", "cluster")


@dataclass(frozen=True)
class Span:
    """One coder's annotation reduced to what agreement needs."""

    start_ms: int
    end_ms: int | None
    codes: frozenset[str]


@dataclass(frozen=True)
class CodeAgreement:
    code: str
    both: int
    only_a: int
    only_b: int
    neither: int
    kappa: float | None
    percent_agreement: float
    undefined_reason: str | None = None


@dataclass(frozen=True)
class WindowDifference:
    index: int
    start_ms: int
    end_ms: int
    a: tuple[str, ...]
    b: tuple[str, ...]

    @property
    def only_a(self) -> tuple[str, ...]:
        return tuple(c for c in self.a if c not in self.b)

    @property
    def only_b(self) -> tuple[str, ...]:
        return tuple(c for c in self.b if c not in self.a)


@dataclass(frozen=True)
class Agreement:
    window_ms: int
    windows: int
    codes: tuple[str, ...]
    per_code: tuple[CodeAgreement, ...]
    kappa: float | None
    percent_agreement: float | None
    window_agreement: float
    differences: tuple[WindowDifference, ...]
    substitutions: tuple[tuple[str, str, int], ...]
    undefined_reason: str | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.context,
            "window_ms": self.window_ms,
            "windows": self.windows,
            "codes": list(self.codes),
            "kappa": self.kappa,
            "percent_agreement": self.percent_agreement,
            "window_agreement": self.window_agreement,
            "undefined_reason": self.undefined_reason,
            "definition": "Cohen's kappa per code over fixed windows; overall = pooled kappa "
            "over the window x code presence matrix (codes used by either coder)",
            "per_code": [vars(c) for c in self.per_code],
            "differences": [
                {
                    "index": d.index,
                    "start_ms": d.start_ms,
                    "end_ms": d.end_ms,
                    "a": list(d.a),
                    "b": list(d.b),
                    "only_a": list(d.only_a),
                    "only_b": list(d.only_b),
                }
                for d in self.differences
            ],
            "substitutions": [{"a": a, "b": b, "windows": n} for a, b, n in self.substitutions],
        }


def window_labels(spans: Iterable[Span], duration_ms: int, window_ms: int) -> list[set[str]]:
    """The set of codes present in each window for one coder."""
    count = window_count(duration_ms, window_ms)
    labels: list[set[str]] = [set() for _ in range(count)]
    for span in spans:
        if span.start_ms >= duration_ms or not span.codes:
            continue
        first = max(0, span.start_ms) // window_ms
        if span.end_ms is None:
            last = first
        else:
            end = min(span.end_ms, duration_ms)
            last = (end - 1) // window_ms  # end is exclusive
        for index in range(first, min(last, count - 1) + 1):
            labels[index].update(span.codes)
    return labels


def window_count(duration_ms: int, window_ms: int) -> int:
    """How many windows cover the clip; raises ValidationError for unusable sizes."""
    if duration_ms <= 0:
        raise ValidationError("the clip has no duration")
    if window_ms < MIN_WINDOW_MS:
        raise ValidationError(f"the window must be at least {MIN_WINDOW_MS} ms")
    count = -(-duration_ms // window_ms)
    if count > MAX_WINDOWS:
        raise ValidationError("the window is too short for a clip this long")
    return count


def kappa_from_counts(
    both: int, only_a: int, only_b: int, neither: int
) -> tuple[Fraction | None, Fraction]:
    """Cohen's kappa and observed agreement from a 2x2 table; kappa None if undefined."""
    total = both + only_a + only_b + neither
    if total == 0:
        raise ValidationError("no decisions to compare")
    observed = Fraction(both + neither, total)
    p_a = Fraction(both + only_a, total)
    p_b = Fraction(both + only_b, total)
    expected = p_a * p_b + (1 - p_a) * (1 - p_b)
    if expected == 1:
        return None, observed
    return (observed - expected) / (1 - expected), observed


def compare(
    spans_a: Sequence[Span],
    spans_b: Sequence[Span],
    *,
    duration_ms: int,
    window_ms: int,
    map_code: Callable[[str], str] | None = None,
) -> Agreement:
    """Agreement between coders A and B (see the module docstring).

    ``map_code`` folds codes before comparing (e.g. to their top-level cluster).
    Raises ValidationError for a bad window or duration.
    """
    fold = map_code or (lambda code: code)
    a = window_labels(_folded(spans_a, fold), duration_ms, window_ms)
    b = window_labels(_folded(spans_b, fold), duration_ms, window_ms)
    codes = tuple(sorted(set().union(*a, *b)))
    per_code: list[CodeAgreement] = []
    totals = [0, 0, 0, 0]
    for code in codes:
        counts = _counts(code, a, b)
        totals = [t + c for t, c in zip(totals, counts, strict=True)]
        kappa, observed = kappa_from_counts(*counts)
        per_code.append(
            CodeAgreement(
                code,
                *counts,
                kappa=None if kappa is None else float(kappa),
                percent_agreement=float(observed),
                undefined_reason=None if kappa is not None else _UNDEFINED,
            )
        )
    differences = tuple(
        WindowDifference(
            index=i,
            start_ms=i * window_ms,
            end_ms=min((i + 1) * window_ms, duration_ms),
            a=tuple(sorted(la)),
            b=tuple(sorted(lb)),
        )
        for i, (la, lb) in enumerate(zip(a, b, strict=True))
        if la != lb
    )
    substitutions: Counter[tuple[str, str]] = Counter()
    for diff in differences:
        for code_a in diff.only_a:
            for code_b in diff.only_b:
                substitutions[(code_a, code_b)] += 1
    overall: Fraction | None = None
    observed_all: Fraction | None = None
    reason: str | None = "neither coder used a code in these windows"
    if codes:
        overall, observed_all = kappa_from_counts(*totals)
        reason = None if overall is not None else _UNDEFINED
    return Agreement(
        window_ms=window_ms,
        windows=len(a),
        codes=codes,
        per_code=tuple(per_code),
        kappa=None if overall is None else float(overall),
        percent_agreement=None if observed_all is None else float(observed_all),
        window_agreement=(len(a) - len(differences)) / len(a),
        differences=differences,
        substitutions=tuple(
            (ca, cb, n)
            for (ca, cb), n in sorted(substitutions.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        undefined_reason=reason,
    )


_UNDEFINED = "kappa is undefined: expected agreement is 1 (both coders marked it in every window)"


def _folded(spans: Sequence[Span], fold: Callable[[str], str]) -> list[Span]:
    return [Span(s.start_ms, s.end_ms, frozenset(fold(c) for c in s.codes)) for s in spans]


def _counts(code: str, a: list[set[str]], b: list[set[str]]) -> tuple[int, int, int, int]:
    both = only_a = only_b = neither = 0
    for la, lb in zip(a, b, strict=True):
        in_a, in_b = code in la, code in lb
        if in_a and in_b:
            both += 1
        elif in_a:
            only_a += 1
        elif in_b:
            only_b += 1
        else:
            neither += 1
    return both, only_a, only_b, neither


def compare_coders(
    session: Session,
    audit: AuditLog,
    registry: TaxonomyRegistry,
    actor: Actor,
    clip_id: str,
    *,
    coder_a: str,
    coder_b: str,
    scheme_id: str,
    window_ms: int,
    subject: str | None = None,
    level: str = "code",
) -> Agreement:
    """Compare two reviewers' coding of one clip with one scheme (audited).

    Uses the annotations of each coder that the caller may see (shared ones, plus the
    caller's own drafts). ``level="cluster"`` compares top-level codes (e.g. potent
    engagement) instead of individual cues. ``window_ms`` is usually
    ``settings.agreement_window_ms``. Raises PermissionDenied (a facilitator comparing
    two other people), ValidationError (same coder twice, bad window or level, unknown
    scheme), NotFound.
    """
    if level not in LEVELS:
        raise ValidationError(f"level must be one of {', '.join(LEVELS)}")
    if coder_a == coder_b:
        raise ValidationError("choose two different coders")
    clip = load_clip(session, actor, clip_id)
    duration = require_reviewable(clip)
    if actor.role not in ("supervisor", "system") and actor.id not in (coder_a, coder_b):
        raise PermissionDenied("only a supervisor can compare two other reviewers")
    scheme = registry.find(scheme_id, site_slug(session, clip.site_id))
    if scheme is None:
        raise ValidationError(f"unknown coding scheme {scheme_id!r}")
    visible = list_annotations(session, actor, clip.id, subject=subject)
    mine = [a for a in visible if a.scheme_id == scheme.id]
    spans = {
        coder: [
            Span(a.start_ms, a.end_ms, frozenset(a.codes)) for a in mine if a.author_id == coder
        ]
        for coder in (coder_a, coder_b)
    }
    result = compare(
        spans[coder_a],
        spans[coder_b],
        duration_ms=duration,
        window_ms=window_ms,
        map_code=scheme.root if level == "cluster" else None,
    )
    context = {
        "clip_id": clip.id,
        "coder_a": coder_a,
        "coder_b": coder_b,
        "scheme_id": scheme.id,
        "scheme_versions": sorted({a.scheme_version or "" for a in mine if a.author_id in spans}),
        "subject": subject,
        "level": level,
        "annotations": {"a": len(spans[coder_a]), "b": len(spans[coder_b])},
    }
    audit.append(
        session,
        actor,
        "annotations.agreement",
        target_type="clip",
        target_id=clip.id,
        site_id=clip.site_id,
        details={
            "coder_a": coder_a,
            "coder_b": coder_b,
            "scheme_id": scheme.id,
            "window_ms": window_ms,
        },
    )
    return replace(result, context=context)
