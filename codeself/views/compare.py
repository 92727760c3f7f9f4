"""Notebook 05 (paired comparison): per-task pass rates of two rollout frames side by side, the 2×2
table as a frame, a power grid, and the report numbers (:func:`summary`) of a
``codeself.evaluation.compare_rollouts`` result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl


def per_task_pass(df: pl.DataFrame) -> pl.DataFrame:
    """Per task: samples, passes, pass rate and ``first_pass`` (sample with the smallest
    sample_id passed) — the per-task unit the paired tests use. Rows with null reward
    (infra errors) are excluded, never scored as failures."""
    d = df.filter(pl.col("status") != "infra_error") if "status" in df.columns else df
    if "sample_id" not in d.columns:
        d = d.with_columns(pl.lit(0).alias("sample_id"))
    return (d.sort("task_id", "sample_id")
            .group_by("task_id", maintain_order=True)
            .agg(pl.len().alias("n"), pl.col("passed").sum().alias("c"),
                 pl.col("passed").cast(pl.Float64).mean().alias("rate"),
                 pl.col("passed").first().alias("first_pass"),
                 pl.col("passed").cast(pl.Int8).alias("outcomes")))


def paired_frame(base: pl.DataFrame, cand: pl.DataFrame) -> pl.DataFrame:
    """Inner join of per-task results of two rollout frames on task_id (tasks in both only)."""
    b = per_task_pass(base).rename(lambda c: c if c == "task_id" else f"base_{c}")
    c = per_task_pass(cand).rename(lambda c: c if c == "task_id" else f"cand_{c}")
    out = b.join(c, on="task_id", how="inner").sort("task_id")
    return out.with_columns(
        pl.when(pl.col("base_first_pass") & pl.col("cand_first_pass")).then(pl.lit("both pass"))
        .when(pl.col("base_first_pass")).then(pl.lit("baseline only"))
        .when(pl.col("cand_first_pass")).then(pl.lit("candidate only"))
        .otherwise(pl.lit("both fail")).alias("cell"),
        (pl.col("cand_rate") - pl.col("base_rate")).alias("rate_diff"))


def table_frame(table: Mapping[str, int]) -> pl.DataFrame:
    """The 2×2 paired table as a small frame (rows: baseline, columns: candidate)."""
    return pl.DataFrame({
        "baseline": ["pass", "fail"],
        "candidate pass": [table["a"], table["c"]],
        "candidate fail": [table["b"], table["d"]],
    })


def power_grid(n_tasks_options: Sequence[int], p_pos: float, p_neg: float, alpha: float = 0.05) -> pl.DataFrame:
    """Exact McNemar power for each task count (``codeself.stats.mcnemar_power``)."""
    from codeself import stats

    return pl.DataFrame({"n_tasks": list(n_tasks_options),
                         "power": [float(stats.mcnemar_power(n, p_pos, p_neg, alpha)) for n in n_tasks_options]})


def summary(cmp: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """Notebook 05's ``key_numbers`` and ``verdict_lines`` of a ``compare_rollouts`` result (None: a
    rollout file is missing, nothing compared)."""
    if cmp is None:
        return {"n_tasks": 0}, ["No comparison: the baseline or candidate rollout file is missing."]
    key_numbers = {
        "n_tasks": cmp["n_tasks"], "pairing": cmp["pairing"],
        "baseline_pass_at_1": round(cmp["baseline_pass_at_1"], 4),
        "candidate_pass_at_1": round(cmp["candidate_pass_at_1"], 4),
        "diff": round(cmp["diff"], 4), "diff_ci_low": round(cmp["diff_ci"][0], 4),
        "diff_ci_high": round(cmp["diff_ci"][1], 4), "mcnemar_p": cmp["mcnemar_p"],
        "mcnemar_midp": cmp["mcnemar_midp"], "b": cmp["table"]["b"], "c": cmp["table"]["c"],
        "wilcoxon_p": cmp["wilcoxon"]["pvalue"], "permutation_p": cmp["permutation"]["pvalue"],
    }
    verdict_lines = [
        f"{cmp['candidate']} vs {cmp['baseline']} on {cmp['n_tasks']} tasks: pass@1 "
        f"{cmp['baseline_pass_at_1']:.3f} → {cmp['candidate_pass_at_1']:.3f} "
        f"(diff {cmp['diff']:+.3f}, 95% CI [{cmp['diff_ci'][0]:+.3f}, {cmp['diff_ci'][1]:+.3f}]).",
        f"Exact McNemar p = {cmp['mcnemar_p']:.4g} ({cmp['table']['c']} "
        f"{'tasks' if cmp['pairing'] == 'greedy' else '(task, sample) pairs'} fixed, "
        f"{cmp['table']['b']} broken; pairing {cmp['pairing']})"
        + ("." if cmp["pairing"] == "greedy" else
           f"; samples of a task are correlated, so the task-level tests decide: Wilcoxon p = "
           f"{cmp['wilcoxon']['pvalue']:.4g}, permutation p = {cmp['permutation']['pvalue']:.4g}."),
    ]
    return key_numbers, verdict_lines
