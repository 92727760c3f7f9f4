"""Trace files: the record schema, the strict reader (:func:`read_traces`) and the trace viewer
(:func:`render_trace`, :func:`render_traces`: Markdown with every turn, diffs and the final grade)."""

from __future__ import annotations

import difflib
import html
import os
from collections.abc import Iterable
from typing import Any

from codeself.agent.feedback import _fence_for, truncate
from codeself.agent.report import _f, revision_outcome
from codeself.io import DataError, Problem, read_jsonl

TRACE_SCHEMA = "codeself.agent.trace/1"

REQUIRED_TRACE_FIELDS = ("task_id", "sample_id", "turns", "final")
REQUIRED_TURN_FIELDS = ("prompt", "completion", "code", "public_passed", "public_total", "feedback")


def read_traces(path: str | os.PathLike) -> list[tuple[int, dict[str, Any]]]:
    """``[(line, record)]`` of a trace file; a truncated last line (killed run) is ignored.

    Raises ``DataError`` naming file, line and field for a record missing a required field
    (``REQUIRED_TRACE_FIELDS``, and per turn ``REQUIRED_TURN_FIELDS``) or a duplicate
    (task_id, sample_id).
    """
    records, _ = read_jsonl(path, tolerate_truncated_tail=True)
    problems: list[Problem] = []
    seen: dict[tuple[str, int], int] = {}
    ok = []
    for line, rec in records:
        tid = rec.get("task_id") if isinstance(rec.get("task_id"), str) else None
        bad = False
        for k in REQUIRED_TRACE_FIELDS:
            if k not in rec:
                problems.append(Problem(str(path), line, k, "missing required trace field", tid))
                bad = True
        if bad:
            continue
        if not isinstance(rec["turns"], list) or not rec["turns"]:
            problems.append(Problem(str(path), line, "turns", "expected a non-empty list", tid))
            continue
        if not isinstance(rec["final"], dict) or "passed" not in rec["final"]:
            problems.append(Problem(str(path), line, "final", "expected a graded Result with 'passed'", tid))
            continue
        for i, t in enumerate(rec["turns"]):
            miss = [k for k in REQUIRED_TURN_FIELDS if not isinstance(t, dict) or k not in t]
            if miss:
                problems.append(Problem(str(path), line, f"turns[{i}].{miss[0]}", "missing required turn field", tid))
                bad = True
                break
        if bad:
            continue
        try:
            key = (rec["task_id"], int(rec["sample_id"]))
        except (TypeError, ValueError):
            problems.append(Problem(str(path), line, "sample_id", f"expected an integer, got {rec['sample_id']!r}", tid))
            continue
        if key in seen:
            problems.append(Problem(str(path), line, "sample_id",
                                    f"duplicate (task, sample) record (first at line {seen[key]})", tid))
            continue
        seen[key] = line
        ok.append((line, rec))
    if problems:
        raise DataError(problems)
    return ok


