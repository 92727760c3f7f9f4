"""Issue 16's downstream flows on stdin and call tasks: the test-strength audit, training, notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeself.audit import audit_tasks
from codeself.audit.pipeline import outcome_eq, task_kind
from codeself.sandbox import evaluate_stdin
from codeself.tasks import Task, load_tasks

EX = Path(__file__).resolve().parents[1] / "data" / "examples"
SOLUTIONS = EX / "competitive.solutions.jsonl"
MAX_REF = "n = int(input())\na = list(map(int, input().split()))\nprint(max(a))\n"


def _stdin_task(tid: str, cases: list[tuple[str, str]], reference: str, **kw) -> Task:
    tests = [{"input": i, "output": o} for i, o in cases]
    return Task(task_id=tid, prompt="Print the largest of n integers.", entry_point="", public_tests=tests[:1],
                hidden_tests=tests[1:], canonical_solution=reference, **kw)


def _prepare_examples(tmp_path: Path, capsys) -> Path:
    from helpers import run_cli

    parts = []
    for fmt in ("livecodebench", "codecontests", "apps"):
        out = tmp_path / f"{fmt}.jsonl"
        code, _o, err = run_cli(["tasks", "prepare", "--format", fmt, "--input", str(EX / f"{fmt}.jsonl"),
                                 "--output", str(out)], capsys)
        assert code == 0, err
        parts.append(out.read_text())
    tasks = tmp_path / "competitive.jsonl"
    tasks.write_text("".join(parts))
    return tasks


# ---- the sandbox's raw stdin runs (what the audit compares) --------------------------------------------

def test_evaluate_stdin_returns_each_runs_stdout_and_contains_bad_runs():
    ok, flood, hang = evaluate_stdin([
        ("n = int(input())\nprint(n * 2)\n", ["3\n", "x\n", "5"]),
        ("print('x' * 10_000_000)\n", ["1\n"]),
        ("while True:\n    pass\n", ["1\n"]),
    ], workers=2, timeout=5, time_limit_s=0.5)
    assert [o.decoded() for o in ok] == ["6\n", None, "10\n"]
    assert not ok[1].ok and ok[1].error_type == "ValueError"  # a script that raises: an error outcome
    assert not flood[0].ok and flood[0].error_type == "ScriptExit" and "output longer" in flood[0].error_message
    assert not hang[0].ok and hang[0].error_type in ("Timeout", "Crashed")


# ---- the audit on stdin and call tasks ------------------------------------------------------------------

def test_outcome_equality_is_the_tasks_judge():
    yes = Task(task_id="j", prompt="", entry_point="", public_tests=[{"input": "", "output": "YES"}], hidden_tests=[])
    assert task_kind(yes) == "stdin"
    assert not outcome_eq(yes)("YES\n", "yes\n")  # no judge: exact
    yes.judge = "codecontests"
    assert outcome_eq(yes)("YES\n", "yes\n")  # case-insensitive, as the grader judges
    yes.judge = "tokens"
    assert outcome_eq(yes)("1 2\n", "1\n2\n") and not outcome_eq(yes)("1 2\n", "1\n")
    call = Task(task_id="c", prompt="", entry_point="f", public_tests=[{"args": [1], "expected": [1, 2]}],
                hidden_tests=[])
    assert task_kind(call) == "call"
    assert outcome_eq(call)((1, 2), [1, 2])  # tuples count as lists, as in call tests
    assert not outcome_eq(call)([1, 2], [True, 2])  # exact types


def test_audit_flags_a_weak_stdin_task_and_not_a_strong_one():
    weak = _stdin_task("cp/weak", [("3\n5 5 5\n", "5\n"), ("1\n7\n", "7\n"), ("2\n4 4\n", "4\n")], MAX_REF,
                       judge="tokens")
    strong = _stdin_task("cp/strong", [("3\n1 9 4\n", "9\n"), ("2\n-3 -8\n", "-3\n"), ("1\n7\n", "7\n"),
                                       ("4\n2 8 8 1\n", "8\n")], MAX_REF, judge="tokens")
    w, s = audit_tasks([weak, strong], mutants=12, seed=0, workers=2, progress=False)
    assert w["status"] == s["status"] == "audited", (w["reason"], s["reason"])
    assert w["test_kind"] == s["test_kind"] == "stdin"
    assert w["weak"] is True and w["accepted_by_all"] >= 1
    ex = w["example"]
    assert "min(a)" in ex["mutant_code"] and ex["input_is_fresh"]
    # the witness is real: the reference and the mutant disagree on the exposing input
    ref_out, mut_out = (o[0].decoded() for o in evaluate_stdin(
        [(MAX_REF, [ex["exposing_input"]]), (ex["mutant_code"], [ex["exposing_input"]])], workers=2))
    assert ref_out.split() != mut_out.split()
    assert s["weak"] is False and s["confirmed_wrong"] >= 1 and s["accepted_by_all"] == 0
    assert s["inputs"]["observed"] == 4 and s["inputs"]["fresh"] > 0


def test_audit_on_a_call_task_with_a_solution_class():
    ref = "class Solution:\n    def best(self, xs):\n        return max(xs)\n"
    weak = Task(task_id="lc/weak", prompt="", entry_point="best", canonical_solution=ref,
                public_tests=[{"args": [[3, 3]], "expected": 3}], hidden_tests=[{"args": [[1]], "expected": 1}])
    strong = Task(task_id="lc/strong", prompt="", entry_point="best", canonical_solution=ref,
                  public_tests=[{"args": [[1, 5, 2]], "expected": 5}], hidden_tests=[{"args": [[-4, -9]], "expected": -4}])
    w, s = audit_tasks([weak, strong], mutants=8, seed=0, workers=2, progress=False)
    assert w["test_kind"] == s["test_kind"] == "call"
    assert w["weak"] is True and w["example"]["exposing_input"].startswith("Solution().best(")
    assert s["status"] == "audited" and s["weak"] is False and s["confirmed_wrong"] >= 1


HOSTILE = {  # each has mutation sites, so only its verdict (not a missing site) can skip it
    "cp/flood": "n = int(input())\nprint('x' * 10_000_000 + str(n + 1))\n",
    "cp/hang": "n = int(input())\nwhile n > 0:\n    n = n + 1\n",
    "cp/files": "n = int(input())\nprint(open('/etc/hostname').read()[: n + 1])\n",
}


def test_hostile_references_cost_only_their_own_task():
    cases = [("3\n1 9 4\n", "9\n"), ("2\n-3 -8\n", "-3\n")]
    tasks = [_stdin_task(tid, cases, code, time_limit_s=1.0) for tid, code in HOSTILE.items()]
    # a reference that passes its tests but floods, hangs or reads files on some other inputs
    sly = ("n = int(input())\na = list(map(int, input().split()))\n"
           "if a[0] == 2:\n    print('x' * 10_000_000)\nelif a[0] == 3:\n    while True:\n        pass\n"
           "elif a[0] == 5:\n    print(open('/etc/hostname').read())\nelse:\n    print(max(a))\n")
    tasks.append(_stdin_task("cp/sly", cases + [("1\n7\n", "7\n"), ("2\n1 6\n", "6\n")], sly, time_limit_s=1.0))
    tasks.append(_stdin_task("cp/good", cases, MAX_REF))
    recs = {r["task_id"]: r for r in audit_tasks(tasks, mutants=6, seed=0, workers=2, progress=False, timeout=5)}
    for tid in HOSTILE:
        assert recs[tid]["status"] == "skipped" and "fails its own tests" in recs[tid]["reason"], recs[tid]
    sly_rec = recs["cp/sly"]
    assert sly_rec["status"] == "audited", sly_rec["reason"]
    assert 0 < sly_rec["inputs"]["valid"] < sly_rec["inputs"]["observed"] + sly_rec["inputs"]["fresh"]
    assert recs["cp/good"]["status"] == "audited" and recs["cp/good"]["confirmed_wrong"] >= 1
    assert all(r["infra_errors"] == 0 for r in recs.values())


def test_a_stdin_task_with_a_checker_is_skipped_with_the_reason():
    t = _stdin_task("cp/chk", [("1 2\n", "2 1\n")], "print(*reversed(input().split()))\n",
                    checker="def check(i, o, e):\n    return sorted(o.split()) == sorted(i.split())\n")
    (r,) = audit_tasks([t], mutants=4, workers=1, progress=False)
    assert r["status"] == "skipped" and "checker" in r["reason"]


def test_cli_audits_the_bundled_competitive_examples_with_references(tmp_path, capsys):
    from helpers import run_cli

    tasks = _prepare_examples(tmp_path, capsys)
    out, rep = tmp_path / "audit.jsonl", tmp_path / "audit.md"
    code, stdout, err = run_cli(["tasks", "audit", "--tasks", str(tasks), "--references", str(SOLUTIONS),
                                 "--output", str(out), "--report", str(rep), "--mutants", "8", "--workers", "2",
                                 "--no-progress"], capsys)
    assert code == 0, err
    recs = {r["task_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert list(recs) == [t.task_id for t in load_tasks(tasks)]
    kinds = {tid: r["test_kind"] for tid, r in recs.items()}
    assert kinds == {"atcoder/abc001_a": "stdin", "leetcode/1": "call", "1A_sum_pairs": "stdin",
                     "1B_yes_no": "stdin", "apps/1": "stdin", "apps/2": "call"}
    for tid, r in recs.items():
        assert r["status"] == "audited", (tid, r["reason"])
        assert r["confirmed_wrong"] >= 1 and r["inputs"]["observed"] >= 1 and r["inputs"]["used"] >= 1
    # LiveCodeBench ships no reference: the first passing program of the solutions file is used
    assert recs["leetcode/1"]["reference"].endswith("sample correct")
    assert recs["1A_sum_pairs"]["reference"] == "canonical_solution"
    assert "audited 6 of 6 tasks" in stdout
    assert rep.read_text().startswith("# Test-strength audit")


def test_cli_audit_bad_references_fail_clearly(tmp_path, capsys):
    from helpers import run_cli

    tasks = _prepare_examples(tmp_path, capsys)
    lcb = tmp_path / "lcb_only.jsonl"
    lcb.write_text((tmp_path / "livecodebench.jsonl").read_text())
    out = tmp_path / "a.jsonl"
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"task_id": "leetcode/1", "code": "x = 1\n"}) + "\n" + json.dumps({"task_id": 5}) + "\n")
    code, _o, err = run_cli(["tasks", "audit", "--tasks", str(lcb), "--references", str(bad), "--output", str(out),
                             "--no-progress"], capsys)
    assert code == 1 and f"{bad}:2" in err and "task_id" in err and "Traceback" not in err
    assert not out.exists()
    # no reference anywhere: a one-line error that says how to give one
    code, _o, err = run_cli(["tasks", "audit", "--tasks", str(lcb), "--output", str(out), "--no-progress"], capsys)
    assert code == 1 and "--references" in err and "Traceback" not in err and not out.exists()
    # only failing programs: nothing to audit
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text("".join(json.dumps(s) + "\n" for s in map(json.loads, SOLUTIONS.read_text().splitlines())
                             if s["sample_id"] != "correct"))
    code, _o, err = run_cli(["tasks", "audit", "--tasks", str(lcb), "--references", str(wrong), "--output", str(out),
                             "--no-progress"], capsys)
    assert code == 1 and "no task has a canonical_solution" in err and not out.exists()
    assert tasks.exists()


# ---- training on stdin and call tasks --------------------------------------------------------------------

def _competitive_tasks() -> list[Task]:
    from codeself.competitive import from_apps, from_codecontests, from_livecodebench

    tasks = [*from_livecodebench(EX / "livecodebench.jsonl"), *from_codecontests(EX / "codecontests.jsonl"),
             *from_apps(EX / "apps.jsonl")]
    for t in tasks:  # train on stdin and call tasks of every format; hold one of each kind out
        t.split = "test" if t.task_id in ("1B_yes_no", "apps/2") else "train"
    return tasks


def _solutions(tid: str) -> dict[str, str]:
    return {s["sample_id"]: s["code"] for s in map(json.loads, SOLUTIONS.read_text().splitlines())
            if s["task_id"] == tid}


def test_sandbox_reward_on_stdin_and_call_completions():
    """Rewards for these tasks come from the real sandbox: right programs earn 1.0, wrong and hostile < 0.5."""
    from codeself.training.metrics import SandboxReward
    from codeself.training.nano import format_prompt

    by_id = {t.task_id: t for t in _competitive_tasks()}
    rw = SandboxReward(by_id, workers=2, reward="partial")
    tids, comps = [], []
    for tid in ("atcoder/abc001_a", "leetcode/1", "1A_sum_pairs", "apps/2"):
        sols = _solutions(tid)
        for k in ("correct", "wrong", "hostile"):
            tids.append(tid)
            comps.append(f"```python\n{sols[k]}```\n")
    # a completion-style continuation of the LeetCode starter: combined with the prompt, it must compile
    tids.append("leetcode/1")
    comps.append("for i in range(len(nums)):\n            for j in range(i):\n"
                 "                if nums[i] + nums[j] == target:\n                    return [j, i]\n")
    vals = rw([format_prompt(by_id[t]) for t in tids], comps, task_id=tids)
    m = rw.take()
    assert vals[0::3][:4] == [1.0, 1.0, 1.0, 1.0], vals
    assert all(v is not None and v < 0.5 for v in vals[1:12:3] + vals[2:12:3]), vals
    assert vals[12] == 1.0, vals
    assert m["reward_pass_rate"] == pytest.approx(5 / 13)


def test_ppo_trains_on_stdin_and_call_tasks(tmp_path):
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM

    from codeself.tasks import write_tasks
    from codeself.training.config import TrainConfig
    from codeself.training.nano import NanoConfig, build_nano
    from codeself.training.runner import run_training

    def params(path):
        return {k: v.detach().clone() for k, v in AutoModelForCausalLM.from_pretrained(path).state_dict().items()}

    model = build_nano(tmp_path / "model", progress=False, config=NanoConfig(
        seed=0, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, sft_steps=40, n_train=100,
        batch_size=16, lr=1e-2))
    tasks = tmp_path / "tasks.jsonl"
    write_tasks(tasks, _competitive_tasks())
    out = tmp_path / "ppo"
    cfg = TrainConfig(algo="ppo", tasks=str(tasks), model=str(model), output_dir=str(out), group_size=4,
                      batch_size=8, max_steps=2, lr=5e-3, max_completion_length=12, eval_every=0, eval_samples=2,
                      save_every=1, workers=1)
    final = run_training(cfg, progress=False)
    before, after = params(model), params(final)
    assert [k for k in before if not torch.equal(before[k], after[k])], "no parameter changed"
    recs = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2]
    for r in recs:
        assert r["n_executed"] + r["n_cached"] == 8 and r["n_completions"] == 8
        assert -1.0 <= r["reward_mean"] <= 1.0, r
        assert abs(sum(v for k, v in r.items() if k.startswith("status_")) - 1.0) < 1e-6  # every outcome graded
    assert recs[-1]["heldout_n"] == 2  # the held-out stdin and call task


# ---- notebooks 01-03 on stdin and call tasks ------------------------------------------------------------

@pytest.fixture(scope="module")
def competitive_run(tmp_path_factory):
    """Prepared tasks of all three formats, their audit, and rollouts replayed by the static backend
    from the bundled solutions file (3 per task: correct, wrong, hostile)."""
    from codeself.cli import main

    def cli(argv):
        try:
            main(argv)
        except SystemExit as e:
            assert e.code in (0, None), (argv, e.code)

    root = tmp_path_factory.mktemp("competitive")
    parts = []
    for fmt in ("livecodebench", "codecontests", "apps"):
        cli(["tasks", "prepare", "--format", fmt, "--input", str(EX / f"{fmt}.jsonl"), "--output", str(root / fmt)])
        parts.append((root / fmt).read_text())
    tasks = root / "tasks.jsonl"
    tasks.write_text("".join(parts))
    rollouts = root / "rollouts.jsonl"
    cli(["rollouts", "generate", "--tasks", str(tasks), "--backend", "static", "--model", str(SOLUTIONS), "-n", "3",
         "--output", str(rollouts), "--no-progress"])
    audit = root / "audit.jsonl"
    cli(["tasks", "audit", "--tasks", str(tasks), "--references", str(SOLUTIONS), "--output", str(audit),
         "--mutants", "4", "--no-progress"])
    return tasks, rollouts, audit


def test_static_backend_replays_a_solutions_file(competitive_run):
    _tasks, rollouts, _audit = competitive_run
    recs = [json.loads(x) for x in rollouts.read_text().splitlines()]
    sols = [json.loads(x) for x in SOLUTIONS.read_text().splitlines()]
    assert [(r["task_id"], r["sample_id"]) for r in recs] == [(s["task_id"], k % 3) for k, s in enumerate(sols)]
    for r, s in zip(recs, sols, strict=True):  # sample k of a task is its k-th program, parsed to itself
        assert r["code"] == (s["code"] or None), (r["task_id"], r["sample_id"])
        assert r["result"]["passed"] == (s["sample_id"] == "correct"), (r["task_id"], s["sample_id"])


def _shown(widget_tests: list) -> str:
    assert all(isinstance(t, str) for t in widget_tests), widget_tests
    return "\n".join(widget_tests)


def test_datasets_notebook_on_stdin_and_call_tasks(competitive_run, monkeypatch):
    from test_notebooks import check_contract, run_notebook

    tasks, _rollouts, audit = competitive_run
    defs = run_notebook("01_datasets.py", ["--tasks", str(tasks), "--audit", str(audit)], monkeypatch)
    check_contract(defs)
    kn = defs["key_numbers"]
    assert kn["tasks"] == 6 and kn["sources"] == 3
    assert kn["weak_tasks"] == 0  # every bundled task rejects its confirmed-wrong mutants
    records = {r["task_id"]: r for r in defs["browser"].widget.tasks}
    stdin_text = _shown(records["atcoder/abc001_a"]["public_tests"])
    assert "input:\n2\n1 3\n" in stdin_text and "expected output:\n3 1" in stdin_text
    assert _shown(records["leetcode/1"]["public_tests"]) == "twoSum([2, 7, 11, 15], 9) == [0, 1]"
    assert "input:" in _shown(records["1A_sum_pairs"]["hidden_tests"])
    json.dumps(records)  # what the widget syncs is plain JSON


@pytest.mark.parametrize("name", ["02_sandbox.py", "03_rewards.py"])
def test_sandbox_and_rewards_notebooks_on_stdin_and_call_rollouts(name, competitive_run, monkeypatch):
    from test_notebooks import check_contract, run_notebook

    tasks, rollouts, _audit = competitive_run
    defs = run_notebook(name, ["--tasks", str(tasks), "--rollouts", str(rollouts)], monkeypatch)
    check_contract(defs)
    kn = defs["key_numbers"]
    if name == "02_sandbox.py":
        assert kn["programs"] == 17 and kn["passed"] == 6 and kn["infra_errors"] == 0  # one hostile line: no code
    else:
        (label,) = [k[: -len(".rollouts")] for k in kn if k.endswith(".rollouts")]
        assert kn[f"{label}.rollouts"] == 18 and kn[f"{label}.excluded"] == 0
        assert kn[f"{label}.mean_reward"] == pytest.approx(sum(
            json.loads(x)["reward"] for x in rollouts.read_text().splitlines()) / 18, abs=1e-4)
    w = defs["explorer"].widget
    shown = {}
    for row in w.rows:
        if row["status"] == "failed":
            w.selected_key = row["key"]
            shown[(row["task_id"], row["sample_id"])] = w.detail["failing"]["test"]
    # the first failing test as text: a stdin test's input and expected output, a call and its value
    assert shown[("atcoder/abc001_a", "1")].startswith("input:\n") and "expected output:\n" in shown[("atcoder/abc001_a", "1")]
    assert shown[("leetcode/1", "1")].startswith("twoSum(") and " == " in shown[("leetcode/1", "1")]
    assert shown[("apps/2", "1")].startswith("square_all(")
