"""`codeself rollouts …` commands (generate, evaluate, export) and the top-level `codeself compare`."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

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
from codeself.io import DataError
from codeself.prompts import TEMPLATES
from codeself.rewards import REWARDS

Backend = choices("Backend", BACKENDS)
Template = choices("Template", TEMPLATES)
Pairing = choices("Pairing", ("auto", "greedy", "sample"))
Direction = choices("Direction", ("two-sided", "improvement"))
Reward = choices("Reward", REWARDS)
REWARD_HELP = ("Reward variant: partial (reward_v0, partial credit) | binary (1 iff every test passes) | "
               "fraction (share of tests passed) | weighted (binary + 0.1 x fraction).")

app = typer.Typer(help="Generate rollouts (sample, parse, execute, score), evaluate them, export them.",
                  no_args_is_help=True)


def _user_error(e: Exception) -> None:
    if isinstance(e, DataError):
        raise e
    raise CommandError(str(e)) from None


def _exclude(tasks: list, audit: Path | None) -> tuple[list, int]:
    if audit is None:
        return tasks, 0
    from codeself.audit import exclude_weak

    kept, n = exclude_weak(tasks, audit)
    console.print(f"--exclude-tasks {audit}: dropped {n} weak task(s), {len(kept)} kept", markup=False)
    return kept, n


def _load_records(path: Path, skip_invalid: bool) -> list[dict[str, Any]]:
    from codeself.rollouts import read_rollouts

    problems: list = []
    with warnings.catch_warnings():  # the truncated tail is printed below, once
        warnings.simplefilter("ignore", UserWarning)
        recs = read_rollouts(path, problems=problems, skip_invalid=skip_invalid, with_lines=True)
    for p in problems:
        console.print(f"warning: {p}", markup=False)
    if problems and skip_invalid:
        console.print(f"warning: {path}: {len(problems)} problem line(s) skipped, {len(recs)} valid records used",
                      markup=False)
    return recs


def _rescore(recs: list[dict[str, Any]], variant: str) -> list[dict[str, Any]]:
    """The records with ``reward`` recomputed from each record's result by the ``variant``."""
    from codeself.rewards import score

    outs = []
    for r in recs:
        bd = score(r["result"], variant, completion=r.get("completion"), parse_status=r.get("parse_status", "ok"),
                   code=r.get("code"))
        outs.append({**r, "reward": bd.total, "reward_components": bd.components})
    return outs


