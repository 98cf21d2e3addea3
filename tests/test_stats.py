"""Statistics checked against published worked examples and by-hand arithmetic, never against our own output."""

from __future__ import annotations


import pytest

from redraft.eval import (Interval, describe, judge_noise, krippendorff_alpha, no_variation, mean_ci, paired_bootstrap, win_rate)

N = None

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section E:
# 4 observers x 12 units with missing values.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
]


# --- describe ------------------------------------------------------------------------------


def test_describe_hand_values() -> None:
    # Mean 40/8 = 5; squared deviations 9+1+1+1+0+0+4+16 = 32, /8 = 4, so population sd 2.
    d = describe([2, 4, 4, 4, 5, 5, 7, 9])
    assert d == {"mean": 5.0, "median": 4.5, "spread": 2.0, "min": 2.0, "max": 9.0, "n": 8}


def test_describe_empty() -> None:
    assert describe([]) == {}


# --- bootstrap intervals -------------------------------------------------------------------


def test_mean_ci_covers_mean_and_is_deterministic() -> None:
    values = [1, 2, 3, 4, 5]
    ci = mean_ci(values, seed=7)
    assert ci.estimate == 3.0
    assert 1 <= ci.low < 3.0 < ci.high <= 5
    assert ci.n == 5 and ci.level == 0.95
    assert mean_ci(values, seed=7) == ci
    # On small integer data two seeds can land on the same grid points; uneven data shows the seed.
    uneven = [0.13, 0.71, 0.42, 0.95, 0.28, 0.66, 0.07]
    assert mean_ci(uneven, seed=1) == mean_ci(uneven, seed=1)
    assert mean_ci(uneven, seed=1) != mean_ci(uneven, seed=2)


def test_mean_ci_single_value_and_binary_data() -> None:
    one = mean_ci([0.7])
    assert one.low == one.high == one.estimate == 0.7
    # 0/1 data: every resampled mean is k/10, so the bounds lie on that grid within [0, 1].
    ci = mean_ci([1, 1, 1, 0, 1, 1, 0, 1, 1, 1])
    assert ci.estimate == pytest.approx(0.8)
    assert 0 <= ci.low < 0.8 < ci.high <= 1


def test_mean_ci_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        mean_ci([])
    with pytest.raises(ValueError):
        mean_ci([1, 2], level=95)


def test_interval_round_trips_through_json() -> None:
    ci = mean_ci([1, 2, 3])
    assert Interval.model_validate_json(ci.model_dump_json()) == ci


def test_paired_bootstrap_identical_lists_is_zero() -> None:
    ci = paired_bootstrap([3, 5, 7, 2], [3, 5, 7, 2])
    assert (ci.estimate, ci.low, ci.high) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_clearly_better() -> None:
    b = [4, 5, 6, 5, 4, 6, 5, 5, 4, 6]
    a = [x + 2 for x in b[:5]] + [x + 1 for x in b[5:]]
    ci = paired_bootstrap(a, b)
    # Differences are five 2s and five 1s: mean 1.5, and no resample can fall outside [1, 2].
    assert ci.estimate == 1.5
    assert 1 <= ci.low < 1.5 < ci.high <= 2


def test_paired_bootstrap_rejects_mismatch_and_empty() -> None:
    with pytest.raises(ValueError, match="same examples"):
        paired_bootstrap([1, 2], [1])
    with pytest.raises(ValueError):
        paired_bootstrap([], [])


def test_paired_bootstrap_pairs_examples() -> None:
    # Example difficulty varies a lot but a always beats b by exactly 1: pairing removes the
    # difficulty, so the interval collapses to [1, 1] where an unpaired test would see noise.
    b = [1, 9, 2, 8, 3, 7]
    ci = paired_bootstrap([x + 1 for x in b], b)
    assert (ci.low, ci.high) == (1.0, 1.0)


# --- win rate ------------------------------------------------------------------------------


def test_win_rate_hand_values() -> None:
    w = win_rate([3, 2, 5, 1], [1, 2, 4, 4])
    assert w == {"wins": 0.5, "ties": 0.25, "losses": 0.25}
    assert sum(w.values()) == pytest.approx(1.0)


# --- Krippendorff's alpha ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)],
)
def test_krippendorff_alpha_paper_example(level: str, published: float) -> None:
    alpha = krippendorff_alpha(KRIPPENDORFF_2011, level=level)  # type: ignore[arg-type]
    assert alpha is not None
    assert round(alpha, 3) == published


def test_krippendorff_alpha_hand_computed_2x3() -> None:
    # Raters A = (1, 2, 3), B = (1, 2, 2). Each unit has m=2, so every ordered pair weighs 1:
    #   o11 = 2, o22 = 2, o23 = o32 = 1;  margins n1 = 2, n2 = 3, n3 = 1;  n = 6.
    #   alpha = 1 - (n-1) * sum(o_ck d_ck) / sum(n_c n_k d_ck)
    # nominal:  observed 2; expected n^2 - sum n_c^2 = 36 - 14 = 22   -> 1 - 5*2/22 = 6/11
    # interval: observed 2*(1)^2 = 2; expected 2*(2*3*1 + 2*1*4 + 3*1*1) = 34 -> 1 - 10/34 = 12/17
    # ordinal:  d12 = (5/2)^2 = 6.25, d23 = (4/2)^2 = 4, d13 = (6 - 3/2)^2 = 20.25;
    #           observed 2*4 = 8; expected 2*(6*6.25 + 2*20.25 + 3*4) = 180 -> 1 - 40/180 = 7/9
    ratings = [[1, 2, 3], [1, 2, 2]]
    assert krippendorff_alpha(ratings, level="nominal") == pytest.approx(6 / 11)
    assert krippendorff_alpha(ratings, level="interval") == pytest.approx(12 / 17)
    assert krippendorff_alpha(ratings, level="ordinal") == pytest.approx(7 / 9)


def test_krippendorff_alpha_perfect_agreement() -> None:
    ratings = [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, N, 4]]
    for level in ("nominal", "ordinal", "interval"):
        assert krippendorff_alpha(ratings, level=level) == 1.0  # type: ignore[arg-type]
    assert not no_variation(ratings)


def test_krippendorff_alpha_without_variation_is_not_computable() -> None:
    # One value everywhere: no disagreement observed, but none could be expected either (alpha is 0/0), so it
    # is no evidence of agreement and must not read as a perfect 1.
    assert krippendorff_alpha([[3, 3], [3, 3]]) is None
    assert krippendorff_alpha([[7, N, 7], [7, 7, 7]], level="nominal") is None
    assert no_variation([[3, 3], [3, 3]]) and no_variation([[7, N], [7, 7]])
    assert not no_variation([[3, 3], [3, 4]]) and not no_variation([[3, N], [N, N]])


def test_krippendorff_alpha_not_computable() -> None:
    # No unit has two ratings, so nothing can be paired.
    assert krippendorff_alpha([[1, N, 3], [N, 2, N]]) is None
    assert krippendorff_alpha([]) is None


def test_krippendorff_alpha_rejects_ragged_rows() -> None:
    with pytest.raises(ValueError, match="one entry per unit"):
        krippendorff_alpha([[1, 2, 3], [1, 2]])


# --- judge noise ---------------------------------------------------------------------------


def test_judge_noise_hand_values() -> None:
    # Item sds: [7,7,7] -> 0; [6,8] -> 1; [5] was scored once and tells nothing, so it is left out.
    assert judge_noise([[7, 7, 7], [6, 8], [5]]) == {"mean_sd": 0.5, "max_sd": 1.0, "items": 2}
    assert judge_noise([]) == {}
