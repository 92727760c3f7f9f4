"""Sandbox behaviour: verdicts, phases, exact-type grading, streaming, evaluate_calls, scan, CLI."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from codeself import sandbox
from codeself.sandbox import SandboxConfig, evaluate_calls, imap, run, run_many, scan
from codeself.sandbox.result import STATUSES, Result
from codeself.tasks import Task, load_tasks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "data" / "tasks.example.jsonl"


def T(entry: str, public: list[str], hidden: list[str], setup: str = "", tid: str = "t/x") -> Task:
    return Task(task_id=tid, prompt="", entry_point=entry, public_tests=public, hidden_tests=hidden,
                setup_code=setup)


ADD = T("add", ["assert add(2, 3) == 5"], ["assert add(0, 0) == 0", "assert add(-4, 9) == 5"])


def test_example_canonical_solutions_pass_in_order_with_sample_ids():
    tasks = load_tasks(EXAMPLES)
    pairs = [(t, t.canonical_solution, f"s{k}") for k, t in enumerate(tasks)]
    results = run_many(pairs, workers=2, progress=False)
    assert [r.task_id for r in results] == [t.task_id for t in tasks]
    assert [r.sample_id for r in results] == [f"s{k}" for k in range(len(tasks))]
    for r, t in zip(results, tasks, strict=True):
        assert r.status == "passed", (r.task_id, r.error)
        assert r.passed and r.phase == "done"
        assert (r.public_passed, r.public_total) == (len(t.public_tests), len(t.public_tests))
        assert (r.hidden_passed, r.hidden_total) == (len(t.hidden_tests), len(t.hidden_tests))
        assert r.duration_s >= r.exec_duration_s > 0
        assert all(o.status == "passed" for o in r.tests)


WRONG = {
    "wrong value": ("def add(a, b):\n    return a * b + 1\n", "failed"),
    "bool for int": ("def add(a, b):\n    return True\n", "failed"),
    "returns None": ("def add(a, b):\n    pass\n", "failed"),
    "str result": ("def add(a, b):\n    return str(a + b)\n", "failed"),
    "raises": ("def add(a, b):\n    raise ValueError('no')\n", "runtime_error"),
    "asserts inside": ("def add(a, b):\n    assert False\n", "failed"),
    "syntax": ("def add(a, b)\n    return a + b\n", "syntax_error"),
    "import error": ("import not_a_module_xyz\ndef add(a, b):\n    return a + b\n", "import_error"),
    "module raises": ("raise RuntimeError('boom')\n", "import_error"),
    "missing function": ("def plus(a, b):\n    return a + b\n", "runtime_error"),
    "exit 0 at import": ("import sys\nsys.exit(0)\n", "import_error"),
}


def test_deliberately_wrong_solutions_all_fail_with_the_right_status():
    names = list(WRONG)
    results = run_many([(ADD, WRONG[n][0]) for n in names], workers=2, progress=False)
    for name, r in zip(names, results, strict=True):
        assert not r.passed, name
        assert r.status == WRONG[name][1], (name, r.status, r.error)
        assert r.public_total == 1 and r.hidden_total == 2
        assert len(r.tests) == 3 and not any(o.passed for o in r.tests), name
    by = dict(zip(names, results, strict=True))
    assert by["syntax"].phase == "syntax" and by["import error"].phase == "import"
    assert "ModuleNotFoundError" in by["import error"].error
    assert by["raises"].tests[0].error_type == "ValueError"


def test_public_failures_still_run_and_count_hidden_tests():
    task = T("f", ["assert f(1) == 100"], ["assert f(2) == 4", "assert f(3) == 9"])
    r = run(task, "def f(x):\n    return x * x\n")
    assert r.status == "failed" and r.phase == "done"
    assert (r.public_passed, r.public_total, r.hidden_passed, r.hidden_total) == (0, 1, 2, 2)


def test_hidden_tests_still_run_after_a_public_test_hangs():
    task = T("f", ["assert f(0) == 0"], ["assert f(2) == 4"])
    r = run(task, "def f(x):\n    while x == 0:\n        pass\n    return x * x\n", timeout_s=2.0)
    assert r.status == "timeout"
    assert r.tests[0].status == "timeout" and not r.tests[0].passed
    assert r.hidden_passed == 1 and r.hidden_total == 1


def test_tests_selector_public_and_hidden():
    code = "def add(a, b):\n    return a + b\n"
    pub = run(ADD, code, tests="public")
    assert (pub.public_total, pub.hidden_total, pub.passed) == (1, 0, True)
    hid = run(ADD, code, tests="hidden")
    assert (hid.public_total, hid.hidden_total, hid.passed) == (0, 2, True)
    with pytest.raises(ValueError, match="tests must be"):
        run(ADD, code, tests="some")


def test_exact_type_rule():
    t_int = T("f", ["assert f() == 1"], [])
    assert run(t_int, "def f():\n    return True\n").status == "failed"  # True != 1
    assert run(t_int, "def f():\n    return 1.0\n").status == "passed"   # documented int/float rule
    t_true = T("f", ["assert f() == True"], [])
    assert run(t_true, "def f():\n    return 1\n").status == "failed"
    t_list = T("f", ["assert f() == [1, 2]"], [])
    assert run(t_list, "def f():\n    return (1, 2)\n").status == "failed"
    assert run(t_list, "def f():\n    return [1, 2]\n").status == "passed"
    t_float = T("f", ["assert f() == 0.3"], [])
    assert run(t_float, "def f():\n    return 0.1 + 0.2\n").status == "failed"  # floats exact under ==


def test_tolerance_shapes_are_graded_in_the_parent():
    task = T("f", ["assert abs(f(1) - 0.3) < 1e-9", "assert math.isclose(f(2), 0.6)"],
             ["import math\nassert math.isclose(f(3), 0.9, rel_tol=1e-12)", "assert f(1) in [0.1, 0.30000000000000004]",
              "assert f(1) is not None", "assert not f(0)"], setup="import math")
    r = run(task, "def f(x):\n    return x * 0.1 + x * 0.2\n")
    assert r.status == "passed", r.error
    assert all(o.graded_in_parent for o in r.tests) and r.tamper_proof_share == 1.0
    wrong = run(task, "def f(x):\n    return x * 0.31\n")
    assert wrong.status == "failed" and wrong.public_passed == 0


def test_every_test_shape_is_graded_outside_the_program():
    task = T("f", ["for i in range(3):\n    assert f(i) == i * 2", "def check(candidate):\n    assert candidate(2) == 4\ncheck(f)"],
             ["assert f(1) == 2"])
    r = run(task, "def f(x):\n    return 2 * x\n")
    assert r.passed, r.error
    assert [o.graded_in_parent for o in r.tests] == [True, True, True]
    assert r.tamper_proof_share == 1.0
    assert run(task, "def f(x):\n    return 3 * x\n").tests[0].status == "failed"


def test_imap_streams_in_input_order():
    codes = ["def add(a, b):\n    import time; time.sleep(0.4)\n    return a + b\n",
             "def add(a, b):\n    return a + b\n", "def add(a, b):\n    return 0\n"]
    got = list(imap([(ADD, c, k) for k, c in enumerate(codes)], workers=2))
    assert [r.sample_id for r in got] == [0, 1, 2]
    assert [r.passed for r in got] == [True, True, False]


def test_stdout_and_stderr_are_captured():
    r = run(ADD, "import sys\nprint('hello')\nprint('warn', file=sys.stderr)\ndef add(a, b):\n    return a + b\n")
    assert r.passed and r.stdout == "hello\n" and r.stderr == "warn\n"


def test_evaluate_calls_exact_type_encodings_and_errors():
    prog = "def f(x):\n    return x\nclass C:\n    pass\n"
    [outs] = evaluate_calls([(prog, "", ["f(1)", "f(True)", "f(1.0)", "f((1, 2))", "f([1, 2])", "f({1: 'a'})",
                                         "f({3, 1})", "f(float('nan'))", "f(C())", "1 / 0", "f(2 ** 100)"])])
    vals = [o.value for o in outs]
    assert len({json.dumps(v) for v in vals[:5]}) == 5  # 1, True, 1.0, (1, 2), [1, 2] all differ
    assert outs[0].decoded() == 1 and type(outs[2].decoded()) is float
    assert outs[3].decoded() == (1, 2) and outs[5].decoded() == {1: "a"} and outs[6].decoded() == {1, 3}
    assert math.isnan(outs[7].decoded())
    assert "$o" in outs[8].value  # non-builtin type: opaque
    assert not outs[9].ok and outs[9].error_type == "ZeroDivisionError"
    assert outs[10].decoded() == 2 ** 100
    # one process per job; equal values give equal encodings across processes
    a, b = evaluate_calls([(prog, "", ["f([1, 2.5, 'x'])"]), ("def g():\n    return [1, 2.5, 'x']\n", "", ["g()"])])
    assert a[0].value == b[0].value
    [bad] = evaluate_calls([("raise ImportError('nope')", "", ["f(1)", "f(2)"])])
    assert [o.error_type for o in bad] == ["ImportError", "ImportError"]
    [hang] = evaluate_calls([("def f():\n    while True: pass\n", "", ["f()"])], timeout=1.0)
    assert hang[0].error_type == "Timeout"


def test_scan_reports_rules_and_block_policy_rejects():
    code = "import os\nimport sys\ndef add(a, b):\n    f = sys._getframe(1)\n    return eval('a+b')\n"
    found = scan(code)
    rules = {(f["rule"], f["line"], f["severity"]) for f in found}
    assert ("S101", 1, "high") in rules and ("S301", 4, "high") in rules and ("S201", 5, "high") in rules
    assert run(ADD, code).status == "passed"  # diagnostic by default
    r = run(ADD, code, scan_policy="block")
    assert r.status == "rejected" and not r.passed and "S101" in r.error
    assert run(ADD, "def add(a, b):\n    return a + b\n", scan_policy="block").status == "passed"
    assert scan("def f(:") == []


def test_result_roundtrip_and_statuses():
    r = run(ADD, "def add(a, b):\n    return a + b\n")
    assert r.status in STATUSES
    d = json.loads(json.dumps(r.to_dict()))
    assert Result.from_dict(d).to_dict() == r.to_dict()


def test_config_validation():
    with pytest.raises(ValueError, match="scan_policy"):
        SandboxConfig(scan_policy="maybe")
    with pytest.raises(TypeError, match="unknown SandboxConfig"):
        run(ADD, "x = 1", no_such_limit=3)


def test_cli_run_writes_results_and_rejects_bad_input(tmp_path):
    tasks = load_tasks(EXAMPLES)
    sols = tmp_path / "s.jsonl"
    lines = [{"task_id": t.task_id, "code": t.canonical_solution, "sample_id": 0} for t in tasks]
    lines.append({"task_id": tasks[0].task_id, "code": "def add(a, b):\n    return 0\n", "sample_id": 1})
    sols.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "r.jsonl"
    cmd = [sys.executable, "-m", "codeself.cli", "sandbox", "run", "--tasks", str(EXAMPLES), "--solutions", str(sols),
           "--output", str(out), "--workers", "2", "--timeout", "5", "--memory-mb", "512", "--no-progress"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == len(lines)
    assert [r["passed"] for r in rows] == [True] * len(tasks) + [False]
    for key in ("task_id", "sample_id", "passed", "status", "public_passed", "public_total", "hidden_passed",
                "hidden_total", "tests", "stdout", "stderr", "duration_s", "scan"):
        assert key in rows[0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"task_id": tasks[0].task_id, "code": "x = 1"}) + "\n"
                   + json.dumps({"task_id": "nope", "code": "x"}) + "\n")
    out2 = tmp_path / "r2.jsonl"
    p = subprocess.run(cmd[:8] + [str(bad), "--output", str(out2), "--no-progress"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 1
    assert f"{bad}:2" in p.stderr and "task_id" in p.stderr
    assert not out2.exists()


def test_humaneval_canonical_all_pass_and_broken_versions_all_fail():
    from codeself.datasets import from_humaneval

    tasks = from_humaneval(verify_examples=False)
    good = run_many([(t, t.canonical_solution) for t in tasks], tests="hidden", workers=2, progress=False)
    bad_status = [(r.task_id, r.status, r.error) for r in good if r.status != "passed"]
    assert not bad_status
    broken = []
    for t in tasks:  # the reference with every `return X` replaced by `return None`-like garbage
        broken.append((t, t.canonical_solution + f"\n\ndef {t.entry_point}(*args, **kwargs):\n    return object()\n"))
    bad = run_many(broken, workers=2, progress=False)
    assert [r.task_id for r in bad if r.passed] == []


def test_public_api_is_exported():
    for name in ("run", "run_many", "imap", "evaluate_calls", "scan", "SandboxConfig", "CallOutcome"):
        assert hasattr(sandbox, name)
