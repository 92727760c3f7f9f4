import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="CodeSelf · 04 training")

with app.setup:
    import marimo as mo
    import polars as pl

    from codeself.training.metrics import METRIC_FIELDS, read_metrics
    from codeself.views import charts, inputs
    from codeself.views import training as training_view


@app.cell(hide_code=True)
def _():
    mo.md(r"""
    # 04 · Training curves

    `metrics.jsonl` of one or more runs: reward, the informative-prompt share (groups whose rewards
    differ, so GRPO gets a gradient), entropy, KL, clip ratio, and held-out pass@1 over steps.
    **Refreshes live** while a run is writing (the auto-refresh below re-reads every file; a
    half-written last line is skipped and reported).

    Inputs: `--run DIR` (repeatable; reads `DIR/metrics.jsonl`) or `--metrics FILE` (repeatable).
    Default: the bundled `data/examples/metrics.jsonl`. Study verdicts, the arms side by side:
    `--study DIR` (repeatable; any arm, e.g. `data/runs/study-seed1-weak-tests` — its training curves are
    `--run DIR/grpo`), else every `data/runs/*/verdict.json`, else the bundled measured ones.
    How the study's settings were chosen: `--selection DIR` (a `codeself train select` directory),
    else `data/runs/select/`, else the bundled `data/examples/selection.json`.
    """)
    return


@app.cell
def _():
    args = inputs.notebook_args()
    runs = inputs.resolve_many(args, "metrics")
    metrics_inputs = [str(r.path) for r in runs if r.exists]
    seeds = {}
    return metrics_inputs, runs, seeds


@app.cell(hide_code=True)
def _():
    refresh = mo.ui.refresh(options=["1s", "2s", "5s", "10s", "30s"], default_interval="2s",
                            label="live refresh")
    refresh
    return (refresh,)


@app.cell
def _(refresh, runs):
    refresh.value  # re-run on every tick: re-read each run's metrics.jsonl
    frames = {}
    problems = []
    for _r in runs:
        if _r.exists:
            _df, _p = read_metrics(_r.path)
            frames[inputs.run_label(_r)] = _df
            problems.extend(_p)
    return frames, problems


@app.cell(hide_code=True)
def _(frames, problems, runs):
    _notes = [r.note for r in runs]
    _notes += [f"`{k}`: **{v.height} steps** read" for k, v in frames.items()]
    if problems:
        _notes.append("Skipped while reading (a run still writing leaves a partial last line): "
                      + "; ".join(str(p) for p in problems))
    if not frames:
        _notes.append("No metrics to show yet.")
    mo.md("\n\n".join(_notes))
    return


@app.cell(hide_code=True)
def _():
    # options do not depend on the refreshed frames, so a live refresh keeps the user's choice
    metric_pick = mo.ui.multiselect(options=list(METRIC_FIELDS),
                                    value=["reward_mean", "informative_share", "entropy", "kl", "clip_ratio",
                                           "heldout_greedy_pass_at_1", "heldout_sampled_pass_at_1"],
                                    label="metrics (those a run does not log are skipped)")
    metric_pick
    return (metric_pick,)


@app.cell
def _(frames, metric_pick):
    long = training_view.metrics_long(frames, metric_pick.value, max_points=300)
    (charts.line_chart(long, title="Training metrics by step") if long.height
     else mo.md("_No values for the chosen metrics yet._"))
    return (long,)


@app.cell(hide_code=True)
def _(frames):
    # the hacking monitor (--reward-tests public|hidden): reward vs monitor pass rates, hack_rate rises
    monitor = training_view.metrics_long(frames, training_view.MONITOR_FIELDS, max_points=300)
    rises = training_view.hack_rises(frames, min_rise=0.05)
    mo.vstack([
        charts.line_chart(monitor, title="Reward tests vs monitor tests") if monitor.height
        else mo.md("_No run with a hacking monitor (train with `--reward-tests public` or `hidden`)._"),
        mo.md(f"**Steps where `hack_rate` rose by ≥ 0.05:** {rises.height}") if monitor.height else mo.md(""),
        rises if rises.height else mo.md(""),
    ])
    return (monitor, rises)


