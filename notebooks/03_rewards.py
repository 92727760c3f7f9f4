import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="CodeSelf · 03 rewards")

with app.setup:
    import marimo as mo
    import polars as pl

    from codeself.rollouts import read_rollouts, rollouts_frame
    from codeself.tasks import load_task_map
    from codeself.views import charts, inputs
    from codeself.views import rewards as rewards_view
    from codeself.views import sandbox as sandbox_view
    from codeself.widgets import RolloutExplorer


@app.cell(hide_code=True)
def _():
    mo.md(r"""
    # 03 · Reward distributions

    Rewards of one or more rollout files: histograms by backend / model / phase, the
    partial-credit structure, the public-vs-hidden gap (passing every visible test but failing a
    hidden one), parser failures, and a per-task drill-down with the rollout explorer.
    Rewards run from −1 (no program, or a rejected one) through −0.5 (a syntax error) and partial
    credit below 0.5 to 1 (every test passed); the charts and the reward filter cover that whole range.
    `infra_error` rollouts have no reward: they are counted as excluded, never as 0.

    Inputs: `--rollouts FILE` (repeatable) or `--run DIR` (repeatable; its `rollouts.jsonl`),
    `--tasks FILE` for the failing tests' text (default `data/tasks.example.jsonl`).
    Default: the bundled example baseline and candidate rollouts.
    """)
    return


@app.cell
def _():
    args = inputs.notebook_args()
    _given = inputs.cli_value(args, "rollouts") or inputs.cli_value(args, "run")
    if _given:
        sources = inputs.resolve_many(args, "rollouts")
    else:
        sources = inputs.example_rollouts("`--rollouts FILE` / `--run DIR`")
    sources = [s for s in sources if s.exists] or sources[:1]
    tasks_input = inputs.resolve_input(args, "tasks")
    tasks = load_task_map(tasks_input.path)
    inputs_read = [str(s.path) for s in sources if s.exists] + [str(tasks_input.path)]
    seeds = {"bootstrap_seed": 0}
    return sources, tasks, inputs_read, seeds


@app.cell
def _(sources):
    _frames, records = [], []
    for _s in sources:
        if not _s.exists:
            continue
        _label = inputs.run_label(_s)
        _frames.append(rollouts_frame(_s.path).with_columns(pl.lit(_label).alias("file")))
        records.extend({**r, "file": _label} for r in read_rollouts(_s.path))
    df = pl.concat(_frames, how="diagonal_relaxed") if _frames else None
    mo.md("\n\n".join(s.note for s in sources))
    return df, records


@app.cell(hide_code=True)
def _(df):
    mo.stop(df is None, mo.md("_No rollouts to show._"))
    group_pick = mo.ui.dropdown(options=["file", "backend", "model_id", "phase", "parse_status", "split"],
                                value="file", label="group by")
    status_pick = mo.ui.multiselect(options=sorted(df["status"].unique().to_list()), label="statuses (empty = all)")
    task_pick = mo.ui.text(value="", label="task id contains")
    reward_bounds = rewards_view.reward_range(df["reward"])  # [-1, 1], wider if the data go further
    reward_pick = mo.ui.range_slider(start=reward_bounds[0], stop=reward_bounds[1], step=0.05,
                                     value=list(reward_bounds), label="reward", show_value=True)
    mo.vstack([mo.hstack([group_pick, status_pick], justify="start"),
               mo.hstack([task_pick, reward_pick], justify="start")])
    return group_pick, reward_bounds, reward_pick, status_pick, task_pick


@app.cell
def _(reward_bounds, reward_pick, status_pick, task_pick):
    # the one filter state: the charts below and the rollout explorer both read `filters`
    _lo, _hi = reward_pick.value
    filters = dict(statuses=list(status_pick.value) or None, task_query=task_pick.value or None,
                   reward_min=None if _lo <= reward_bounds[0] else _lo,
                   reward_max=None if _hi >= reward_bounds[1] else _hi)
    return (filters,)


@app.cell
def _(df, filters):
    # one filter update = rewards_view.dashboard_view (what `codeself bench notebooks` times at 1M rows)
    view = rewards_view.dashboard_view(df, **filters)
    shown = rewards_view.filter_rollouts(df, **filters)
    mo.vstack([
        mo.md(f"**{view.n_rows} rollouts match** over {view.n_tasks} tasks · pass rate "
              f"{(view.pass_rate or 0):.3f} · mean reward {(view.mean_reward or 0):.3f} · "
              f"filter update computed in {view.compute_ms:.1f} ms"),
        mo.hstack([
            charts.bar_chart(view.status, "status", "count", sort=list(sandbox_view.STATUS_ORDER),
                                title="Status (filtered)", width=260, height=160),
            charts.hist_chart(view.reward_hist, x_title="reward", title="Reward (filtered)",
                                 width=300, height=160),
        ], justify="start"),
    ])
    return shown, view


