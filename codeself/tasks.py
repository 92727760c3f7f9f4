"""Tasks: the canonical schema, reading and writing, deterministic splits, validation and leakage.

The canonical task (one JSON object per line of a ``.jsonl`` file):

==================== ========= ==============================================================
field                type      meaning
==================== ========= ==============================================================
``task_id``          str       unique id, e.g. ``HumanEval/0``
``prompt``           str       what the model sees (HumanEval: signature + docstring)
``entry_point``      str       name of the function the tests call
``public_tests``     list[str] tests that may be shown to a model
``hidden_tests``     list[str] tests used only for grading; never shown to a model
``starter_code``     str       optional code given to the model (default ``""``)
``setup_code``       str       optional statements run before the tests (imports they need)
``canonical_solution`` str|null optional *complete program* defining ``entry_point``
``split``            str|null  ``train`` / ``validation`` / ``test`` or null
``source``           str       where it came from (``humaneval``, ``mbpp``, ``family:NAME`` …)
``metadata``         object    anything else (free form)
``judge``            str|null  how stdin tests compare output (:mod:`codeself.judges`; default ``exact``)
``checker``          str|null  Python source defining ``check(input, output, expected) -> bool`` for
                               stdin problems with many valid answers (run in its own sandboxed process)
``time_limit_s``     num|null  per-test time limit of the source problem (stdin and call tests)
``memory_limit_mb``  int|null  memory limit of the source problem
==================== ========= ==============================================================

A *test* is one of three kinds:

* an **assert test** — a string of Python statements that passes iff it runs without raising,
  usually a single ``assert``; it calls the solution by its ``entry_point`` name after
  ``setup_code`` ran;
* a **stdin test** — ``{"input": str, "output": str}``: the program runs as a script with ``input``
  on its standard input; its standard output is compared with ``output`` by the task's ``judge``;
* a **call test** — ``{"args": [...], "expected": ...}`` (JSON values): the entry point — a function,
  or the method of that name on ``Solution()`` when the program defines a ``Solution`` class (the
  LeetCode style) — is called with ``args``; its return value must equal ``expected`` with exact
  types, tuples counting as lists (JSON has no tuples).

Any test may carry ``"origin"`` (``dataset`` for the dataset's own tests, ``docstring``, ``derived``).
A task whose tests are all stdin tests may leave ``entry_point`` empty.

This module never runs code: importers of public formats (HumanEval, MBPP, EvalPlus), which run
reference solutions in the sandbox to check docstring examples and compute expected values, live
in :mod:`codeself.datasets`.
"""

from __future__ import annotations

import ast
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codeself.io import DataError, Problem, read_jsonl, sha256_file, write_jsonl_atomic

SPLITS = ("train", "validation", "test")
DEFAULT_SPLIT_SALT = "codeself-v1"
DEFAULT_SPLIT_FRACTIONS = (0.7, 0.1, 0.2)

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "task_id": str,
    "prompt": str,
    "entry_point": str,
    "public_tests": list,
    "hidden_tests": list,
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "starter_code": str,
    "setup_code": str,
    "canonical_solution": (str, type(None)),
    "split": (str, type(None)),
    "source": str,
    "metadata": dict,
    "judge": (str, type(None)),
    "checker": (str, type(None)),
    "time_limit_s": (int, float, type(None)),
    "memory_limit_mb": (int, type(None)),
}
TEST_KINDS = ("assert", "stdin", "call")
_STDIN_KEYS = {"input", "output"}
_CALL_KEYS = {"args", "expected"}


