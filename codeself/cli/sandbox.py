"""`codeself sandbox …` commands: run solutions against tasks in the sandbox, scan code."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from codeself.cli._common import INPUT_FILE, OUTPUT_FILE, WORKERS_HELP, CommandError, console, out

app = typer.Typer(help="Run programs against task tests in the sandbox; scan code.", no_args_is_help=True)


class Tests(StrEnum):
    all = "all"
    public = "public"
    hidden = "hidden"
    original = "original"  # only the dataset's own tests (metadata test_origin / a test's origin)


class ScanPolicy(StrEnum):
    report = "report"
    block = "block"


class Executor(StrEnum):
    local = "local"
    ray = "ray"


@app.command("run")
def run_cmd(
    tasks: Annotated[Path, typer.Option("--tasks", help="Canonical tasks JSONL.", **INPUT_FILE)],
    solutions: Annotated[Path, typer.Option("--solutions", help='JSONL of {"task_id", "code"[, "sample_id"]} '
                                                 '(a rollout file is one; code null: not run).',
                                            **INPUT_FILE)],
    output: Annotated[Path, typer.Option("--output", help="Results JSONL (one Result per solution, input order; "
                                                          "written atomically).", **OUTPUT_FILE)],
    workers: Annotated[int | None, typer.Option("--workers", min=1, help=WORKERS_HELP)] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.001, help="Wall-clock seconds per program "
                                                                        "(also the CPU-time limit).")] = 10.0,
    memory_mb: Annotated[int, typer.Option("--memory-mb", min=16, help="Address-space limit, MiB.")] = 1024,
    tests: Annotated[Tests, typer.Option("--tests", help="Which tests to run; original: only the dataset's own "
                                                           "(no added docstring or derived tests), as its harness grades.")] = Tests.all,
    scan_policy: Annotated[ScanPolicy, typer.Option(
        "--scan-policy", help="report: findings only; block: do not run code with a high-severity finding "
                              "(status 'rejected').")] = ScanPolicy.report,
    executor: Annotated[Executor, typer.Option("--executor", help="local pool or a Ray cluster.")] = Executor.local,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Run solutions against their tasks' tests. Exit 0 when the run completed, whatever the verdicts."""
    from codeself.io import atomic_writer
    from codeself.sandbox import SandboxConfig, imap
    from codeself.solutions import read_solutions
    from codeself.tasks import load_task_map

    task_map = load_task_map(tasks)
    read = read_solutions(solutions, set(task_map))
    sols = [(p["task_id"], p["code"], p["sample_id"]) for p in read.programs]
    if read.without_code:
        console.print(f"{solutions}: {read.without_code} line(s) with code null (no program) not run", markup=False)
    if not sols:
        raise CommandError(f"{solutions}: no solutions")
    base = SandboxConfig()
    cfg = SandboxConfig(timeout_s=timeout, memory_mb=memory_mb, scan_policy=scan_policy.value, workers=workers,
                        hide_paths=(*base.hide_paths, str(tasks.resolve())))
    counts: dict[str, int] = {}
    with atomic_writer(output) as f:
        for r in imap([(task_map[t], c, s) for t, c, s in sols], workers=workers, progress=progress,
                      tests=tests.value, config=cfg, executor=executor.value):
            counts[r.status] = counts.get(r.status, 0) + 1
            f.write(json.dumps(r.to_dict(), ensure_ascii=False) + "\n")
    n = len(sols)
    passed = counts.get("passed", 0)
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    out.print(f"{n} programs: {passed} passed ({passed / n:.1%}); {summary}; wrote {output}", markup=False)
    if counts.get("infra_error"):
        console.print(f"error: {counts['infra_error']} infra_error result(s): the sandbox failed, see {output}",
                      markup=False)
        raise SystemExit(3)


@app.command("judges")
def judges_cmd(
    tasks: Annotated[Path, typer.Option("--tasks", help="Canonical tasks JSONL (stdin tasks are reported).",
                                        **INPUT_FILE)],
    solutions: Annotated[Path, typer.Option("--solutions", help='JSONL of {"task_id", "code"[, "sample_id"]}.',
                                            **INPUT_FILE)],
    output: Annotated[Path | None, typer.Option("--output", help="Also write the report as Markdown here.",
                                                **OUTPUT_FILE)] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help=WORKERS_HELP)] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Grade the same outputs under every judge: the disagreement matrix and the programs that flip."""
    from codeself.io import atomic_writer
    from codeself.judges import disagreement, format_disagreement
    from codeself.sandbox import SandboxConfig, imap
    from codeself.solutions import read_solutions
    from codeself.tasks import load_task_map

    task_map = load_task_map(tasks)
    sols = [(p["task_id"], p["code"], p["sample_id"]) for p in read_solutions(solutions, set(task_map)).programs]
    if not any(task_map[t].is_stdio for t, _c, _s in sols):
        raise CommandError(f"{solutions}: no solution of a stdin task (judges compare stdout)")
    base = SandboxConfig()
    cfg = SandboxConfig(workers=workers, hide_paths=(*base.hide_paths, str(tasks.resolve())))
    results = list(imap([(task_map[t], c, s) for t, c, s in sols if task_map[t].is_stdio], workers=workers,
                        progress=progress, config=cfg))
    lines = format_disagreement(disagreement(results))
    for line in lines:
        out.print(line, markup=False)
    if output:
        with atomic_writer(output) as f:
            f.write("# Judge disagreement\n\n" + "\n".join(lines) + "\n")


@app.command("scan")
def scan_cmd(
    path: Annotated[Path, typer.Argument(help="A Python file, or a solutions JSONL (scans each 'code').", **INPUT_FILE)],
) -> None:
    """Print security-scan findings (rule, line, severity). Diagnostic only; exit 0."""
    from codeself.io import read_jsonl
    from codeself.sandbox import scan

    if not path.exists():
        raise CommandError(f"{path}: file does not exist")
    items: list[tuple[str, str]] = []
    if path.suffix == ".jsonl":
        records, _ = read_jsonl(path)
        for line, obj in records:
            if not isinstance(obj.get("code"), str):
                raise CommandError(f"{path}:{line}: field 'code': missing or not a string")
            items.append((f"{path}:{line} {obj.get('task_id', '')}", obj["code"]))
    else:
        items.append((str(path), path.read_text(encoding="utf-8")))
    total = 0
    for where, code in items:
        for f in scan(code):
            total += 1
            out.print(f"{where}: line {f['line']}: {f['rule']} {f['severity']}: {f['message']}", markup=False)
    out.print(f"{total} finding(s) in {len(items)} program(s)", markup=False)
    sys.stdout.flush()
