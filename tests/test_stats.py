"""codeself.stats against its reference implementations (statsmodels, scipy) to 1e-9."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.proportion import proportion_confint

from codeself import stats

PAIRS = [(0, 0), (0, 1), (1, 0), (3, 3), (2, 9), (9, 2), (0, 12), (15, 40), (57, 75), (120, 96), (400, 440)]


@pytest.mark.parametrize("b,c", PAIRS)
def test_mcnemar_exact_matches_statsmodels(b, c):
    ref = sm_mcnemar([[10, b], [c, 7]], exact=True).pvalue
    assert stats.mcnemar_exact(b, c) == pytest.approx(ref, abs=1e-9, rel=1e-9)


@pytest.mark.parametrize("b,c", PAIRS)
def test_mcnemar_midp_formula(b, c):
    n, k = b + c, min(b, c)
    if n == 0:
        assert stats.mcnemar_midp(b, c) == 1.0
        return
    ref = min(1.0, 2 * (sps.binom.cdf(k, n, 0.5) - 0.5 * sps.binom.pmf(k, n, 0.5)))
    assert stats.mcnemar_midp(b, c) == pytest.approx(ref, abs=1e-9, rel=1e-9)
    assert stats.mcnemar_midp(b, c) <= stats.mcnemar_exact(b, c)


def test_mcnemar_known_value():
    # b=2, c=9: p = 2 * P(X<=2 | n=11) = 2 * (1 + 11 + 55) / 2048
    assert stats.mcnemar_exact(2, 9) == pytest.approx(134 / 2048, abs=1e-15)


@pytest.mark.parametrize("k,n", [(0, 1), (3, 10), (7, 10), (10, 10), (48, 100), (70, 100), (0, 30), (511, 1000)])
@pytest.mark.parametrize("alt", ["two-sided", "less", "greater"])
def test_sign_test_matches_binomtest(k, n, alt):
    ref = sps.binomtest(k, n, 0.5, alternative=alt).pvalue
    assert stats.sign_test(k, n, alternative=alt) == pytest.approx(ref, abs=1e-9, rel=1e-9)


@pytest.mark.parametrize("k,n,p", [(3, 20, 0.3), (14, 20, 0.3), (0, 5, 0.9)])
def test_sign_test_general_p(k, n, p):
    assert stats.sign_test(k, n, p) == pytest.approx(sps.binomtest(k, n, p).pvalue, abs=1e-9)


def test_counts_validated():
    with pytest.raises(ValueError):
        stats.mcnemar_exact(-1, 2)
    with pytest.raises(ValueError):
        stats.sign_test(5, 3)


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (45, 164), (1, 1)])
@pytest.mark.parametrize("conf", [0.9, 0.95, 0.99])
def test_wilson_matches_statsmodels(k, n, conf):
    lo, hi = proportion_confint(k, n, alpha=1 - conf, method="wilson")
    mlo, mhi = stats.wilson_interval(k, n, conf)
    assert mlo == pytest.approx(lo, abs=1e-9)
    assert mhi == pytest.approx(hi, abs=1e-9)


def test_paired_table():
    base = {"a": True, "b": True, "c": False, "d": False, "e": True}
    cand = {"a": True, "b": False, "c": True, "d": False, "e": True}
    assert stats.paired_table(base, cand) == {"a": 2, "b": 1, "c": 1, "d": 1, "n": 5}
    with pytest.raises(ValueError, match="only in baseline"):
        stats.paired_table(base, {"a": True})


def _scipy_boot(x, y, seed, method, n_resamples=2000, conf=0.95):
    def stat(a, b, axis=-1):
        return np.mean(b, axis=axis) - np.mean(a, axis=axis)

    res = sps.bootstrap((x, y), stat, paired=True, vectorized=True, n_resamples=n_resamples,
                        confidence_level=conf, method=method, rng=np.random.default_rng(seed))
    return res.confidence_interval


@pytest.mark.parametrize("method", ["percentile", "basic", "bca"])
@pytest.mark.parametrize("seed", [0, 7])
def test_paired_bootstrap_matches_scipy(method, seed):
    rng = np.random.default_rng(123 + seed)
    x = rng.integers(0, 2, 60).astype(float)
    y = np.clip(x + rng.integers(-1, 2, 60), 0, 1).astype(float)
    diff, lo, hi = stats.paired_bootstrap_ci(x, y, n_resamples=2000, seed=seed, method=method)
    ci = _scipy_boot(x, y, seed, method)
    assert diff == pytest.approx(y.mean() - x.mean(), abs=1e-12)
    assert lo == pytest.approx(ci.low, abs=1e-9)
    assert hi == pytest.approx(ci.high, abs=1e-9)
    assert lo <= diff <= hi


def test_paired_bootstrap_rates_match_scipy():
    rng = np.random.default_rng(5)
    x = rng.random(40)
    y = np.clip(x + rng.normal(0.05, 0.1, 40), 0, 1)
    diff, lo, hi = stats.paired_bootstrap_ci(x, y, n_resamples=3000, seed=3, confidence=0.9)
    ci = _scipy_boot(x, y, 3, "percentile", n_resamples=3000, conf=0.9)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_cluster_bootstrap_resamples_tasks_not_samples():
    rng = np.random.default_rng(1)
    tasks = [f"t{i}" for i in range(30)]
    base = {t: list(rng.integers(0, 2, 5)) for t in tasks}
    cand = {t: list(rng.integers(0, 2, 3)) for t in tasks}
    diff, lo, hi = stats.cluster_bootstrap_ci(base, cand, n_resamples=1500, seed=2)
    x = np.array([np.mean(base[t]) for t in sorted(tasks)])
    y = np.array([np.mean(cand[t]) for t in sorted(tasks)])
    ci = _scipy_boot(x, y, 2, "percentile", n_resamples=1500)
    assert diff == pytest.approx(y.mean() - x.mean(), abs=1e-12)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-9)
    with pytest.raises(ValueError, match="task sets differ"):
        stats.cluster_bootstrap_ci(base, {"t0": [1]})


def test_cluster_bootstrap_wider_than_naive_for_correlated_samples():
    # samples within a task are identical (perfectly correlated): the honest (cluster) CI must be
    # wider than a bootstrap that wrongly treats the 10 samples per task as independent.
    rng = np.random.default_rng(4)
    tasks = [f"t{i}" for i in range(25)]
    base = {t: [int(rng.random() < 0.4)] * 10 for t in tasks}
    cand = {t: [int(rng.random() < 0.6)] * 10 for t in tasks}
    _, lo, hi = stats.cluster_bootstrap_ci(base, cand, n_resamples=2000, seed=0)
    xs = np.concatenate([base[t] for t in tasks]).astype(float)
    ys = np.concatenate([cand[t] for t in tasks]).astype(float)
    _, nlo, nhi = stats.paired_bootstrap_ci(xs, ys, n_resamples=2000, seed=0)
    assert (hi - lo) > 2 * (nhi - nlo)


WILCOXON_CASES = [
    # no ties, no zeros (scipy: exact)
    (list(range(1, 16)), [v + d for v, d in zip(range(1, 16), [0.3, -1.7, 2.9, 4.1, -0.2, 5.5, 6.3, 7.7, -8.9, 9.1, 10.4, 11.8, -12.6, 13.2, 14.9], strict=True)]),
    # ties and zeros, n <= 13 (scipy: permutation, exact enumeration)
    ([0.2, 0.4, 0.4, 0.6, 0.8, 1.0, 0.0, 0.5, 0.5, 0.1], [0.4, 0.4, 0.6, 0.8, 0.6, 1.0, 0.2, 0.7, 0.3, 0.3]),
    # ties, n > 13 (scipy: asymptotic)
    ([0.0, 0.2, 0.4, 0.4, 0.6, 0.8, 1.0, 0.6, 0.2, 0.0, 0.4, 0.8, 1.0, 0.2, 0.6, 0.4, 0.0, 0.8],
     [0.2, 0.4, 0.4, 0.8, 0.8, 1.0, 1.0, 0.4, 0.6, 0.2, 0.6, 1.0, 0.8, 0.6, 0.6, 0.8, 0.2, 1.0]),
]


@pytest.mark.parametrize("x,y", WILCOXON_CASES)
def test_wilcoxon_matches_scipy(x, y):
    ref = sps.wilcoxon(x, y)
    res = stats.wilcoxon_signed_rank(x, y)
    assert res["statistic"] == pytest.approx(ref.statistic, abs=1e-9)
    assert res["pvalue"] == pytest.approx(ref.pvalue, abs=1e-9)


def test_wilcoxon_large_n_asymptotic_matches_scipy():
    rng = np.random.default_rng(9)
    x = rng.integers(0, 11, 80) / 10
    y = np.clip(x + rng.integers(-2, 4, 80) / 10, 0, 1)
    ref = sps.wilcoxon(x, y)
    res = stats.wilcoxon_signed_rank(x, y)
    assert res["method"] == "asymptotic"
    assert res["pvalue"] == pytest.approx(ref.pvalue, abs=1e-9)
    ref_c = sps.wilcoxon(x, y, correction=True, method="asymptotic")
    assert stats.wilcoxon_signed_rank(x, y, method="asymptotic", correction=True)["pvalue"] == pytest.approx(ref_c.pvalue, abs=1e-9)


def test_wilcoxon_exact_with_ties_equals_full_enumeration():
    x = [0.0, 0.2, 0.4, 0.4, 0.6, 0.8, 1.0, 0.6, 0.2, 0.0, 0.4, 0.8, 1.0, 0.2]
    y = [0.2, 0.4, 0.4, 0.8, 0.8, 1.0, 1.0, 0.4, 0.6, 0.2, 0.6, 1.0, 0.8, 0.6]
    ref = sps.wilcoxon(x, y, method=sps.PermutationMethod(n_resamples=2**14))  # 2^14 >= every sign flip: exact
    assert stats.wilcoxon_signed_rank(x, y, method="exact")["pvalue"] == pytest.approx(ref.pvalue, abs=1e-9)


def test_permutation_exact_matches_scipy():
    rng = np.random.default_rng(3)
    x = rng.random(12)
    y = x + rng.normal(0.1, 0.2, 12)

    def stat(d, axis=-1):
        return np.mean(d, axis=axis)

    ref = sps.permutation_test((y - x,), stat, permutation_type="samples", vectorized=True, n_resamples=9999)
    res = stats.permutation_test(x, y)
    assert res["exact"]
    assert res["statistic"] == pytest.approx(ref.statistic, abs=1e-12)
    assert res["pvalue"] == pytest.approx(ref.pvalue, abs=1e-9)


def test_permutation_monte_carlo_close_to_exact():
    rng = np.random.default_rng(8)
    x = rng.random(16)
    y = x + rng.normal(0.05, 0.2, 16)
    exact = stats.permutation_test(x, y, n_resamples=2**16)["pvalue"]
    mc = stats.permutation_test(x, y, n_resamples=20000, seed=1)
    assert not mc["exact"]
    assert mc["pvalue"] == pytest.approx(exact, abs=0.02)


def _brute_power(n, p10, p01, alpha):
    # enumerate every (b, c) count of a multinomial over {concordant, b, c}
    from math import comb
    total = 0.0
    for b in range(n + 1):
        for c in range(n + 1 - b):
            prob = comb(n, b) * comb(n - b, c) * p01**b * p10**c * (1 - p10 - p01) ** (n - b - c)
            if stats.mcnemar_exact(b, c) <= alpha:
                total += prob
    return total


@pytest.mark.parametrize("n,p10,p01", [(20, 0.3, 0.05), (35, 0.2, 0.1), (12, 0.5, 0.0)])
def test_mcnemar_power_exact_enumeration(n, p10, p01):
    assert stats.mcnemar_power(n, p10, p01, 0.05) == pytest.approx(_brute_power(n, p10, p01, 0.05), abs=1e-9)


def test_mcnemar_power_matches_simulation():
    rng = np.random.default_rng(0)
    n, p10, p01 = 60, 0.2, 0.07
    cells = rng.multinomial(n, [p10, p01, 1 - p10 - p01], size=4000)
    sim = np.mean([stats.mcnemar_exact(int(b), int(c)) <= 0.05 for c, b, _ in cells])
    assert stats.mcnemar_power(n, p10, p01) == pytest.approx(sim, abs=0.025)


def test_tasks_needed_reaches_power_and_is_minimal_locally():
    p10, p01 = stats.discordance_from_rates(0.5, 0.15, discordant=0.25)
    assert (p10, p01) == pytest.approx((0.2, 0.05))
    n = stats.tasks_needed(p10, p01, 0.05, 0.8)
    assert stats.mcnemar_power(n, p10, p01) >= 0.8
    assert all(stats.mcnemar_power(m, p10, p01) < 0.8 for m in range(max(1, n - 10), n))
    # a bigger effect needs fewer tasks
    assert stats.tasks_needed(0.3, 0.02) < n
    with pytest.raises(ValueError, match="no effect"):
        stats.tasks_needed(0.1, 0.1)


def test_discordance_independence_default():
    p10, p01 = stats.discordance_from_rates(0.6, 0.1)
    p1 = 0.7
    assert p10 == pytest.approx(0.4 * p1)
    assert p01 == pytest.approx(0.6 * (1 - p1))
    with pytest.raises(ValueError):
        stats.discordance_from_rates(0.5, 0.2, discordant=0.1)


def test_stats_imports_no_numpy_at_module_import():
    import subprocess
    import sys
    code = "import sys, codeself.stats; print('numpy' in sys.modules, 'scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_power_curve_shape():
    curve = stats.power_curve(0.2, 0.05, [10, 50, 100])
    assert [r["n_tasks"] for r in curve] == [10, 50, 100]
    assert curve[0]["power"] < curve[2]["power"]


def test_sign_flip_distribution_small():
    dist = stats._signflip_distribution([1, 2, 3])
    sums = [sum(s) for r in range(4) for s in itertools.combinations([1, 2, 3], r)]
    assert dist == {v: sums.count(v) for v in set(sums)}
