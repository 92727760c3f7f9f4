"""Tests of the test-strength audit (codeself/audit/) and `codeself tasks audit`."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from codeself.audit import (
    Call,
    audit_tasks,
    exclude_weak,
    fresh_inputs,
    infer_domain,
    infer_schema,
    load_weak_task_ids,
    make_mutants,
    observed_calls,
    render_report,
    select_mutants,
    summarize,
)
from codeself.io import DataError
from codeself.tasks import Task, load_tasks, write_tasks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "tasks.example.jsonl"


def _norm(code: str) -> str:
    return ast.unparse(ast.parse(code))


# ---------------------------------------------------------------------------------------------
# mutation operators


@pytest.mark.parametrize(
    ("source", "operator", "expected"),
    [
        ("def f(a, b):\n    return a < b\n", "compare_swap", "def f(a, b):\n    return a <= b"),
        ("def f(a, b):\n    return a == b\n", "compare_swap", "def f(a, b):\n    return a != b"),
        ("def f(a, b):\n    return a + b\n", "arith_swap", "def f(a, b):\n    return a - b"),
        ("def f(a, b):\n    a += b\n    return a\n", "arith_swap", "def f(a, b):\n    a -= b\n    return a"),
        ("def f(a, b):\n    return a and b\n", "bool_swap", "def f(a, b):\n    return a or b"),
        ("def f(a):\n    return a * 2\n", "const_off_by_one", "def f(a):\n    return a * 3"),
        ("def f(s):\n    return s[1:]\n", "slice_bound", "def f(s):\n    return s[1 + 1:]"),
        ("def f(s):\n    return s[1:]\n", "slice_bound", "def f(s):\n    return s[:]"),
        ("def f(n):\n    return list(range(n))\n", "range_bound", "def f(n):\n    return list(range(n - 1))"),
        ("def f(a, i):\n    return a[i]\n", "index_off_by_one", "def f(a, i):\n    return a[i + 1]"),
        ("def f(a):\n    if a:\n        return 1\n    return 2\n", "negate_condition",
         "def f(a):\n    if not a:\n        return 1\n    return 2"),
        ("def f(a):\n    x = 1\n    if a:\n        x = 2\n    else:\n        x = 3\n    return x\n", "drop_else",
         "def f(a):\n    x = 1\n    if a:\n        x = 2\n    return x"),
        ("def f(a, b):\n    return pow(a, b)\n", "swap_args", "def f(a, b):\n    return pow(b, a)"),
        ("def f():\n    return True\n", "flip_bool", "def f():\n    return False"),
        ("def f(a):\n    return -a\n", "drop_unary", "def f(a):\n    return a"),
        ("def f(a):\n    return max(a)\n", "swap_builtin", "def f(a):\n    return min(a)"),
        ("def f(a):\n    for x in a:\n        break\n    return a\n", "break_continue",
         "def f(a):\n    for x in a:\n        continue\n    return a"),
        ("def f(a, b):\n    return a > b\n", "negate_return", "def f(a, b):\n    return not a > b"),
        ("def f(a):\n    return len(set(a))\n", "drop_call", "def f(a):\n    return len(a)"),
        ("def f(s):\n    return s.lower()\n", "swap_method", "def f(s):\n    return s.upper()"),
        ("def f(s):\n    return ''.join(s)\n", "string_const", "def f(s):\n    return ' '.join(s)"),
        ("def f(s):\n    return s[::3]\n", "slice_bound", "def f(s):\n    return s[::3 + 1]"),
    ],
)
def test_each_operator_makes_the_named_ast_edit(source, operator, expected):
    mutants = make_mutants(source)
    made = {_norm(m.code) for m in mutants if m.operator == operator}
    assert _norm(expected) in made
    for m in mutants:
        compile(m.code, "<mutant>", "exec")


def test_mutants_are_distinct_differ_from_reference_and_spare_docstrings_imports_annotations():
    source = (
        "import math\n"
        "def f(xs: list[int], k: int = 2) -> int:\n"
        '    """Doc 1 < 2."""\n'
        "    total = 0\n"
        "    for x in xs:\n"
        "        if x > k:\n"
        "            total += x * 2\n"
        "        else:\n"
        "            total -= 1\n"
        "    return total\n"
    )
    mutants = make_mutants(source)
    codes = [_norm(m.code) for m in mutants]
    assert len(codes) == len(set(codes))
    assert _norm(source) not in codes
    for m in mutants:
        tree = ast.parse(m.code)
        assert isinstance(tree.body[0], ast.Import) and tree.body[0].names[0].name == "math"
        fn = tree.body[1]
        assert ast.get_docstring(fn) == "Doc 1 < 2."
        assert ast.unparse(fn.returns) == "int" and ast.unparse(fn.args.args[0].annotation) == "list[int]"
    assert {"compare_swap", "arith_swap", "const_off_by_one", "negate_condition", "drop_else"} <= {
        m.operator for m in mutants}


def test_source_equivalent_edits_are_deduplicated():
    # swapping two identical arguments is skipped; a - 0 style duplicates collapse by source
    mutants = make_mutants("def f(a):\n    return g(a, a) + h(a)\n")
    assert not [m for m in mutants if m.operator == "swap_args"]


def test_selection_is_deterministic_spread_over_operators_and_bounded():
    source = (
        "def f(xs, k):\n"
        "    out = []\n"
        "    for i in range(1, len(xs)):\n"
        "        if xs[i] > k and xs[i - 1] <= k or not xs:\n"
        "            out.append(max(xs[i] * 2, -k))\n"
        "        elif xs[i] == 0:\n"
        "            break\n"
        "        else:\n"
        "            out.append(xs[:i][1:])\n"
        "    return out == [] and True\n"
    )
    mutants = make_mutants(source)
    a = select_mutants(mutants, 24, seed=3, key="t")
    b = select_mutants(list(mutants), 24, seed=3, key="t")
    c = select_mutants(mutants, 24, seed=4, key="t")
    assert [m.code for m in a] == [m.code for m in b]
    assert [m.code for m in a] != [m.code for m in c]
    assert len(a) == 24
    ops = {m.operator for m in mutants}
    assert len({m.operator for m in a}) == min(len(ops), 24)
    assert select_mutants(mutants, 0) == []
    assert len(select_mutants(mutants[:5], 24)) == 5


# ---------------------------------------------------------------------------------------------
# input domain


def _task(tid, entry, code, public, hidden):
    return Task(task_id=tid, prompt=f"def {entry}(...):\n", entry_point=entry, public_tests=public,
                hidden_tests=hidden, canonical_solution=code)


def test_observed_calls_parse_literals_only_and_never_run_tests():
    t = _task("t", "f", "def f(x, y=0):\n    return x\n",
              ["assert f([1, 2], y=-3) == [1, 2]", "assert f('ab' * 2) == 'abab'"],
              ["x = 5\nassert f(x) == 5", "assert candidate((1, 'a')) is not None",
               "assert f(open('/etc/passwd').read()) == 1", "assert f([1, 2], y=-3) == [1, 2]"])
    calls = observed_calls(t)
    assert calls == [Call(([1, 2],), (("y", -3),)), Call(("abab",)), Call(((1, "a"),))]


def test_schema_records_signs_lengths_order_and_alphabet():
    s = infer_schema([[1, 3, 5], [0, 2], [7]])
    assert s["kind"] == "list" and s["order"] == "asc" and s["distinct"]
    assert s["elem"] == {"kind": "int", "lo": 0, "hi": 7} and (s["min_len"], s["max_len"]) == (1, 3)
    assert infer_schema(["ab", "ba", ""]) == {"kind": "str", "alphabet": "ab", "min_len": 0, "max_len": 2,
                                              "examples": ["ab", "ba"]}
    u = infer_schema([1, "a"])
    assert u["kind"] == "union" and {o["kind"] for o in u["options"]} == {"int", "str"}


def test_fresh_inputs_are_deterministic_new_and_stay_in_the_domain():
    calls = [Call(([1, 4, 9], "abc")), Call(([0, 2], "ca")), Call(([3, 5, 6, 8], "b"))]
    dom = infer_domain(calls)
    a = fresh_inputs(dom, 40, seed=1, key="k")
    assert a == fresh_inputs(dom, 40, seed=1, key="k")
    assert a != fresh_inputs(dom, 40, seed=2, key="k")
    assert len(a) == 40 and not set(map(repr, a)) & set(map(repr, calls))
    for c in a:
        xs, s = c.args
        assert isinstance(xs, list) and xs == sorted(xs) and len(set(xs)) == len(xs)
        assert all(isinstance(x, int) and x >= 0 for x in xs)
        assert isinstance(s, str) and set(s) <= set("abc")


def test_grids_keep_their_shape():
    dom = infer_domain([Call(([[1, 2], [3, 4]], 3)), Call(([[1, 2, 3], [4, 5, 6], [7, 8, 9]], 1))])
    assert dom.positional[0]["grid"] == "square"
    for c in fresh_inputs(dom, 30, seed=0):
        grid = c.args[0]
        assert all(len(row) == len(grid) for row in grid), grid


def test_a_single_observed_zero_still_yields_nonnegative_fresh_values():
    dom = infer_domain([Call((0,))])
    values = sorted(c.args[0] for c in fresh_inputs(dom, 40, seed=0))
    assert values and all(isinstance(v, int) and v > 0 for v in values)


# ---------------------------------------------------------------------------------------------
# end to end on the sandbox

WEAK = _task("plant/weak", "double", "def double(x):\n    return 2 * x\n", [], ["assert double(0) == 0"])
STRONG = _task("plant/strong", "triple", "def triple(x):\n    return 3 * x\n", ["assert triple(1) == 3"],
               ["assert triple(0) == 0", "assert triple(2) == 6", "assert triple(-4) == -12",
                "assert triple(7) == 21"])
NOREF = Task(task_id="plant/noref", prompt="def g(x):\n", entry_point="g", public_tests=[],
             hidden_tests=["assert g(1) == 1"])


@pytest.fixture(scope="module")
def planted_records():
    return audit_tasks([WEAK, STRONG, NOREF], mutants=24, seed=0, workers=2, progress=False)


def test_audit_flags_exactly_the_task_with_a_too_weak_test(planted_records):
    weak, strong, noref = planted_records
    assert weak["task_id"] == "plant/weak" and weak["status"] == "audited"
    assert weak["weak"] is True and weak["public_weak"] is True
    assert weak["confirmed_wrong"] >= 1 and weak["accepted_by_all"] >= 1
    ex = weak["example"]
    # the witness is real: the mutant still maps 0 to 0 but disagrees with 2*x on the exposing input
    ns: dict = {}
    exec(ex["mutant_code"], ns)  # the planted mutant is our own small program
    assert ns["double"](0) == 0
    arg = ast.literal_eval(ast.parse(ex["exposing_input"]).body[0].value.args[0])
    assert ns["double"](arg) != 2 * arg
    assert strong["status"] == "audited" and strong["weak"] is False and strong["accepted_by_all"] == 0
    assert strong["confirmed_wrong"] >= 1
    assert noref["status"] == "skipped" and "canonical_solution" in noref["reason"] and noref["weak"] is None
    s = summarize(planted_records)
    assert (s["n_audited"], s["n_weak"], s["n_skipped"]) == (2, 1, 1)
    assert s["weak_task_ids"] == ["plant/weak"]
    lo, hi = s["weak_ci95"]
    assert 0 < lo < 0.5 < hi < 1


def test_audit_is_deterministic_for_a_seed(planted_records):
    again = audit_tasks([WEAK, STRONG, NOREF], mutants=24, seed=0, workers=1, progress=False)
    assert again == planted_records
    assert render_report(again) == render_report(planted_records)


def test_report_lists_weak_tasks_with_interval(planted_records):
    text = render_report(planted_records, source="planted.jsonl")
    assert "| weak (all tests accept a wrong mutant) | 1 / 2 | 50.0% |" in text
    assert "plant/weak" in text.split("## Weak tasks")[1].split("## Skipped")[0]
    assert "plant/strong" not in text.split("## Weak tasks")[1]
    assert "plant/noref" in text.split("## Skipped tasks")[1]
    assert "## Mutation operators" in text and "| arith_swap |" in text


def test_exclude_weak_and_bad_audit_files(planted_records, tmp_path):
    from codeself.io import write_jsonl_atomic

    path = tmp_path / "audit.jsonl"
    write_jsonl_atomic(path, planted_records)
    assert load_weak_task_ids(path) == {"plant/weak"}
    kept, dropped = exclude_weak([WEAK, STRONG, NOREF], path)
    assert [t.task_id for t in kept] == ["plant/strong", "plant/noref"] and dropped == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "a", "weak": false}\n{"task_id": "b", "weak": "yes"}\n')
    with pytest.raises(DataError) as e:
        load_weak_task_ids(bad)
    assert "bad.jsonl:2" in str(e.value) and "'weak'" in str(e.value)
    with pytest.raises(DataError, match="does not exist"):
        load_weak_task_ids(tmp_path / "missing.jsonl")


def test_calls_built_at_run_time_are_recorded_in_the_sandbox():
    loop = _task("plant/loop", "inc", "def inc(x):\n    return x + 1\n", [],
                 ["for i in range(3):\n    assert inc(i) == i + 1"])
    (rec,) = audit_tasks([loop], mutants=8, seed=0, workers=2, progress=False)
    assert rec["status"] == "audited" and rec["inputs"]["recorded"] is True
    assert rec["inputs"]["observed"] == 3 and rec["confirmed_wrong"] >= 1
    # x + 1 -> x - 1 etc. are all caught by the loop: nothing survives
    assert rec["weak"] is False


def test_a_reference_that_fails_its_own_tests_is_skipped_with_the_reason():
    wrong = _task("plant/wrong", "neg", "def neg(x):\n    return x * 1\n", [], ["assert neg(2) == -2"])
    (rec,) = audit_tasks([wrong], mutants=4, seed=0, workers=1, progress=False)
    assert rec["status"] == "skipped" and "fails its own tests" in rec["reason"] and rec["weak"] is None


def test_audit_rejects_a_bad_mutant_budget():
    with pytest.raises(ValueError, match="mutants"):
        audit_tasks([WEAK], mutants=0)


# ---------------------------------------------------------------------------------------------
# CLI


def _cli(args):
    from codeself.cli import main

    with pytest.raises(SystemExit) as e:
        main(args)
    return e.value.code


def test_cli_audits_the_example_tasks_and_writes_records_and_report(tmp_path, capsys):
    out, rep = tmp_path / "audit.jsonl", tmp_path / "audit.md"
    code = _cli(["tasks", "audit", "--tasks", str(EXAMPLE), "--output", str(out), "--report", str(rep),
                 "--mutants", "6", "--seed", "1", "--workers", "2", "--no-progress"])
    assert code in (0, None)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["task_id"] for r in records] == [t.task_id for t in load_tasks(EXAMPLE)]
    for r in records:
        assert r["status"] == "audited", r
        assert 1 <= r["mutants_made"] <= 6 and r["confirmed_wrong"] <= r["mutants_made"]
        assert r["accepted_by_all"] <= r["accepted_by_public"] or r["public_tests"] > 0
        assert r["weak"] == (r["accepted_by_all"] > 0)
    assert rep.read_text().startswith("# Test-strength audit")
    assert "weak:" in capsys.readouterr().out


def test_cli_bad_input_fails_clearly_without_output(tmp_path, capsys):
    out = tmp_path / "audit.jsonl"
    assert _cli(["tasks", "audit", "--tasks", str(tmp_path / "nope.jsonl"), "--output", str(out)]) == 2
    assert "nope.jsonl" in capsys.readouterr().err and not out.exists()

    noref = tmp_path / "noref.jsonl"
    write_tasks(noref, [NOREF])
    assert _cli(["tasks", "audit", "--tasks", str(noref), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "canonical_solution" in err and "noref.jsonl" in err and not out.exists()

    assert _cli(["tasks", "audit", "--tasks", str(EXAMPLE), "--output", str(out), "--mutants", "0"]) == 2
    assert "--mutants" in capsys.readouterr().err and not out.exists()

    dup = tmp_path / "dup.jsonl"
    write_tasks(dup, [WEAK, WEAK])
    assert _cli(["tasks", "audit", "--tasks", str(dup), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "duplicate task id" in err and "plant/weak" in err and not out.exists()

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "x", "prompt": "p", "entry_point": "f", "public_tests": [], "hidden_tests": 3}\n')
    assert _cli(["tasks", "audit", "--tasks", str(bad), "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "bad.jsonl:1" in err and "hidden_tests" in err and not out.exists()


def test_cli_creates_a_missing_output_folder(tmp_path, capsys):
    """Like every other command, `tasks audit` creates the folder of --output / --report."""
    one = tmp_path / "one.jsonl"
    write_tasks(one, [WEAK])
    out, rep = tmp_path / "new" / "deeper" / "audit.jsonl", tmp_path / "other" / "audit.md"
    assert _cli(["tasks", "audit", "--tasks", str(one), "--output", str(out), "--report", str(rep),
                 "--mutants", "2", "--workers", "1", "--no-progress"]) in (0, None)
    assert [json.loads(x)["task_id"] for x in out.read_text().splitlines()] == [WEAK.task_id]
    assert rep.read_text().startswith("# Test-strength audit")


def test_confirmation_uses_the_graders_equality():
    """A mutant that returns 5.0 where the reference returns 5 is not "confirmed wrong": the grader
    itself compares int and float by value, so no test could ever tell them apart."""
    from codeself.audit import close_eq
    from codeself.sandbox.values import Opaque, strict_eq

    assert close_eq(5, 5.0) and close_eq([1, 2.0], [1.0, 2])
    assert not close_eq(True, 1) and not close_eq((1,), [1]) and not close_eq(5, 5.5)
    assert close_eq(0.1 + 0.2, 0.3) and not close_eq("1", 1)
    # the tolerance is the only difference from the grader's strict_eq (plus NaN and opaque values)
    assert not strict_eq(0.1 + 0.2, 0.3) and not close_eq(0.1 + 0.2, 0.3, rel_tol=0, abs_tol=0)
    assert close_eq({"a": [1.0, 0.1 + 0.2]}, {"a": [1, 0.3]}) and not close_eq({True: 1}, {1: 1})
    assert close_eq(complex(1, 0.1 + 0.2), complex(1, 0.3)) and close_eq(float("nan"), float("nan"))
    assert close_eq(Opaque("gen", "<gen>"), Opaque("gen", "<gen>")) and not close_eq(Opaque("a", "x"), Opaque("b", "x"))
    assert close_eq({1, 2}, {2, 1}) and not close_eq({1}, {True})
