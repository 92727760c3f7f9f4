"""``codeself bench notebooks``: one dashboard filter update (``codeself.views.rewards.dashboard_view``,
polars) over a synthetic rollout frame, against the same computation in plain Python over a list of
dicts, in the same process. The synthetic data and the pure-Python baseline live here, not in the
library."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from codeself.views.charts import BIN_DECIMALS
from codeself.views.rewards import dashboard_view, reward_range

#: the slowest filter update (polars, over ``rows`` rollout rows) that meets the target, ms
TARGET_MS = 300.0


def _bin_index_py(value: float, lo: float, width: float, bins: int) -> int:
    """``_bin_index`` for one Python float (the pure-Python benchmark baseline)."""
    return min(bins - 1, max(0, math.floor(round((value - lo) / width, BIN_DECIMALS))))


def naive_dashboard_view(rows: Sequence[Mapping[str, Any]], *, statuses=None, task_query=None,
                         reward_min=None, reward_max=None, bins: int = 20) -> dict[str, Any]:
    """The same computation as ``dashboard_view`` in plain Python (benchmark baseline only)."""
    keep = set(statuses) if statuses else None
    n = passed = 0
    rsum = 0.0
    rn = 0
    tasks: set[str] = set()
    status: dict[str, int] = {}
    hist = [0] * bins
    lo, hi = reward_range([r["reward"] for r in rows])
    width = (hi - lo) / bins
    for r in rows:
        if keep is not None and r["status"] not in keep:
            continue
        if task_query and task_query not in r["task_id"]:
            continue
        rew = r["reward"]
        if rew is not None and ((reward_min is not None and rew < reward_min)
                                or (reward_max is not None and rew > reward_max)):
            continue
        n += 1
        passed += bool(r["passed"])
        tasks.add(r["task_id"])
        status[r["status"]] = status.get(r["status"], 0) + 1
        if rew is not None:
            rsum += rew
            rn += 1
            hist[_bin_index_py(rew, lo, width, bins)] += 1
    return {"n_rows": n, "n_tasks": len(tasks), "pass_rate": passed / n if n else None,
            "mean_reward": rsum / rn if rn else None, "status": status, "reward_hist": hist}


def synthetic_rollout_frame(n_rows: int, *, n_tasks: int = 500, seed: int = 0) -> pl.DataFrame:
    """A rollout-shaped frame of ``n_rows`` rows for the dashboard benchmark (not real results).

    Deterministic for a seed. Statuses and rewards follow a plausible mix; reward is null for
    ``infra_error`` rows, as in real rollouts.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    statuses = np.array(["passed", "failed", "syntax_error", "runtime_error", "timeout", "infra_error"])
    probs = np.array([0.45, 0.35, 0.08, 0.08, 0.03, 0.01])
    st = rng.choice(len(statuses), size=n_rows, p=probs)
    task = rng.integers(0, n_tasks, size=n_rows)
    reward = np.where(st == 0, 1.0, np.where(st == 1, rng.uniform(0, 0.9, n_rows).round(2), 0.0))
    df = pl.DataFrame({
        "task_id": pl.Series([f"HumanEval/{i}" for i in range(n_tasks)])[task],
        "sample_id": np.arange(n_rows) % 16,
        "status": statuses[st],
        "passed": st == 0,
        "reward": reward,
    })
    return df.with_columns(pl.when(pl.col("status") == "infra_error").then(None)
                           .otherwise(pl.col("reward")).alias("reward"))


def bench_notebooks(rows: int = 1_000_000, *, repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """Time a dashboard filter update (``dashboard_view``) over ``rows`` rollout rows against the
    same computation in pure Python over a list of dicts, in the same process.

    Returns medians in ms plus the ratio; the filters are a status multi-select, a task substring
    and a reward range — the three controls of the rollout dashboard.
    """
    import statistics

    df = synthetic_rollout_frame(rows, seed=seed)
    filters = [
        dict(statuses=["passed", "failed"], task_query="HumanEval/1", reward_min=0.2, reward_max=1.0),
        dict(statuses=["failed"], task_query=None, reward_min=0.0, reward_max=0.5),
        dict(statuses=None, task_query="/4", reward_min=None, reward_max=None),
    ]
    polars_ms: list[float] = []
    views = []
    for _ in range(repeats):
        for f in filters:
            v = dashboard_view(df, **f)
            polars_ms.append(v.compute_ms)
            views.append(v)
    py_rows = df.to_dicts()
    naive_ms: list[float] = []
    naive = []
    for f in filters:
        t0 = time.perf_counter()
        naive.append(naive_dashboard_view(py_rows, **f))
        naive_ms.append((time.perf_counter() - t0) * 1000)
    for v, nv in zip(views[: len(filters)], naive, strict=True):
        if v.n_rows != nv["n_rows"] or v.reward_hist["count"].to_list() != nv["reward_hist"]:
            raise AssertionError("polars and pure-Python dashboard views disagree")
    pm = statistics.median(polars_ms)
    nm = statistics.median(naive_ms)
    return {"rows": rows, "repeats": repeats, "filters": len(filters),
            "polars_median_ms": pm, "polars_max_ms": max(polars_ms), "naive_median_ms": nm,
            "speedup": nm / pm if pm else float("inf"), "target_ms": TARGET_MS,
            "meets_target": max(polars_ms) <= TARGET_MS}
