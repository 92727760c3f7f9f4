"""codeself.views: input resolution, filters, aggregations and each notebook's summary() with known answers."""

from __future__ import annotations

import json

import polars as pl
import pytest

from codeself.bench.notebooks import bench_notebooks, naive_dashboard_view, synthetic_rollout_frame
from codeself.io import DataError
from codeself.paths import REPO_ROOT
from codeself.solutions import read_programs
from codeself.tasks import Task, load_tasks
from codeself.training.metrics import read_metrics
from codeself.views import charts, compare, datasets, inputs, rewards, sandbox, traces, training


def _rows():
    return pl.DataFrame({
        "task_id": ["a/1", "a/1", "a/2", "b/1", "b/2", "b/2"],
        "sample_id": ["0", "1", "0", "0", "0", "1"],
        "status": ["passed", "failed", "passed", "infra_error", "timeout", "passed"],
        "passed": [True, False, True, False, False, True],
        "reward": [1.0, 0.5, 1.0, None, 0.0, 1.0],
        "public_passed": [1, 1, 1, 0, 0, 1], "public_total": [1, 1, 1, 1, 1, 1],
        "hidden_passed": [3, 1, 2, 0, 0, 2], "hidden_total": [3, 3, 2, 2, 2, 2],
    })


def test_filter_rollouts_each_control():
    df = _rows()
    assert rewards.filter_rollouts(df, statuses=["passed"]).height == 3
    assert rewards.filter_rollouts(df, task_query="a/").height == 3
    got = rewards.filter_rollouts(df, reward_min=0.4, reward_max=0.9)
    # the infra_error row has no reward: kept visible, never scored
    assert sorted(got["status"].to_list()) == ["failed", "infra_error"]
    assert rewards.filter_rollouts(df, statuses=["passed", "timeout"], task_query="b").height == 2


def test_dashboard_view_matches_naive():
    df = _rows()
    for f in [dict(), dict(statuses=["passed", "failed"]), dict(task_query="b", reward_min=0.0, reward_max=0.5)]:
        v = rewards.dashboard_view(df, bins=4, **f)
        n = naive_dashboard_view(df.to_dicts(), bins=4, **f)
        assert v.n_rows == n["n_rows"] and v.n_tasks == n["n_tasks"]
        assert v.reward_hist["count"].to_list() == n["reward_hist"]
        assert dict(zip(v.status["status"], v.status["count"], strict=True)) == n["status"]
    v = rewards.dashboard_view(df, bins=4)
    assert v.pass_rate == pytest.approx(3 / 6)
    assert v.mean_reward == pytest.approx((1 + 0.5 + 1 + 0 + 1) / 5)
    assert v.status["status"].to_list() == ["passed", "failed", "timeout", "infra_error"]


def test_histogram_counts_and_edges():
    h = charts.histogram([0.0, 0.1, 0.5, 1.0, 1.0, None], bins=2, lo=0.0, hi=1.0)
    assert h["count"].to_list() == [2, 3]
    assert h["bin_start"].to_list() == [0.0, 0.5] and h["bin_end"].to_list() == [0.5, 1.0]
    assert charts.histogram([], bins=3).height == 0


def test_tasks_frame_and_counts():
    tasks = load_tasks(inputs.EXAMPLE_FILES["tasks"])
    df = datasets.tasks_frame(tasks)
    assert df.height == 6
    assert (df["n_tests"] == df["n_public"] + df["n_hidden"]).all()
    counts = datasets.task_counts(df)
    assert counts["tasks"].sum() == 6


def test_leakage_findings_flags_visible_hidden_test():
    t = Task(task_id="x/1", prompt="def f(x):\n    '''>>> f(2)\n    4'''\n", entry_point="f",
             public_tests=[], hidden_tests=["assert f(2) == 4"], canonical_solution="def f(x):\n    return x*2\n")
    leaks = datasets.leakage_findings([t])
    assert leaks.filter(pl.col("kind") == "leak").height >= 1
    clean = Task(task_id="x/2", prompt="def f(x):\n    '''double'''\n", entry_point="f", public_tests=[],
                 hidden_tests=["assert f(3) == 6"])
    assert datasets.leakage_findings([clean]).height == 0


