"""codeself.tasks (schema, canonical loader, splits, validation) and codeself.datasets (the humaneval,
mbpp and evalplus importers)."""

import gzip
import json
import random

import pytest

from codeself.datasets import extract_examples, from_evalplus, from_humaneval, from_mbpp
from codeself.io import DataError
from codeself.tasks import (
    Task,
    assign_splits,
    load_tasks,
    split_for,
    summarize,
    validate,
    validate_files,
    write_tasks,
)

EXAMPLES = "data/tasks.example.jsonl"


def test_example_tasks_load_and_validate_clean():
    tasks = load_tasks(EXAMPLES)
    assert len(tasks) == 6
    assert all(isinstance(t, Task) and t.canonical_solution for t in tasks)
    assert validate(tasks) == []


def test_roundtrip(tmp_path):
    tasks = load_tasks(EXAMPLES)
    write_tasks(tmp_path / "t.jsonl", tasks)
    assert load_tasks(tmp_path / "t.jsonl") == tasks


@pytest.mark.parametrize(
    "record, field, msg",
    [
        ({"prompt": "p", "entry_point": "f", "public_tests": [], "hidden_tests": ["assert 1"]}, "task_id", "missing"),
        ({"task_id": "a", "prompt": 3, "entry_point": "f", "public_tests": [], "hidden_tests": []}, "prompt", "expected str"),
        ({"task_id": "a", "prompt": "p", "entry_point": "f", "public_tests": "x", "hidden_tests": []}, "public_tests", "expected list"),
        ({"task_id": "a", "prompt": "p", "entry_point": "f", "public_tests": [1], "hidden_tests": []}, "public_tests[0]", "expected str"),
        ({"task_id": "a", "prompt": "p", "entry_point": "f g", "public_tests": [], "hidden_tests": []}, "entry_point", "identifier"),
        ({"task_id": "a", "prompt": "p", "entry_point": "f", "public_tests": [], "hidden_tests": [], "split": "dev"}, "split", "unknown split"),
    ],
)
def test_schema_errors_name_file_line_and_field(tmp_path, record, field, msg):
    p = tmp_path / "t.jsonl"
    good = json.loads(open(EXAMPLES).readline())
    p.write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DataError) as e:
        load_tasks(p)
    prob = e.value.problems[0]
    assert (prob.file, prob.line, prob.field) == (str(p), 2, field)
    assert msg in prob.message


def test_skip_invalid_reports_what_it_skipped(tmp_path):
    p = tmp_path / "t.jsonl"
    lines = open(EXAMPLES).read().splitlines()
    p.write_text("\n".join([lines[0], '{"task_id": "bad"}', "not json", lines[1]]) + "\n")
    probs = []
    tasks = load_tasks(p, skip_invalid=True, problems=probs)
    assert [t.task_id for t in tasks] == ["example/add", "example/reverse_words"]
    assert {pr.line for pr in probs} == {2, 3}


def test_split_is_deterministic_and_order_independent():
    ids = [f"task/{i}" for i in range(500)]
    a = {i: split_for(i) for i in ids}
    shuffled = ids[:]
    random.Random(1).shuffle(shuffled)
    tasks = [Task(task_id=i, prompt="", entry_point="f", public_tests=[], hidden_tests=[]) for i in shuffled]
    assign_splits(tasks)
    assert {t.task_id: t.split for t in tasks} == a
    counts = {s: sum(v == s for v in a.values()) for s in ("train", "validation", "test")}
    assert 300 < counts["train"] < 400 and 25 < counts["validation"] < 80 and 70 < counts["test"] < 130
    # a different salt gives a different assignment; a known id has a pinned split (any machine)
    assert {i: split_for(i, salt="other") for i in ids} != a
    assert split_for("HumanEval/0") == split_for("HumanEval/0", "codeself-v1")
    assert [split_for(f"task/{i}") for i in range(5)] == [a[f"task/{i}"] for i in range(5)]


def test_validate_reports_planted_leak_and_duplicate_id():
    tasks = load_tasks(EXAMPLES)
    leaky = tasks[1]
    leaky.prompt += "\n# e.g. " + leaky.hidden_tests[1] + "\n"
    dup = Task(**{**tasks[0].to_dict(), "prompt": "other"})
    probs = validate([*tasks, dup], file="x.jsonl", lines=list(range(1, 8)))
    leaks = [p for p in probs if p.kind == "leak"]
    dups = [p for p in probs if p.kind == "duplicate"]
    assert {p.kind for p in probs} == {"leak", "duplicate"} and all("leak of" in p.message for p in leaks)
    assert len(leaks) == 1 and leaks[0].field == "prompt" and leaks[0].task_id == "example/reverse_words"
    assert leaks[0].line == 2
    assert len(dups) == 1 and dups[0].line == 7 and dups[0].field == "task_id"


