"""The one-sided Welch t-test agrees with scipy's."""

from __future__ import annotations

import math
import random

import pytest

from auditor.record.stats import betainc, mean, std, t_cdf, welch

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("alternative", ["less", "greater"])
def test_welch_matches_scipy_on_random_samples(alternative):
    rng = random.Random(20261128)
    for _ in range(200):
        a = [rng.gauss(1.10, rng.uniform(1e-4, 0.02)) for _ in range(rng.randint(2, 8))]
        b = [rng.gauss(1.10 + rng.uniform(-0.02, 0.02), rng.uniform(1e-4, 0.02)) for _ in range(rng.randint(2, 8))]
        ours = welch(a, b, alternative)
        ref = scipy_stats.ttest_ind(a, b, equal_var=False, alternative=alternative)
        assert ours.t == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
        assert ours.p == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-12)


def test_a_fixed_baseline_is_a_one_sample_test():
    a = [1.889, 1.891, 1.8905]
    ref = scipy_stats.ttest_1samp(a, 1.9, alternative="less")
    assert welch(a, [1.9]).p == pytest.approx(ref.pvalue, rel=1e-9)


def test_t_cdf_and_betainc_edges():
    assert t_cdf(0.0, 3) == pytest.approx(0.5)
    assert t_cdf(-40.0, 2) < 1e-3 and t_cdf(40.0, 2) > 0.999
    assert betainc(2, 3, 0.0) == 0.0 and betainc(2, 3, 1.0) == 1.0
    assert betainc(2.5, 0.5, 0.3) == pytest.approx(scipy_stats.beta.cdf(0.3, 2.5, 0.5), rel=1e-10)


def test_degenerate_inputs_give_nan_not_errors():
    assert math.isnan(welch([1.0], [1.1, 1.2]).p)
    assert math.isnan(welch([1.0, 1.0], [1.1, 1.1]).p)
    with pytest.raises(ValueError):
        welch([1.0, 2.0], [1.0, 2.0], "two-sided")


def test_mean_and_sample_std():
    assert mean([1.0, 2.0, 3.0]) == 2.0
    assert std([1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert std([5.0]) == 0.0