@dataclass
class Task:
    """One coding task in the canonical format (see the module docstring for every field)."""

    task_id: str
    prompt: str
    entry_point: str
    public_tests: list[str]
    hidden_tests: list[str]
    starter_code: str = ""
    setup_code: str = ""
    canonical_solution: str | None = None
    split: str | None = None
    source: str = "canonical"
    metadata: dict[str, Any] = field(default_factory=dict)
    judge: str | None = None
    checker: str | None = None
    time_limit_s: float | None = None
    memory_limit_mb: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("judge", "checker", "time_limit_s", "memory_limit_mb"):  # old readers see old records
            if d[k] is None:
                del d[k]
        return d

    @property
    def is_stdio(self) -> bool:
        tests = [*self.public_tests, *self.hidden_tests]
        return bool(tests) and all(test_kind(t) == "stdin" for t in tests)

    @classmethod
    def from_dict(cls, obj: dict[str, Any], *, file: str = "<dict>", line: int | None = None) -> Task:
        """Build a Task, raising ``DataError`` that names file, line, task id and field."""
        problems = check_record(obj, file=file, line=line)
        if problems:
            raise DataError(problems)
        known = {k: obj[k] for k in (*_REQUIRED, *_OPTIONAL) if k in obj}
        extra = {k: v for k, v in obj.items() if k not in known}
        task = cls(**known)
        if extra:
            task.metadata = {**task.metadata, "extra_fields": extra}
        return task


def check_record(obj: dict[str, Any], *, file: str = "<dict>", line: int | None = None) -> list[Problem]:
    """Schema problems of one raw record (missing fields, wrong types, empty ids)."""
    problems: list[Problem] = []
    tid = obj.get("task_id") if isinstance(obj.get("task_id"), str) else None
    for name, typ in _REQUIRED.items():
        if name not in obj:
            problems.append(Problem(file, line, name, "missing required field", tid))
        elif not isinstance(obj[name], typ):
            problems.append(
                Problem(file, line, name, f"expected {type_name(typ)}, got {type(obj[name]).__name__}", tid)
            )
    for name, typ in _OPTIONAL.items():
        if name in obj and not isinstance(obj[name], typ):
            problems.append(
                Problem(file, line, name, f"expected {type_name(typ)}, got {type(obj[name]).__name__}", tid)
            )
    all_stdin = True
    for name in ("public_tests", "hidden_tests"):
        if isinstance(obj.get(name), list):
            for j, t in enumerate(obj[name]):
                why = _test_problem(t)
                if why:
                    problems.append(Problem(file, line, f"{name}[{j}]", why, tid))
                all_stdin = all_stdin and isinstance(t, dict) and _STDIN_KEYS <= set(t)
    if isinstance(obj.get("task_id"), str) and not obj["task_id"].strip():
        problems.append(Problem(file, line, "task_id", "empty task id", None))
    ep = obj.get("entry_point")
    if isinstance(ep, str) and not ep.isidentifier() and not (ep == "" and all_stdin):
        problems.append(Problem(file, line, "entry_point", f"not an identifier: {ep!r}", tid))
    if isinstance(obj.get("judge"), str):
        from codeself.judges import ASSERT_JUDGES, JUDGES

        if obj["judge"] not in (*JUDGES, *ASSERT_JUDGES):
            problems.append(Problem(file, line, "judge", f"unknown judge {obj['judge']!r}; choose one of "
                                    f"{', '.join((*JUDGES, *ASSERT_JUDGES))}", tid))
    for name in ("time_limit_s", "memory_limit_mb"):
        v = obj.get(name)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v <= 0:
            problems.append(Problem(file, line, name, f"must be > 0, got {v!r}", tid))
    split = obj.get("split")
    if isinstance(split, str) and split not in SPLITS:
        problems.append(Problem(file, line, "split", f"unknown split {split!r} (use one of {SPLITS})", tid))
    return problems


