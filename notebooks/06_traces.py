import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="CodeSelf · 06 agent traces")

with app.setup:
    import marimo as mo
    import polars as pl

    from codeself import agent
    from codeself.views import charts, inputs
    from codeself.views import traces as traces_view
    from codeself.widgets import TraceViewer


@app.cell(hide_code=True)
def _():
    mo.md(r"""
    # 06 · Agent traces

    Self-debug traces turn by turn: each attempt's code, its public-test verdict, the feedback the
    model got (made from public tests only), and the diff against the previous attempt; then the
    first-vs-final paired numbers from `codeself.agent.summarize_traces`.

    Inputs: `--traces FILE` or `--run DIR` (its `traces.jsonl`). Default: the bundled
    `data/examples/traces.jsonl`.
    """)
    return


@app.cell
def _():
    args = inputs.notebook_args()
    traces_input = inputs.resolve_input(args, "traces")
    traces = agent.load_traces(traces_input.path) if traces_input.exists else []
    inputs_read = [str(traces_input.path)] if traces_input.exists else []
    summary = agent.summarize_traces(traces) if traces else None
    seeds = {"bootstrap_seed": 0, "agent_seed": (summary or {}).get("config", {}).get("seed")}
    mo.md(traces_input.note)
    return inputs_read, seeds, summary, traces


@app.cell
def _(traces):
    tf = traces_view.traces_frame(traces)
    _outcome_rows = [{"revision": i, "outcome": agent.revision_outcome(r["turns"][i - 1], r["turns"][i])}
                     for r in traces for i in range(1, len(r["turns"]))]
    outcomes = (pl.DataFrame(_outcome_rows, schema={"revision": pl.Int64, "outcome": pl.String})
                .group_by("revision", "outcome").agg(pl.len().alias("count")).sort("revision", "outcome"))
    return outcomes, tf


@app.cell(hide_code=True)
def _(outcomes, summary, tf):
    if summary is None:
        _view = mo.md("_No traces to show._")
    else:
        _p = summary["paired"]
        _view = mo.vstack([
            mo.md(f"""
    **{summary['n_records']}** traces over **{summary['n_tasks']}** tasks.
    pass@1 first attempt **{summary['pass_at_1_first']:.3f}** → final **{summary['pass_at_1_final']:.3f}**
    (hidden tests included). Paired first vs final: fixed {_p['c']}, broke {_p['b']}, exact McNemar
    p = {_p['mcnemar_p']:.3g}. Excluded infra errors: {summary['excluded_infra']}.
    """),
            mo.hstack([
                charts.bar_chart(tf.group_by("turns").agg(pl.len().alias("traces")).sort("turns")
                                    .with_columns(pl.col("turns").cast(pl.String)),
                                    "turns", "traces", title="Turns used per trace"),
                (charts.bar_chart(outcomes.with_columns(pl.col("revision").cast(pl.String)), "revision",
                                     "count", color="outcome", title="What each revision did (public tests)")
                 if outcomes.height else mo.md("_no revisions made_")),
            ], justify="start"),
        ])
    _view
    return


@app.cell
def _(traces):
    viewer = mo.ui.anywidget(TraceViewer(traces))
    mo.vstack([mo.md("## Trace viewer\n\nPick a trace, step through its turns."), viewer])
    return (viewer,)


@app.cell(hide_code=True)
def _(viewer):
    _t = viewer.widget.selected
    _u = viewer.widget.selected_turn_record
    mo.md(f"Selected: **{_t['task_id']}**, turn {viewer.value['selected_turn'] + 1} — {_u['status']}"
          if _t and _u else "Nothing selected.")
    return


@app.cell
def _(summary, tf):
    key_numbers, verdict_lines = traces_view.summary(summary, tf)
    return key_numbers, verdict_lines


@app.cell
def test_frame_agrees_with_the_summary(outcomes, summary, tf, traces):
    # the per-trace frame (traces_view.traces_frame) and the agent's own summary count the same traces,
    # final outcomes and revisions, each from the raw records by its own path
    assert tf.height == len(traces) == (summary["n_records"] if summary else 0)
    if summary is not None:
        assert dict(tf.group_by("final_status").len().iter_rows()) == summary["final_status"]
        assert int((tf["turns"] - 1).sum()) == summary["n_revisions"] == int(outcomes["count"].sum())
        _by_task = {}
        for _r in tf.iter_rows(named=True):
            if _r["final_status"] != "infra_error":
                _by_task.setdefault(_r["task_id"], []).append(_r["passed"])
        assert abs(summary["pass_at_1_final"] - sum(sum(v) / len(v) for v in _by_task.values()) / len(_by_task)) < 1e-12
    return


if __name__ == "__main__":
    app.run()
