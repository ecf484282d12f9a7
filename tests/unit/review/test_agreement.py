"""Cohen's kappa over time windows, checked against examples worked by hand."""

from __future__ import annotations

from fractions import Fraction

import pytest

from review.agreement import Span, compare, kappa_from_counts, window_labels
from review.errors import ValidationError


def windows(*indexes: int, code: str = "x", window_ms: int = 1000) -> list[Span]:
    """One coder marking ``code`` in exactly the given 1 s windows (as 1 s intervals)."""
    return [Span(i * window_ms, (i + 1) * window_ms, frozenset({code})) for i in indexes]


def test_kappa_worked_example_balanced_margins() -> None:
    # 10 windows. A marks windows 0-4, B marks 0-3 and 5.
    #   both = 4 (0,1,2,3), only A = 1 (4), only B = 1 (5), neither = 4 (6-9)
    #   p_o = (4 + 4) / 10 = 0.8
    #   p_a = 5/10, p_b = 5/10, p_e = 0.5*0.5 + 0.5*0.5 = 0.5
    #   kappa = (0.8 - 0.5) / (1 - 0.5) = 0.6
    kappa, observed = kappa_from_counts(4, 1, 1, 4)
    assert (kappa, observed) == (Fraction(3, 5), Fraction(4, 5))
    result = compare(
        windows(0, 1, 2, 3, 4), windows(0, 1, 2, 3, 5), duration_ms=10_000, window_ms=1000
    )
    (x,) = result.per_code
    assert (x.both, x.only_a, x.only_b, x.neither) == (4, 1, 1, 4)
    assert x.kappa == pytest.approx(0.6) and x.percent_agreement == pytest.approx(0.8)


def test_kappa_worked_example_unequal_margins() -> None:
    # 10 windows. A marks 0-6 (7 windows), B marks 0-4 and 7 (6 windows).
    #   both = 5, only A = 2 (5,6), only B = 1 (7), neither = 2 (8,9)
    #   p_o = 7/10; p_a = 7/10, p_b = 6/10
    #   p_e = 0.7*0.6 + 0.3*0.4 = 0.42 + 0.12 = 0.54
    #   kappa = (0.70 - 0.54) / (1 - 0.54) = 0.16 / 0.46 = 8/23 ≈ 0.3478
    kappa, observed = kappa_from_counts(5, 2, 1, 2)
    assert kappa == Fraction(8, 23) and observed == Fraction(7, 10)


def test_textbook_example() -> None:
    # The classic 50-item example: yes/yes 20, yes/no 5, no/yes 10, no/no 15.
    #   p_o = 35/50 = 0.7; p_a = 25/50 = 0.5; p_b = 30/50 = 0.6
    #   p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    assert kappa_from_counts(20, 5, 10, 15)[0] == Fraction(2, 5)


def test_pooled_overall_kappa_and_confusion_listing() -> None:
    # Code x as in the first example, code y as in the second, same 10 windows.
    # Pooled over the 20 (window, code) cells:
    #   both = 4+5 = 9, only A = 1+2 = 3, only B = 1+1 = 2, neither = 4+2 = 6
    #   p_o = 15/20 = 0.75; p_a = 12/20 = 0.6; p_b = 11/20 = 0.55
    #   p_e = 0.6*0.55 + 0.4*0.45 = 0.33 + 0.18 = 0.51
    #   kappa = (0.75 - 0.51) / 0.49 = 24/49 ≈ 0.4898
    a = windows(0, 1, 2, 3, 4) + windows(0, 1, 2, 3, 4, 5, 6, code="y")
    b = windows(0, 1, 2, 3, 5) + windows(0, 1, 2, 3, 4, 7, code="y")
    result = compare(a, b, duration_ms=10_000, window_ms=1000)
    assert result.window_ms == 1000 and result.windows == 10
    assert result.codes == ("x", "y")
    assert result.kappa == pytest.approx(24 / 49)
    assert result.percent_agreement == pytest.approx(0.75)
    # Label sets differ in windows 4 (A {x,y}, B {y}), 5 (A {y}, B {x}), 6 (A {y}, B {}),
    # 7 (A {}, B {y}); identical in the other six.
    assert result.window_agreement == pytest.approx(0.6)
    listing = {d.index: (d.only_a, d.only_b) for d in result.differences}
    assert listing == {4: (("x",), ()), 5: (("y",), ("x",)), 6: (("y",), ()), 7: ((), ("y",))}
    assert result.differences[1].start_ms == 5000 and result.differences[1].end_ms == 6000
    assert result.substitutions == (("y", "x", 1),)  # A read y where B read x (window 5)
    doc = result.to_dict()
    assert doc["window_ms"] == 1000 and doc["per_code"][0]["code"] == "x"