def _test_problem(t: Any) -> str | None:
    """Why ``t`` is not a valid test, or None."""
    if isinstance(t, str):
        return None
    if not isinstance(t, dict):
        return f"expected str (an assert test) or an object (a stdin or call test), got {type(t).__name__}"
    keys = set(t) - {"origin"}
    if "origin" in t and not isinstance(t["origin"], str):
        return "origin: expected str"
    if keys == _STDIN_KEYS:
        bad = [k for k in ("input", "output") if not isinstance(t[k], str)]
        return f"{bad[0]}: expected str, got {type(t[bad[0]]).__name__}" if bad else None
    if keys == _CALL_KEYS:
        return None if isinstance(t["args"], list) else f"args: expected a list, got {type(t['args']).__name__}"
    return (f"a test object has keys {sorted(t)}; a stdin test has exactly input and output, a call test "
            "args and expected (plus an optional origin)")


def test_kind(t: Any) -> str:
    """``assert``, ``stdin`` or ``call``."""
    if isinstance(t, dict):
        return "stdin" if "input" in t else "call"
    return "assert"


def test_text(t: Any, entry_point: str = "f", limit: int | None = None) -> str:
    """A readable form of any test (prompts, feedback, leakage checks)."""
    import json

    kind = test_kind(t)
    if kind == "assert":
        out = t
    elif kind == "stdin":
        out = f"input:\n{t['input']}\nexpected output:\n{t['output']}"
    else:
        args = ", ".join(json.dumps(a) for a in t["args"])
        out = f"{entry_point}({args}) == {json.dumps(t['expected'])}"
    if limit is not None and len(out) > limit:
        out = out[: limit - 3] + "..."
    return out


test_kind.__test__ = test_text.__test__ = False  # type: ignore[attr-defined]  # not pytest tests


def type_name(typ: type | tuple[type, ...]) -> str:
    if isinstance(typ, tuple):
        return " or ".join("null" if t is type(None) else t.__name__ for t in typ)
    return typ.__name__


def _read_task_file(p: str | os.PathLike, *, skip_invalid: bool) -> tuple[list[tuple[int, Task]], list[Problem]]:
    """``([(line, task)], problems)`` of one task file: JSON problems from ``read_jsonl`` (which
    raises ``DataError`` itself unless ``skip_invalid``) and schema problems of each record, each
    record checked once (``Task.from_dict`` runs ``check_record``)."""
    records, problems = read_jsonl(p, skip_invalid=skip_invalid)
    located: list[tuple[int, Task]] = []
    for line, obj in records:
        try:
            located.append((line, Task.from_dict(obj, file=str(p), line=line)))
        except DataError as e:
            problems.extend(e.problems)
    return located, problems