@app.cell(hide_code=True)
def _(frames):
    # runs of `codeself train feedback`: the loop's numbers per step (first vs final attempt, graded
    # on the hidden tests; revisions that fixed, broke or repeated the attempt before)
    loop = training_view.metrics_long(frames, training_view.FEEDBACK_FIELDS, max_points=300)
    (mo.vstack([mo.md("## The feedback loop during training\n\nFirst attempt vs submission on the hidden "
                      "tests, the share of episodes fixed on revision 1, revisions that broke or repeated the "
                      "previous attempt, submissions that pass the public tests but fail a hidden one."),
                charts.line_chart(loop, title="Feedback loop by step")])
     if loop.height else mo.md("_No `codeself train feedback` run among the inputs._"))
    return (loop,)


@app.cell
def _(frames):
    last = training_view.metrics_last(frames, METRIC_FIELDS)
    last
    return (last,)


@app.cell
def _():
    studies, _note, study_inputs = training_view.study_verdicts(inputs.notebook_args())
    study_table = training_view.verdicts_frame(studies)
    feedback_table = training_view.feedback_verdicts_frame(studies)
    mo.vstack([
        mo.md("## Study verdicts: the arms side by side\n\n" + _note + " The `default` arm warm-starts on "
              "flawed demonstrations (a dropped-parentheses habit), `control` on clean ones; `weak-tests` is the "
              "default warm start trained on a reward whose (public) tests accept that habit, with the real "
              "(hidden) tests as monitor tests. Target: held-out greedy pass@1 (every test) improves with exact "
              "McNemar p < 0.01 **and** the sampled difference's 95% cluster-bootstrap CI excludes 0. Monitor "
              "columns (studies run with the monitor): greedy pass rate on the reward tests and on the monitor "
              "tests before/after (exact McNemar p on the monitor outcome), the held-out hack rate after "
              "training (reward tests passed, a monitor test failed) and the training `hack_rate` of the last 5 "
              "steps; empty where the reward paid every test."),
        study_table,
        mo.md("## Feedback study verdicts (`codeself study --protocol feedback`)\n\nThe self-debug loop "
              "before and after training with feedback (`default`) or with retry prompts (`control`); "
              "`improved`: final pass@1 up with p < 0.01 and a sampled CI above 0; `uses_feedback`: the same "
              "rule for the trained model's feedback loop against its retry loop.") if feedback_table.height
        else mo.md(""),
        feedback_table if feedback_table.height else mo.md(""),
    ])
    return feedback_table, study_inputs, study_table


@app.cell
def _():
    selection, _sel_note, selection_inputs = training_view.selection_frame(inputs.notebook_args())
    mo.vstack([
        mo.md("## How the study's settings were chosen\n\nOn the family's *validation* compositions, never on "
              "the held-out split (`codeself train select`). " + _sel_note),
        charts.ci_chart(selection, title="Validation: sampled pass@1 difference per setting and seed"),
        selection,
    ])
    return selection, selection_inputs


@app.cell
def _(feedback_table, frames, runs, selection, study_table):
    key_numbers, verdict_lines = training_view.summary(frames, study_table, selection,
                                                       missing_note=" ".join(r.note for r in runs),
                                                       feedback_table=feedback_table)
    return key_numbers, verdict_lines


@app.cell
def _(metrics_inputs, selection_inputs, study_inputs):
    inputs_read = metrics_inputs + study_inputs + selection_inputs
    return (inputs_read,)


@app.cell
def test_study_table_has_both_arms(study_table):
    assert study_table.height >= 1
    assert set(study_table.columns) >= {"seed", "arm", "greedy_before", "greedy_after", "mcnemar_p", "target_met"}
    return


@app.cell
def test_selection_has_one_chosen_setting(selection):
    assert selection.height >= 1
    assert selection.filter(pl.col("chosen"))["setting"].n_unique() == 1
    return


@app.cell
def test_long_frame_is_small(long, frames):
    assert (long.group_by("run", "metric").agg(pl.len().alias("n"))["n"].max() or 0) <= 300
    for _df in frames.values():
        assert _df["step"].is_sorted()
    return


if __name__ == "__main__":
    app.run()