def test_validate_expected_value_leak_and_public_duplicate_and_parse_errors():
    t = Task(task_id="t", prompt='def f(x):\n    """>>> f(10)\n    [1, 2, 3, 4, 5]"""\n', entry_point="f",
             public_tests=["assert f(2) == 4"], hidden_tests=["assert f(10) == [1, 2, 3, 4, 5]", "assert f(2) == 4", "assert (("],
             canonical_solution="def g(x):\n    return x\n")
    fields = {(p.field, p.message.split(":")[0]) for p in validate([t])}
    assert ("prompt", "leak of hidden_tests[0]") in fields
    assert ("public_tests[0]", "leak of hidden_tests[1]") in fields
    assert ("hidden_tests[2]", "test does not parse") in fields
    assert ("canonical_solution", "does not define the entry point 'f'") in fields


def test_validate_no_hidden_tests():
    t = Task(task_id="t", prompt="p", entry_point="f", public_tests=[], hidden_tests=[])
    assert [p.field for p in validate([t])] == ["hidden_tests"]


def test_validate_files_duplicates_across_files(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    line = open(EXAMPLES).readline()
    a.write_text(line)
    b.write_text("{broken\n" + line)
    probs = validate_files([a, b])
    assert [(p.file, p.line) for p in probs] == [(str(b), 1), (str(b), 2)]
    assert probs[1].kind == "duplicate" and f"{a}:1" in probs[1].message
    assert probs[0].kind == "invalid"
    # the same id at the same line of two files: the duplicate is the second file's
    b.write_text(line)
    probs = validate_files([a, b])
    assert [(p.file, p.line, p.field) for p in probs] == [(str(b), 1, "task_id")]


def test_extract_examples_forms():
    prompt = (
        "def f(xs, k):\n"
        '    """Doc.\n'
        "    >>> f([1, 2], 1)\n    [2]\n"
        "    >>> f([], 0)\n\n"
        "    f([3], 1) ➞ [3]\n"
        "    f([4], 1) should return [4].\n"
        "    Input: xs = [5, 6], k = 2\n    Output: [6, 5]\n"
        '    """\n'
    )
    got = extract_examples(prompt, "f", ["xs", "k"])
    assert got == [
        "assert f([1, 2], 1) == [2]",
        "assert f([], 0) is None",
        "assert f([3], 1) == [3]",
        "assert f([4], 1) == [4]",
        "assert f(xs=[5, 6], k=2) == [6, 5]",
    ]


def test_mbpp_conversion():
    tasks = from_mbpp("tests/fixtures/mbpp_small.json")
    assert [t.task_id for t in tasks] == ["MBPP/2", "MBPP/3"]
    t = tasks[1]
    assert t.entry_point == "is_not_prime" and t.source == "mbpp"
    assert t.public_tests == ["assert is_not_prime(2) == False"]
    assert t.hidden_tests == ["assert is_not_prime(10) == True", "assert is_not_prime(35) == True",
                              "assert is_not_prime(37) == False"]
    assert "\r" not in t.canonical_solution and t.public_tests[0] in t.prompt
    assert validate(tasks) == []


def test_mbpp_jsonl_and_bad_records(tmp_path):
    recs = json.load(open("tests/fixtures/mbpp_small.json"))
    p = tmp_path / "m.jsonl"
    bad = dict(recs[0], task_id=9)
    del bad["code"]
    p.write_text(json.dumps(recs[0]) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataError) as e:
        from_mbpp(p)
    assert (e.value.problems[0].line, e.value.problems[0].field, e.value.problems[0].task_id) == (2, "code", "MBPP/9")
    probs = []
    assert len(from_mbpp(p, skip_invalid=True, problems=probs)) == 1 and len(probs) == 1


def _write_humaneval_gz(path, problems):
    with gzip.open(path, "wt") as f:
        for p in problems:
            f.write(json.dumps(p) + "\n")


def test_humaneval_small_fixture_split_and_whole_check(tmp_path):
    probs = [
        {"task_id": "HE/0", "entry_point": "inc",
         "prompt": 'def inc(x):\n    """Add one.\n    >>> inc(1)\n    2\n    >>> inc(5)\n    7\n    """\n',
         "canonical_solution": "    return x + 1\n",
         "test": "METADATA = {}\n\ndef check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0\n    assert True\n"},
        {"task_id": "HE/1", "entry_point": "sq", "prompt": 'def sq(x):\n    """Square."""\n',
         "canonical_solution": "    return x * x\n",
         "test": "import math\n\ndef check(candidate):\n    for i in range(3):\n        assert candidate(i) == i * i\n"},
    ]
    path = tmp_path / "he.jsonl.gz"
    _write_humaneval_gz(path, probs)
    tasks = from_humaneval(path)
    t0, t1 = tasks
    # `inc(5) == 7` is a wrong docstring example: the reference disagrees, so it is dropped
    assert t0.public_tests == ["assert inc(1) == 2"]
    assert t0.metadata["examples_dropped_reference_disagrees"] == ["assert inc(5) == 7"]
    # the assert equal to the shown example moved to public; `assert True` tests nothing
    assert t0.hidden_tests == ["assert inc(-1) == 0"]
    assert t1.metadata["hidden_mode"] == "whole_check" and t1.hidden_tests[0].endswith("check(sq)")
    assert t1.setup_code == "import math"
    assert validate(tasks) == []


@pytest.mark.slow
def test_humaneval_full_conversion_validates_and_references_pass():
    from codeself import sandbox

    tasks = from_humaneval()
    assert len(tasks) == 164
    assert validate(tasks) == []
    results = sandbox.run_many([(t, t.canonical_solution) for t in tasks], progress=False)
    failing = [r.task_id for r in results if not r.passed]
    assert failing == []
    assert sum(r.hidden_total for r in results) >= 700


def test_summarize_counts():
    s = summarize(load_tasks(EXAMPLES))
    assert s["by_split"] == {"test": 2, "train": 3, "validation": 1}
    assert s["hidden_tests_per_task"]["max"] == 3 and s["n_tasks"] == 6


def test_evalplus_expected_values_come_from_the_reference_in_the_sandbox():
    tasks = from_evalplus("tests/fixtures/evalplus_small.jsonl")
    t0, t1 = tasks
    assert t0.source == "evalplus" and t0.metadata["base_inputs"] == 3 and t0.metadata["plus_inputs"] == 2
    # float output with atol → tolerance test; the docstring example (3.5) is public, not hidden
    assert t0.public_tests == ["assert truncate_number(3.5) == 0.5", "assert abs(truncate_number(3.5) - 0.5) <= 1e-06"]
    assert "assert abs(truncate_number(2.25) - 0.25) <= 1e-06" in t0.hidden_tests
    assert len(t0.hidden_tests) == 4 and not any("(3.5)" in h for h in t0.hidden_tests)
    assert t1.canonical_solution.startswith("def similar_elements")
    assert t1.hidden_tests == [
        "assert similar_elements([3, 4, 5, 6], [5, 7, 4, 10]) == (4, 5)",
        "assert similar_elements([1, 2, 3, 4], [5, 4, 3, 7]) == (3, 4)",
        "assert similar_elements([], [1]) == ()",
    ]
    assert validate(tasks) == []


def test_evalplus_bad_records(tmp_path):
    p = tmp_path / "e.jsonl"
    p.write_text('{"task_id": "x", "prompt": "", "entry_point": "f", "canonical_solution": "def f(a): return a"}\n')
    with pytest.raises(DataError) as e:
        from_evalplus(p)
    assert (e.value.problems[0].line, e.value.problems[0].field) == (1, "base_input")


def test_task_with_every_hidden_test_visible_gets_reference_derived_hidden_tests(tmp_path):
    probs = [{"task_id": "HE/9", "entry_point": "uniq",
              "prompt": 'def uniq(xs):\n    """Sorted unique items.\n    >>> uniq([3, 1, 3, 2])\n    [1, 2, 3]\n    """\n',
              "canonical_solution": "    return sorted(set(xs))\n",
              "test": "def check(candidate):\n    assert candidate([3, 1, 3, 2]) == [1, 2, 3]\n"}]
    path = tmp_path / "he.jsonl.gz"
    _write_humaneval_gz(path, probs)
    (t,) = from_humaneval(path)
    assert t.public_tests == ["assert uniq([3, 1, 3, 2]) == [1, 2, 3]"]
    assert t.hidden_tests == ["assert uniq([2, 3, 1, 3]) == [1, 2, 3]", "assert uniq([3, 1, 3]) == [1, 3]",
                              "assert uniq([-3, -1, -3, -2]) == [-3, -2, -1]"]
    assert t.metadata["hidden_derived_from_reference"] == 3
    assert validate([t]) == []