def test_resolve_input_explicit_run_example_and_missing(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text('{"step": 1}\n')
    assert inputs.resolve_input({"metrics": str(f)}, "metrics").source == "argument"
    with pytest.raises(FileNotFoundError, match="--metrics"):
        inputs.resolve_input({"metrics": str(tmp_path / "nope.jsonl")}, "metrics")
    run = tmp_path / "run1"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1}\n')
    got = inputs.resolve_input({"run": str(run)}, "metrics")
    assert got.source == "run" and got.path == (run / "metrics.jsonl").resolve()
    ex = inputs.resolve_input({}, "tasks")
    assert ex.source == "example" and "codeself tasks prepare" in ex.note
    miss = inputs.resolve_input({}, "metrics", example=tmp_path / "absent.jsonl")
    assert miss.source == "missing" and "codeself train" in miss.note
    many = inputs.resolve_many({"metrics": [str(f), str(f)], "run": str(run)}, "metrics")
    assert [m.source for m in many] == ["argument", "argument", "run"]


def test_read_metrics_tolerates_writer_mid_line(tmp_path):
    f = tmp_path / "metrics.jsonl"
    f.write_text('{"step": 2, "reward_mean": 0.5}\n{"step": 1, "reward_mean": 0.25, "note": "x"}\n{"step": 3, "rew')
    df, problems = read_metrics(f)
    assert df["step"].to_list() == [1, 2] and df["reward_mean"].to_list() == [0.25, 0.5]
    assert len(problems) == 1 and problems[0].line == 3
    f.write_text('{"reward_mean": 0.5}\n')
    with pytest.raises(DataError, match="step"):
        read_metrics(f)


def test_metrics_long_thins_long_runs():
    df = pl.DataFrame({"step": list(range(10_000)), "reward_mean": [i / 10_000 for i in range(10_000)]})
    long = training.metrics_long({"r": df}, ["reward_mean", "absent"], max_points=100)
    assert 90 <= long.height <= 100
    assert long["value"].is_sorted()


def test_per_task_and_paired_frame():
    base = _rows()
    cand = base.with_columns(pl.when(pl.col("task_id") == "b/2").then(True).otherwise(pl.col("passed")).alias("passed"))
    pf = compare.paired_frame(base, cand)
    # infra_error rows are excluded, so b/1 has no rows and is not paired
    assert pf["task_id"].to_list() == ["a/1", "a/2", "b/2"]
    cells = dict(zip(pf["task_id"], pf["cell"], strict=True))
    assert cells == {"a/1": "both pass", "a/2": "both pass", "b/2": "candidate only"}


