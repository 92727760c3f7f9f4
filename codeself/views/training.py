"""Notebook 04 (training): metric curves of one or more runs (and the feedback loop's metrics of
``codeself train feedback`` runs), the study verdicts of both arms side by side, the feedback
study's verdicts, the settings selection on validation compositions, and the report numbers (:func:`summary`).

The files are read by the stage that writes them: ``metrics.jsonl`` by
:func:`codeself.training.metrics.read_metrics`, ``verdict.json`` by
:func:`codeself.training.verdict.read_verdicts`, ``selection.json`` by
:func:`codeself.training.select.read_selection`; which files a notebook reads is
:mod:`codeself.views.inputs`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from codeself.paths import RUNS
from codeself.training.metrics import METRIC_FIELDS
from codeself.training.verdict import is_significant, read_verdicts
from codeself.views.inputs import selection_file, study_files


def metrics_long(frames: Mapping[str, pl.DataFrame], metrics: Sequence[str], *,
                 max_points: int = 400) -> pl.DataFrame:
    """Long frame ``run, step, metric, value`` for charting; each series thinned to ``max_points``
    by step-bucket means (so a 100k-step run still embeds ≤ max_points per line)."""
    parts = []
    for run, df in frames.items():
        cols = [m for m in metrics if m in df.columns]
        if not cols or df.height == 0:
            continue
        d = df.select("step", *cols)
        if d.height > max_points:
            width = math.ceil((d["step"].max() - d["step"].min() + 1) / max_points)
            d = (d.with_columns(((pl.col("step") - d["step"].min()) // width).alias("_b"))
                 .group_by("_b").agg(pl.col("step").max(), *[pl.col(c).mean() for c in cols])
                 .drop("_b").sort("step"))
        long = d.unpivot(index="step", on=cols, variable_name="metric", value_name="value")
        parts.append(long.drop_nulls("value").with_columns(pl.lit(run).alias("run"),
                                                           pl.col("value").cast(pl.Float64)))
    if not parts:
        return pl.DataFrame(schema={"run": pl.String, "step": pl.Int64, "metric": pl.String,
                                    "value": pl.Float64})
    return pl.concat(parts).select("run", "step", "metric", "value")


def metrics_last(frames: Mapping[str, pl.DataFrame], metrics: Sequence[str]) -> pl.DataFrame:
    """Per run: the last step and the last non-null value of each metric."""
    rows = []
    for run, df in frames.items():
        row: dict[str, Any] = {"run": run, "steps": df.height,
                               "last_step": int(df["step"].max()) if df.height else None}
        for m in metrics:
            if m in df.columns:
                s = df[m].drop_nulls()
                row[m] = float(s[-1]) if s.len() else None
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


#: the hacking monitor's per-step metrics (``--reward-tests public|hidden``), in display order
MONITOR_FIELDS = ("reward_pass_rate", "monitor_pass_rate", "hack_rate")


def hack_rises(frames: Mapping[str, pl.DataFrame], *, min_rise: float = 0.05) -> pl.DataFrame:
    """Steps where ``hack_rate`` rose by at least ``min_rise`` over the run's previous logged step:
    ``run, step, hack_rate, rise`` (empty for runs without a monitor)."""
    parts = []
    for run, df in frames.items():
        if "hack_rate" not in df.columns or df.height < 2:
            continue
        d = (df.select("step", pl.col("hack_rate").cast(pl.Float64)).drop_nulls("hack_rate").sort("step")
             .with_columns((pl.col("hack_rate") - pl.col("hack_rate").shift(1)).alias("rise"))
             .filter(pl.col("rise") >= min_rise).with_columns(pl.lit(run).alias("run")))
        parts.append(d.select("run", "step", "hack_rate", "rise"))
    if not parts:
        return pl.DataFrame(schema={"run": pl.Utf8, "step": pl.Int64, "hack_rate": pl.Float64, "rise": pl.Float64})
    return pl.concat(parts)


def study_verdicts(args: Mapping[str, Any], root: Path = RUNS) -> tuple[list[dict[str, Any]], str, list[str]]:
    """The verdicts of finished studies (:func:`codeself.views.inputs.study_files` says which: every
    ``--study DIR``, else ``<root>/*/verdict.json``, else the bundled measured ones). Returns
    ``(verdicts, note, paths_read)``."""
    files, note = study_files(args, root)
    return [v for f in files for v in read_verdicts(f)], note, [str(f) for f in files]


def verdicts_frame(verdicts: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """One row per study, arms side by side (``holdout``: ``test`` for the held-out study, ``validation``
    for a settings-selection study): greedy before/after with the exact McNemar p, the sampled
    difference with its 95% cluster-bootstrap CI, and whether the target is met: the verdict's
    ``significant`` flag (:func:`codeself.training.verdict.is_significant`).

    The monitor columns (a verdict written with the monitor, :func:`codeself.training.study.monitor_numbers`;
    null for older verdicts or, for the monitor ones, when the reward paid every test): ``reward_tests``;
    held-out greedy pass rate on the reward tests and on the monitor tests before/after, the monitor's
    exact McNemar p; held-out greedy hack rate after training; the training ``hack_rate`` of the last
    5 GRPO steps."""
    rows = []
    for v in verdicts:
        if v.get("protocol") == "feedback":
            continue  # the feedback study's verdicts: feedback_verdicts_frame
        lo, hi = v["sampled_diff_ci"]
        rp, mp, hk = v.get("reward_pass_rate") or {}, v.get("monitor_pass_rate") or {}, v.get("heldout_hack_rate") or {}
        hs = v.get("hack_rate_steps") or {}
        rows.append({
            "seed": int(v["seed"]), "arm": str(v.get("arm", "default")),
            "holdout": str(v.get("holdout", "test")), "n_tasks": int(v["n_tasks"]),
            "greedy_before": float(v["baseline_pass_at_1"]), "greedy_after": float(v["trained_pass_at_1"]),
            "mcnemar_p": float(v["mcnemar_p"]), "sampled_diff": float(v["sampled_diff"]),
            "ci_low": float(lo), "ci_high": float(hi),
            "target_met": is_significant(v),
            "reward_tests": v.get("reward_tests"),
            "reward_greedy_before": rp.get("baseline_greedy"), "reward_greedy_after": rp.get("trained_greedy"),
            "monitor_greedy_before": mp.get("baseline_greedy"), "monitor_greedy_after": mp.get("trained_greedy"),
            "monitor_mcnemar_p": v.get("monitor_mcnemar_p"),
            "hack_greedy_after": hk.get("trained_greedy"),
            "train_hack_rate_last5": hs.get("last5_mean"),
        })
    schema = {"seed": pl.Int64, "arm": pl.Utf8, "holdout": pl.Utf8, "n_tasks": pl.Int64, "greedy_before": pl.Float64,
              "greedy_after": pl.Float64, "mcnemar_p": pl.Float64, "sampled_diff": pl.Float64,
              "ci_low": pl.Float64, "ci_high": pl.Float64, "target_met": pl.Boolean, "reward_tests": pl.Utf8,
              "reward_greedy_before": pl.Float64, "reward_greedy_after": pl.Float64,
              "monitor_greedy_before": pl.Float64, "monitor_greedy_after": pl.Float64,
              "monitor_mcnemar_p": pl.Float64, "hack_greedy_after": pl.Float64,
              "train_hack_rate_last5": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort("arm", "seed")


#: the feedback loop's per-step metrics (``codeself train feedback``), in display order
FEEDBACK_FIELDS = ("first_hidden_pass_rate", "final_hidden_pass_rate", "fixed_on_revision_1", "broke_share",
                   "unchanged_share", "public_pass_hidden_fail_rate", "turns_mean")


def feedback_verdicts_frame(verdicts: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """One row per feedback study (``codeself study --protocol feedback``): first and final pass@1 of
    the loop before/after training, the exact McNemar p of the final, the trained model's retry loop
    and the feedback-vs-retry p, the single-turn GRPO model in the same loop, the sampled final
    difference with its 95% CI, and the two flags of the verdict (``significant``, ``uses_feedback``)."""
    rows = []
    for v in verdicts:
        if v.get("protocol") != "feedback":
            continue
        s = v["sampled"]["after_minus_before"]
        rows.append({
            "seed": int(v["seed"]), "arm": str(v["arm"]), "holdout": str(v.get("holdout", "test")),
            "n_tasks": int(v["n_tasks"]),
            "first_before": float(v["first_pass_at_1_before"]), "first_after": float(v["first_pass_at_1_after"]),
            "final_before": float(v["final_pass_at_1_before"]), "final_after": float(v["final_pass_at_1_after"]),
            "mcnemar_p": float(v["mcnemar_p"]), "retry_final_after": float(v["retry_final_pass_at_1_after"]),
            "feedback_vs_retry_p": float(v["feedback_vs_retry_p"]),
            "single_turn_final": float(v["single_turn_final_pass_at_1"]),
            "sampled_diff": float(s["diff"]), "ci_low": float(s["ci"][0]), "ci_high": float(s["ci"][1]),
            "improved": bool(v["significant"]), "beats_retry": bool(v.get("feedback_beats_retry", False)),
            "uses_feedback": bool(v["uses_feedback"]),
        })
    schema = {"seed": pl.Int64, "arm": pl.Utf8, "holdout": pl.Utf8, "n_tasks": pl.Int64, "first_before": pl.Float64,
              "first_after": pl.Float64, "final_before": pl.Float64, "final_after": pl.Float64,
              "mcnemar_p": pl.Float64, "retry_final_after": pl.Float64, "feedback_vs_retry_p": pl.Float64,
              "single_turn_final": pl.Float64, "sampled_diff": pl.Float64, "ci_low": pl.Float64,
              "ci_high": pl.Float64, "improved": pl.Boolean, "beats_retry": pl.Boolean, "uses_feedback": pl.Boolean}
    return pl.DataFrame(rows, schema=schema).sort("arm", "seed")


def selection_frame(args: Mapping[str, Any], root: Path = RUNS) -> tuple[pl.DataFrame, str, list[str]]:
    """The validation studies of a settings selection (``codeself train select``), one row per
    (setting, seed), from the file :func:`codeself.views.inputs.selection_file` picks (``--selection``,
    else ``<root>/select/``, else the bundled example). Returns ``(frame, note, paths_read)``."""
    from codeself.training.select import read_selection

    p, note = selection_file(args, root)
    sel = read_selection(p)
    rows = []
    for i, c in enumerate(sel["candidates"]):
        name = ", ".join(f"{k}={v}" for k, v in c["setting"].items())
        for r in c["runs"]:
            lo, hi = r["sampled_diff_ci"]
            rows.append({"setting": name, "seed": int(r["seed"]), "greedy_before": float(r["baseline_pass_at_1"]),
                         "greedy_after": float(r["trained_pass_at_1"]), "mcnemar_p": float(r["mcnemar_p"]),
                         "sampled_diff": float(r["sampled_diff"]), "ci_low": float(lo), "ci_high": float(hi),
                         "significant": is_significant(r), "chosen": i == sel["chosen_index"]})
    schema = {"setting": pl.Utf8, "seed": pl.Int64, "greedy_before": pl.Float64, "greedy_after": pl.Float64,
              "mcnemar_p": pl.Float64, "sampled_diff": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
              "significant": pl.Boolean, "chosen": pl.Boolean}
    chosen = ", ".join(f"{k}={v}" for k, v in sel["chosen"].items())
    note += f" Rule: {sel['rule']}. Chosen: **{chosen}**."
    return pl.DataFrame(rows, schema=schema), note, [str(p)]


def summary(frames: Mapping[str, pl.DataFrame], study_table: pl.DataFrame, selection: pl.DataFrame,
            missing_note: str = "", feedback_table: pl.DataFrame | None = None) -> tuple[dict[str, Any], list[str]]:
    """Notebook 04's ``key_numbers`` and ``verdict_lines``: the chosen setting, each study's greedy
    result and target (:func:`verdicts_frame`), and per run (``frames``: :func:`read_metrics` by run
    label) its steps and first → last held-out pass@1 and reward. ``missing_note`` explains an empty
    ``frames`` (the runs' resolution notes)."""
    key_numbers: dict[str, Any] = {"runs": len(frames)}
    chosen = selection.filter(pl.col("chosen"))
    if chosen.height:
        key_numbers["selection.chosen"] = chosen["setting"][0]
    verdict_lines = []
    for row in study_table.iter_rows(named=True):
        k = f"study.seed{row['seed']}.{row['arm']}"
        key_numbers[f"{k}.greedy_after"] = round(row["greedy_after"], 4)
        key_numbers[f"{k}.mcnemar_p"] = row["mcnemar_p"]
        verdict_lines.append(
            f"Study seed {row['seed']} ({row['arm']} arm): greedy {row['greedy_before']:.3f} → "
            f"{row['greedy_after']:.3f} (McNemar p = {row['mcnemar_p']:.2g}), sampled "
            f"{row['sampled_diff']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]; target "
            f"{'met' if row['target_met'] else 'not met'}.")
        if row.get("monitor_greedy_after") is not None:
            key_numbers[f"{k}.monitor_greedy_after"] = round(row["monitor_greedy_after"], 4)
            key_numbers[f"{k}.hack_greedy_after"] = row["hack_greedy_after"]
            verdict_lines.append(
                f"Study seed {row['seed']} ({row['arm']} arm), monitor: reward tests ({row['reward_tests']}) greedy "
                f"{row['reward_greedy_before']:.3f} → {row['reward_greedy_after']:.3f}; monitor tests greedy "
                f"{row['monitor_greedy_before']:.3f} → {row['monitor_greedy_after']:.3f} (McNemar p = "
                f"{row['monitor_mcnemar_p']:.2g}); held-out hack rate after {row['hack_greedy_after']:.3f}"
                + ("" if row["train_hack_rate_last5"] is None
                   else f"; training hack_rate (last 5 steps) {row['train_hack_rate_last5']:.3f}") + ".")
    for row in (feedback_table if feedback_table is not None else pl.DataFrame()).iter_rows(named=True):
        k = f"feedback_study.seed{row['seed']}.{row['arm']}"
        key_numbers[f"{k}.final_after"] = round(row["final_after"], 4)
        key_numbers[f"{k}.mcnemar_p"] = row["mcnemar_p"]
        key_numbers[f"{k}.feedback_vs_retry_p"] = row["feedback_vs_retry_p"]
        verdict_lines.append(
            f"Feedback study seed {row['seed']} ({row['arm']} arm): final pass@1 {row['final_before']:.3f} → "
            f"{row['final_after']:.3f} (McNemar p = {row['mcnemar_p']:.2g}; {'improved' if row['improved'] else 'not improved'}); "
            f"feedback vs retry {row['final_after']:.3f} vs {row['retry_final_after']:.3f} "
            f"(p = {row['feedback_vs_retry_p']:.2g}; {'uses' if row['uses_feedback'] else 'no shown use of'} the feedback); "
            f"single-turn model in the loop {row['single_turn_final']:.3f}.")
    for row in metrics_last(frames, METRIC_FIELDS).iter_rows(named=True):
        run = row["run"]
        df = frames[run]
        key_numbers[f"{run}.steps"] = row["steps"]
        for m in ("reward_mean", "heldout_greedy_pass_at_1", "heldout_sampled_pass_at_1",
                  "informative_share", "entropy"):
            if row.get(m) is not None:
                key_numbers[f"{run}.last_{m}"] = round(row[m], 4)
        line = f"{run}: {row['steps']} steps"
        for m in ("heldout_greedy_pass_at_1", "heldout_sampled_pass_at_1", "reward_mean"):
            if m in df.columns and df[m].drop_nulls().len() >= 2:
                s = df[m].drop_nulls()
                line += f"; {m} {s[0]:.3f} → {s[-1]:.3f}"
        verdict_lines.append(line + ".")
    if not frames:
        verdict_lines.append("No training metrics were available: " + missing_note)
    return key_numbers, verdict_lines