def load_traces(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a trace file (see ``read_traces``)."""
    return [rec for _, rec in read_traces(path)]


# ---------------------------------------------------------------------------------------------
# the trace viewer
# ---------------------------------------------------------------------------------------------



def _block(text: str, lang: str = "") -> str:
    f = _fence_for(text)
    return f"{f}{lang}\n{text.rstrip(chr(10))}\n{f}"


def _collapsible(summary: str, text: str, lang: str = "", *, open_below: int = 12) -> str:
    """A fenced block, wrapped in <details> when longer than ``open_below`` lines."""
    body = _block(text, lang)
    if text.count("\n") < open_below and len(text) <= 80 * open_below:
        return f"{summary}\n\n{body}"
    size = f"{text.count(chr(10)) + 1} lines, {len(text)} characters"
    return f"<details><summary>{html.escape(summary.replace('**', ''))} ({size})</summary>\n\n{body}\n\n</details>"


def render_trace(rec: dict[str, Any]) -> str:
    """One trace record as Markdown: a summary table, every turn (prompt and long outputs collapsed,
    the diff from the previous attempt), and the final grade with per-test outcomes."""
    final = rec["final"]
    fi = rec.get("final_turn", len(rec["turns"]) - 1)
    verdict = "PASSED" if final.get("passed") else f"FAILED ({final.get('status')})"
    out = [f"## `{rec['task_id']}` · sample {rec['sample_id']} — final: **{verdict}**", ""]
    first = rec.get("first") or {}
    out.append(f"First attempt graded: {'passed' if first.get('passed') else first.get('status', 'n/a')}; "
               f"submitted attempt: turn {fi} (policy `{rec.get('final_policy', '?')}`); "
               f"revisions used: {rec.get('revisions_used')}; stop: {rec.get('stop_reason')}.")
    out += ["", "| turn | parse | public | status | revision | generate s | sandbox s |", "|---|---|---|---|---|---|---|"]
    for i, t in enumerate(rec["turns"]):
        oc = revision_outcome(rec["turns"][i - 1], t) if i else "—"
        mark = " ⇐ submitted" if i == fi else ""
        tm = t.get("timings") or {}
        out.append(f"| {i}{mark} | {t.get('parse_status')} | {t.get('public_passed')}/{t.get('public_total')} | "
                   f"{t.get('public_status')} | {oc} | {_f(tm.get('generate_s'))} | {_f(tm.get('sandbox_s'))} |")
    for i, t in enumerate(rec["turns"]):
        out += ["", f"### Turn {i}" + (" (first attempt)" if i == 0 else f" (revision {i})"), ""]
        out.append(_collapsible_always("Prompt", t.get("prompt") or ""))
        out.append("")
        if t.get("generation_error"):
            out += [f"**Generation error:** `{t['generation_error']}`", ""]
        comp = t.get("completion")
        out.append(_collapsible("**Completion**", comp if comp is not None else "(none)", "text"))
        out.append("")
        status = t.get("parse_status")
        if t.get("code") is None:
            out.append(f"**Parsed code:** none — `{status}`" + (f": {t.get('parse_reason')}" if t.get("parse_reason") else ""))
        else:
            # diff against the latest earlier attempt that had code
            j = next((k for k in range(i - 1, -1, -1) if rec["turns"][k].get("code") is not None), None)
            prev = rec["turns"][j]["code"] if j is not None else None
            label = f"**Parsed code** (`{status}`" + (f": {t.get('parse_reason')}" if t.get("parse_reason") else "") + ")"
            if prev is not None:
                diff = "".join(difflib.unified_diff(prev.splitlines(True), t["code"].splitlines(True),
                                                    fromfile=f"turn {j}", tofile=f"turn {i}"))
                out.append(f"**Diff from turn {j}:**\n\n" + (_block(diff, "diff") if diff else "_identical code_"))
                out.append("")
                out.append(_collapsible_always(label.replace("**", ""), t["code"], "python"))
            else:
                out.append(_collapsible(label, t["code"], "python"))
        out.append("")
        out.append(f"**Public tests:** {t.get('public_passed')}/{t.get('public_total')} passed, status `{t.get('public_status')}`")
        for o in t.get("public_tests") or []:
            if not o.get("passed"):
                msg = (o.get("error_type") or o.get("status") or "") + (f": {o['error_message']}" if o.get("error_message") else "")
                out.append(f"- public test {o.get('index')} failed — {truncate(msg, 300)}")
        if t.get("stdout"):
            out += ["", _collapsible("stdout", t["stdout"], "text")]
        if t.get("feedback"):
            why = ("retry arm" if (rec.get("config") or {}).get("revision_prompt") == "retry" and i < len(rec["turns"]) - 1
                   else "no revisions left")
            out += ["", _collapsible("**Feedback**" + (" sent to the model" if t.get("feedback_sent") else f" (not sent: {why})"),
                                     t["feedback"], "text")]
    out += ["", "### Final grade (public + hidden tests; never shown to the model)", "",
            f"- status `{final.get('status')}`, public {final.get('public_passed')}/{final.get('public_total')}, "
            f"hidden {final.get('hidden_passed')}/{final.get('hidden_total')}, {_f(final.get('duration_s'))} s"]
    if final.get("error"):
        out.append(f"- error: {truncate(final['error'], 300)}")
    for o in final.get("tests") or []:
        if not o.get("passed"):
            msg = (o.get("error_type") or o.get("status") or "") + (f": {o['error_message']}" if o.get("error_message") else "")
            out.append(f"- {o.get('kind')} test {o.get('index')} failed — {truncate(msg, 300)}")
    return "\n".join(out) + "\n"


def _collapsible_always(summary: str, text: str, lang: str = "") -> str:
    return f"<details><summary>{html.escape(summary)} ({len(text)} characters)</summary>\n\n{_block(text, lang)}\n\n</details>"


def render_traces(records: Iterable[dict[str, Any]], *, task_id: str | None = None, source: str | None = None) -> str:
    """All records (or those of ``task_id``) as one Markdown document. ``ValueError`` if none match."""
    recs = [r for r in records if task_id is None or r["task_id"] == task_id]
    if not recs:
        raise ValueError(f"no trace for task {task_id!r}" if task_id else "no traces")
    head = ["# Self-debug traces", ""]
    if source:
        head += [f"From `{source}`; {len(recs)} loop(s).", ""]
    if len(recs) > 1:
        head += ["| task | sample | final | revisions used |", "|---|---|---|---|"]
        for r in recs:
            head.append(f"| `{r['task_id']}` | {r['sample_id']} | {'pass' if r['final'].get('passed') else r['final'].get('status')} "
                        f"| {r.get('revisions_used')} |")
        head.append("")
    return "\n".join(head) + "\n" + "\n".join(render_trace(r) for r in recs)


def hidden_leaks(task: Any, rec: dict[str, Any]) -> list[str]:
    """Hidden-test text, calls and expected values found in any prompt or feedback of a trace record.

    For every hidden test of ``task``: its whole text, and for an assert its call (``f(3, 4)``) and —
    when at least 3 characters long and not already in the task prompt, the public tests or the
    model's own completions — its expected value. Returns one line per hit (empty: no leak). Used by
    the tests of the agent and of training with feedback (every training-time prompt is scanned).
    """
    from codeself.tasks import split_assert, test_text

    allowed = (task.prompt + "\n".join(test_text(t, task.entry_point or "f") or "" for t in task.public_tests)
               + "".join(t.get("completion") or "" for t in rec["turns"]))
    leaks = []
    for h in task.hidden_tests:
        text = test_text(h, task.entry_point or "f") or ""
        needles = [text] if text else []
        parts = split_assert(text) if isinstance(h, str) else None
        if parts:
            call, _, expected = parts
            needles.append(call)
            if len(expected) >= 3 and expected not in allowed:
                needles.append(expected)
        for t in rec["turns"]:
            for n in needles:
                if n in (t.get("prompt") or "") or (t.get("feedback") and n in t["feedback"]):
                    leaks.append(f"{rec['task_id']} turn {t.get('turn')}: {n!r}")
    return leaks
