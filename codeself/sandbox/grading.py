"""Parent-side preparation of a task's tests for the grader process (:mod:`codeself.sandbox.grader`).

Every test — a single ``assert``, a loop, a whole HumanEval ``check(candidate)`` body — is sent to
the grader, which runs it with program names as remote handles; no test runs in the program's
process, so ``Result.tamper_proof_share`` is 1.0 by construction. Here, once per task (cached):

* each ``==``, ``!=``, ``in`` and ``not in`` of a test becomes a call of the exact-type comparison
  of :mod:`codeself.sandbox.values` (a chain such as ``a < f(x) == b`` keeps Python's
  evaluate-once semantics through temporaries; where Python forbids those, the chain is left as
  written and compared with Python's ``==``, which on decoded plain values differs only in
  ``True == 1`` and ``1 == 1.0``);
* the test's free names (used but never bound by the test) are listed, so that the grader resolves
  each one once: task helper, builtin, standard module, or program handle;
* the helpers the task's prompt defines (its imports and complete functions and classes other than
  the entry point) are extracted, so that a test's ``poly(...)`` or ``encode_cyclic(...)`` is the
  task's, never the program's.
"""

from __future__ import annotations

import ast
import functools
import threading
from dataclasses import dataclass, field

from codeself import judges

#: CPython 3.11 keeps ast.parse's depth bookkeeping in per-interpreter state: two threads parsing at
#: once (or a parse that died of RecursionError on hostile nesting) can make an innocent parse raise
#: SystemError("AST constructor recursion depth mismatch"). Every parse of the sandbox's parent side
#: holds this lock, and treats SystemError like any other "cannot parse here".
AST_LOCK = threading.Lock()
PARSE_FAILURES = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError, SystemError)


def parse(src: str, mode: str = "exec") -> ast.AST:
    """``ast.parse`` under :data:`AST_LOCK`."""
    with AST_LOCK:
        return ast.parse(src, mode=mode)

_EQ_HELPERS = {ast.Eq: "__cs_eq", ast.NotEq: "__cs_ne", ast.In: "__cs_in", ast.NotIn: "__cs_not_in"}


@dataclass(frozen=True)
class PreparedTest:
    kind: str        # public | hidden
    index: int       # position in its list
    src: str         # rewritten source sent to the grader ("" for stdin / call tests)
    names: tuple[str, ...] = field(default=())
    spec: dict | None = None  # stdin / call tests: what the grader needs (see to_wire)

    def to_wire(self) -> dict:
        if self.spec is not None:
            return self.spec
        return {"src": self.src, "names": list(self.names)}


def bound_names(tree: ast.AST) -> set[str]:
    """Every name a piece of code may bind (over-approximated: any store anywhere, any parameter)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
    return names


def free_names(tree: ast.AST) -> tuple[str, ...]:
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return tuple(sorted(loaded - bound_names(tree)))


class _StrictCompare(ast.NodeTransformer):
    def __init__(self) -> None:
        self.temps = 0

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if not any(type(op) in _EQ_HELPERS for op in node.ops):
            return node
        operands = [node.left, *node.comparators]
        if len(node.ops) > 1:  # evaluate each middle operand once, as Python does
            for i in range(1, len(operands) - 1):
                name = f"__cs_t{self.temps}"
                self.temps += 1
                operands[i] = ast.NamedExpr(ast.Name(name, ast.Store()), operands[i])
        pieces = []
        for i, op in enumerate(node.ops):
            left = operands[i]
            if isinstance(left, ast.NamedExpr):
                left = ast.Name(left.target.id, ast.Load())
            right = operands[i + 1]
            helper = _EQ_HELPERS.get(type(op))
            if helper:
                pieces.append(ast.Call(ast.Name(helper, ast.Load()), [left, right], []))
            else:
                pieces.append(ast.Compare(left, [op], [right]))
        return pieces[0] if len(pieces) == 1 else ast.BoolOp(ast.And(), pieces)


@functools.lru_cache(maxsize=65536)
def rewrite(src: str, mode: str = "exec", strict: bool = True) -> tuple[str, tuple[str, ...]]:
    """(source with exact-type comparisons, free names). A test that does not parse is returned as
    it is (the grader reports its SyntaxError as the test's error). ``strict=False`` (the ``python``
    judge) keeps Python's own ``==`` — still on plain decoded values, in the grader."""
    try:
        tree = parse(src, mode=mode)
    except PARSE_FAILURES:
        return src, ()
    names = free_names(tree)
    if not strict:
        return src, names
    try:
        new = _StrictCompare().visit(tree)
        ast.fix_missing_locations(new)
        out = ast.unparse(new)
        with AST_LOCK:
            compile(out, "<test>", mode, dont_inherit=True)
    except (*PARSE_FAILURES, TypeError):
        out = src  # e.g. a chained comparison inside a comprehension's iterable: see the module doc
    return out, names


