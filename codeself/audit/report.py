"""The audit's summary and Markdown report, the ``audit.jsonl`` readers, and the ``--exclude-tasks`` helpers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from codeself.io import DataError, Problem, read_jsonl
from codeself.tasks import Task


def _interval(k: int, n: int) -> tuple[float, float]:
    try:
        from codeself.stats import wilson_interval
    except ImportError:  # pragma: no cover - stats ships with the package
        from scipy.stats import binomtest

        ci = binomtest(k, n).proportion_ci(0.95, method="wilson") if n else None
        return (ci.low, ci.high) if ci else (0.0, 1.0)
    return wilson_interval(k, n, 0.95)


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Headline numbers of an audit: counts, shares and 95% Wilson intervals."""
    audited = [r for r in records if r.get("status") == "audited"]
    n = len(audited)
    weak = [r for r in audited if r.get("weak")]
    public_weak = [r for r in audited if r.get("public_weak")]
    public_only = [r for r in audited if r.get("public_weak") and not r.get("weak")]
    no_public = [r for r in audited if r.get("public_tests", 0) == 0]
    out: dict[str, Any] = {
        "n_tasks": len(records), "n_audited": n, "n_skipped": len(records) - n,
        "n_weak": len(weak), "n_public_weak": len(public_weak), "n_public_only_weak": len(public_only),
        "n_no_public_tests": len(no_public),
        "n_public_weak_with_public_tests": len([r for r in public_weak if r.get("public_tests", 0) > 0]),
        "mutants_made": sum(r.get("mutants_made", 0) for r in audited),
        "confirmed_wrong": sum(r.get("confirmed_wrong", 0) for r in audited),
        "accepted_by_all": sum(r.get("accepted_by_all", 0) for r in audited),
        "weak_task_ids": [r["task_id"] for r in weak],
    }
    for name, k in (("weak", len(weak)), ("public_weak", len(public_weak)), ("public_only_weak", len(public_only))):
        out[f"{name}_share"] = k / n if n else None
        out[f"{name}_ci95"] = list(_interval(k, n)) if n else None
    return out


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def render_report(records: Sequence[dict[str, Any]], *, source: str | None = None) -> str:
    """The audit report as Markdown; a pure function of the records (so deterministic for a seed)."""
    s = summarize(records)
    seeds = sorted({r.get("seed") for r in records if r.get("seed") is not None})
    budgets = sorted({r.get("mutant_budget") for r in records if r.get("mutant_budget") is not None})
    lines = ["# Test-strength audit", ""]
    if source:
        lines.append(f"Tasks: `{source}`  ")
    lines += [
        f"Seed: {', '.join(map(str, seeds)) or 'n/a'}; mutants per task: {', '.join(map(str, budgets)) or 'n/a'}; "
        f"audited {s['n_audited']} of {s['n_tasks']} tasks ({s['n_skipped']} skipped).",
        "",
        "A mutant is *confirmed wrong* when its output differs from the reference's on at least one "
        "input drawn from the domain of the task's own tests (both run in the sandbox; stdin outputs "
        "compared by the task's judge). A task is *weak* when some confirmed-wrong mutant passes all "
        "its tests (public + hidden).",
        "",
        "| measure | tasks | share | 95% Wilson interval |",
        "|---|---:|---:|---|",
    ]
    for label, key in (("weak (all tests accept a wrong mutant)", "weak"),
                       ("public tests weak (what a model sees)", "public_weak"),
                       ("only the public tests weak (hidden tests catch it)", "public_only_weak")):
        ci = s[f"{key}_ci95"]
        ci_text = f"{_pct(ci[0])} – {_pct(ci[1])}" if ci else "n/a"
        lines.append(f"| {label} | {s['n_' + key]} / {s['n_audited']} | {_pct(s[key + '_share'])} | {ci_text} |")
    lines += [
        "",
        f"Mutants made: {s['mutants_made']}; confirmed wrong: {s['confirmed_wrong']}; "
        f"accepted by all tests: {s['accepted_by_all']}. Tasks without public tests (their public "
        f"tests accept anything, so they count as public-weak): {s['n_no_public_tests']}; public tests "
        f"weak among the {s['n_audited'] - s['n_no_public_tests']} tasks that have some: "
        f"{s['n_public_weak_with_public_tests']}.",
        "",
        "## Weak tasks",
        "",
    ]
    weak = [r for r in records if r.get("status") == "audited" and r.get("weak")]
    if not weak:
        lines.append("None of the audited tasks accepted a confirmed-wrong mutant.")
    else:
        lines += ["| task | confirmed wrong | accepted by public | accepted by all | example mutation | "
                  "exposing input | reference → mutant |", "|---|---:|---:|---:|---|---|---|"]
        for r in weak:
            ex = r.get("example") or {}
            lines.append(
                f"| {_md(r['task_id'])} | {r['confirmed_wrong']} | {r['accepted_by_public']} | "
                f"{r['accepted_by_all']} | {_md(ex.get('operator', ''))}: {_md(ex.get('description', ''))} | "
                f"`{_md(ex.get('exposing_input', ''))}` | `{_md(ex.get('reference_output', ''))}` → "
                f"`{_md(ex.get('mutant_output', ''))}` |")
    ops: dict[str, list[int]] = {}
    for r in records:
        if r.get("status") == "audited":
            for name, c in (r.get("operators") or {}).items():
                row = ops.setdefault(name, [0, 0, 0])
                row[0] += c.get("made", 0)
                row[1] += c.get("confirmed", 0)
                row[2] += c.get("accepted_by_all", 0)
    if ops:
        lines += ["", "## Mutation operators", "", "| operator | made | confirmed wrong | accepted by all tests |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {name} | {m} | {c} | {a} |" for name, (m, c, a) in sorted(ops.items())]
    skipped = [r for r in records if r.get("status") != "audited"]
    if skipped:
        lines += ["", "## Skipped tasks", "", "| task | reason |", "|---|---|"]
        lines += [f"| {_md(r['task_id'])} | {_md(r.get('reason'))} |" for r in skipped]
    return "\n".join(lines) + "\n"