@app.cell
def _(group_pick, reward_bounds, shown):
    summary = rewards_view.reward_summary(shown, by=[group_pick.value])
    hists = rewards_view.reward_histograms(shown.filter(pl.col("reward").is_not_null()), group_pick.value,
                                        value_range=reward_bounds)
    mo.vstack([
        mo.md(f"**{shown.height} rollouts shown**, mean reward "
              f"{shown['reward'].mean() if shown.height else float('nan'):.3f}"),
        summary,
        charts.hist_chart(hists, x_title="reward", title=f"Reward by {group_pick.value}", color="group"),
    ])
    return hists, summary


@app.cell
def _(shown):
    credit = rewards_view.partial_credit(shown)
    gap = rewards_view.public_hidden_gap(shown)
    mo.hstack([
        charts.bar_chart(credit.with_columns(pl.col("passed").cast(pl.String)), "tests_passed_share",
                            "rollouts", color="passed", title="Partial credit: share of tests passed"),
        mo.vstack([mo.md("**Public vs hidden, per task** (gap > 0: passes the visible tests, fails hidden ones)"),
                   gap]),
    ], justify="start")
    return


@app.cell(hide_code=True)
def _(shown):
    parse = shown.group_by("parse_status").agg(pl.len().alias("rollouts")).sort("rollouts", descending=True)
    mo.vstack([mo.md("## Parser failures"), parse, mo.md("## Per task"), rewards_view.per_task(shown)])
    return


@app.cell
def _(records, tasks):
    # the explorer's own filter controls are hidden: it follows the controls above the charts
    explorer = mo.ui.anywidget(RolloutExplorer(records, tasks=tasks, filters_visible=False))
    return (explorer,)


@app.cell
def _(explorer, filters):
    explorer.widget.set_filters(**filters)
    explorer_matching = explorer.widget.n_matching
    mo.vstack([mo.md("## Drill down\n\nThe rollouts the charts above count (the same status, task and reward "
                     "filters), with the file each came from; click one for its code and first failing test."),
               explorer])
    return (explorer_matching,)


@app.cell(hide_code=True)
def _(explorer, explorer_matching):
    _sel = explorer.widget.selected
    mo.md(f"{explorer_matching} rollouts in the explorer (the charts' filters); selected: "
          + (f"**{_sel['task_id']}** sample {_sel['sample_id']}" if _sel else "none"))
    return


@app.cell
def _(records, sources):
    evals, key_numbers, verdict_lines = rewards_view.summary(
        records, [inputs.run_label(s) for s in sources if s.exists], seed=0)
    return evals, key_numbers, verdict_lines


@app.cell
def test_frame_matches_records(df, records):
    if df is None:  # no rollout file in this checkout: nothing read, nothing shown
        assert records == []
    else:
        assert df.height == len(records)
        assert df.filter(pl.col("status") == "infra_error")["reward"].null_count() == df.filter(
            pl.col("status") == "infra_error").height
    return


@app.cell
def test_filter_view_agrees_with_rows(shown, view):
    assert view.n_rows == shown.height
    assert int(view.status["count"].sum()) == shown.height
    assert int(view.reward_hist["count"].sum()) == shown["reward"].drop_nulls().len()
    return


@app.cell
def test_reward_histograms_count_every_scored_rollout(hists, shown, view):
    # negative rewards included: nothing outside the charts' range, nothing piled into one bin
    _scored = shown["reward"].drop_nulls()
    assert int(hists["count"].sum()) == _scored.len() == int(view.reward_hist["count"].sum())
    if _scored.len():
        assert hists["bin_start"].min() <= _scored.min() and hists["bin_end"].max() >= _scored.max()
    return


@app.cell
def test_explorer_lists_exactly_the_charts_rows(explorer, filters, shown):
    explorer.widget.set_filters(**filters)
    _mine = explorer.widget.filtered
    assert _mine.height == shown.height == explorer.widget.n_matching
    assert sorted(_mine.select("file", "task_id", "sample_id").rows()) == sorted(
        shown.select("file", "task_id", pl.col("sample_id").cast(pl.String)).rows())
    return


@app.cell
def test_evaluation_agrees_with_frame(df, evals):
    for _label, _ev in evals.items():
        _sub = df.filter(pl.col("file") == _label)  # evals is empty when df is None
        assert _ev["n_records"] == _sub.height
        if _ev["reward"]["mean"] is not None:
            assert abs(_ev["reward"]["mean"] - _sub["reward"].mean()) < 1e-9
    return


if __name__ == "__main__":
    app.run()