def _is_stub(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return all(isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
               for s in body)


@functools.lru_cache(maxsize=4096)
def prompt_helpers(prompt: str, entry_point: str) -> str:
    """The task's own helper code from its prompt: imports and complete top-level functions and
    classes other than the entry point (stubs the model must write are left out)."""
    try:
        tree = parse(prompt)
    except PARSE_FAILURES:
        return ""
    keep: list[ast.stmt] = []
    for st in tree.body:
        if isinstance(st, (ast.Import, ast.ImportFrom)):
            keep.append(st)
        elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)) and st.name != entry_point and not _is_stub(st):
            keep.append(st)
        elif isinstance(st, ast.ClassDef) and st.name != entry_point and not all(
                isinstance(s, (ast.Pass, ast.Expr)) or (isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
                                                        and _is_stub(s)) for s in st.body):
            keep.append(st)
    return ast.unparse(ast.Module(keep, [])) if keep else ""


def prepare(task, tests: str = "all") -> list[PreparedTest]:
    """The task's selected tests, rewritten for the grader."""
    out: list[PreparedTest] = []
    groups = []
    if tests in ("all", "public", "original"):
        groups.append(("public", task.public_tests))
    if tests in ("all", "hidden", "original"):
        groups.append(("hidden", task.hidden_tests))
    origins = (getattr(task, "metadata", None) or {}).get("test_origin") or {}
    strict = getattr(task, "judge", None) != "python"  # assert tests: "strict" (default) or "python"
    judge = judges.stdin_judge_name(getattr(task, "judge", None))
    tl = getattr(task, "time_limit_s", None)
    checker = getattr(task, "checker", None)
    for kind, srcs in groups:
        for i, src in enumerate(srcs):
            if tests == "original" and not _is_original(src, origins.get(kind), i):
                continue
            if isinstance(src, dict):
                if "input" in src:
                    spec = {"k": "stdin", "input": src["input"], "output": src["output"], "judge": judge, "tl": tl}
                    if checker:
                        spec["checker"] = checker
                else:
                    spec = {"k": "call", "args": src["args"], "expected": src["expected"], "tl": tl}
                out.append(PreparedTest(kind, i, "", (), spec))
                continue
            new, names = rewrite(src, "exec", strict)
            out.append(PreparedTest(kind, i, new, names))
    return out


def _is_original(test, origins, i: int) -> bool:
    """A test of the dataset's own check: by ``metadata["test_origin"]``, or a test object's
    ``origin``; a test with no recorded origin counts as the dataset's."""
    if isinstance(test, dict) and "origin" in test:
        return test["origin"] == "dataset"
    if isinstance(origins, list) and i < len(origins):
        return origins[i] == "dataset"
    return True


def prepare_calls(exprs) -> list[dict]:
    """Expressions for ``mode: calls`` jobs (the audit's raw evaluations)."""
    out = []
    for e in exprs:
        new, names = rewrite(e, "eval")
        out.append({"src": new, "names": list(names)})
    return out


def prepare_stdin_runs(inputs, time_limit_s: float | None = None) -> list[dict]:
    """Stdin inputs for ``mode: calls`` jobs of a script: the grader runs the program on each and
    returns its captured stdout as a value (the audit compares two programs' outputs)."""
    return [{"k": "stdout", "input": text, "tl": time_limit_s} for text in inputs]