def load_audit(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read an audit.jsonl, checking the fields the other commands rely on (located errors)."""
    records, _ = read_jsonl(path)
    problems: list[Problem] = []
    out: list[dict[str, Any]] = []
    for line, obj in records:
        tid = obj.get("task_id")
        if not isinstance(tid, str) or not tid:
            problems.append(Problem(str(path), line, "task_id", "missing or not a string (is this an audit.jsonl?)"))
            continue
        if "weak" not in obj:
            problems.append(Problem(str(path), line, "weak", "missing (is this an audit.jsonl?)", tid))
            continue
        if obj["weak"] is not None and not isinstance(obj["weak"], bool):
            problems.append(Problem(str(path), line, "weak", f"expected true/false/null, got {obj['weak']!r}", tid))
            continue
        out.append(obj)
    if problems:
        raise DataError(problems)
    return out


def load_weak_task_ids(audit_path: str | os.PathLike) -> set[str]:
    """Ids of the tasks an audit flagged weak (skipped tasks are not weak: nothing was measured)."""
    return {r["task_id"] for r in load_audit(audit_path) if r["weak"] is True}


def exclude_weak(tasks: Iterable[Task], audit_path: str | os.PathLike) -> tuple[list[Task], int]:
    """``(kept, n_dropped)``: ``tasks`` without the ones ``audit_path`` flags weak, order kept."""
    weak = load_weak_task_ids(audit_path)
    tasks = list(tasks)
    kept = [t for t in tasks if t.task_id not in weak]
    return kept, len(tasks) - len(kept)


def read_audit(path: str | os.PathLike) -> Any:
    """audit.jsonl (from ``codeself tasks audit``) as a flat polars frame, one row per task."""
    import polars as pl

    records, _ = read_jsonl(path)
    rows = []
    for line, r in records:
        if "task_id" not in r:
            raise DataError(Problem(str(path), line, "task_id", "missing required field"))
        rows.append({
            "task_id": r["task_id"], "status": r.get("status"), "reason": r.get("reason"),
            "mutants_made": r.get("mutants_made"), "confirmed_wrong": r.get("confirmed_wrong"),
            "accepted_by_public": r.get("accepted_by_public"), "accepted_by_all": r.get("accepted_by_all"),
            "weak": r.get("weak"), "public_weak": r.get("public_weak"),
        })
    return pl.DataFrame(rows, infer_schema_length=None)
