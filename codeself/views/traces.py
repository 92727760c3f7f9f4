"""Notebook 06 (agent traces): one trace normalised turn by turn with diffs, a per-trace frame, and
the report numbers (:func:`summary`) from ``codeself.agent.summarize_traces``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl


def code_diff(old: str | None, new: str | None, *, context: int = 2) -> str:
    """Unified diff between two attempts (empty string for the first attempt or no change)."""
    import difflib

    if old is None or new is None or old == new:
        return ""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        "previous", "this turn", n=context))


def normalize_trace(trace: Mapping[str, Any]) -> dict[str, Any]:
    """One agent trace as ``{task_id, final_status, passed, turns: [{code, status, public/hidden
    counts, feedback, diff}]}``; ``diff`` is against the previous turn's code.

    Accepts turns under ``turns`` (or ``attempts``); each turn's verdict under ``result`` (a Result
    dict) or flat ``status``/``passed`` fields.
    """
    turns_in = trace.get("turns", trace.get("attempts")) or []
    turns = []
    prev = None
    for k, u in enumerate(turns_in):
        res = u.get("result") or {}
        code = u.get("code") or ""
        turns.append({
            "turn": u.get("turn", k), "code": code,
            "status": res.get("status", u.get("status", "unknown")),
            "passed": bool(res.get("passed", u.get("passed", False))),
            "public_passed": res.get("public_passed", u.get("public_passed", 0)),
            "public_total": res.get("public_total", u.get("public_total", 0)),
            "hidden_passed": res.get("hidden_passed", u.get("hidden_passed", 0)),
            "hidden_total": res.get("hidden_total", u.get("hidden_total", 0)),
            "feedback": u.get("feedback") or "", "diff": code_diff(prev, code) if k else "",
            "prompt": u.get("prompt") or "", "parse_status": u.get("parse_status") or "",
        })
        prev = code
    final = trace.get("final_status") or (turns[-1]["status"] if turns else "unknown")
    fin = trace.get("final") or {}
    return {"task_id": str(trace.get("task_id", "?")), "sample_id": trace.get("sample_id"),
            "final_status": final, "final_turn": trace.get("final_turn", len(turns) - 1),
            "stop_reason": trace.get("stop_reason") or "",
            "final_hidden": f"{fin.get('hidden_passed', 0)}/{fin.get('hidden_total', 0)}" if fin else "",
            "passed": bool(trace.get("passed", turns[-1]["passed"] if turns else False)), "turns": turns}


def traces_frame(traces: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Per trace: task, turns used, final status, whether it passed, turn of the first pass."""
    rows = []
    for t in traces:
        n = normalize_trace(t)
        first = next((u["turn"] for u in n["turns"] if u["passed"]), None)
        rows.append({"task_id": n["task_id"], "turns": len(n["turns"]), "final_status": n["final_status"],
                     "passed": n["passed"], "first_pass_turn": first})
    return pl.DataFrame(rows, schema={"task_id": pl.String, "turns": pl.Int64, "final_status": pl.String,
                                      "passed": pl.Boolean, "first_pass_turn": pl.Int64})


def summary(agent_summary: Mapping[str, Any] | None, tf: pl.DataFrame) -> tuple[dict[str, Any], list[str]]:
    """Notebook 06's ``key_numbers`` and ``verdict_lines``: first vs final pass@1 with the paired
    counts (``agent_summary`` is ``codeself.agent.summarize_traces``; None when there are no traces)
    and the mean turns used (``tf`` is :func:`traces_frame`)."""
    if agent_summary is None:
        return {"traces": 0}, ["No traces were available."]
    s, p = agent_summary, agent_summary["paired"]
    key_numbers = {
        "traces": s["n_records"], "tasks": s["n_tasks"],
        "pass_at_1_first": round(s["pass_at_1_first"], 4),
        "pass_at_1_final": round(s["pass_at_1_final"], 4),
        "fixed": p["c"], "broke": p["b"], "mcnemar_p": p["mcnemar_p"],
        "mean_turns": round(float(tf["turns"].mean()), 3),
        "excluded_infra": s["excluded_infra"],
    }
    verdict_lines = [
        f"Self-debugging moved pass@1 from {s['pass_at_1_first']:.3f} to {s['pass_at_1_final']:.3f} "
        f"over {s['n_tasks']} tasks ({p['c']} fixed, {p['b']} broken; exact McNemar p = {p['mcnemar_p']:.3g}).",
        f"Traces used {tf['turns'].mean():.2f} turns on average.",
    ]
    return key_numbers, verdict_lines