def load_tasks(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    skip_invalid: bool = False,
    problems: list[Problem] | None = None,
) -> list[Task]:
    """Load canonical tasks from one or more JSONL files.

    Raises ``DataError`` naming file, line and field for any bad record, unless ``skip_invalid``
    is given, in which case bad records are appended to ``problems`` (pass a list to see them).
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    tasks: list[Task] = []
    found: list[Problem] = []
    for p in paths:
        located, bad = _read_task_file(p, skip_invalid=skip_invalid)
        found.extend(bad)
        tasks.extend(t for _, t in located)
    if found and not skip_invalid:
        raise DataError(found)
    if problems is not None:
        problems.extend(found)
    return tasks


def load_task_map(path: str | os.PathLike | Sequence[str | os.PathLike]) -> dict[str, Task]:
    """``{task_id: Task}``; raises ``DataError`` on duplicate ids."""
    out: dict[str, Task] = {}
    dups: list[Problem] = []
    for t in load_tasks(path):
        if t.task_id in out:
            dups.append(Problem(str(path), None, "task_id", "duplicate task id", t.task_id, kind="duplicate"))
        out[t.task_id] = t
    if dups:
        raise DataError(dups)
    return out


def write_tasks(path: str | os.PathLike, tasks: Iterable[Task]) -> None:
    """Write tasks as JSONL atomically (temp file + rename)."""
    write_jsonl_atomic(path, [t.to_dict() for t in tasks])


# ---------------------------------------------------------------------------------------------
# Splits


def split_for(task_id: str, salt: str = DEFAULT_SPLIT_SALT,
              fractions: tuple[float, float, float] = DEFAULT_SPLIT_FRACTIONS) -> str:
    """Deterministic split of one id: ``sha256(salt + "\\0" + task_id)`` mapped to [0, 1).

    Depends only on the id and the salt, so it is the same on any machine and in any input order.
    """
    if abs(sum(fractions) - 1.0) > 1e-9 or any(f < 0 for f in fractions):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    digest = hashlib.sha256(f"{salt}\0{task_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    cum = 0.0
    for name, frac in zip(SPLITS, fractions, strict=True):
        cum += frac
        if u < cum:
            return name
    return SPLITS[-1]


def assign_splits(tasks: Iterable[Task], salt: str = DEFAULT_SPLIT_SALT,
                  fractions: tuple[float, float, float] = DEFAULT_SPLIT_FRACTIONS) -> list[Task]:
    """Set ``split`` on every task from a hash of its id and ``salt`` (in place; returns the list)."""
    out = list(tasks)
    for t in out:
        t.split = split_for(t.task_id, salt, fractions)
    return out


def split_manifest(tasks: Sequence[Task], *, salt: str, fractions: tuple[float, float, float],
                   input_path: str | os.PathLike | None) -> dict[str, Any]:
    counts = {s: 0 for s in SPLITS}
    for t in tasks:
        if t.split in counts:
            counts[t.split] += 1
    return {
        "salt": salt,
        "fractions": dict(zip(SPLITS, fractions, strict=True)),
        "counts": counts,
        "n_tasks": len(tasks),
        "input": str(input_path) if input_path else None,
        "input_sha256": sha256_file(input_path) if input_path and Path(input_path).is_file() else None,
        "method": "sha256(salt + NUL + task_id), first 8 bytes as a fraction of 2**64",
    }


def _parse_ok(src: str) -> str | None:
    try:
        ast.parse(src)
    except SyntaxError as e:
        return f"does not parse: {e.msg} (line {e.lineno})"
    return None


# ---------------------------------------------------------------------------------------------
# Test-string helpers


def split_assert(test: str) -> tuple[str, str, str] | None:
    """``assert CALL == EXPECTED`` → ``(call_src, op, expected_src)`` (normalised), else None.

    Also ``!=``, ``is``, ``is not``, and the tolerance forms ``abs(CALL - EXPECTED) <= tol`` /
    ``< tol`` and ``math.isclose(CALL, EXPECTED, …)`` (op ``"~="``)."""
    try:
        mod = ast.parse(test)
    except SyntaxError:
        return None
    stmts = [s for s in mod.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
    if len(stmts) != 1 or not isinstance(stmts[0], ast.Assert):
        return None
    t = stmts[0].test
    if isinstance(t, ast.Compare) and len(t.ops) == 1:
        op = {ast.Eq: "==", ast.Is: "is", ast.NotEq: "!=", ast.IsNot: "is not"}.get(type(t.ops[0]))
        if op:
            return ast.unparse(t.left), op, ast.unparse(t.comparators[0])
        left = t.left
        if (isinstance(t.ops[0], (ast.Lt, ast.LtE)) and isinstance(left, ast.Call)
                and isinstance(left.func, ast.Name) and left.func.id == "abs" and len(left.args) == 1
                and isinstance(left.args[0], ast.BinOp) and isinstance(left.args[0].op, ast.Sub)):
            return ast.unparse(left.args[0].left), "~=", ast.unparse(left.args[0].right)
    if (isinstance(t, ast.Call) and len(t.args) >= 2 and ast.unparse(t.func) in ("math.isclose", "isclose")):
        return ast.unparse(t.args[0]), "~=", ast.unparse(t.args[1])
    return None


def _norm(s: str) -> str:
    """Whitespace- and quote-insensitive form of source text, for leakage matching."""
    return "".join(s.split()).replace('"', "'")


# ---------------------------------------------------------------------------------------------
# Validation and leakage


def leak_fields(task: Task, hidden: str) -> list[tuple[str, str]]:
    """Where a hidden test leaks: ``[(field, how)]``.

    A hidden test leaks into ``prompt``/``starter_code``/``public_tests`` when (1) its normalised
    text appears there; or, for ``assert CALL <op> EXPECTED`` tests, (2) a public test makes the
    same call with the same expected value, (3) the call appears in the prompt/starter code with
    the expected value shown within the next 300 characters (a docstring example), or (4) a
    distinctive expected value (10+ characters, normalised) appears there at all.
    """
    found: list[tuple[str, str]] = []
    fields = {"prompt": task.prompt, "starter_code": task.starter_code}
    if not isinstance(hidden, str):
        return _leak_fields_data(task, hidden, fields)
    h_norm = _norm(hidden)
    parts = split_assert(hidden)
    for name, text in fields.items():
        if not text:
            continue
        t = _norm(text)
        if h_norm and h_norm in t:
            found.append((name, "hidden test text appears verbatim"))
            continue
        if parts:
            call, _, expected = (_norm(x) for x in parts)
            pos = t.find(call)
            while pos >= 0:
                window = t[pos + len(call): pos + len(call) + 300]
                if expected in window:
                    found.append((name, f"call {parts[0]} is shown with its expected value {parts[2]}"))
                    break
                pos = t.find(call, pos + 1)
            else:
                if len(expected) >= 10 and expected in t:
                    found.append((name, f"expected value {parts[2][:60]} appears"))
    for j, pub in enumerate(task.public_tests):
        if not isinstance(pub, str):
            continue
        if _norm(pub) == h_norm:
            found.append((f"public_tests[{j}]", "identical to a hidden test"))
            break
        pp = split_assert(pub)
        if parts and pp and (pp[0], pp[2]) == (parts[0], parts[2]):
            found.append((f"public_tests[{j}]", f"same call and expected value as a hidden test: {parts[0]}"))
            break
    return found


def _leak_fields_data(task: Task, hidden: dict, fields: dict[str, str]) -> list[tuple[str, str]]:
    """Leakage of a stdin or call test: it is identical to a public test, or its input and its
    expected output (a call's arguments and expected value) both appear in the prompt/starter code."""
    import json

    found = []
    if test_kind(hidden) == "stdin":
        a, b = _norm(hidden["input"]), _norm(hidden["output"])
    else:
        a = _norm(", ".join(json.dumps(x) for x in hidden["args"]))
        b = _norm(json.dumps(hidden["expected"]))
    core = {k: v for k, v in hidden.items() if k != "origin"}
    for j, pub in enumerate(task.public_tests):
        if isinstance(pub, dict) and {k: v for k, v in pub.items() if k != "origin"} == core:
            found.append((f"public_tests[{j}]", "identical to a hidden test"))
            break
    for name, text in fields.items():
        if text and a and b:
            t = _norm(text)
            if a in t and b in t:
                found.append((name, "the hidden test's input and expected output both appear"))
    return found


def validate(tasks: Sequence[Task], *, file: str = "<tasks>", lines: Sequence[int | None] | None = None,
             files: Sequence[str] | None = None) -> list[Problem]:
    """Problems in a list of tasks: duplicate ids, no hidden test, tests or code that do not parse,
    a canonical solution that does not define the entry point, and hidden-test leakage into
    ``prompt``, ``starter_code`` or ``public_tests`` (see ``leak_fields``). Empty list = clean.

    ``lines`` (and ``files``, for tasks read from several files) locate each task in its input.
    """
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for k, t in enumerate(tasks):
        line = lines[k] if lines is not None else None
        file = files[k] if files is not None else file
        if t.task_id in seen:
            problems.append(Problem(file, line, "task_id", f"duplicate task id (first at {seen[t.task_id]})", t.task_id,
                                    kind="duplicate"))
        else:
            seen[t.task_id] = f"{file}:{line}" if line is not None else file
        if not t.hidden_tests:
            problems.append(Problem(file, line, "hidden_tests", "task has no hidden test", t.task_id))
        for fld in ("public_tests", "hidden_tests"):
            for j, test in enumerate(getattr(t, fld)):
                err = _parse_ok(test) if isinstance(test, str) else None
                if err:
                    problems.append(Problem(file, line, f"{fld}[{j}]", f"test {err}", t.task_id))
        for fld in ("setup_code", "starter_code", "canonical_solution"):
            src = getattr(t, fld)
            if src:
                err = _parse_ok(src)
                if err and fld == "starter_code" and not _parse_ok(src + "pass"):
                    err = None  # a signature stub to be completed (LeetCode / APPS style)
                if err:
                    problems.append(Problem(file, line, fld, err, t.task_id))
        if t.checker is not None:
            err = _parse_ok(t.checker)
            if err is None and not any(isinstance(n, ast.FunctionDef) and n.name == "check"
                                       for n in ast.parse(t.checker).body):
                err = "does not define check(input, output, expected)"
            if err:
                problems.append(Problem(file, line, "checker", f"checker {err}", t.task_id))
        if t.canonical_solution and not _parse_ok(t.canonical_solution) and not t.is_stdio:
            names = {n.name for n in ast.walk(ast.parse(t.canonical_solution))
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
            names |= {tg.id for n in ast.walk(ast.parse(t.canonical_solution)) if isinstance(n, ast.Assign)
                      for tg in n.targets if isinstance(tg, ast.Name)}
            if t.entry_point not in names:
                problems.append(Problem(file, line, "canonical_solution",
                                        f"does not define the entry point {t.entry_point!r}", t.task_id))
        for j, h in enumerate(t.hidden_tests):
            for fld, how in leak_fields(t, h):
                problems.append(Problem(file, line, fld, f"leak of hidden_tests[{j}]: {how}", t.task_id, kind="leak"))
    return problems


def validate_files(paths: Sequence[str | os.PathLike]) -> list[Problem]:
    """Validate task files: every schema problem and every ``validate`` problem, with file and line.

    Duplicate ids are checked across all the files together.
    """
    problems: list[Problem] = []
    all_tasks: list[Task] = []
    all_lines: list[int | None] = []
    files: list[str] = []
    for p in paths:
        try:
            located, bad = _read_task_file(p, skip_invalid=True)
        except DataError as e:  # missing or empty file
            problems.extend(e.problems)
            continue
        problems.extend(bad)
        for line, task in located:
            all_tasks.append(task)
            all_lines.append(line)
            files.append(str(p))
    problems.extend(validate(all_tasks, lines=all_lines, files=files))
    return problems


# ---------------------------------------------------------------------------------------------
# Summary


def summarize(tasks: Sequence[Task]) -> dict[str, Any]:
    """Counts per split and source, tests per task, prompt-length statistics (characters)."""
    import statistics as st

    def stats(xs: list[int]) -> dict[str, float]:
        if not xs:
            return {"min": 0, "median": 0, "mean": 0.0, "max": 0}
        return {"min": min(xs), "median": st.median(xs), "mean": round(st.fmean(xs), 2), "max": max(xs)}

    by_split: dict[str, int] = {}
    by_source: dict[str, int] = {}
    for t in tasks:
        by_split[t.split or "none"] = by_split.get(t.split or "none", 0) + 1
        by_source[t.source] = by_source.get(t.source, 0) + 1
    return {
        "n_tasks": len(tasks),
        "by_split": dict(sorted(by_split.items())),
        "by_source": dict(sorted(by_source.items())),
        "public_tests_per_task": stats([len(t.public_tests) for t in tasks]),
        "hidden_tests_per_task": stats([len(t.hidden_tests) for t in tasks]),
        "prompt_chars": stats([len(t.prompt) for t in tasks]),
        "with_canonical_solution": sum(bool(t.canonical_solution) for t in tasks),
    }
