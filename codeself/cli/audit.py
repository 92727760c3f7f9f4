"""`codeself tasks audit` — owned by the audit stage (codeself/audit/)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from codeself.cli._common import (
    INPUT_FILE,
    OUTPUT_FILE,
    WORKERS_HELP,
    CommandError,
    check_output_paths,
    console,
    out,
)


def audit(
    tasks: Annotated[Path, typer.Option("--tasks", help="Task file (JSONL, canonical format) to audit.", **INPUT_FILE)],
    output: Annotated[Path, typer.Option(
        "--output", help="Where to write one audit record per task (JSONL; its folder is created).", **OUTPUT_FILE)],
    report: Annotated[Path | None, typer.Option("--report", help="Also write a Markdown report here.",
                                                **OUTPUT_FILE)] = None,
    mutants: Annotated[int, typer.Option("--mutants", min=1, help="Mutants per task (N ≥ 1).")] = 24,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed for mutant selection and fresh inputs.")] = 0,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help=WORKERS_HELP)] = None,
    fresh: Annotated[int, typer.Option("--fresh-inputs", min=1, help="Fresh inputs drawn per task (≥ 1).")] = 40,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
    references: Annotated[Path | None, typer.Option(
        "--references", help="Solutions file ({task_id, code, sample_id}; a rollout file is one): a task "
        "without a canonical_solution uses its first program here that passes all its tests as the "
        "reference.", **INPUT_FILE)] = None,
) -> None:
    """Test-strength audit: find the tasks whose tests accept confirmed-wrong mutants of the reference.

    For each task with a canonical_solution, makes up to N small AST mutants, keeps those whose
    output differs from the reference on an input drawn from the domain of the task's own tests
    (both run in the sandbox), and runs the task's public and hidden tests against them. A task
    is weak when some confirmed-wrong mutant passes all its tests. Tasks without a reference are
    listed as skipped. Deterministic for a seed.

    Stdin tasks (the reference is a script) and call tasks (a function or class Solution) are
    audited too: inputs come from the tests' own inputs, outputs are compared with the task's judge.
    """
    from codeself.audit import audit_tasks, render_report, summarize
    from codeself.io import DataError, Problem, atomic_write_text, write_jsonl_atomic
    from codeself.tasks import load_tasks

    check_output_paths((output, "--output"), (report, "--report"),
                       inputs=[tasks, *([references] if references else [])])
    task_list = load_tasks(tasks)
    seen: set[str] = set()
    dups = sorted({t.task_id for t in task_list if t.task_id in seen or seen.add(t.task_id)})
    if dups:
        raise DataError([Problem(str(tasks), None, "task_id", "duplicate task id", d) for d in dups])
    picked: dict = {"references": {}, "sample_ids": {}}
    if references is not None:
        from codeself.audit.references import pick_references

        picked = pick_references(task_list, references, workers=workers, progress=progress)
        console.print(f"--references {references}: a passing program for {len(picked['references'])} of the "
                      f"{sum(not (t.canonical_solution or '').strip() for t in task_list)} task(s) without a "
                      "canonical_solution", markup=False)
    with_ref = [t for t in task_list if (t.canonical_solution and t.canonical_solution.strip())
                or t.task_id in picked["references"]]
    if not with_ref:
        raise CommandError(f"{tasks}: no task has a canonical_solution (field 'canonical_solution')"
                           + (f" or a passing program in {references}" if references else
                              "; pass --references SOLUTIONS to take one from a solutions file")
                           + "; nothing to audit")
    t0 = time.perf_counter()
    records = audit_tasks(task_list, mutants=mutants, seed=seed, workers=workers, progress=progress, fresh=fresh,
                          references=picked["references"] or None)
    for r in records:
        if r.get("reference") == "references":
            r["reference"] = f"{references} sample {picked['sample_ids'][r['task_id']]}"
    wall = time.perf_counter() - t0
    write_jsonl_atomic(output, records)
    if report is not None:
        atomic_write_text(report, render_report(records, source=str(tasks)))
    s = summarize(records)
    lo, hi = s["weak_ci95"] or (float("nan"), float("nan"))
    out.print(f"audited {s['n_audited']} of {s['n_tasks']} tasks ({s['n_skipped']} skipped) in {wall:.1f} s; "
              f"mutants {s['mutants_made']}, confirmed wrong {s['confirmed_wrong']}")
    if s["n_audited"]:
        plo, phi = s["public_weak_ci95"]
        out.print(f"weak: {s['n_weak']}/{s['n_audited']} = {100 * s['weak_share']:.1f}% "
                  f"(95% Wilson {100 * lo:.1f}–{100 * hi:.1f}%); public tests weak: "
                  f"{s['n_public_weak']}/{s['n_audited']} = {100 * s['public_weak_share']:.1f}% "
                  f"(95% Wilson {100 * plo:.1f}–{100 * phi:.1f}%); only public weak: {s['n_public_only_weak']}")
    if s["weak_task_ids"]:
        out.print("weak tasks: " + ", ".join(s["weak_task_ids"]))
    console.print(f"wrote {output}" + (f" and {report}" if report else ""))
