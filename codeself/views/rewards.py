"""Notebook 03 (rewards) and the rollout explorer: filters over a flat rollout frame (the columns
of ``codeself.rollouts.rollouts_frame``), one dashboard filter update (:func:`dashboard_view`),
reward summaries and histograms, partial credit, the public-vs-hidden gap, and the report numbers
(:func:`summary`).

``filter_rollouts`` / ``dashboard_view`` are pure polars expressions; they never mutate their input.
``codeself bench notebooks`` (``codeself.bench.notebooks``) times ``dashboard_view`` against the same
computation in plain Python.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from codeself.views.charts import _bin_index, histogram
from codeself.views.sandbox import STATUS_ORDER

#: The range of ``codeself.rewards.reward_v0_correctness``: 1.0 for a pass down to -1.0 for a parse
#: failure or a rejected program (syntax errors -0.5). Reward charts and filters cover at least this;
#: they widen to the data when a total goes further (a quality term can take it below -1).
REWARD_RANGE = (-1.0, 1.0)


def filter_rollouts(df: pl.DataFrame | pl.LazyFrame, *, statuses: Sequence[str] | None = None,
                    task_query: str | None = None, reward_min: float | None = None,
                    reward_max: float | None = None, keep_null_reward: bool = True) -> pl.DataFrame:
    """Rows matching every given filter.

    ``statuses``: keep these statuses (None or empty = all). ``task_query``: case-sensitive
    substring of ``task_id``. ``reward_min/max``: inclusive bounds on ``reward``; rows whose reward
    is null (excluded infra errors) are kept only when no bound is given or ``keep_null_reward``
    and the bounds span the full range, never silently scored.
    """
    lf = df.lazy() if isinstance(df, pl.DataFrame) else df
    lf = lf.filter(_filter_expr(statuses, task_query, reward_min, reward_max, keep_null_reward))
    return lf.collect()


def _filter_expr(statuses, task_query, reward_min, reward_max, keep_null_reward) -> pl.Expr:
    expr = pl.lit(True)
    if statuses:
        expr = expr & pl.col("status").cast(pl.String).is_in(list(statuses))
    if task_query:
        expr = expr & pl.col("task_id").cast(pl.String).str.contains(task_query, literal=True)
    if reward_min is not None or reward_max is not None:
        r = pl.col("reward")
        cond = pl.lit(True)
        if reward_min is not None:
            cond = cond & (r >= reward_min)
        if reward_max is not None:
            cond = cond & (r <= reward_max)
        expr = expr & (cond | (r.is_null() & pl.lit(bool(keep_null_reward))))
    return expr


@dataclass
class DashboardView:
    """What one filter change recomputes: counts, pass rate, status table, reward histogram."""

    n_rows: int
    n_tasks: int
    pass_rate: float | None
    mean_reward: float | None
    status: pl.DataFrame
    reward_hist: pl.DataFrame
    compute_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def reward_range(values: pl.Series | Sequence[float | None] | None = None) -> tuple[float, float]:
    """``REWARD_RANGE`` widened to include every non-null value given (the x range of reward charts
    and the bounds of a reward filter)."""
    lo, hi = REWARD_RANGE
    if values is None:
        return lo, hi
    s = values if isinstance(values, pl.Series) else pl.Series("reward", list(values), dtype=pl.Float64)
    s = s.drop_nulls()
    if s.len():
        lo, hi = min(lo, float(s.min())), max(hi, float(s.max()))  # type: ignore[arg-type]
    return lo, hi


def dashboard_view(df: pl.DataFrame, *, statuses: Sequence[str] | None = None, task_query: str | None = None,
                   reward_min: float | None = None, reward_max: float | None = None,
                   bins: int = 20) -> DashboardView:
    """Filter a rollout frame and aggregate everything a dashboard shows, in one polars pass.

    Needs columns ``task_id, status, passed, reward``. ``compute_ms`` is the wall time of this call.
    The reward histogram has ``bins`` equal bins over ``reward_range`` of the whole frame (so the
    x axis does not move while the filters change): every scored reward is counted, negative ones too.
    """
    t0 = time.perf_counter()
    lo, hi = reward_range(df["reward"])
    width = (hi - lo) / bins
    lf = df.lazy().filter(_filter_expr(statuses, task_query, reward_min, reward_max, True))
    summary, status, hist = pl.collect_all([
        lf.select(pl.len().alias("n"), pl.col("task_id").n_unique().alias("tasks"),
                  pl.col("passed").cast(pl.Float64).mean().alias("pass_rate"),
                  pl.col("reward").mean().alias("mean_reward")),
        lf.group_by("status").agg(pl.len().alias("count")),
        lf.filter(pl.col("reward").is_not_null())
          .select(_bin_index(pl.col("reward"), lo, width, bins).alias("bin"))
          .group_by("bin").agg(pl.len().alias("count")),
    ])
    s = summary.row(0, named=True)
    status = status.with_columns(pl.col("status").cast(pl.String))
    order = {k: i for i, k in enumerate(STATUS_ORDER)}
    status = (status.with_columns(pl.col("status").replace_strict(order, default=len(order),
                                                                  return_dtype=pl.Int64).alias("_o"))
              .sort("_o").drop("_o"))
    hist = (pl.DataFrame({"bin": list(range(bins))}).join(hist, on="bin", how="left")
            .with_columns(pl.col("count").fill_null(0), (lo + pl.col("bin") * width).alias("bin_start"),
                          (lo + (pl.col("bin") + 1) * width).alias("bin_end"))
            .select("bin_start", "bin_end", "count"))
    ms = (time.perf_counter() - t0) * 1000
    return DashboardView(n_rows=int(s["n"]), n_tasks=int(s["tasks"]),
                         pass_rate=None if s["pass_rate"] is None else float(s["pass_rate"]),
                         mean_reward=None if s["mean_reward"] is None else float(s["mean_reward"]),
                         status=status, reward_hist=hist, compute_ms=ms)


def reward_summary(df: pl.DataFrame, by: Sequence[str] = ("backend",)) -> pl.DataFrame:
    """Per group: rollouts, excluded (null reward), mean reward, pass rate, parser failures."""
    by = [c for c in by if c in df.columns]
    aggs = [pl.len().alias("rollouts"),
            pl.col("reward").is_null().sum().alias("excluded"),
            pl.col("reward").mean().alias("mean_reward"),
            pl.col("passed").cast(pl.Float64).mean().alias("pass_rate")]
    if "parse_status" in df.columns:
        aggs.append((pl.col("parse_status") != "ok").sum().alias("parse_failures"))
    out = df.group_by(by).agg(aggs) if by else df.select(aggs)
    return out.sort(by) if by else out


def reward_histograms(df: pl.DataFrame, by: str, *, bins: int = 20,
                      value_range: tuple[float, float] | None = None) -> pl.DataFrame:
    """Reward histograms per group (long: ``group, bin_start, bin_end, count``), every group on the
    same bins over ``value_range`` (default ``reward_range`` of ``df``: [-1, 1] or wider), so each
    scored reward — negative ones included — is counted once."""
    lo, hi = value_range or reward_range(df["reward"])
    parts = []
    for (g,), sub in df.group_by([by], maintain_order=True):
        h = histogram(sub["reward"], bins=bins, lo=lo, hi=hi, name="reward")
        parts.append(h.with_columns(pl.lit(str(g)).alias("group")))
    if not parts:
        return pl.DataFrame(schema={"group": pl.String, "bin_start": pl.Float64, "bin_end": pl.Float64,
                                    "count": pl.UInt32})
    return pl.concat(parts).select("group", "bin_start", "bin_end", "count")


def partial_credit(df: pl.DataFrame) -> pl.DataFrame:
    """Share of tests passed (public + hidden) vs. full pass: the partial-credit structure.

    Columns: ``tests_passed_share`` bucket (tenths) and counts of rollouts by ``passed``.
    """
    tot = pl.col("public_total") + pl.col("hidden_total")
    share = pl.when(tot > 0).then((pl.col("public_passed") + pl.col("hidden_passed")) / tot).otherwise(0.0)
    return (df.with_columns((share * 10).floor().clip(0, 10).cast(pl.Int64).alias("tenth"))
            .group_by("tenth", "passed").agg(pl.len().alias("rollouts"))
            .with_columns((pl.col("tenth") / 10).alias("tests_passed_share")).drop("tenth")
            .sort("tests_passed_share", "passed"))


def public_hidden_gap(df: pl.DataFrame) -> pl.DataFrame:
    """Per task: share of rollouts passing all public tests vs. all hidden tests, and the gap.

    A large positive gap means solutions overfit the visible tests (or the public tests are weak).
    """
    pub_ok = (pl.col("public_total") > 0) & (pl.col("public_passed") == pl.col("public_total"))
    hid_ok = (pl.col("hidden_total") > 0) & (pl.col("hidden_passed") == pl.col("hidden_total"))
    return (df.group_by("task_id")
            .agg(pl.len().alias("rollouts"), pub_ok.cast(pl.Float64).mean().alias("public_pass"),
                 hid_ok.cast(pl.Float64).mean().alias("hidden_pass"))
            .with_columns((pl.col("public_pass") - pl.col("hidden_pass")).alias("gap"))
            .sort("gap", "task_id", descending=[True, False]))


def per_task(df: pl.DataFrame) -> pl.DataFrame:
    """Per task: rollouts, passes, pass rate, mean reward (drill-down table)."""
    return (df.group_by("task_id")
            .agg(pl.len().alias("rollouts"), pl.col("passed").sum().alias("passes"),
                 pl.col("passed").cast(pl.Float64).mean().alias("pass_rate"),
                 pl.col("reward").mean().alias("mean_reward"))
            .sort("task_id"))


def summary(records: Sequence[Mapping[str, Any]], labels: Sequence[str], *,
            seed: int = 0) -> tuple[dict[str, dict[str, Any]], dict[str, Any], list[str]]:
    """Notebook 03's report: ``codeself.evaluation.evaluate_rollouts`` of the records of each label
    (records carry their label under ``file``), then per label the mean reward, exclusions, parser
    failure rate and public-vs-hidden gap. Returns ``(evals, key_numbers, verdict_lines)``."""
    from codeself.evaluation import evaluate_rollouts

    evals = {label: evaluate_rollouts([r for r in records if r["file"] == label], seed=seed) for label in labels}
    key_numbers: dict[str, Any] = {}
    verdict_lines = []
    for label, ev in evals.items():
        key_numbers[f"{label}.rollouts"] = ev["n_records"]
        key_numbers[f"{label}.mean_reward"] = round(ev["reward"]["mean"], 4) if ev["reward"]["mean"] is not None else None
        key_numbers[f"{label}.excluded"] = ev["reward"]["excluded"]
        key_numbers[f"{label}.parse_failure_rate"] = round(ev["parse_failure_rate"], 4)
        gap = ev["public_hidden"]["gap"]
        key_numbers[f"{label}.public_hidden_gap"] = round(gap, 4) if gap is not None else None
        verdict_lines.append(
            f"{label}: mean reward {ev['reward']['mean']:.3f} over {ev['reward']['n']} scored rollouts "
            f"({ev['reward']['excluded']} excluded); {ev['public_hidden']['public_only']} pass every public test "
            f"but fail a hidden one; parser failures {ev['parse_failure_rate']:.1%}."
        )
    return evals, key_numbers, verdict_lines
