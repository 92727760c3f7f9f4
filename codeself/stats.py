"""Paired statistics for comparing two coding systems on the same tasks.

Every function is one statistic with its formula and source in its docstring. Conventions:

- A paired comparison has a *baseline* and a *candidate*; differences are ``candidate - baseline``.
- The 2x2 table of a paired comparison (``paired_table``)::

                       candidate pass   candidate fail
      baseline pass          a                b
      baseline fail          c                d

  ``b`` and ``c`` are the discordant counts; McNemar's test asks whether ``b`` and ``c`` differ.
- p-values are two-sided unless stated.

What is guaranteed: the exact tests (McNemar, sign test, exact Wilcoxon, exact permutation) are
computed from exact integer counts (``math.comb``) or exact enumeration, and agree with
``statsmodels``/``scipy`` to 1e-9 (see ``tests/test_stats.py``). The bootstrap functions reproduce
``scipy.stats.bootstrap(..., paired=True, rng=numpy.random.default_rng(seed))`` draw for draw.
What is not: bootstrap intervals are Monte Carlo estimates (their endpoints move with the seed and
``n_resamples``), and a bootstrap over a handful of tasks is not a substitute for the exact test.

Only the standard library is imported at module import; numpy/scipy are imported inside the
functions that need them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from statistics import NormalDist
from typing import Any

__all__ = [
    "binom_cdf_half",
    "cluster_bootstrap_ci",
    "discordance_from_rates",
    "mcnemar_exact",
    "mcnemar_midp",
    "mcnemar_power",
    "paired_bootstrap_ci",
    "paired_table",
    "permutation_test",
    "power_curve",
    "sign_test",
    "tasks_needed",
    "wilcoxon_signed_rank",
    "wilson_interval",
]


# ---------------------------------------------------------------------------------------------
# exact binomial building blocks
# ---------------------------------------------------------------------------------------------


def binom_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), computed exactly: ``sum_{i<=k} C(n, i) / 2**n``.

    Exact rational arithmetic (``math.comb``), rounded once to float. Source: the binomial
    distribution; used by the exact McNemar and sign tests.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    num = sum(math.comb(n, i) for i in range(k + 1))
    return float(Fraction(num, 2**n))


def _binom_pmf_half(k: int, n: int) -> Fraction:
    if k < 0 or k > n:
        return Fraction(0)
    return Fraction(math.comb(n, k), 2**n)


def _check_counts(*counts: int) -> None:
    for c in counts:
        if isinstance(c, bool) or int(c) != c or c < 0:
            raise ValueError(f"counts must be non-negative integers, got {c!r}")


def mcnemar_exact(b: int, c: int) -> float:
    """Exact (binomial) two-sided McNemar test p-value from the discordant counts ``b`` and ``c``.

    Formula: with ``n = b + c`` and ``k = min(b, c)``, under H0 ``b ~ Binomial(n, 1/2)`` and
    ``p = min(1, 2 * P(X <= k))``, ``X ~ Binomial(n, 1/2)``; ``p = 1`` when ``n = 0``.
    Source: McNemar (1947); the exact form is the conditional binomial test, as in
    ``statsmodels.stats.contingency_tables.mcnemar(table, exact=True)``.
    """
    _check_counts(b, c)
    b, c = int(b), int(c)
    n = b + c
    if n == 0:
        return 1.0
    num = 2 * sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), Fraction(num, 2**n)))


def mcnemar_midp(b: int, c: int) -> float:
    """Mid-p McNemar test p-value (two-sided).

    Formula: ``p_mid = 2 * [P(X <= k) - P(X = k) / 2]`` with ``k = min(b, c)``,
    ``X ~ Binomial(b + c, 1/2)``, capped at 1 (``p = 1`` when ``b + c = 0``). Less conservative
    than the exact test while keeping close to nominal size. Source: Fagerland, Lydersen & Laake
    (2013), "The McNemar test for binary matched-pairs data: mid-p and asymptotic are better than
    exact conditional", BMC Medical Research Methodology 13:91.
    """
    _check_counts(b, c)
    b, c = int(b), int(c)
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    cdf = Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n)
    p = 2 * (cdf - _binom_pmf_half(k, n) / 2)
    return float(min(Fraction(1), p))


def sign_test(successes: int, n: int, p: float = 0.5, alternative: str = "two-sided") -> float:
    """Exact binomial (sign) test of ``successes`` out of ``n`` against success probability ``p``.

    Formula (two-sided, the "minimum likelihood" rule of ``scipy.stats.binomtest``):
    ``P = sum_{i : f(i) <= f(k) * (1 + 1e-7)} f(i)`` with ``f`` the Binomial(n, p) pmf, capped at 1;
    for ``p = 1/2`` this equals ``min(1, 2 * P(X <= min(k, n - k)))``. One-sided: ``P(X >= k)``
    (``greater``) or ``P(X <= k)`` (``less``). With ``p = 1/2`` the computation is exact integer
    arithmetic. Source: Conover (1999), Practical Nonparametric Statistics, 3.4;
    ``scipy.stats.binomtest``. Used as the sign test of per-task differences (ties dropped).
    """
    _check_counts(successes, n)
    k, n = int(successes), int(n)
    if k > n:
        raise ValueError(f"successes ({k}) cannot exceed n ({n})")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(f"alternative must be two-sided, less or greater, got {alternative!r}")
    if n == 0:
        return 1.0
    if p == 0.5:
        if alternative == "less":
            return binom_cdf_half(k, n)
        if alternative == "greater":
            return 1.0 - binom_cdf_half(k - 1, n) if k > 0 else 1.0
        return mcnemar_exact(k, n - k)
    from scipy.stats import binomtest

    return float(binomtest(k, n, p, alternative=alternative).pvalue)


# ---------------------------------------------------------------------------------------------
# tables and intervals
# ---------------------------------------------------------------------------------------------


def paired_table(base: Mapping[str, bool], cand: Mapping[str, bool]) -> dict[str, int]:
    """The paired 2x2 table ``{"a", "b", "c", "d", "n"}`` of two per-task pass/fail maps.

    ``a`` both pass, ``b`` baseline passes and candidate fails, ``c`` baseline fails and candidate
    passes, ``d`` both fail. The two maps must cover exactly the same tasks (a ``ValueError``
    names the differences): pairing over different task sets is the caller's explicit decision.
    """
    missing = sorted(set(base) - set(cand))
    extra = sorted(set(cand) - set(base))
    if missing or extra:
        raise ValueError(
            f"task sets differ: {len(missing)} only in baseline {missing[:5]}, "
            f"{len(extra)} only in candidate {extra[:5]}"
        )
    a = b = c = d = 0
    for t, bp in base.items():
        cp = bool(cand[t])
        if bp and cp:
            a += 1
        elif bp:
            b += 1
        elif cp:
            c += 1
        else:
            d += 1
    return {"a": a, "b": b, "c": c, "d": d, "n": a + b + c + d}


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion ``k / n``.

    Formula: with ``p = k/n`` and ``z = Phi^-1(1 - (1 - confidence)/2)``,
    ``center = (p + z^2/(2n)) / (1 + z^2/n)``,
    ``half = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4 n^2))``; interval ``center -/+ half``.
    ``(0, 1)`` when ``n = 0``. Source: Wilson (1927), JASA 22:209; matches
    ``statsmodels.stats.proportion.proportion_confint(k, n, method="wilson")``.
    """
    _check_counts(k, n)
    if k > n:
        raise ValueError(f"k ({k}) cannot exceed n ({n})")
    if n == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    p = k / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, center - half), min(1.0, center + half))


