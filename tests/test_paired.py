"""Paired differences: the bootstrap interval over repeats and units, the Wilcoxon p-value."""

import numpy as np
import pytest
from scipy.stats import wilcoxon

from fgsam._paired import PairedDifference, paired_difference, paired_or_none


def test_five_distinct_positive_differences_have_the_exact_wilcoxon_p():
    # all 2^5 sign patterns are equally likely under H0; only all-positive and all-negative
    # reach the extreme rank sum: p = 2 / 32
    d = paired_difference([[0.0] * 5], [[0.1, 0.2, 0.3, 0.4, 0.5]])
    assert d.p_value == pytest.approx(2 / 32)
    assert (d.wins, d.losses, d.units, d.repeats, d.resampling) == (5, 0, 5, 1, "units")
    assert d.mean == pytest.approx(0.3)


def test_the_p_value_is_scipys_over_every_unit_with_ties_and_zeros():
    rng = np.random.default_rng(3)
    # accuracies of 20-query tasks: multiples of 0.05, many ties and zero differences
    a = rng.integers(8, 20, size=(5, 100)) / 20
    b = np.clip(a + rng.integers(-2, 4, size=(5, 100)) / 20, 0, 1)
    d = paired_difference(a.tolist(), b.tolist())
    expected = wilcoxon((b - a).ravel(), zero_method="wilcox").pvalue
    assert d.p_value == pytest.approx(expected, rel=1e-12)
    assert d.mean == pytest.approx(float((b - a).mean()))
    assert d.wins == int(((b - a) > 0).sum()) and d.losses == int(((b - a) < 0).sum())


def test_identical_runs_differ_by_zero_with_p_one():
    a = [[0.5, 0.6, 0.7], [0.4, 0.9, 0.8]]
    d = paired_difference(a, a)
    assert (d.mean, d.low, d.high, d.p_value, d.wins, d.losses) == (0, 0, 0, 1.0, 0, 0)


def test_a_constant_shift_has_a_point_interval():
    a = np.random.default_rng(0).random((4, 10))
    d = paired_difference(a, a + 0.25)
    assert d.low == pytest.approx(0.25) and d.high == pytest.approx(0.25)
    assert d.p_value < 1e-6


def test_the_interval_covers_the_true_difference_about_95_percent_of_the_time():
    # d = 0.01 + repeat effect + task noise: the two-stage bootstrap must carry both
    rng, covered = np.random.default_rng(0), 0
    for k in range(200):
        d = 0.01 + 0.02 * rng.standard_normal((5, 1)) + 0.1 * rng.standard_normal((5, 100))
        r = paired_difference(np.zeros((5, 100)), d, resamples=2000, seed=k)
        covered += r.low <= 0.01 <= r.high
    assert 0.88 <= covered / 200 <= 1.0


def test_between_repeat_variance_widens_the_interval():
    # every task of a repeat differs by the same amount: the spread is all between repeats,
    # so the interval is as wide as the repeat means' bootstrap, not the tasks' count suggests
    shifts = np.array([-0.1, 0.0, 0.05, 0.1, 0.2])[:, None]
    d = paired_difference(np.zeros((5, 200)), np.repeat(shifts, 200, axis=1))
    means = np.random.default_rng(1).choice(shifts.ravel(), size=(20000, 5)).mean(1)
    low, high = np.percentile(means, [2.5, 97.5])
    assert d.low == pytest.approx(low, abs=0.01) and d.high == pytest.approx(high, abs=0.01)
    assert d.high - d.low > 0.1


def test_the_bootstrap_is_seeded():
    a = np.random.default_rng(0).random((3, 20))
    b = a + np.random.default_rng(1).normal(0.02, 0.1, (3, 20))
    assert paired_difference(a, b) == paired_difference(a, b)
    assert paired_difference(a, b, seed=1) != paired_difference(a, b)


@pytest.mark.parametrize(("a", "b", "message"), [
    ([[0.1, 0.2]], [[0.1]], "baseline and other must pair unit for unit: shapes"),
    ([], [], "baseline must be a non-empty list of repeats"),
    ([[0.1], [0.1, 0.2]], [[0.1], [0.1, 0.2]], "baseline must be a non-empty list of repeats"),
    ([[0.1, float("nan")]], [[0.1, 0.2]], "baseline has non-finite values"),
])
def test_bad_input_is_one_line(a, b, message):
    with pytest.raises(ValueError, match=message) as info:
        paired_difference(a, b)
    assert "\n" not in str(info.value)


def test_paired_or_none_keeps_the_repeats_both_sides_finished():
    a = [[0.5, 0.6], [0.5, 0.5], [0.7, 0.7]]
    b = [[0.6, 0.7], [], [0.8, 0.8]]  # repeat 1 diverged: left out
    d = paired_or_none(a, b)
    assert d.repeats == 2 and d.mean == pytest.approx(0.1)
    assert paired_or_none(a, [[], [], []]) is None


def test_cell_and_dict():
    d = PairedDifference(0.0123, -0.004, 0.029, 0.0312, 500, 5, 260, 200, "repeats, then units")
    assert d.cell() == "+1.23 [-0.40, +2.90] p=0.031"
    assert PairedDifference(0.1, 0.05, 0.15, 1e-7, 9, 1, 9, 0, "units").cell() == \
        "+10.00 [+5.00, +15.00] p=1e-07"
    assert d.to_dict()["resampling"] == "repeats, then units"
    assert PairedDifference(-1e-5, -0.1, 0.1, 0.8, 9, 1, 4, 4, "units").cell() == \
        "+0.00 [-10.00, +10.00] p=0.800"