@app.command("generate")
def generate(
    tasks: Path = typer.Option(..., "--tasks", help="Tasks JSONL.", **INPUT_FILE),
    backend: Backend = typer.Option(..., "--backend", help="hf | nano | vllm | static | mock (mock: test aid only)."),
    model: str = typer.Option(None, "--model", help="hf/vllm: model directory or 'nano'; static: completions JSONL."),
    samples_per_task: int = typer.Option(1, "--samples-per-task", "-n", min=1, help="Samples per task."),
    output: Path = typer.Option(..., "--output", "-o", help="Rollouts JSONL (appended; re-run to resume).",
                                **OUTPUT_FILE),
    seed: int = typer.Option(0, "--seed", min=0, help="Sampling seed (recorded in every record)."),
    template: Template = typer.Option("completion", "--template", help="completion | chat"),
    show_public_tests: bool = typer.Option(False, "--show-public-tests", help="Show public tests in the prompt."),
    temperature: float = typer.Option(None, "--temperature", min=0.0,
                                      help="Default: 0 for one sample, 0.8 for several."),
    top_p: float = typer.Option(1.0, "--top-p", min=0.0, max=1.0, callback=positive, help="Nucleus mass, in (0, 1]."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Tasks per generation + sandbox batch."),
    workers: int = typer.Option(None, "--workers", min=1, help=WORKERS_HELP),
    timeout: float = typer.Option(None, "--timeout", min=0.0, callback=positive,
                                  help="Sandbox wall-clock limit per program, s (> 0)."),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N tasks."),
    exclude_tasks: Path = typer.Option(None, "--exclude-tasks", help="audit.jsonl: drop tasks it flags weak.",
                                       **INPUT_FILE),
    final: bool = typer.Option(False, "--final", help="Allow test-split tasks (logged to the access log)."),
    device: str = typer.Option("auto", "--device", help="hf/nano: auto | cpu | cuda | cuda:N."),
    mock_correctness: float = typer.Option(0.5, "--mock-correctness", min=0.0, max=1.0, help="mock backend only."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    reward: Reward = typer.Option("partial", "--reward", help=REWARD_HELP),
) -> None:
    """Sample completions, parse, execute in the sandbox, score; one JSONL record per sample."""
    from codeself.evaluation import guard_test_split
    from codeself.models import get_backend
    from codeself.rollouts import generate_rollouts
    from codeself.tasks import load_tasks

    backend = backend.value  # type: ignore[assignment]
    check_output_paths((output, "--output"), inputs=[tasks, exclude_tasks, Path(model) if model else None])
    check_backend_model(backend, model)
    task_list = load_tasks(tasks)
    if limit is not None:
        task_list = task_list[:limit]
    task_list, _ = _exclude(task_list, exclude_tasks)
    if not task_list:
        raise CommandError("no tasks left to generate for")
    try:
        guard_test_split("generate", {t.task_id: t.split for t in task_list}, final=final, run=str(output.resolve()))
        kw: dict[str, Any] = {}
        if backend == "mock":
            kw = {"tasks": {t.task_id: t for t in task_list}, "correctness": mock_correctness, "seed": seed}
        elif backend in ("hf", "nano"):
            kw = {"device": device, "batch_size": batch_size}
        from codeself.progress import Ticker

        with Ticker(f"rollouts: loading the {backend} backend ({len(task_list)} task(s) × {samples_per_task})",
                    enabled=progress and backend in ("hf", "nano", "vllm")):
            b = get_backend(backend, model=model, **kw)
        if backend == "static":
            known = {t.task_id for t in task_list}
            unknown = sorted(set(b.lines) - known)
            if unknown:
                console.print(f"warning: {model}: {len(unknown)} task id(s) not in {tasks} are ignored "
                              f"(e.g. {unknown[:3]})", markup=False)
        summary = generate_rollouts(
            task_list, b, output, samples_per_task=samples_per_task, seed=seed, template=template.value,
            show_public_tests=show_public_tests, temperature=temperature, top_p=top_p,
            max_new_tokens=max_new_tokens, batch_size=batch_size, workers=workers, timeout=timeout,
            progress=progress, reward=reward.value,
        )
    except (ValueError, RuntimeError) as e:
        _user_error(e)
    st = ", ".join(f"{k}: {v}" for k, v in sorted(summary["statuses"].items())) or "nothing new"
    out.print(f"{output}: wrote {summary['written']} record(s), skipped {summary['skipped']} already done "
              f"({summary['total']} total) in {summary['seconds']:.1f} s "
              f"({summary['samples_per_s']:.1f} samples/s); {st}", markup=False)


@app.command("evaluate")
def evaluate(
    rollouts: Path = typer.Option(..., "--rollouts", "-r", help="Rollouts JSONL.", **INPUT_FILE),
    output: Path = typer.Option(..., "--output", "-o", help="Markdown report.", **OUTPUT_FILE),
    json_out: Path = typer.Option(None, "--json", help="Also write the numbers as JSON.", **OUTPUT_FILE),
    power_output: Path = typer.Option(None, "--power-output", help="Power-planning table as JSON.", **OUTPUT_FILE),
    tasks_file: Path = typer.Option(None, "--tasks", help="Tasks JSONL: check task ids and take splits from it.",
                                    **INPUT_FILE),
    task_table: Path = typer.Option(None, "--task-table", help="Per-task Parquet (default: <output>.tasks.parquet).",
                                    **OUTPUT_FILE),
    exclude_tasks: Path = typer.Option(None, "--exclude-tasks", help="audit.jsonl: drop tasks it flags weak.",
                                       **INPUT_FILE),
    final: bool = typer.Option(False, "--final", help="Allow test-split tasks (logged to the access log)."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Use the valid records of a file with bad lines."),
    alpha: float = typer.Option(0.05, "--alpha", min=0.0, max=1.0, callback=positive, help="Significance level, in (0, 1)."),
    power: float = typer.Option(0.8, "--power", min=0.0, max=1.0, callback=positive, help="Target power, in (0, 1)."),
    discordant: float = typer.Option(None, "--discordant", min=0.0, max=1.0,
                                     help="Assumed share of discordant tasks (default: independence)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Bootstrap seed."),
    reward: Reward = typer.Option(None, "--reward", help=REWARD_HELP + " Re-scores every record from its "
                                  "result with this variant (default: keep the records' own rewards).",
                                  show_default=False),
) -> None:
    """pass@k, parser failures, status per phase, reward stats, public-vs-hidden gap, power planning."""
    from codeself.evaluation import (
        evaluate_rollouts,
        evaluation_markdown,
        guard_test_split,
        per_task_counts,
        power_plan,
        task_frame,
    )
    from codeself.io import atomic_write_json, atomic_write_text
    from codeself.rollouts import check_known_tasks, check_single_backend, write_parquet
    from codeself.tasks import Task, load_task_map

    table_path = task_table or output.with_name(output.name + ".tasks.parquet")
    check_output_paths((output, "--output"), (json_out, "--json"), (power_output, "--power-output"),
                       (table_path, "--task-table"), inputs=[rollouts, tasks_file, exclude_tasks])
    recs = _load_records(rollouts, skip_invalid)
    try:
        meta = check_single_backend(recs, rollouts)
        splits = {r["task_id"]: r.get("split") for r in recs}
        if tasks_file is not None:
            tmap = load_task_map(tasks_file)
            check_known_tasks(recs, tmap, rollouts)
            splits = {t: tmap[t].split for t in splits}
        dropped = 0
        if exclude_tasks is not None:
            stubs = [Task(task_id=t, prompt="", entry_point="", public_tests=[], hidden_tests=[]) for t in splits]
            kept, dropped = _exclude(stubs, exclude_tasks)
            keep = {t.task_id for t in kept}
            recs = [r for r in recs if r["task_id"] in keep]
            splits = {t: s for t, s in splits.items() if t in keep}
            if not recs:
                raise CommandError("every task was excluded; nothing to evaluate")
        guard_test_split("evaluate", splits, final=final, run=str(rollouts.resolve()))
        if reward is not None:
            recs = _rescore(recs, reward.value)
        ev = evaluate_rollouts(recs, seed=seed, source=str(rollouts))
        ev.update(meta)
        ev["excluded_tasks"] = dropped
        variants = {r.get("reward_variant", "partial") for r in recs}
        if reward is not None or variants != {"partial"}:
            ev["reward_variant"] = reward.value if reward is not None else ", ".join(sorted(variants))
        plan = None
        base_rate = ev["pass_at_k"].get("pass@1")
        if base_rate is not None:
            plan = power_plan(base_rate, discordant=discordant, alpha=alpha, power=power)
        frame = task_frame(per_task_counts(recs))
    except (ValueError, RuntimeError) as e:
        _user_error(e)
    md = evaluation_markdown(ev, dropped=dropped, power=plan)
    md += f"\nPer-task table: `{table_path}`\n"
    write_parquet(table_path, frame)
    if json_out:
        atomic_write_json(json_out, {**ev, "power": plan, "task_table": str(table_path)})
    if power_output:
        atomic_write_json(power_output, plan if plan is not None else {"error": "no pass@1 to plan from"})
    atomic_write_text(output, md)
    pk = ", ".join(f"{k} {v:.3f}" for k, v in ev["pass_at_k"].items() if v is not None)
    gap = ev["public_hidden"]["gap"]
    out.print(f"{rollouts}: {ev['n_records']} records, {ev['n_tasks']} tasks; {pk}; parser failures "
              f"{ev['parse_failure_rate']:.3f}; public-hidden gap {'–' if gap is None else f'{gap:.3f}'}"
              f" → {output}", markup=False)


@app.command("power")
def power_cmd(
    baseline_rate: float = typer.Option(..., "--baseline-rate", min=0.0, max=1.0, help="Baseline pass rate p0."),
    improvement: list[float] = typer.Option([0.05, 0.1, 0.15, 0.2], "--improvement", min=0.0, max=1.0,
                                            callback=lambda v: [positive(x) for x in v] if v else v,
                                            help="Improvement(s) to detect, each in (0, 1] (repeat the option)."),
    discordant: float = typer.Option(None, "--discordant", min=0.0, max=1.0,
                                     help="Share of tasks the systems disagree on (default: independence)."),
    alpha: float = typer.Option(0.05, "--alpha", min=0.0, max=1.0, callback=positive, help="Significance level, in (0, 1)."),
    power: float = typer.Option(0.8, "--power", min=0.0, max=1.0, callback=positive, help="Target power, in (0, 1)."),
    direction: Direction = typer.Option("two-sided", "--direction", help="two-sided | improvement"),
    json_out: Path = typer.Option(None, "--json", help="Write the plan as JSON.", **OUTPUT_FILE),
) -> None:
    """Tasks needed to detect an improvement with an exact McNemar test (exact enumeration)."""
    from codeself.evaluation import power_plan
    from codeself.io import atomic_write_json

    try:
        plan = power_plan(baseline_rate, improvements=improvement, discordant=discordant, alpha=alpha,
                          power=power, direction=direction.value)
    except ValueError as e:
        _user_error(e)
    out.print(f"exact McNemar, alpha {alpha}, power {power}, baseline {baseline_rate}, discordance: "
              f"{plan['discordant']}", markup=False)
    for r in plan["rows"]:
        if r.get("tasks_needed") is None:
            out.print(f"  +{r['improvement']:.3f}: – ({r.get('note')})", markup=False)
        else:
            out.print(f"  +{r['improvement']:.3f}: {r['tasks_needed']} tasks (power {r['achieved_power']:.3f}; "
                      f"p10={r['p_discordant_pos']:.3f}, p01={r['p_discordant_neg']:.3f})", markup=False)
    if json_out:
        atomic_write_json(json_out, plan)


@app.command("export")
def export(
    rollouts: Path = typer.Option(..., "--rollouts", "-r", help="Rollouts JSONL.", **INPUT_FILE),
    output: Path = typer.Option(..., "--output", "-o", help="Parquet file (flat columns, one row per record).",
                                **OUTPUT_FILE),
) -> None:
    """Export a rollout file to Parquet (the flat columns of ``rollouts_frame``)."""
    from codeself.rollouts import rollouts_frame, write_parquet

    check_output_paths((output, "--output"), inputs=[rollouts])
    problems: list = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        df = rollouts_frame(rollouts, problems=problems)
    for p in problems:
        console.print(f"warning: {p}", markup=False)
    write_parquet(output, df)
    out.print(f"{output}: {df.height} rows × {df.width} columns", markup=False)


@app.command("static-file")
def static_file(
    tasks: Path = typer.Option(..., "--tasks", help="Tasks JSONL (tasks need canonical_solution).", **INPUT_FILE),
    output: Path = typer.Option(..., "--output", "-o", help="Completions JSONL for --backend static.", **OUTPUT_FILE),
    samples: int = typer.Option(1, "--samples", "-n", min=1, help="Completions per task."),
    corrupt: float = typer.Option(0.0, "--corrupt", min=0.0, max=1.0,
                                  help="Share of completions replaced by a corrupted copy (one changed token)."),
    seed: int = typer.Option(0, "--seed", min=0),
) -> None:
    """Write a static-backend completions file from canonical solutions (optionally corrupted)."""
    from codeself.generation import static_completions
    from codeself.io import write_jsonl_atomic
    from codeself.tasks import load_tasks

    check_output_paths((output, "--output"), inputs=[tasks])
    task_list = load_tasks(tasks)
    rows = static_completions(task_list, samples, corrupt=corrupt, seed=seed)
    if not rows:
        raise CommandError(f"{tasks}: no task has a canonical_solution")
    write_jsonl_atomic(output, rows)
    skipped = len(task_list) - len({r["task_id"] for r in rows})
    out.print(f"{output}: {len(rows)} completion(s) for {len(task_list) - skipped} task(s)"
              + (f"; {skipped} without canonical_solution skipped" if skipped else ""), markup=False)


def compare(
    baseline: Path = typer.Option(..., "--baseline", "-a", help="Baseline rollouts JSONL.", **INPUT_FILE),
    candidate: Path = typer.Option(..., "--candidate", "-b", help="Candidate rollouts JSONL.", **INPUT_FILE),
    output: Path = typer.Option(..., "--output", "-o", help="Markdown report.", **OUTPUT_FILE),
    json_out: Path = typer.Option(None, "--json", help="Also write the numbers as JSON.", **OUTPUT_FILE),
    intersect: bool = typer.Option(False, "--intersect", help="Compare only the common tasks (reports what is dropped)."),
    pairing: Pairing = typer.Option("auto", "--pairing", help="auto | greedy (one outcome per task) | sample"),
    tasks_file: Path = typer.Option(None, "--tasks", help="Tasks JSONL: check task ids and take splits from it.",
                                    **INPUT_FILE),
    final: bool = typer.Option(False, "--final", help="Allow test-split tasks (logged to the access log)."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid", help="Use the valid records of files with bad lines."),
    n_resamples: int = typer.Option(10000, "--n-resamples", min=100, help="Bootstrap / permutation resamples (≥ 100)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Bootstrap / permutation seed."),
) -> None:
    """Paired comparison of two rollout files: 2×2 table, exact McNemar, CI of the difference."""
    from codeself.evaluation import compare_markdown, compare_rollouts, guard_test_split, read_test_access_log
    from codeself.io import atomic_write_json, atomic_write_text
    from codeself.rollouts import check_known_tasks, check_single_backend
    from codeself.tasks import load_task_map

    check_output_paths((output, "--output"), (json_out, "--json"), inputs=[baseline, candidate, tasks_file])
    a = _load_records(baseline, skip_invalid)
    b = _load_records(candidate, skip_invalid)
    try:
        ma = check_single_backend(a, baseline)
        mb = check_single_backend(b, candidate)
        splits = {r["task_id"]: r.get("split") for r in [*a, *b]}
        if tasks_file is not None:
            tmap = load_task_map(tasks_file)
            check_known_tasks(a, tmap, baseline)
            check_known_tasks(b, tmap, candidate)
            splits = {t: tmap[t].split for t in splits}
        cmp = compare_rollouts(a, b, intersect=intersect, pairing=pairing.value, n_resamples=n_resamples, seed=seed,
                               base_name=str(baseline), cand_name=str(candidate))
        used = set(splits) - set(cmp["dropped"]["only_in_baseline"]) - set(cmp["dropped"]["only_in_candidate"])
        guard_test_split("compare", {t: splits[t] for t in used}, final=final,
                         run=[str(baseline.resolve()), str(candidate.resolve())])
        cmp["test_access_log"] = read_test_access_log()
    except (ValueError, RuntimeError) as e:
        _user_error(e)
    d = cmp["dropped"]
    if d["only_in_baseline"] or d["only_in_candidate"] or d["no_scored_samples"]:
        console.print(f"--intersect: dropped {len(d['only_in_baseline'])} task(s) only in {baseline}, "
                      f"{len(d['only_in_candidate'])} only in {candidate}, {len(d['no_scored_samples'])} "
                      "without scored samples", markup=False)
    from codeself.evaluation import unpaired_note

    for line in unpaired_note(cmp):
        console.print(line[2:], markup=False)
    if json_out:
        atomic_write_json(json_out, {**cmp, "baseline_meta": ma, "candidate_meta": mb})
    atomic_write_text(output, compare_markdown(cmp, ma, mb))
    t = cmp["table"]
    extra = "" if cmp["pairing"] == "greedy" else (
        f" over correlated sample pairs — task level: Wilcoxon p={cmp['wilcoxon']['pvalue']:.4g}, "
        f"permutation p={cmp['permutation']['pvalue']:.4g}")
    out.print(f"pairing {cmp['pairing']}, {cmp['n_tasks']} tasks: a={t['a']} b={t['b']} c={t['c']} d={t['d']}; "
              f"exact McNemar p={cmp['mcnemar_p']:.4g} (mid-p {cmp['mcnemar_midp']:.4g}){extra}; pass@1 "
              f"{cmp['baseline_pass_at_1']:.3f} → {cmp['candidate_pass_at_1']:.3f}, diff {cmp['diff']:+.3f} "
              f"[{cmp['diff_ci'][0]:+.3f}, {cmp['diff_ci'][1]:+.3f}] → {output}", markup=False)


def register_top_level(root: typer.Typer) -> None:
    """Add top-level commands owned by this stage (``codeself compare``)."""
    root.command("compare")(compare)