def test_read_programs_counts_missing_code_and_locates_errors(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text(json.dumps({"task_id": "a", "code": "x=1"}) + "\n" + json.dumps({"task_id": "b", "code": None}) + "\n")
    progs, no_code = read_programs(f)
    assert [p["task_id"] for p in progs] == ["a"] and no_code == 1
    f.write_text(json.dumps({"task_id": "a", "code": 3}) + "\n")
    with pytest.raises(DataError, match=r"s.jsonl:1.*code"):
        read_programs(f)


def test_trace_normalisation_and_diff():
    tr = {"task_id": "t", "turns": [
        {"code": "def f():\n    return 1\n", "result": {"status": "failed", "passed": False}, "feedback": "f() == 2 failed"},
        {"code": "def f():\n    return 2\n", "result": {"status": "passed", "passed": True}},
    ]}
    n = traces.normalize_trace(tr)
    assert [u["status"] for u in n["turns"]] == ["failed", "passed"] and n["passed"]
    assert n["turns"][0]["diff"] == ""
    assert "-    return 1" in n["turns"][1]["diff"] and "+    return 2" in n["turns"][1]["diff"]
    tf = traces.traces_frame([tr])
    assert tf.row(0, named=True)["first_pass_turn"] == 1


def test_charts_embed_only_aggregates():
    df = synthetic_rollout_frame(20_000, seed=1)
    view = rewards.dashboard_view(df, bins=20)
    chart = charts.hist_chart(view.reward_hist)
    assert charts.chart_rows(chart) == 20
    chart.to_dict()  # no MaxRowsError: the 20k rows never reach altair


def test_synthetic_frame_is_deterministic():
    a = synthetic_rollout_frame(1000, seed=3)
    b = synthetic_rollout_frame(1000, seed=3)
    assert a.equals(b)
    assert a.filter(pl.col("status") == "infra_error")["reward"].null_count() == a.filter(
        pl.col("status") == "infra_error").height


def test_discover_task_files(tmp_path):
    (tmp_path / "data" / "processed").mkdir(parents=True)
    (tmp_path / "data" / "runs" / "r1").mkdir(parents=True)
    (tmp_path / "data" / "tasks.example.jsonl").write_text("{}\n")
    (tmp_path / "data" / "processed" / "he.jsonl").write_text("{}\n")
    (tmp_path / "data" / "runs" / "r1" / "tasks.jsonl").write_text("{}\n")
    (tmp_path / "data" / "runs" / "r1" / "rollouts.jsonl").write_text("{}\n")
    assert inputs.discover_task_files(tmp_path) == [
        "data/tasks.example.jsonl", "data/processed/he.jsonl", "data/runs/r1/tasks.jsonl"]


def test_study_verdicts_side_by_side_and_target(tmp_path):
    from codeself.views.training import study_verdicts, verdicts_frame

    # no runs: the bundled measured verdicts, both arms
    verdicts, note, read = study_verdicts({}, root=tmp_path / "runs")
    df = verdicts_frame(verdicts)
    assert "bundled" in note and read[0].endswith("study_verdicts.jsonl")
    assert set(df["arm"]) == {"default", "control"} and df.height == 6
    # the target is the verdict's flag: greedy improves with p < 0.01 and the sampled CI excludes 0 (from below)
    met = {(r["seed"], r["arm"]): r["target_met"] for r in df.iter_rows(named=True)}
    assert sorted(met.values()) == [False] * 3 + [True] * 3
    for v in verdicts:
        assert met[(v["seed"], v["arm"])] == v["significant"]
    base = {"seed": 9, "arm": "default", "n_tasks": 10, "baseline_pass_at_1": 0.5, "trained_pass_at_1": 0.9,
            "mcnemar_p": 0.001, "sampled_diff": 0.1, "sampled_diff_ci": [0.05, 0.15]}
    worse = {"baseline_pass_at_1": 0.6, "trained_pass_at_1": 0.5, "sampled_diff": 0.03, "sampled_diff_ci": [0.01, 0.05]}
    cases = [({}, True), ({"sampled_diff_ci": [-0.01, 0.2]}, False), ({"mcnemar_p": 0.02}, False),
             ({"baseline_pass_at_1": 0.95, "trained_pass_at_1": 0.5}, False),  # significantly worse
             ({**worse, "significant": True}, False),  # an old file's flag from the rule without the greedy direction
             ({"mcnemar_p": 0.02, "alpha": 0.05, "significant": True}, True)]  # a stored flag is read as stored
    frame = verdicts_frame([{**base, **change, "seed": i} for i, (change, _) in enumerate(cases)])
    assert frame["target_met"].to_list() == [ok for _, ok in cases]
    assert frame["holdout"].to_list() == ["test"] * len(cases)
    # a --study dir without verdict.json is an error naming it
    (tmp_path / "s").mkdir()
    try:
        study_verdicts({"study": str(tmp_path / "s")})
    except FileNotFoundError as e:
        assert str(tmp_path / "s") in str(e)
    else:
        raise AssertionError("expected FileNotFoundError")


def test_selection_frame_bundled_explicit_and_missing(tmp_path):
    import json

    from codeself.paths import EXAMPLES
    from codeself.views.charts import ci_chart
    from codeself.views.training import selection_frame

    df, note, read = selection_frame({}, root=tmp_path / "runs")
    assert "bundled" in note and read == [str(EXAMPLES / "selection.json")]
    bundled = json.loads((EXAMPLES / "selection.json").read_text())
    assert df.height == sum(len(c["runs"]) for c in bundled["candidates"])
    chosen = df.filter(df["chosen"])
    assert chosen["setting"].n_unique() == 1 and set(chosen["seed"]) == set(bundled["seeds"])
    assert ci_chart(df).to_dict()["layer"]  # CI rules, points and the zero line
    # a selection directory given explicitly (a copy with another choice) wins, by dir or file
    d = tmp_path / "sel"
    d.mkdir()
    (d / "selection.json").write_text(json.dumps({**bundled, "chosen_index": 0,
                                                  "chosen": bundled["candidates"][0]["setting"]}))
    df2, note2, read2 = selection_frame({"selection": str(d)})
    assert "--selection" in note2 and read2 == [str(d / "selection.json")]
    assert df2.filter(df2["chosen"])["setting"][0] == df2["setting"][0]
    try:
        selection_frame({"selection": str(tmp_path / "nope")})
    except FileNotFoundError as e:
        assert "nope" in str(e)
    else:
        raise AssertionError("expected FileNotFoundError")


def _negative_rows() -> pl.DataFrame:
    # rewards as codeself.rewards gives them: parse failure -1, syntax error -0.5, import error 0,
    # partial credit < 0.5, pass 1; one infra_error (no reward)
    rewards = [-1.0, -1.0, -0.5, 0.0, 0.25, 1.0, 1.0, None]
    statuses = ["failed", "failed", "syntax_error", "import_error", "failed", "passed", "passed", "infra_error"]
    return pl.DataFrame({
        "task_id": [f"t/{i % 3}" for i in range(8)], "status": statuses,
        "passed": [s == "passed" for s in statuses], "reward": rewards,
        "file": ["base"] * 4 + ["cand"] * 4,
    })


def test_reward_charts_count_negative_rewards_in_their_own_bins():
    df = _negative_rows()
    v = rewards.dashboard_view(df, bins=20)
    h = v.reward_hist
    assert h["bin_start"][0] == pytest.approx(-1.0) and h["bin_end"][-1] == pytest.approx(1.0)
    counts = dict(zip((round(x, 2) for x in h["bin_start"]), h["count"], strict=True))
    assert counts == {**{round(-1 + 0.1 * i, 2): 0 for i in range(20)}, -1.0: 2, -0.5: 1, 0.0: 1, 0.2: 1, 0.9: 2}
    assert v.reward_hist["count"].to_list() == naive_dashboard_view(df.to_dicts(), bins=20)["reward_hist"]

    by_file = rewards.reward_histograms(df.filter(pl.col("reward").is_not_null()), "file", bins=4)
    got = {g: sub["count"].to_list() for (g,), sub in by_file.group_by(["group"], maintain_order=True)}
    assert got == {"base": [2, 1, 1, 0], "cand": [0, 0, 1, 2]}  # bins [-1,-.5) [-.5,0) [0,.5) [.5,1]
    assert int(by_file["count"].sum()) == 7

    # the filter's bounds are the reward range: [-1, 0] keeps the four non-positive rewards
    assert rewards.reward_range(df["reward"]) == (-1.0, 1.0)
    assert rewards.filter_rollouts(df, reward_min=-1.0, reward_max=0.0, keep_null_reward=False).height == 4
    # a total below -1 (a quality term) widens the range instead of falling off the chart
    wide = df.with_columns(pl.when(pl.col("reward") == -1.0).then(-1.05).otherwise(pl.col("reward")).alias("reward"))
    assert rewards.reward_range(wide["reward"])[0] == pytest.approx(-1.05)
    assert int(rewards.dashboard_view(wide).reward_hist["count"][0]) == 2


def test_example_rollouts_note_names_the_notebooks_own_flags():
    notes = [i.note for i in inputs.example_rollouts("`--rollouts FILE` / `--run DIR`")]
    assert len(notes) == 2 and all(n.startswith("No `--rollouts FILE` / `--run DIR` given") for n in notes)
    assert not any("--baseline" in n or "--candidate" in n for n in notes)


def test_notebook_03_on_rollouts_with_negative_rewards(tmp_path):
    """Notebook 03, run and exported as `codeself report export` does, on a rollout file whose
    rewards go down to -1: its histograms count every scored rollout in the right bin."""
    import subprocess
    import sys

    from codeself.reports.export import export_notebook

    root = REPO_ROOT
    recs = [json.loads(x) for x in (root / "data/examples/rollouts.baseline.jsonl").read_text().splitlines()][:12]
    for r, (reward, status) in zip(recs, [(-1.0, "failed"), (-1.0, "failed"), (-0.5, "syntax_error"),
                                          (-0.5, "syntax_error"), (0.0, "import_error")], strict=False):
        r["reward"], r["result"]["status"], r["result"]["passed"] = reward, status, False
    rollouts = tmp_path / "neg.jsonl"
    rollouts.write_text("".join(json.dumps(r) + "\n" for r in recs))
    expected = sorted(r["reward"] for r in recs)
    assert expected[0] == -1.0

    code = ("import json, sys; from pathlib import Path; from codeself.reports.runner import load_app\n"
            "nb = Path(sys.argv[1]); sys.argv = [str(nb), '--rollouts', sys.argv[2]]\n"
            "_, d = load_app(nb).run()\n"
            "print(json.dumps({'hists': d['hists'].to_dicts(), 'view': d['view'].reward_hist.to_dicts(),"
            " 'notes': [s.note for s in d['sources']]}))\n")
    p = subprocess.run([sys.executable, "-c", code, str(root / "notebooks/03_rewards.py"), str(rollouts)],
                       capture_output=True, text=True, cwd=root, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    for rows in (got["hists"], got["view"]):
        assert rows[0]["bin_start"] == pytest.approx(-1.0) and rows[-1]["bin_end"] == pytest.approx(1.0)
        assert sum(r["count"] for r in rows) == len(expected) == 12
        for value in set(expected):
            in_bin = [r for r in rows if r["bin_start"] <= value < r["bin_end"] or (value == 1.0 == r["bin_end"])]
            assert sum(r["count"] for r in in_bin) == expected.count(value), value

    res = export_notebook(root / "notebooks/03_rewards.py", tmp_path / "reports", ["--rollouts", str(rollouts)])
    assert res.manifest["key_numbers"]["neg.rollouts"] == 12
    assert res.manifest["key_numbers"]["neg.mean_reward"] == pytest.approx(round(sum(expected) / 12, 4))


def test_bench_views_agree_on_bin_edges():
    """Rewards on bin edges (0.1, 0.2, … on a 0.1 grid from -1) fall in the same bin in polars and in
    the pure-Python baseline; bench_notebooks raises if any filter setting disagrees."""
    assert bench_notebooks(5000, repeats=1)["rows"] == 5000
    h = rewards.dashboard_view(pl.DataFrame({"task_id": ["a"] * 3, "status": ["failed"] * 3,
                                               "passed": [False] * 3, "reward": [0.1, 0.3, 0.7]})).reward_hist
    assert [round(x, 2) for x, c in zip(h["bin_start"], h["count"], strict=True) if c] == [0.1, 0.3, 0.7]


# ---------------------------------------------------------------------------------------------
# each notebook's summary(): the report numbers with known answers


def test_status_order_is_the_result_contract():
    from codeself.sandbox.result import STATUSES

    assert sandbox.STATUS_ORDER is STATUSES


def test_datasets_summary():
    tasks_df = pl.DataFrame({"split": ["train", "train", "test", "unassigned"], "source": ["a", "a", "b", "b"],
                             "n_hidden": [1, 3, 5, 7], "n_public": [0, 1, 1, 2]})
    leaks = pl.DataFrame({"kind": ["leak", "duplicate", "leak"]})
    k, lines = datasets.summary(tasks_df, leaks, 2)
    assert k == {"tasks": 4, "sources": 2, "train": 2, "validation": 0, "test": 1, "median_hidden_tests": 4.0,
                 "median_public_tests": 1.0, "leak_findings": 2, "hidden_moved_to_public": 2}
    assert lines == ["4 tasks from 2 sources; median 4 hidden and 1 public tests per task.",
                     "2 hidden-test leaks remain after conversion (2 tasks had visible hidden asserts moved to public)."]
    audit = pl.DataFrame({"weak": [True, None, False], "public_weak": [True, True, None]})
    k, lines = datasets.summary(tasks_df, leaks, 2, audit)
    assert (k["weak_tasks"], k["public_weak_tasks"]) == (1, 2)
    assert lines[-1].startswith("The test-strength audit flags 1 of 3 tasks as weak")


def test_sandbox_summary():
    res = pl.DataFrame({"status": ["passed", "failed", "passed", "infra_error"],
                        "passed": [True, False, True, False], "duration_s": [0.001, 0.002, 0.003, 0.004]})
    scans = pl.DataFrame({"rule": ["x"]})
    k, lines = sandbox.summary(res, scans)
    assert k == {"programs": 4, "passed": 2, "pass_rate": 0.5, "infra_errors": 1, "median_ms": 2.5,
                 "scan_findings": 1}
    assert lines[0] == ("2 of 4 programs passed every public and hidden test; statuses: passed 2, failed 1, "
                        "infra_error 1.")
    assert lines[1] == "Median wall time 2.5 ms per program; 1 infrastructure errors (excluded, never scored 0)."


def test_rewards_summary_is_evaluate_rollouts_per_label():
    from codeself.evaluation import evaluate_rollouts
    from codeself.rollouts import read_rollouts

    recs = [{**r, "file": lab} for lab in ("baseline", "candidate")
            for r in read_rollouts(inputs.EXAMPLE_FILES[lab])]
    evals, k, lines = rewards.summary(recs, ["baseline", "candidate"])
    assert list(evals) == ["baseline", "candidate"] and len(lines) == 2
    ev = evaluate_rollouts([r for r in recs if r["file"] == "candidate"], seed=0)
    assert k["candidate.rollouts"] == ev["n_records"] == sum(r["file"] == "candidate" for r in recs)
    assert k["candidate.mean_reward"] == round(ev["reward"]["mean"], 4)
    assert k["candidate.excluded"] == ev["reward"]["excluded"]
    assert lines[1].startswith(f"candidate: mean reward {ev['reward']['mean']:.3f} over {ev['reward']['n']} scored")


def test_training_summary():
    frames = {"run1": pl.DataFrame({"step": [1, 2, 3], "reward_mean": [0.1, None, 0.5],
                                    "heldout_greedy_pass_at_1": [None, 0.2, None]})}
    study = training.verdicts_frame([{"seed": 1, "arm": "default", "n_tasks": 10, "baseline_pass_at_1": 0.5,
                                      "trained_pass_at_1": 0.9, "mcnemar_p": 0.001, "sampled_diff": 0.1,
                                      "sampled_diff_ci": [0.05, 0.15]}])
    sel = pl.DataFrame({"setting": ["lr=1", "lr=2"], "chosen": [False, True]})
    k, lines = training.summary(frames, study, sel)
    assert k == {"runs": 1, "selection.chosen": "lr=2", "study.seed1.default.greedy_after": 0.9,
                 "study.seed1.default.mcnemar_p": 0.001, "run1.steps": 3, "run1.last_reward_mean": 0.5,
                 "run1.last_heldout_greedy_pass_at_1": 0.2}
    assert lines == ["Study seed 1 (default arm): greedy 0.500 → 0.900 (McNemar p = 0.001), sampled +0.100 "
                     "[+0.050, +0.150]; target met.",
                     "run1: 3 steps; reward_mean 0.100 → 0.500."]
    k, lines = training.summary({}, study.head(0), sel.head(0), missing_note="nothing here")
    assert k == {"runs": 0} and lines == ["No training metrics were available: nothing here"]


def test_compare_summary():
    cmp = {"baseline": "b", "candidate": "c", "n_tasks": 10, "pairing": "greedy", "baseline_pass_at_1": 0.4,
           "candidate_pass_at_1": 0.6, "diff": 0.2, "diff_ci": [0.05, 0.35], "mcnemar_p": 0.0625,
           "mcnemar_midp": 0.03125, "table": {"a": 3, "b": 0, "c": 2, "d": 5}, "wilcoxon": {"pvalue": 0.1},
           "permutation": {"pvalue": 0.12}}
    k, lines = compare.summary(cmp)
    assert k == {"n_tasks": 10, "pairing": "greedy", "baseline_pass_at_1": 0.4, "candidate_pass_at_1": 0.6,
                 "diff": 0.2, "diff_ci_low": 0.05, "diff_ci_high": 0.35, "mcnemar_p": 0.0625,
                 "mcnemar_midp": 0.03125, "b": 0, "c": 2, "wilcoxon_p": 0.1, "permutation_p": 0.12}
    assert lines[0] == "c vs b on 10 tasks: pass@1 0.400 → 0.600 (diff +0.200, 95% CI [+0.050, +0.350])."
    assert lines[1] == "Exact McNemar p = 0.0625 (2 tasks fixed, 0 broken; pairing greedy)."
    assert compare.summary(None) == ({"n_tasks": 0}, ["No comparison: the baseline or candidate rollout file is missing."])


def test_traces_summary():
    agent_summary = {"n_records": 4, "n_tasks": 2, "pass_at_1_first": 0.25, "pass_at_1_final": 0.75,
                     "paired": {"b": 0, "c": 2, "mcnemar_p": 0.5}, "excluded_infra": 0}
    tf = pl.DataFrame({"turns": [1, 2, 2, 3]})
    k, lines = traces.summary(agent_summary, tf)
    assert k == {"traces": 4, "tasks": 2, "pass_at_1_first": 0.25, "pass_at_1_final": 0.75, "fixed": 2, "broke": 0,
                 "mcnemar_p": 0.5, "mean_turns": 2.0, "excluded_infra": 0}
    assert lines == ["Self-debugging moved pass@1 from 0.250 to 0.750 over 2 tasks (2 fixed, 0 broken; "
                     "exact McNemar p = 0.5).", "Traces used 2.00 turns on average."]
    assert traces.summary(None, tf) == ({"traces": 0}, ["No traces were available."])


def test_hack_rises_marks_steps_where_hack_rate_goes_up():
    import polars as pl

    from codeself.views.training import hack_rises

    frames = {"mon": pl.DataFrame({"step": [1, 2, 3, 4, 5], "hack_rate": [0.0, 0.1, 0.1, 0.12, None]}),
              "plain": pl.DataFrame({"step": [1, 2], "reward_mean": [0.1, 0.2]})}
    r = hack_rises(frames, min_rise=0.05)
    assert r.to_dicts() == [{"run": "mon", "step": 2, "hack_rate": 0.1, "rise": 0.1}]
    assert hack_rises({"plain": frames["plain"]}).height == 0
