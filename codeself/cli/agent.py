"""`codeself agent …`: the self-debug loop (run), its strategy report (report) and a trace viewer (view)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from codeself.cli._common import (
    INPUT_FILE,
    OUTPUT_FILE,
    WORKERS_HELP,
    CommandError,
    check_backend_model,
    check_output_paths,
    choices,
    console,
    out,
    positive,
)
from codeself.generation import BACKENDS
from codeself.prompts import TEMPLATES

app = typer.Typer(
    help="Self-debug agent: generate, run the public tests, read the failure, revise; full traces.",
    no_args_is_help=True,
)


class Policy(StrEnum):
    last = "last"
    first_public_pass = "first-public-pass"


class RevisionPrompt(StrEnum):
    feedback = "feedback"
    retry = "retry"


Template = choices("Template", TEMPLATES)
Backend = choices("Backend", BACKENDS)


@app.command()
def run(
    tasks: Annotated[Path, typer.Option("--tasks", help="Canonical tasks JSONL.", **INPUT_FILE)],
    backend: Annotated[Backend, typer.Option("--backend", help="Generation backend: hf, nano, vllm, static, mock.")],
    trace_output: Annotated[Path, typer.Option(
        "--trace-output", help="Traces JSONL (one record per task × sample; appended, resumable).", **OUTPUT_FILE)],
    report_output: Annotated[Path, typer.Option(
        "--report-output", help="Strategy report (Markdown), written atomically at the end.", **OUTPUT_FILE)],
    model: Annotated[str | None, typer.Option(
        "--model", help="nano, a local Hugging Face model directory, or (static) a JSONL of completions.")] = None,
    max_revisions: Annotated[int, typer.Option("--max-revisions", min=0, help="Revisions after the first attempt (R).")] = 2,
    samples_per_task: Annotated[int, typer.Option("--samples-per-task", min=1, help="Independent loops per task.")] = 1,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Base seed (request seeds derive from it).")] = 0,
    policy: Annotated[Policy, typer.Option(
        "--policy", help="Final submission: 'last' attempt, or 'first-public-pass' (else the attempt passing "
        "the most public tests).")] = Policy.last,
    template: Annotated[Template, typer.Option("--template", help="Prompt template.")] = Template.completion,
    revision_prompt: Annotated[RevisionPrompt, typer.Option(
        "--revision-prompt", help="'feedback': show the previous attempt and its public-test feedback; 'retry': "
        "ask the first prompt again (a control arm without the feedback; use a temperature > 0).")] = RevisionPrompt.feedback,
    show_public_tests: Annotated[bool, typer.Option(
        "--show-public-tests", help="Show the public tests in the first prompt.")] = False,
    temperature: Annotated[float | None, typer.Option(
        "--temperature", min=0.0, help="Default: 0 (greedy) for one sample per task, 0.8 for more.")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1)] = 256,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", min=0.0, callback=positive, help="Sandbox seconds per program run (> 0).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help=WORKERS_HELP)] = None,
    batch_tasks: Annotated[int, typer.Option("--batch-tasks", min=1, help="Tasks per generation chunk.")] = 8,
    task_ids: Annotated[list[str] | None, typer.Option("--task", help="Only this task id (repeatable).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first N tasks.")] = None,
    final: Annotated[bool, typer.Option(
        "--final", help="Allow test-split tasks (logged to the access log), as for rollouts generate.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Run the self-debug loop and write traces plus the strategy report.

    Every input is checked before anything is written. Re-running with the same settings resumes:
    (task, sample) pairs already in --trace-output are skipped, and the report covers them all.
    """
    from codeself.agent import AgentConfig, render_report, run_agent
    from codeself.evaluation import LockedSplitError, guard_test_split
    from codeself.io import atomic_write_text
    from codeself.tasks import load_tasks

    check_output_paths((trace_output, "--trace-output"), (report_output, "--report-output"),
                       inputs=[tasks, Path(model) if model else None])
    check_backend_model(backend.value, model)
    task_list = load_tasks(tasks)
    if task_ids:
        have = {t.task_id for t in task_list}
        missing = [t for t in task_ids if t not in have]
        if missing:
            raise CommandError(f"{tasks}: no task with id {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        wanted = set(task_ids)
        task_list = [t for t in task_list if t.task_id in wanted]
    if limit:
        task_list = task_list[:limit]
    try:
        config = AgentConfig(
            max_revisions=max_revisions, samples_per_task=samples_per_task, seed=seed, policy=policy.value,
            template=template.value, revision_prompt=revision_prompt.value, show_public_tests=show_public_tests, temperature=temperature,
            max_new_tokens=max_new_tokens, timeout_s=timeout, workers=workers, batch_tasks=batch_tasks)
    except ValueError as e:
        raise CommandError(str(e)) from None
    try:  # the locked test split: the same guard (and access log) as generate / evaluate / compare
        guard_test_split("agent run", {t.task_id: t.split for t in task_list}, final=final,
                         run=str(trace_output.resolve()))
    except LockedSplitError as e:
        raise CommandError(str(e)) from None
    be = _backend(backend.value, model, task_list)
    records = run_agent(task_list, be, config, trace_path=trace_output, progress=progress)
    text = render_report(records, source=str(trace_output), seed=seed)
    atomic_write_text(report_output, text)
    n_first = sum(bool(r["first"]["passed"]) for r in records)
    n_final = sum(bool(r["final"]["passed"]) for r in records)
    out.print(f"{len(records)} loops over {len(task_list)} tasks: first attempt passed {n_first}, "
              f"final submission passed {n_final}; traces in {trace_output}, report in {report_output}")


def _backend(name: str, model: str | None, task_list: list) -> object:
    from codeself.generation import BackendError
    from codeself.models import get_backend

    kw = {"tasks": task_list} if name == "mock" else {}
    from codeself.progress import Ticker

    try:
        with Ticker(f"agent: loading the {name} backend", enabled=name in ("hf", "nano", "vllm")):
            be = get_backend(name, model, **kw)
    except BackendError as e:
        raise CommandError(f"--backend {name}: {e}") from None
    if name == "static":
        covered = [t.task_id for t in task_list if be.available(t.task_id)]  # type: ignore[attr-defined]
        if not covered:
            raise CommandError(f"--model {model}: the static file has no completions for any of the "
                               f"{len(task_list)} tasks (a different task file?)")
        missing = len(task_list) - len(covered)
        if missing:
            console.print(f"warning: --model {model} has no completions for {missing} task(s); their attempts "
                          "are recorded as generation errors", markup=False)
    return be


@app.command()
def report(
    traces: Annotated[Path, typer.Option("--traces", help="Traces JSONL from `codeself agent run`.", **INPUT_FILE)],
    output: Annotated[Path, typer.Option("--output", help="Strategy report (Markdown) to write.", **OUTPUT_FILE)],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Bootstrap seed (clustered samples only).")] = 0,
) -> None:
    """Re-make the strategy report from a trace file."""
    from codeself.agent import load_traces, render_report
    from codeself.io import atomic_write_text

    check_output_paths((output, "--output"), inputs=[traces])
    records = load_traces(traces)
    atomic_write_text(output, render_report(records, source=str(traces), seed=seed))
    out.print(f"wrote the report of {len(records)} loops to {output}")


@app.command()
def view(
    traces: Annotated[Path, typer.Option("--traces", help="Traces JSONL from `codeself agent run`.", **INPUT_FILE)],
    output: Annotated[Path, typer.Option("--output", help="Markdown file to write.", **OUTPUT_FILE)],
    task: Annotated[str | None, typer.Option("--task", help="Only this task id.")] = None,
) -> None:
    """Render traces as Markdown: every turn, diffs between attempts, long outputs collapsed."""
    from codeself.agent import load_traces, render_traces
    from codeself.io import atomic_write_text

    check_output_paths((output, "--output"), inputs=[traces])
    records = load_traces(traces)
    if task is not None and not any(r["task_id"] == task for r in records):
        ids = sorted({r["task_id"] for r in records})
        raise CommandError(f"{traces}: no trace for task {task!r} (tasks: {', '.join(ids[:8])}"
                           + (", …" if len(ids) > 8 else "") + ")")
    atomic_write_text(output, render_traces(records, task_id=task, source=str(traces)))
    n = sum(1 for r in records if task is None or r["task_id"] == task)
    out.print(f"wrote {n} trace(s) to {output}")
