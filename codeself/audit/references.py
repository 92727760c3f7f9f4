"""References for tasks that ship without one: the first program of a solutions file that passes
all of its task's tests.

Competitive-programming datasets often carry no reference solution (LiveCodeBench) or one per
problem that may not be Python. ``codeself tasks audit --references S.jsonl`` reads a solutions file
(:mod:`codeself.solutions`: ``{task_id, code, sample_id}``; a rollout file is one), grades every
program of a task that has no ``canonical_solution`` in the sandbox, and uses the first one in file
order that passes every public and hidden test as that task's reference. Guaranteed: the choice
depends only on the file's order and the sandbox's verdicts; a program that fails, hangs, floods or
crashes is simply not chosen (it costs only its own verdict). Not guaranteed: that the chosen
program is a *good* reference — it is only known to pass the task's tests, which is exactly what the
audit then questions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from codeself.solutions import read_solutions
from codeself.tasks import Task


def pick_references(tasks: Sequence[Task], solutions: str | os.PathLike, *, workers: int | None = None,
                    progress: bool = False, timeout: float | None = None) -> dict[str, Any]:
    """``{"references": {task_id: code}, "sample_ids": {task_id: sample_id}, "candidates": n,
    "other_tasks": m}``.

    Only tasks without a ``canonical_solution`` get one; programs of tasks not in ``tasks`` are
    ignored (counted in ``other_tasks``: one solutions file can serve several task files). Raises
    ``DataError`` (file, line, field) for a bad solutions file."""
    from codeself import sandbox

    by_id = {t.task_id: t for t in tasks}
    sols = read_solutions(solutions)
    need = {t.task_id for t in tasks if not (t.canonical_solution or "").strip()}
    cands = [s for s in sols.programs if s["task_id"] in need and (s["code"] or "").strip()]
    kw: dict[str, Any] = {"workers": workers, "progress": progress}
    if timeout is not None:
        kw["timeout"] = timeout
    results = sandbox.run_many([(by_id[s["task_id"]], s["code"], s["sample_id"]) for s in cands],
                               tests="all", **kw) if cands else []
    refs: dict[str, str] = {}
    sample_ids: dict[str, Any] = {}
    for s, r in zip(cands, results, strict=True):
        if r.passed and s["task_id"] not in refs:
            refs[s["task_id"]] = s["code"]
            sample_ids[s["task_id"]] = s["sample_id"]
    other = sum(s["task_id"] not in by_id for s in sols.programs)
    return {"references": refs, "sample_ids": sample_ids, "candidates": len(cands), "other_tasks": other}
