"""The one solutions reader (codeself.solutions), used by `codeself sandbox run` and the sandbox notebook."""

from __future__ import annotations

import json

import pytest
from helpers import EX_BASE, EXAMPLES, run_cli

from codeself import solutions as dashboard_solutions
from codeself.io import DataError
from codeself.solutions import read_solutions


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_one_rule_for_code_sample_ids_and_task_ids(tmp_path):
    f = _write(tmp_path / "s.jsonl", [{"task_id": "a", "code": "x = 1", "sample_id": 0},
                                      {"task_id": "a", "code": None, "sample_id": 1},
                                      {"task_id": "b", "code": "y = 2"}])
    read = read_solutions(f)
    assert [(p["task_id"], p["sample_id"], p["line"]) for p in read.programs] == [("a", 0, 1), ("b", None, 3)]
    assert read.without_code == 1
    with pytest.raises(DataError, match=r"s.jsonl:3.*task_id.*unknown"):
        read_solutions(f, {"a"})
    bad = [({"task_id": "a", "completion": "x = 1"}, "code"),              # the raw completion is never run
           ({"task_id": "a", "code": 3}, "code"),
           ({"task_id": "a", "code": "x", "sample_id": 1.5}, "sample_id"),
           ({"code": "x"}, "task_id")]
    for row, fieldname in bad:
        g = _write(tmp_path / "bad.jsonl", [row])
        with pytest.raises(DataError, match=rf"bad.jsonl:1.*{fieldname}"):
            read_solutions(g)
    dup = _write(tmp_path / "dup.jsonl", [{"task_id": "a", "code": "x", "sample_id": 0}] * 2)
    with pytest.raises(DataError, match=r"dup.jsonl:2.*duplicate"):
        read_solutions(dup)


def test_cli_and_notebook_read_the_same_programs(tmp_path, capsys):
    # a rollout file is a solutions file: both faces read it through the one reader
    progs, no_code = dashboard_solutions.read_programs(EX_BASE)
    read = read_solutions(EX_BASE)
    assert [(p["task_id"], p["code"]) for p in progs] == [(p["task_id"], p["code"]) for p in read.programs]
    assert no_code == read.without_code
    rows = [json.loads(x) for x in EX_BASE.read_text().splitlines()][:4]
    rows[1]["code"] = None
    sols = _write(tmp_path / "r.jsonl", rows)
    out = tmp_path / "res.jsonl"
    code, so, se = run_cli(["sandbox", "run", "--tasks", str(EXAMPLES), "--solutions", str(sols), "--output", str(out),
                            "--workers", "1", "--no-progress"], capsys)
    assert code == 0, se
    res = [json.loads(x) for x in out.read_text().splitlines()]
    assert [(r["task_id"], r["sample_id"]) for r in res] == [(rows[i]["task_id"], rows[i]["sample_id"]) for i in (0, 2, 3)]
    assert "1 line(s) with code null" in se + so
