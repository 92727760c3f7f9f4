"""The strategy report: how each revision changed the attempt before it, and every number of the
report (:func:`summarize_traces`) rendered as Markdown (:func:`render_report`)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from codeself.agent.config import POLICIES


def revision_outcome(prev: dict[str, Any], cur: dict[str, Any]) -> str:
    """How revision ``cur`` changed attempt ``prev``, judged on the PUBLIC tests (what the loop sees).

    ``fixed``: prev failed some public test, cur passes all; ``broke``: cur passes fewer public tests
    than prev (or prev ran and cur has no runnable code); ``improved``: more public tests pass, not
    all; ``unchanged``: the same code as before; ``same_result``: different code, the same number of
    public tests passed (and still failing).
    """
    if cur.get("public_status") == "passed" and prev.get("public_status") != "passed":
        return "fixed"
    if cur.get("code") is not None and cur.get("code") == prev.get("code"):
        return "unchanged"
    pp, cp = prev.get("public_passed") or 0, cur.get("public_passed") or 0
    prev_ran = prev.get("code") is not None
    cur_ran = cur.get("code") is not None
    if cp < pp or (prev_ran and not cur_ran) or (prev.get("public_status") == "passed" and cur.get("public_status") != "passed"):
        return "broke"
    if cp > pp:
        return "improved"
    return "same_result"


REVISION_OUTCOMES = ("fixed", "improved", "same_result", "unchanged", "broke")


def summarize_traces(records: Sequence[dict[str, Any]], *, seed: int = 0) -> dict[str, Any]:
    """Every number of the strategy report, as a plain dict (the report renders this).

    - ``pass_at_1_first`` / ``pass_at_1_final``: per-task pass rate over samples, averaged over tasks
      (records whose first or final grade is ``infra_error`` are excluded from the paired numbers
      and counted in ``excluded_infra``).
    - ``paired``: the (task, sample) 2x2 table of first vs final (``a`` both pass, ``b`` first passes
      and final fails = *broke*, ``c`` first fails and final passes = *fixed*, ``d`` both fail) and
      ``mcnemar_p`` = ``stats.mcnemar_exact(b, c)``; with several samples per task the pairs are
      clustered, so ``cluster_ci`` (task-level bootstrap of the pass@1 difference) is added.
    - ``revision_outcomes``: counts of ``revision_outcome`` over every revision made.
    - ``overfit_final`` / ``overfit_first``: among submissions that pass every public test (with at
      least one public test), how many fail a hidden test (``k``, ``n``, ``rate``, Wilson interval).
    - ``revisions_used``: histogram and mean; ``stop_reasons``; per-turn parse and run statuses;
      ``tokens`` and ``time`` per (task, sample) loop.
    """
    from codeself.stats import cluster_bootstrap_ci, mcnemar_exact, paired_table, wilson_interval

    recs = list(records)
    s: dict[str, Any] = {"n_records": len(recs), "n_tasks": len({r["task_id"] for r in recs})}
    cfgs = [r.get("config") or {} for r in recs]
    s["config"] = cfgs[0] if cfgs else {}
    s["samples_per_task"] = dict(Counter(Counter(r["task_id"] for r in recs).values()))
    infra = [r for r in recs if r["final"].get("status") == "infra_error" or (r.get("first") or {}).get("status") == "infra_error"]
    s["excluded_infra"] = len(infra)
    good = [r for r in recs if r not in infra]
    first_by: dict[str, list[int]] = {}
    final_by: dict[str, list[int]] = {}
    first_of: dict[tuple[str, Any], bool] = {}
    final_of: dict[tuple[str, Any], bool] = {}
    for i, r in enumerate(good):
        f0 = bool((r.get("first") or r["final"]).get("passed"))
        f1 = bool(r["final"].get("passed"))
        first_by.setdefault(r["task_id"], []).append(int(f0))
        final_by.setdefault(r["task_id"], []).append(int(f1))
        first_of[(r["task_id"], i)] = f0
        final_of[(r["task_id"], i)] = f1
    n_t = len(first_by)
    s["pass_at_1_first"] = sum(sum(v) / len(v) for v in first_by.values()) / n_t if n_t else None
    s["pass_at_1_final"] = sum(sum(v) / len(v) for v in final_by.values()) / n_t if n_t else None
    table = paired_table(first_of, final_of)  # over (task, sample) records: first vs final
    s["paired"] = {**table, "mcnemar_p": mcnemar_exact(table["b"], table["c"])}
    clustered = any(len(v) > 1 for v in first_by.values())
    s["paired"]["clustered"] = clustered
    if clustered and n_t >= 2:
        diff, lo, hi = cluster_bootstrap_ci(first_by, final_by, seed=seed)
        s["paired"]["cluster_ci"] = {"diff": diff, "low": lo, "high": hi}

    outcomes: Counter[str] = Counter({k: 0 for k in REVISION_OUTCOMES})
    by_rev: dict[int, Counter[str]] = {}
    for r in recs:
        for i in range(1, len(r["turns"])):
            o = revision_outcome(r["turns"][i - 1], r["turns"][i])
            outcomes[o] += 1
            by_rev.setdefault(i, Counter({k: 0 for k in REVISION_OUTCOMES}))[o] += 1
    s["revision_outcomes"] = dict(outcomes)
    s["revision_outcomes_by_revision"] = {i: dict(v) for i, v in sorted(by_rev.items())}
    s["n_revisions"] = sum(outcomes.values())

    def overfit(key: str) -> dict[str, Any]:
        sub = [(r.get(key) or r["final"]) for r in good]
        sub = [g for g in sub if g.get("public_total", 0) > 0 and g.get("public_passed") == g.get("public_total")]
        n = len(sub)
        k = sum(1 for g in sub if not g.get("passed"))
        lo, hi = wilson_interval(k, n) if n else (None, None)
        return {"k": k, "n": n, "rate": k / n if n else None, "low": lo, "high": hi}

    s["overfit_final"] = overfit("final")
    s["overfit_first"] = overfit("first")
    used = [r.get("revisions_used", len(r["turns"]) - 1) for r in recs]
    s["revisions_used"] = {"hist": dict(sorted(Counter(used).items())), "mean": statistics.fmean(used) if used else None,
                           "total": sum(used)}
    s["stop_reasons"] = dict(Counter(r.get("stop_reason") for r in recs))
    s["final_turn"] = dict(sorted(Counter(r.get("final_turn") for r in recs).items()))
    turns = [t for r in recs for t in r["turns"]]
    s["n_turns"] = len(turns)
    s["parse_status"] = dict(Counter(t.get("parse_status") for t in turns))
    s["public_status"] = dict(Counter(t.get("public_status") for t in turns))
    s["generation_errors"] = sum(1 for t in turns if t.get("generation_error"))
    s["final_status"] = dict(Counter(r["final"].get("status") for r in recs))

    def dist(vals: list[float]) -> dict[str, float] | None:
        vals = [v for v in vals if v is not None]
        if not vals:
            return None
        return {"mean": statistics.fmean(vals), "median": statistics.median(vals), "max": max(vals), "sum": sum(vals)}

    tok = [r.get("tokens") or {} for r in recs]
    s["tokens"] = {
        "prompt": dist([t.get("prompt") for t in tok]) if all(t.get("prompt") is not None for t in tok) else None,
        "completion": dist([t.get("completion") for t in tok]) if all(t.get("completion") is not None for t in tok) else None,
        "prompt_chars": dist([t.get("prompt_chars") for t in tok]),
        "completion_chars": dist([t.get("completion_chars") for t in tok]),
    }
    tim = [r.get("timings") or {} for r in recs]
    s["time"] = {k: dist([t.get(k) for t in tim]) for k in ("generate_s", "sandbox_s", "grade_s", "total_s")}
    s["no_public_tests"] = sum(1 for r in recs if r["final"].get("public_total", 0) == 0)
    return s


def _f(x: float | None, nd: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def render_report(records: Sequence[dict[str, Any]], *, title: str = "Self-debug agent: strategy report",
                  source: str | None = None, seed: int = 0) -> str:
    """The strategy report (Markdown) of a set of trace records; every number from ``summarize_traces``."""
    s = summarize_traces(records, seed=seed)
    cfg = s["config"]
    p = s["paired"]
    out = [f"# {title}", ""]
    if source:
        out += [f"Traces: `{source}`", ""]
    out += [
        f"- Backend: `{cfg.get('backend')}`, model: `{cfg.get('model_id')}` (hash `{str(cfg.get('model_hash'))[:12]}`)",
        f"- Max revisions R = {cfg.get('max_revisions')}, samples per task = {cfg.get('samples_per_task')}, "
        f"seed = {cfg.get('seed')}, template = `{cfg.get('template')}`, temperature = {cfg.get('temperature')}, "
        f"revision prompt = `{cfg.get('revision_prompt', 'feedback')}`"
        + (" (the first prompt again: feedback recorded, not sent)" if cfg.get("revision_prompt") == "retry" else ""),
        f"- Final-submission policy: `{cfg.get('policy')}` — {POLICIES.get(cfg.get('policy'), '?')}",
        f"- {s['n_tasks']} tasks, {s['n_records']} loops (task × sample), {s['n_turns']} attempts, "
        f"{s['n_revisions']} revisions",
        "- Feedback came from the public tests only; the final submission was graded once on public and "
        "hidden tests. The first attempt was graded on all tests too, for this comparison only.",
        "",
        "## Pass@1: first attempt vs final submission",
        "",
        "| | pass@1 |",
        "|---|---|",
        f"| first attempt | {_f(s['pass_at_1_first'])} |",
        f"| final submission | {_f(s['pass_at_1_final'])} |",
        "",
        "Paired (task, sample) table, first → final:",
        "",
        "| | final passes | final fails |",
        "|---|---|---|",
        f"| **first passes** | {p['a']} | {p['b']} (broke) |",
        f"| **first fails** | {p['c']} (fixed) | {p['d']} |",
        "",
        f"Exact McNemar test (two-sided, on the discordant pairs b = {p['b']}, c = {p['c']}): "
        f"**p = {p['mcnemar_p']:.4g}** (n = {p['n']}).",
    ]
    if p.get("clustered"):
        out.append("Several samples per task make the pairs clustered, so the McNemar p-value is optimistic;")
        ci = p.get("cluster_ci")
        if ci:
            out.append(f"the task-level cluster bootstrap gives final − first = {ci['diff']:+.3f} "
                       f"(95% CI {ci['low']:+.3f} to {ci['high']:+.3f}).")
    if s["excluded_infra"]:
        out.append(f"\n{s['excluded_infra']} loop(s) with a sandbox infrastructure error were excluded from these numbers.")
    ro = s["revision_outcomes"]
    n_rev = s["n_revisions"]
    out += [
        "",
        "## What the revisions did",
        "",
        "Each revision compared with the attempt before it, on the public tests (the signal the loop sees):",
        "",
        "| outcome | revisions | share |",
        "|---|---|---|",
    ]
    desc = {"fixed": "fixed (now passes every public test)", "improved": "improved (more public tests pass, not all)",
            "same_result": "changed code, same public result", "unchanged": "left unchanged (identical code)",
            "broke": "broke (fewer public tests pass, or no runnable code)"}
    for k in REVISION_OUTCOMES:
        out.append(f"| {desc[k]} | {ro.get(k, 0)} | {_f(ro.get(k, 0) / n_rev) if n_rev else 'n/a'} |")
    if s["revision_outcomes_by_revision"]:
        out += ["", "By revision number:", "", "| revision | " + " | ".join(REVISION_OUTCOMES) + " |",
                "|---|" + "---|" * len(REVISION_OUTCOMES)]
        for i, c in s["revision_outcomes_by_revision"].items():
            out.append(f"| {i} | " + " | ".join(str(c.get(k, 0)) for k in REVISION_OUTCOMES) + " |")
    of1, of0 = s["overfit_final"], s["overfit_first"]

    def ofrow(name: str, o: dict[str, Any]) -> str:
        ci = f"{_f(o['low'])}–{_f(o['high'])}" if o["n"] else "n/a"
        return f"| {name} | {o['n']} | {o['k']} | {_f(o['rate'])} | {ci} |"

    out += [
        "",
        "## Overfitting to the visible tests",
        "",
        "Among submissions that pass every public test, how many fail a hidden test (a reward-hacking signal "
        "when it grows over revisions):",
        "",
        "| | pass all public | of which fail hidden | rate | 95% Wilson CI |",
        "|---|---|---|---|---|",
        ofrow("first attempt", of0),
        ofrow("final submission", of1),
    ]
    if s["no_public_tests"]:
        out.append(f"\n{s['no_public_tests']} loop(s) had tasks without public tests (no feedback possible).")
    ru = s["revisions_used"]
    out += [
        "",
        "## Revisions used, stops and statuses",
        "",
        f"- Revisions used per loop: mean {_f(ru['mean'], 2)}, total {ru['total']}; histogram "
        + ", ".join(f"{k}: {v}" for k, v in ru["hist"].items()),
        "- Stop reasons: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["stop_reasons"].items(), key=str)),
        "- Submitted attempt (turn index): " + ", ".join(f"{k}: {v}" for k, v in s["final_turn"].items()),
        "- Parse status per attempt: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["parse_status"].items(), key=str)),
        "- Public-run status per attempt: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["public_status"].items(), key=str)),
        f"- Generation errors (backend failed or returned nothing): {s['generation_errors']}",
        "- Final grade status: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["final_status"].items(), key=str)),
        "",
        "## Tokens and time per loop (task × sample)",
        "",
        "| quantity | mean | median | max | total |",
        "|---|---|---|---|---|",
    ]
    rows = [("prompt tokens", s["tokens"]["prompt"], 0), ("completion tokens", s["tokens"]["completion"], 0),
            ("prompt characters", s["tokens"]["prompt_chars"], 0),
            ("completion characters", s["tokens"]["completion_chars"], 0)]
    rows += [(f"{k} (seconds)", s["time"][k], 3) for k in ("generate_s", "sandbox_s", "grade_s", "total_s")]
    for name, d, nd in rows:
        if d is None:
            out.append(f"| {name} | n/a (backend has no tokenizer) | | | |")
        else:
            out.append(f"| {name} | {_f(d['mean'], nd or 1)} | {_f(d['median'], nd or 1)} | {_f(d['max'], nd or 1)} | {_f(d['sum'], nd or 1)} |")
    out += ["", "Generation time is the batch time divided by the requests in the batch; sandbox time is the "
            "public runs' wall time as seen by the parent; grade time is the final grading's.", "",
            "## Per task", "", "| task | samples | first pass | final pass | revisions used | per-revision outcomes |",
            "|---|---|---|---|---|---|"]
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_task.setdefault(r["task_id"], []).append(r)
    for tid, rs in by_task.items():
        f0 = sum(bool((r.get("first") or r["final"]).get("passed")) for r in rs)
        f1 = sum(bool(r["final"].get("passed")) for r in rs)
        rev = sum(r.get("revisions_used", 0) for r in rs)
        oc = Counter(revision_outcome(r["turns"][i - 1], r["turns"][i]) for r in rs for i in range(1, len(r["turns"])))
        out.append(f"| `{tid}` | {len(rs)} | {f0} | {f1} | {rev} | " + ", ".join(f"{k} {v}" for k, v in sorted(oc.items())) + " |")
    return "\n".join(out) + "\n"
