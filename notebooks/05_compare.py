import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="CodeSelf · 05 paired comparison")

with app.setup:
    import marimo as mo
    import polars as pl

    from codeself.evaluation import compare_rollouts, power_plan
    from codeself.rollouts import read_rollouts, rollouts_frame
    from codeself.views import charts, inputs
    from codeself.views import compare as compare_view


@app.cell(hide_code=True)
def _():
    mo.md(r"""
    # 05 · Paired comparison

    Two rollout files over the same tasks: the 2×2 table, the exact McNemar p and mid-p, the
    bootstrap CI of the pass@1 difference, a per-task discordance view, and a power-planning panel.
    Every number comes from `codeself.evaluation.compare_rollouts` — the same function as
    `codeself compare`.

    Inputs: `--baseline FILE` and `--candidate FILE` (rollout JSONL). Default: the bundled
    `data/examples/rollouts.baseline.jsonl` and `rollouts.candidate.jsonl`.
    """)
    return


@app.cell
def _():
    args = inputs.notebook_args()
    base_in = inputs.resolve_input(args, "baseline")
    cand_in = inputs.resolve_input(args, "candidate")
    inputs_read = [str(i.path) for i in (base_in, cand_in) if i.exists]
    seeds = {"bootstrap_seed": 0}
    mo.md(base_in.note + "\n\n" + cand_in.note)
    return base_in, cand_in, inputs_read, seeds


@app.cell
def _(base_in, cand_in):
    cmp = pf = None
    if base_in.exists and cand_in.exists:
        cmp = compare_rollouts(read_rollouts(base_in.path), read_rollouts(cand_in.path), intersect=True,
                               seed=0, base_name=inputs.run_label(base_in),
                               cand_name=inputs.run_label(cand_in))
        pf = compare_view.paired_frame(rollouts_frame(base_in.path), rollouts_frame(cand_in.path))
    return cmp, pf


@app.cell(hide_code=True)
def _(cmp):
    mo.stop(cmp is None, mo.md("_Both rollout files are needed for the comparison._"))
    _t = cmp["table"]
    mo.vstack([
        mo.md(f"""
    ## {cmp['candidate']} vs {cmp['baseline']}

    Pairing **{cmp['pairing']}** over **{cmp['n_tasks']}** tasks. pass@1 {cmp['baseline_pass_at_1']:.3f} →
    {cmp['candidate_pass_at_1']:.3f}; difference **{cmp['diff']:+.3f}**, 95% CI
    [{cmp['diff_ci'][0]:+.3f}, {cmp['diff_ci'][1]:+.3f}] ({cmp['ci_method']}).
    Exact McNemar p = **{cmp['mcnemar_p']:.4g}**, mid-p = {cmp['mcnemar_midp']:.4g}
    (discordant: {_t['b']} baseline-only, {_t['c']} candidate-only).
    {('_' + cmp['mcnemar_note'] + '_') if cmp['mcnemar_note'] else ''}

    Task-level tests on per-task pass rates: Wilcoxon signed-rank p = {cmp['wilcoxon']['pvalue']:.4g}
    ({cmp['wilcoxon']['method']}, {cmp['wilcoxon']['n_nonzero']} tasks differ), sign-flip permutation
    p = {cmp['permutation']['pvalue']:.4g} ({'exact' if cmp['permutation'].get('exact') else str(cmp['permutation']['n_resamples']) + ' resamples'}).
    """),
        compare_view.table_frame(_t),
    ])
    return


@app.cell(hide_code=True)
def _(pf):
    mo.stop(pf is None)
    cell_pick = mo.ui.dropdown(options=["all", "candidate only", "baseline only", "both pass", "both fail"],
                               value="all", label="tasks")
    cell_pick
    return (cell_pick,)


@app.cell
def _(cell_pick, pf):
    _view = pf if cell_pick.value == "all" else pf.filter(pl.col("cell") == cell_pick.value)
    _chart_df = _view.select("task_id", "base_rate", "cand_rate", "cell")
    mo.vstack([
        charts.scatter_chart(_chart_df, "base_rate", "cand_rate", color="cell",
                                title="Per-task pass rate: baseline vs candidate"),
        _view.select("task_id", "cell", "base_n", "base_c", "cand_n", "cand_c", "rate_diff"),
    ])
    return


@app.cell(hide_code=True)
def _():
    alpha_pick = mo.ui.slider(0.01, 0.10, step=0.01, value=0.05, label="alpha")
    power_pick = mo.ui.slider(0.5, 0.95, step=0.05, value=0.8, label="power")
    mo.vstack([mo.md("## Power planning (exact McNemar)"), mo.hstack([alpha_pick, power_pick], justify="start")])
    return alpha_pick, power_pick


@app.cell
def _(alpha_pick, cmp, power_pick):
    mo.stop(cmp is None)
    plan = power_plan(cmp["baseline_pass_at_1"], alpha=alpha_pick.value, power=power_pick.value)
    plan_df = pl.DataFrame(plan["rows"], infer_schema_length=None)
    mo.vstack([mo.md(f"Tasks needed to detect each improvement over the baseline's "
                     f"{plan['baseline_rate']:.3f} ({plan['method']}; discordance: {plan['discordant']})."),
               plan_df])
    return (plan_df,)


@app.cell
def _(cmp):
    key_numbers, verdict_lines = compare_view.summary(cmp)
    return key_numbers, verdict_lines


@app.cell
def test_discordance_view_matches_table(cmp, pf):
    # per-task first-sample cells agree with the greedy 2x2 table when one sample per task
    if cmp is None:
        assert pf is None
    elif cmp["pairing"] == "greedy":
        _n = dict(pf.group_by("cell").agg(pl.len()).iter_rows())
        assert _n.get("baseline only", 0) == cmp["table"]["b"]
        assert _n.get("candidate only", 0) == cmp["table"]["c"]
    if cmp is not None:
        assert pf.height == cmp["n_tasks"]
    return


if __name__ == "__main__":
    app.run()
