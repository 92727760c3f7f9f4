"""Named output judges: how a stdin/stdout test compares the program's output with the expected one.

Graders in the field disagree, so CodeSelf names each rule and lets a researcher choose (``--judge``)
or compare them (the README's judge table). Every judge compares the *whole* output: printing a
prefix of the answer, nothing, or one line of two never passes (one popular reward zips lines and
pays for a prefix). Each is a pure function ``judge(output: str, expected: str) -> bool``:

``exact``
    the output equals the expected text after ``\\r\\n`` → ``\\n`` and removing trailing whitespace at
    the very end (a final newline or its absence never decides). Spaces inside lines count.
``tokens``
    the whitespace-separated tokens are equal, in order (line structure ignored).
``lcb`` (LiveCodeBench)
    both stripped and split into lines, each line stripped; the line counts must be equal; each
    line is equal as text, or its whitespace-separated tokens are all equal as decimals
    (``Decimal("1.50") == Decimal("1.5")``; no tolerance).
``codecontests`` (DeepMind's CodeContests checker)
    tokens on any whitespace, ASCII-lower-cased; the token counts must be equal; each pair is equal
    as text, or both parse as numbers within an absolute 1e-5.
``sandboxfusion`` (SandboxFusion)
    both stripped, lower-cased, split into lines, each line stripped; equal line counts; a line that
    is a single number on both sides matches within a relative 1e-5, any other line as text.

Where they differ (each case is a unit test in ``tests/test_competitive.py``): ``YES`` vs ``yes``
(only ``codecontests`` and ``sandboxfusion`` pass), ``1.0000001`` vs ``1`` (``codecontests``,
``sandboxfusion``), ``1.50`` vs ``1.5`` (``lcb``, ``codecontests``, ``sandboxfusion``), ``1 2`` on one line
vs on two lines (``tokens``, ``codecontests``), trailing spaces inside a line (all but ``exact``).
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation

JUDGES = ("exact", "tokens", "lcb", "codecontests", "sandboxfusion")
#: the judge of assert and call tests (exact types; see codeself.sandbox.values)
ASSERT_JUDGES = ("strict", "python")


def _norm(s: str) -> str:
    return s.replace("\r\n", "\n").replace("\r", "\n")


def exact(output: str, expected: str) -> bool:
    return _norm(output).rstrip() == _norm(expected).rstrip()


def tokens(output: str, expected: str) -> bool:
    return output.split() == expected.split()


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(t) for t in line.split()]
    except (InvalidOperation, ValueError):
        return None


def lcb(output: str, expected: str) -> bool:
    a = [x.strip() for x in _norm(output).strip().split("\n")]
    b = [x.strip() for x in _norm(expected).strip().split("\n")]
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        dx, dy = _decimals(x), _decimals(y)
        if dx is None or dy is None or len(dx) != len(dy) or not dx or dx != dy:
            return False
    return True


def _num(t: str) -> float | None:
    try:
        v = float(t)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def codecontests(output: str, expected: str) -> bool:
    a = [t.lower() for t in output.split()]
    b = [t.lower() for t in expected.split()]
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        nx, ny = _num(x), _num(y)
        if nx is None or ny is None or abs(nx - ny) > 1e-5:
            return False
    return True


def sandboxfusion(output: str, expected: str) -> bool:
    a = [x.strip() for x in _norm(output).strip().lower().split("\n")]
    b = [x.strip() for x in _norm(expected).strip().lower().split("\n")]
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        nx, ny = _num(x), _num(y)
        if nx is None or ny is None:
            return False
        if not math.isclose(nx, ny, rel_tol=1e-5, abs_tol=0.0):
            return False
    return True


_BY_NAME = {"exact": exact, "tokens": tokens, "lcb": lcb, "codecontests": codecontests,
            "sandboxfusion": sandboxfusion}


def get(name: str):
    """The judge function named ``name``; ``ValueError`` naming the choices otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown judge {name!r}; choose one of {', '.join(JUDGES)}") from None


def stdin_judge_name(task_judge: str | None) -> str:
    """The judge a task's stdin tests use: its ``judge``, with no judge and the assert-test judges
    (``strict``, ``python``) meaning ``exact``. The grader and the audit both ask here."""
    return "exact" if task_judge in (None, "", *ASSERT_JUDGES) else task_judge


def judge(name: str, output: str, expected: str) -> bool:
    return get(name)(output, expected)


def disagreement(results) -> dict:
    """How much a verdict depends on the judge: from Results (or their dicts) of stdin tasks whose
    tests carry ``judge_verdicts``. Returns per-judge pass counts (tests and programs), the pairwise
    disagreement matrix over tests, and the programs whose verdict flips between judges."""
    tests_pass = dict.fromkeys(JUDGES, 0)
    prog_pass = dict.fromkeys(JUDGES, 0)
    pair = {a: dict.fromkeys(JUDGES, 0) for a in JUDGES}
    flips = []
    n_tests = n_progs = 0
    for r in results:
        d = r if isinstance(r, dict) else r.to_dict()
        verdicts = [t.get("judge_verdicts") for t in d.get("tests", [])]
        if not verdicts or any(v is None for v in verdicts):
            continue
        n_progs += 1
        per_prog = {}
        for j in JUDGES:
            per_prog[j] = all(v.get(j, False) for v in verdicts)
            prog_pass[j] += per_prog[j]
        for v in verdicts:
            n_tests += 1
            for a in JUDGES:
                tests_pass[a] += bool(v.get(a))
                for b in JUDGES:
                    pair[a][b] += bool(v.get(a)) != bool(v.get(b))
        if len(set(per_prog.values())) > 1:
            flips.append({"task_id": d.get("task_id"), "sample_id": d.get("sample_id"),
                          "passes_under": [j for j in JUDGES if per_prog[j]]})
    return {"programs": n_progs, "tests": n_tests, "tests_passed": tests_pass, "programs_passed": prog_pass,
            "disagree": pair, "flips": flips}


def format_disagreement(rep: dict) -> list[str]:
    lines = [f"{rep['programs']} programs with stdin tests, {rep['tests']} tests graded under every judge", "",
             "| judge | tests passed | programs passed |", "|---|---|---|"]
    for j in JUDGES:
        lines.append(f"| {j} | {rep['tests_passed'][j]} | {rep['programs_passed'][j]} |")
    lines += ["", "Tests on which two judges disagree:", "",
              "| | " + " | ".join(JUDGES) + " |", "|---|" + "---|" * len(JUDGES)]
    for a in JUDGES:
        lines.append(f"| {a} | " + " | ".join(str(rep["disagree"][a][b]) for b in JUDGES) + " |")
    lines += ["", f"Programs whose verdict flips with the judge: {len(rep['flips'])}"]
    for f in rep["flips"][:50]:
        lines.append(f"- {f['task_id']} sample {f['sample_id']}: passes under {', '.join(f['passes_under']) or 'none'}")
    return lines
