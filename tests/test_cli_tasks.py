"""`codeself tasks prepare|validate|inspect`: contracts, exit codes, bad input, no partial output."""

import json

import pytest
from helpers import run_cli

from codeself.tasks import load_tasks


def run(argv, capsys):
    code, out, err = run_cli(argv, capsys)
    return code, out + err


def test_prepare_canonical_with_splits_and_manifest(tmp_path, capsys):
    out, man = tmp_path / "t.jsonl", tmp_path / "m.json"
    code, text = run(["tasks", "prepare", "--format", "canonical", "--input", "data/tasks.example.jsonl",
                      "--output", str(out), "--assign-splits", "--salt", "s1", "--manifest", str(man)], capsys)
    assert code == 0, text
    m = json.loads(man.read_text())
    assert m["salt"] == "s1" and m["n_tasks"] == 6 and sum(m["counts"].values()) == 6
    assert len(m["input_sha256"]) == 64
    splits1 = [t.split for t in load_tasks(out)]
    code, _ = run(["tasks", "prepare", "--format", "canonical", "--input", "data/tasks.example.jsonl",
                   "--output", str(out), "--assign-splits", "--salt", "s1"], capsys)
    assert [t.split for t in load_tasks(out)] == splits1


def test_prepare_mbpp(tmp_path, capsys):
    out = tmp_path / "m.jsonl"
    code, text = run(["tasks", "prepare", "--format", "mbpp", "--input", "tests/fixtures/mbpp_small.json",
                      "--output", str(out)], capsys)
    assert code == 0, text
    assert len(load_tasks(out)) == 2


@pytest.mark.parametrize(
    "content, expect",
    [
        (b'{"task_id": "a", "prompt": "p", "entry_point": "f", "public_tests": [], "hidden_tests": []}\n{oops\n', ":2:"),
        (b'{"task_id": "a", "prompt": "p", "entry_point": "f", "public_tests": []}\n', "field 'hidden_tests'"),
        (b'{"task_id": "a", "prompt": 1, "entry_point": "f", "public_tests": [], "hidden_tests": []}\n', "field 'prompt'"),
        (b"", "empty"),
        (b'{"task_id": "\xff"}\n', "UTF-8"),
    ],
)
def test_prepare_bad_input_names_location_and_writes_nothing(tmp_path, capsys, content, expect):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(content)
    code, text = run(["tasks", "prepare", "--format", "canonical", "--input", str(src), "--output", str(out)], capsys)
    assert code == 1
    assert expect in text and str(src) in text
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["in.jsonl"]


def test_prepare_missing_file_and_existing_output_untouched(tmp_path, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    code, text = run(["tasks", "prepare", "--format", "canonical", "--input", str(tmp_path / "nope.jsonl"),
                      "--output", str(out)], capsys)
    assert code == 2 and "--input" in text and "does not exist" in text  # refused while parsing
    assert out.read_text() == "previous\n"


def test_prepare_skip_invalid_reports_skipped(tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    good = open("data/tasks.example.jsonl").readline()
    src.write_text(good + '{"task_id": "x"}\n')
    code, text = run(["tasks", "prepare", "--format", "canonical", "--input", str(src), "--output", str(out),
                      "--skip-invalid"], capsys)
    assert code == 0
    assert "skipped:" in text and ":2:" in text and "skipped 1" in text
    assert len(load_tasks(out)) == 1


def test_validate_exit_codes_and_lines(tmp_path, capsys):
    code, text = run(["tasks", "validate", "data/tasks.example.jsonl"], capsys)
    assert code == 0 and "clean" in text
    rows = [json.loads(x) for x in open("data/tasks.example.jsonl")]
    rows[2]["prompt"] += rows[2]["hidden_tests"][0]
    rows.append(rows[0])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, text = run(["tasks", "validate", str(bad)], capsys)
    assert code == 1
    lines = [x for x in text.splitlines() if x.startswith(str(bad))]
    assert any(f"{bad}:3: task example/count_vowels field 'prompt': leak" in x for x in lines)
    assert any(f"{bad}:7: task example/add field 'task_id': duplicate" in x for x in lines)


def test_inspect_json(tmp_path, capsys):
    j = tmp_path / "s.json"
    code, text = run(["tasks", "inspect", "data/tasks.example.jsonl", "--json", str(j)], capsys)
    assert code == 0 and "6 tasks" in text
    assert json.loads(j.read_text())["by_split"]["train"] == 3


def test_usage_errors(tmp_path, capsys):
    code, text = run(["tasks", "prepare", "--format", "mbpp", "--output", str(tmp_path / "o.jsonl")], capsys)
    assert code == 1 and "--input is required" in text
    code, _ = run(["tasks", "prepare", "--format", "nope", "--output", str(tmp_path / "o.jsonl")], capsys)
    assert code == 2


def test_family_holdout_validation(tmp_path, capsys):
    out = tmp_path / "val.jsonl"
    code, text = run(["tasks", "family", "arith", "--n", "60", "--seed", "1", "--holdout", "validation",
                      "--output", str(out)], capsys)
    assert code == 0, text
    assert {t.split for t in load_tasks(out)} == {"train", "validation"}
    code, text = run(["tasks", "family", "arith", "--n", "5", "--holdout", "dev", "--output", str(tmp_path / "x")],
                     capsys)
    assert code == 2 and "--holdout" in text and "'dev'" in text and not (tmp_path / "x").exists()