# ---------------------------------------------------------------------------------------------
# bootstrap
# ---------------------------------------------------------------------------------------------


def _bootstrap_indices(n: int, n_resamples: int, seed: int | Any):
    import numpy as np

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return rng.integers(0, n, (n_resamples, n))


def paired_bootstrap_ci(
    x: Sequence[float],
    y: Sequence[float],
    *,
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> tuple[float, float, float]:
    """Paired bootstrap CI of ``mean(y) - mean(x)`` (candidate minus baseline), resampling tasks.

    ``x[i]`` and ``y[i]`` are the baseline and candidate values (0/1 outcomes or rates) of task
    ``i``. Each resample draws task indices ``I* ~ Uniform{0..n-1}^n`` with replacement
    (``numpy.random.default_rng(seed).integers(0, n, (n_resamples, n))``) and computes
    ``theta* = mean(y[I*]) - mean(x[I*])``.
    Interval: ``percentile`` -> the ``alpha/2`` and ``1-alpha/2`` quantiles of ``theta*``
    (linear interpolation); ``basic`` -> ``2 theta - q(1-alpha/2), 2 theta - q(alpha/2)``;
    ``bca`` -> bias-corrected and accelerated (Efron & Tibshirani 1993, eq. 14.10 and 14.15,
    jackknife acceleration). Source: Efron & Tibshirani (1993), An Introduction to the
    Bootstrap; identical draws and endpoints to
    ``scipy.stats.bootstrap((x, y), stat, paired=True, method=..., rng=default_rng(seed))``.
    Returns ``(diff, low, high)``. Degenerate input (every resample equal) gives ``low = high``.
    """
    import numpy as np

    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError(f"x and y must be 1-D and the same length, got {xa.shape} and {ya.shape}")
    n = xa.shape[0]
    if n == 0:
        raise ValueError("need at least one paired observation")
    if method not in ("percentile", "basic", "bca"):
        raise ValueError(f"method must be percentile, basic or bca, got {method!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    diff = float(ya.mean() - xa.mean())
    idx = _bootstrap_indices(n, n_resamples, seed)
    theta = ya[idx].mean(axis=-1) - xa[idx].mean(axis=-1)
    alpha = (1 - confidence) / 2
    if method == "bca":
        from scipy.special import ndtr, ndtri

        pct = (np.count_nonzero(theta < diff) + np.count_nonzero(theta <= diff)) / (2 * n_resamples)
        z0 = ndtri(pct)
        # jackknife: leave task i out
        sx, sy = xa.sum(), ya.sum()
        if n > 1:
            jack = (sy - ya) / (n - 1) - (sx - xa) / (n - 1)
        else:
            jack = np.array([diff])
        jm = jack.mean()
        num = ((jm - jack) ** 3).sum()
        den = 6 * (((jm - jack) ** 2).sum()) ** 1.5
        a_hat = num / den if den != 0 else np.nan
        za = ndtri(alpha)
        z1a = ndtri(1 - alpha)
        a1 = ndtr(z0 + (z0 + za) / (1 - a_hat * (z0 + za)))
        a2 = ndtr(z0 + (z0 + z1a) / (1 - a_hat * (z0 + z1a)))
        lo, hi = np.quantile(theta, [a1, a2]) if np.isfinite([a1, a2]).all() else (np.nan, np.nan)
    else:
        lo, hi = np.quantile(theta, [alpha, 1 - alpha])
        if method == "basic":
            lo, hi = 2 * diff - hi, 2 * diff - lo
    return diff, float(lo), float(hi)


def cluster_bootstrap_ci(
    base: Mapping[str, Sequence[float]],
    cand: Mapping[str, Sequence[float]],
    *,
    n_resamples: int = 10000,
    confidence: float = 0.95,
    seed: int = 0,
    method: str = "percentile",
) -> tuple[float, float, float]:
    """Cluster (task-level) bootstrap CI of the pass-rate difference with several samples per task.

    ``base[t]`` and ``cand[t]`` are the 0/1 outcomes of the samples of task ``t`` (any number per
    task, possibly different between the systems). Samples of one task are correlated, so the
    resampling unit is the task (the cluster), never the sample: each resample draws tasks with
    replacement and recomputes ``theta* = mean_t(mean(cand[t])) - mean_t(mean(base[t]))`` — the
    difference of the per-task pass@1 estimates, each task weighted equally (as in pass@k).
    Implemented as ``paired_bootstrap_ci`` on the per-task means (tasks in sorted order), so the
    draws are those of ``scipy.stats.bootstrap(..., paired=True)``. Source: Davison & Hinkley
    (1997), Bootstrap Methods and their Application, 3.8 (multistage/cluster resampling, resampling
    the first stage only). Both maps must cover the same tasks (``ValueError`` otherwise).
    Returns ``(diff, low, high)``.
    """
    if set(base) != set(cand):
        raise ValueError(
            f"task sets differ: {len(set(base) - set(cand))} only in baseline, "
            f"{len(set(cand) - set(base))} only in candidate"
        )
    tasks = sorted(base)
    for t in tasks:
        if len(base[t]) == 0 or len(cand[t]) == 0:
            raise ValueError(f"task {t!r} has no samples")
    x = [sum(map(float, base[t])) / len(base[t]) for t in tasks]
    y = [sum(map(float, cand[t])) / len(cand[t]) for t in tasks]
    return paired_bootstrap_ci(x, y, n_resamples=n_resamples, confidence=confidence, seed=seed, method=method)


# ---------------------------------------------------------------------------------------------
# rank and permutation tests for per-task pass@1 estimates
# ---------------------------------------------------------------------------------------------


def _average_ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        r = (i + j) / 2 + 1
        for m in range(i, j + 1):
            ranks[order[m]] = r
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def _signflip_distribution(weights: Sequence[int]) -> dict[int, int]:
    """Counts of ``sum_{i in S} w_i`` over all subsets S (dynamic programming over the weights)."""
    dist = {0: 1}
    for w in weights:
        new: dict[int, int] = dict(dist)
        for s, c in dist.items():
            new[s + w] = new.get(s + w, 0) + c
        dist = new
    return dist


def wilcoxon_signed_rank(
    x: Sequence[float], y: Sequence[float], *, method: str = "auto", correction: bool = False
) -> dict[str, Any]:
    """Wilcoxon signed-rank test of the paired differences ``d = x - y`` (two-sided).

    Zeros are dropped (Wilcoxon's method); ``|d|`` is ranked with average ranks for ties;
    ``R+ = sum of ranks of positive d``, ``R- = sum of ranks of negative d``; the statistic is
    ``min(R+, R-)``.
    - ``exact``: the null distribution of ``R+`` is enumerated over all ``2^m`` sign assignments of
      the ``m`` non-zero ranks (dynamic programming on doubled ranks, so it is exact with ties);
      ``p = min(1, 2 * min(P(R+ <= r+), P(R+ >= r+)))``.
    - ``asymptotic``: ``z = (R+ - m(m+1)/4) / sqrt((m(m+1)(2m+1) - sum(t^3 - t)/2) / 24)`` with tie
      sizes ``t``, optional continuity correction 0.5, ``p = 2 * (1 - Phi(|z|))``.
    - ``auto`` chooses as ``scipy.stats.wilcoxon`` (1.17) does: exact when ``len(d) <= 50`` and
      there are no ties or zeros, or when ``len(d) <= 13``; otherwise asymptotic.
    Source: Wilcoxon (1945); Conover (1999) 5.7; matches ``scipy.stats.wilcoxon(x, y)``.
    Returns ``{"statistic", "pvalue", "method", "n_nonzero"}``; ``pvalue = 1`` when every
    difference is zero (scipy returns nan there).
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if method not in ("auto", "exact", "asymptotic"):
        raise ValueError(f"method must be auto, exact or asymptotic, got {method!r}")
    d_all = [float(a) - float(b) for a, b in zip(x, y, strict=True)]
    d = [v for v in d_all if v != 0]
    m = len(d)
    if m == 0:
        return {"statistic": 0.0, "pvalue": 1.0, "method": "exact", "n_nonzero": 0}
    ranks, ties = _average_ranks([abs(v) for v in d])
    r_plus = sum(r for r, v in zip(ranks, d, strict=True) if v > 0)
    r_minus = sum(r for r, v in zip(ranks, d, strict=True) if v < 0)
    has_ties = any(t > 1 for t in ties)
    n_zero = len(d_all) - m
    if method == "auto":
        if len(d_all) > 50:
            method = "asymptotic"
        elif (not has_ties and n_zero == 0) or len(d_all) <= 13:
            method = "exact"
        else:
            method = "asymptotic"
    if method == "exact":
        w = [round(2 * r) for r in ranks]
        dist = _signflip_distribution(w)
        total = 2**m
        obs = round(2 * r_plus)
        le = sum(c for s, c in dist.items() if s <= obs)
        ge = sum(c for s, c in dist.items() if s >= obs)
        p = float(min(Fraction(1), 2 * Fraction(min(le, ge), total)))
    else:
        mn = m * (m + 1) / 4
        se = m * (m + 1) * (2 * m + 1)
        se = math.sqrt((se - sum(t**3 - t for t in ties) / 2) / 24)
        z = (r_plus - mn) / se
        if correction:
            z -= math.copysign(0.5, z) / se if z != 0 else 0.0
        p = min(1.0, 2 * NormalDist().cdf(-abs(z)))
    return {"statistic": float(min(r_plus, r_minus)), "pvalue": p, "method": method, "n_nonzero": m}


def permutation_test(
    x: Sequence[float],
    y: Sequence[float],
    *,
    n_resamples: int = 9999,
    seed: int = 0,
) -> dict[str, Any]:
    """Paired sign-flip permutation test of ``mean(y - x) = 0`` (two-sided).

    Under H0 each paired difference ``d_i = y_i - x_i`` is symmetric about 0, so every sign
    assignment is equally likely. Statistic ``T = mean(d)``. When ``2^n <= n_resamples`` the null
    distribution is enumerated exactly and ``p = min(1, 2 * min(P(T* <= T), P(T* >= T)))``
    (comparisons with a relative tolerance of ``100 * eps``, as scipy); otherwise ``n_resamples``
    random sign vectors (``default_rng(seed)``) give ``p = min(1, 2 * min((1 + #{T* <= T}),
    (1 + #{T* >= T})) / (n_resamples + 1))``. Source: Fisher (1935); Good (2005), Permutation,
    Parametric and Bootstrap Tests of Hypotheses; the exact case matches
    ``scipy.stats.permutation_test((d,), mean, permutation_type="samples")``.
    Returns ``{"statistic", "pvalue", "exact", "n_resamples"}``.
    """
    import numpy as np

    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    d = np.asarray(y, dtype=float) - np.asarray(x, dtype=float)
    n = d.shape[0]
    if n == 0:
        raise ValueError("need at least one paired observation")
    obs = float(d.mean())
    gamma = abs(np.finfo(float).eps * 100 * obs)
    exact = 2**n <= n_resamples
    if exact:
        signs = ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1) * -2 + 1
        null = (signs * d).mean(axis=1)
        le = np.count_nonzero(null <= obs + gamma) / null.size
        ge = np.count_nonzero(null >= obs - gamma) / null.size
        p = min(1.0, 2 * min(le, ge))
        used = 2**n
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice([-1.0, 1.0], size=(n_resamples, n))
        null = (signs * d).mean(axis=1)
        le = (1 + np.count_nonzero(null <= obs + gamma)) / (n_resamples + 1)
        ge = (1 + np.count_nonzero(null >= obs - gamma)) / (n_resamples + 1)
        p = min(1.0, 2 * min(le, ge))
        used = n_resamples
    return {"statistic": obs, "pvalue": float(p), "exact": exact, "n_resamples": used}


# ---------------------------------------------------------------------------------------------
# power planning for the exact McNemar test
# ---------------------------------------------------------------------------------------------


_CRITICAL: dict[float, Any] = {}


def _mcnemar_critical(n_max: int, alpha: float):
    """k*(d) for d = 0..n_max: the largest k with 2 * P(X <= k) <= alpha, X ~ Bin(d, 1/2) (-1 if none).

    Cached per alpha and extended on demand (k*(d) is non-decreasing in d because P(X <= k)
    decreases in d for fixed k, so one pointer sweep computes all of them).
    """
    import numpy as np
    from scipy.special import bdtr

    ks = _CRITICAL.get(alpha)
    if ks is not None and len(ks) > n_max:
        return ks[: n_max + 1]
    size = max(n_max + 1, 2 * (len(ks) if ks is not None else 0), 64)
    out = np.full(size, -1, dtype=np.int64)
    k = -1
    for d in range(size):
        while k + 1 < d and 2 * bdtr(k + 1, d, 0.5) <= alpha * (1 + 1e-12):
            k += 1
        out[d] = k
    _CRITICAL[alpha] = out
    return out[: n_max + 1]


def mcnemar_power(
    n_tasks: int,
    p_discordant_pos: float,
    p_discordant_neg: float,
    alpha: float = 0.05,
    *,
    direction: str = "two-sided",
) -> float:
    """Power of the two-sided exact McNemar test at level ``alpha``, by exact enumeration.

    Model: each of ``n_tasks`` tasks independently falls in cell ``c`` (baseline fails, candidate
    passes) with probability ``p_discordant_pos`` = p10 and in cell ``b`` (baseline passes,
    candidate fails) with ``p_discordant_neg`` = p01. Then the number of discordant tasks is
    ``D ~ Bin(n, psi)`` with ``psi = p10 + p01`` and, given ``D = d``, ``C ~ Bin(d, q)`` with
    ``q = p10 / psi``. The test rejects iff ``mcnemar_exact(d - C, C) <= alpha``, i.e. iff
    ``C <= k*(d)`` or ``C >= d - k*(d)`` where ``k*(d)`` is the largest ``k`` with
    ``2 P(Bin(d, 1/2) <= k) <= alpha``. Exact power:
    ``sum_d P(D = d) * [P(C <= k*(d)) + P(C >= d - k*(d))]``
    (``direction="improvement"`` keeps only the upper tail: rejection *and* the candidate better).
    Source: conditional-binomial power of the exact McNemar test (Lachin 1992, Statistics in
    Medicine 11:1239; Fagerland et al. 2013); checked against simulation in the tests. Note:
    exact-test power is a saw-tooth in ``n`` (discrete rejection regions), not monotone.
    """
    import numpy as np
    from scipy.stats import binom

    if n_tasks < 0:
        raise ValueError("n_tasks must be >= 0")
    if not (0 <= p_discordant_pos <= 1 and 0 <= p_discordant_neg <= 1 and p_discordant_pos + p_discordant_neg <= 1):
        raise ValueError("discordant probabilities must be in [0, 1] and sum to at most 1")
    if direction not in ("two-sided", "improvement"):
        raise ValueError(f"direction must be two-sided or improvement, got {direction!r}")
    psi = p_discordant_pos + p_discordant_neg
    if n_tasks == 0 or psi == 0:
        return 0.0
    q = p_discordant_pos / psi
    ks = _mcnemar_critical(n_tasks, alpha)
    d = np.arange(n_tasks + 1)
    p_d = binom.pmf(d, n_tasks, psi)
    upper = binom.sf(d - ks - 1, d, q)  # P(C >= d - k*)
    upper = np.where(ks >= 0, upper, 0.0)
    if direction == "improvement":
        rej = upper
    else:
        lower = np.where(ks >= 0, binom.cdf(ks, d, q), 0.0)
        rej = lower + upper
    return float(np.clip((p_d * rej).sum(), 0.0, 1.0))


def discordance_from_rates(
    baseline_rate: float, improvement: float, discordant: float | None = None
) -> tuple[float, float]:
    """Turn (baseline pass rate, improvement, share of discordant tasks) into ``(p10, p01)``.

    With candidate rate ``p1 = p0 + delta`` and discordant share ``psi = p10 + p01``:
    ``p10 = (psi + delta) / 2`` (candidate-only passes) and ``p01 = (psi - delta) / 2``
    (baseline-only passes), since ``p1 - p0 = p10 - p01``. Without ``psi`` the systems are assumed
    to fail independently given the rates: ``psi = p0 (1 - p1) + p1 (1 - p0)`` — usually an
    overestimate for two checkpoints of one model (which agree on most tasks), so it gives a
    conservative (large) number of tasks. Requires ``|delta| <= psi``, ``p01 <= p0`` and
    ``p10 <= 1 - p0``.
    """
    p0, delta = float(baseline_rate), float(improvement)
    p1 = p0 + delta
    if not (0 <= p0 <= 1 and 0 <= p1 <= 1):
        raise ValueError(f"rates must be in [0, 1]: baseline {p0}, candidate {p1}")
    psi = p0 * (1 - p1) + p1 * (1 - p0) if discordant is None else float(discordant)
    if abs(delta) > psi + 1e-12:
        raise ValueError(f"discordant share {psi} must be at least |improvement| {abs(delta)}")
    p10 = (psi + delta) / 2
    p01 = (psi - delta) / 2
    if p01 > p0 + 1e-12 or p10 > 1 - p0 + 1e-12:
        raise ValueError(
            f"discordant share {psi} is impossible with baseline rate {p0} and improvement {delta}"
        )
    return p10, p01


def tasks_needed(
    p_discordant_pos: float,
    p_discordant_neg: float,
    alpha: float = 0.05,
    power: float = 0.8,
    *,
    direction: str = "two-sided",
    max_tasks: int = 20000,
) -> int:
    """Smallest number of tasks ``n`` with ``mcnemar_power(n, p10, p01, alpha) >= power``.

    Search: doubling until the target is met, then a scan of ``(n_hi/2, n_hi]`` for the first
    ``n`` reaching it (exact enumeration at each ``n``; power is a saw-tooth in ``n``, so a few
    ``n`` above the answer may dip just below the target — plan with a margin). Raises
    ``ValueError`` when ``p10 == p01`` (no effect to detect) or when ``max_tasks`` is not enough.
    """
    if p_discordant_pos == p_discordant_neg:
        raise ValueError("no effect: p_discordant_pos == p_discordant_neg, power never exceeds alpha")
    hi = 8
    while mcnemar_power(hi, p_discordant_pos, p_discordant_neg, alpha, direction=direction) < power:
        if hi >= max_tasks:
            raise ValueError(f"more than {max_tasks} tasks needed for power {power} at alpha {alpha}")
        hi = min(hi * 2, max_tasks)
    lo = hi // 2 if hi > 8 else 1
    for n in range(lo, hi + 1):
        if mcnemar_power(n, p_discordant_pos, p_discordant_neg, alpha, direction=direction) >= power:
            return n
    return hi  # pragma: no cover - hi satisfies the target by construction


def power_curve(
    p_discordant_pos: float,
    p_discordant_neg: float,
    n_values: Sequence[int],
    alpha: float = 0.05,
    *,
    direction: str = "two-sided",
) -> list[dict[str, float]]:
    """``[{"n_tasks": n, "power": mcnemar_power(n, ...)}]`` for each ``n`` in ``n_values``."""
    return [
        {"n_tasks": int(n), "power": mcnemar_power(int(n), p_discordant_pos, p_discordant_neg, alpha, direction=direction)}
        for n in n_values
    ]