def test_kappa_undefined_when_expected_agreement_is_one() -> None:
    # Both coders mark x in all 5 windows: p_a = p_b = 1, so p_e = 1 and kappa = 0/0.
    result = compare(
        windows(0, 1, 2, 3, 4), windows(0, 1, 2, 3, 4), duration_ms=5000, window_ms=1000
    )
    (x,) = result.per_code
    assert x.kappa is None and x.percent_agreement == 1.0 and x.undefined_reason
    assert result.kappa is None and result.undefined_reason
    assert kappa_from_counts(0, 0, 0, 7) == (None, Fraction(1))


def test_no_codes_at_all_gives_no_kappa_but_full_window_agreement() -> None:
    result = compare([], [], duration_ms=3000, window_ms=1000)
    assert result.codes == () and result.kappa is None and result.percent_agreement is None
    assert result.window_agreement == 1.0 and "neither coder" in (result.undefined_reason or "")


def test_perfect_disagreement_is_negative() -> None:
    # A marks windows 0,1; B marks 2,3 of 4: both 0, only A 2, only B 2, neither 0.
    #   p_o = 0; p_a = p_b = 0.5; p_e = 0.5; kappa = (0 - 0.5) / 0.5 = -1
    result = compare(windows(0, 1), windows(2, 3), duration_ms=4000, window_ms=1000)
    assert result.kappa == pytest.approx(-1.0)


def test_windowing_rules_intervals_points_and_the_last_short_window() -> None:
    # Clip of 2500 ms with 1000 ms windows: [0,1000) [1000,2000) [2000,2500).
    spans = [
        Span(999, 1001, frozenset({"i"})),  # touches windows 0 and 1
        Span(1000, 2000, frozenset({"j"})),  # exactly window 1 (end is exclusive)
        Span(2400, None, frozenset({"p"})),  # a point in the last, short window
        Span(2600, None, frozenset({"late"})),  # after the end: ignored
        Span(500, 9000, frozenset({"long"})),  # clipped to the clip
    ]
    labels = window_labels(spans, 2500, 1000)
    assert labels == [{"i", "long"}, {"i", "j", "long"}, {"p", "long"}]


def test_folding_compares_clusters_instead_of_cues() -> None:
    a = [Span(0, 1000, frozenset({"smiling"}))]
    b = [Span(0, 1000, frozenset({"mutual-gaze"}))]
    cluster = {"smiling": "engagement", "mutual-gaze": "engagement"}
    assert compare(a, b, duration_ms=2000, window_ms=1000).kappa == pytest.approx(-1 / 3)
    folded = compare(a, b, duration_ms=2000, window_ms=1000, map_code=cluster.__getitem__)
    assert folded.codes == ("engagement",) and folded.per_code[0].both == 1


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValidationError):
        compare([], [], duration_ms=1000, window_ms=10)
    with pytest.raises(ValidationError):
        compare([], [], duration_ms=0, window_ms=1000)
    with pytest.raises(ValidationError):
        compare([], [], duration_ms=10**9, window_ms=40)
