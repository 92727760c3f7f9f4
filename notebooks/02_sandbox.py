import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="CodeSelf · 02 sandbox")

with app.setup:
    from pathlib import Path

    import marimo as mo
    import polars as pl

    from codeself import sandbox
    from codeself.solutions import read_programs
    from codeself.tasks import load_task_map
    from codeself.views import charts, inputs
    from codeself.views import sandbox as sandbox_view
    from codeself.widgets import RolloutExplorer


@app.cell(hide_code=True)
def _():
    mo.md(r"""
    # 02 · Sandbox runs

    Programs run through `codeself.sandbox`: the status breakdown, per-test outcomes, captured
    output, security-scan findings and the timing distribution; then one program of your own.

    Inputs: `--tasks FILE` (default `data/tasks.example.jsonl`) and the programs: `--solutions FILE`
    (`{task_id, code}` per line) or `--rollouts FILE` / `--run DIR` (a rollout file; its code is
    re-run). Default: the bundled example rollouts, or the tasks' canonical solutions when those are
    not in this checkout.
    """)
    return


@app.cell
def _():
    args = inputs.notebook_args()
    tasks_input = inputs.resolve_input(args, "tasks")
    tasks = load_task_map(tasks_input.path)
    inputs_read = [str(tasks_input.path)]
    no_code = 0
    _sol = inputs.cli_value(args, "solutions")
    if _sol:
        programs, no_code = read_programs(Path(_sol))
        inputs_read.append(str(Path(_sol).resolve()))
        programs_note = f"Programs from `--solutions {_sol}`."
    else:
        _roll = inputs.resolve_input(args, "rollouts", example=inputs.EXAMPLE_FILES["baseline"])
        # the example rollouts are on the example tasks: with other tasks, run their canonical solutions
        if _roll.exists and not (_roll.source == "example" and tasks_input.source != "example"):
            programs, no_code = read_programs(_roll.path)
            inputs_read.append(str(_roll.path))
            programs_note = _roll.note
        else:
            programs = [{"task_id": t.task_id, "code": t.canonical_solution, "sample_id": "canonical"}
                        for t in tasks.values() if t.canonical_solution]
            programs_note = (f"{_roll.note} Running the tasks' canonical solutions instead "
                             "(every one should pass).")
    _unknown = sorted({p["task_id"] for p in programs} - set(tasks))
    if _unknown:
        raise ValueError(f"programs name tasks not in {tasks_input.path}: {_unknown[:5]}")
    seeds = {}
    return inputs_read, no_code, programs, programs_note, tasks, tasks_input


@app.cell
def _(programs, tasks):
    results = sandbox.run_many([(tasks[p["task_id"]], p["code"], p["sample_id"]) for p in programs],
                               progress=False)
    records = [{"task_id": p["task_id"], "sample_id": p["sample_id"], "code": p["code"],
                "result": r.to_dict()} for p, r in zip(programs, results, strict=True)]
    res_df = sandbox_view.results_frame(results)
    tests_df = sandbox_view.tests_frame(results)
    scans = sandbox_view.scan_frame(results)
    return records, res_df, scans, tests_df


@app.cell(hide_code=True)
def _(no_code, programs_note, res_df, tasks_input):
    mo.md(f"""
    {tasks_input.note}

    {programs_note} **{res_df.height}** programs run
    ({no_code} records had no parsed code and were not run).
    """)
    return


@app.cell
def _(res_df):
    status = sandbox_view.status_counts(res_df)
    mo.hstack([
        charts.bar_chart(status, "status", "count", sort=list(sandbox_view.STATUS_ORDER),
                            title="Status breakdown"),
        status,
    ], justify="start")
    return (status,)


@app.cell
def _(res_df):
    timing = charts.histogram(res_df["duration_s"] * 1000, bins=20, name="ms")
    mo.vstack([
        charts.hist_chart(timing, x_title="wall time per program (ms)", title="Timing distribution"),
        mo.md(f"median {res_df['duration_s'].median() * 1000:.1f} ms, "
              f"max {res_df['duration_s'].max() * 1000:.1f} ms per program (parent-side wall time)."),
    ])
    return


@app.cell(hide_code=True)
def _(scans, tests_df):
    _by_kind = (tests_df.group_by("kind", "status").agg(pl.len().alias("tests")).sort("kind", "status")
                if tests_df.height else tests_df)
    mo.vstack([
        mo.md("## Per-test outcomes"),
        _by_kind,
        tests_df.filter(~pl.col("passed")) if tests_df.height else mo.md("_no tests ran_"),
        mo.md(f"## Security-scan findings ({scans.height})"),
        scans if scans.height else mo.md("_No findings._"),
    ])
    return


@app.cell
def _(records, tasks):
    explorer = mo.ui.anywidget(RolloutExplorer(records, tasks=tasks))
    mo.vstack([mo.md("## Results explorer\n\nFilter, click a row: code, first failing test, "
                     "captured stdout/stderr."), explorer])
    return (explorer,)


@app.cell(hide_code=True)
def _(tasks):
    task_pick = mo.ui.dropdown(options=sorted(tasks), value=sorted(tasks)[0], label="task")
    return (task_pick,)


@app.cell(hide_code=True)
def _(task_pick, tasks):
    _t = tasks[task_pick.value]
    editor = mo.ui.code_editor(value=_t.canonical_solution or _t.prompt, language="python",
                               label="your program (runs on blur)")
    mo.vstack([mo.md("## Run your own program"), task_pick, editor])
    return (editor,)


@app.cell
def _(editor, task_pick, tasks):
    mine = sandbox.run(tasks[task_pick.value], editor.value, sample_id="notebook")
    mo.vstack([
        mo.md(f"**{mine.status}** — public {mine.public_passed}/{mine.public_total}, "
              f"hidden {mine.hidden_passed}/{mine.hidden_total}, {mine.duration_s * 1000:.1f} ms"
              + (f" — {mine.error}" if mine.error else "")),
        sandbox_view.tests_frame([mine]),
    ])
    return (mine,)


@app.cell
def _(res_df, scans):
    key_numbers, verdict_lines = sandbox_view.summary(res_df, scans)
    return key_numbers, verdict_lines


@app.cell
def test_results_match_programs(programs, res_df, key_numbers):
    assert res_df.height == len(programs) == key_numbers["programs"]
    assert set(res_df["status"].unique().to_list()) <= set(sandbox_view.STATUS_ORDER)
    assert (res_df["passed"] == (res_df["status"] == "passed")).all()
    return


@app.cell
def test_canonical_passes(tasks):
    _t = sorted((t for t in tasks.values() if t.canonical_solution), key=lambda t: t.task_id)[0]
    assert sandbox.run(_t, _t.canonical_solution).passed
    # exiting 0 early fakes nothing; a stdin script that prints one line too many fails its judge
    _broken = sandbox.run(_t, _t.canonical_solution + ("\nprint(0)\n" if _t.is_stdio else "\nraise SystemExit(0)\n"))
    assert not _broken.passed
    return


if __name__ == "__main__":
    app.run()
