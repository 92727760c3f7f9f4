"""Tamper-proof grading: split each test into what the child must compute and what the parent checks.

A test that is a single ``assert EXPR`` is rewritten in the parent (the trusted process that read
the task file): every *program-dependent* sub-expression (a call of, or a reference to, a name the
program or an unknown binds — ``add(2, 3)``, ``Solution().solve(x)``, ``list(gen(x))``) becomes a
*unit* that the child evaluates and returns as a plain value; the rest of the expression — the
expected value, ``abs(… - …) < 1e-6``, ``math.isclose(…)``, ``sorted(…)``, ``isinstance(…)`` — is
evaluated in the parent on the decoded values, with ``==``, ``!=``, ``in`` and ``not in`` replaced
by the exact-type comparisons of :mod:`codeself.sandbox.values`. The expected value never enters the
child, a lying ``__eq__`` is never called, and a test passes only if the parent saw its value.

Names count as *trusted* (evaluated in the parent) when they are builtins the program does not
rebind, or imports / plain assignments of the task's ``setup_code`` (run once in the parent; a
function defined in ``setup_code`` is treated as program-side, since it may call the program).

Anything else — several statements, loops, a comprehension over a program call, a unit that is not
a direct use of the program's own names — runs as-is in the child and is marked
``graded_in_parent=False``; ``Result.tamper_proof_share`` is the share of tests graded in the parent.
"""

from __future__ import annotations

import ast
import builtins
import functools
from dataclasses import dataclass, field
from typing import Any

from codeself.sandbox import values as V

_BUILTIN_NAMES = frozenset(dir(builtins))
#: builtins whose single argument may be computed together with it in the child (so that a
#: generator or a view returned by the program becomes a plain value)
_WRAPPERS = frozenset({"list", "tuple", "set", "frozenset", "sorted", "dict", "len", "str", "reversed"})
_TRANSPARENT = (ast.BoolOp, ast.UnaryOp, ast.BinOp, ast.IfExp, ast.Compare, ast.Tuple, ast.List, ast.Set,
                ast.Dict, ast.Call, ast.Starred, ast.Subscript, ast.Constant, ast.JoinedStr, ast.FormattedValue)
_HELPERS = {
    "__cs_eq": V.strict_eq, "__cs_ne": V.strict_ne, "__cs_in": V.strict_in, "__cs_not_in": V.strict_not_in,
}


class _Unplannable(Exception):
    pass


@dataclass
class TestPlan:
    kind: str                 # public | hidden
    index: int                # position in its list
    source: str
    mode: str                 # "parent" | "child"
    steps: list[int] = field(default_factory=list)
    expr: Any = None          # compiled parent expression (mode == "parent")
    tamper_proof: bool = False
    preamble: Any = None      # compiled leading imports/assignments, run in the parent before ``expr``
    value_steps: list[int] = field(default_factory=list)


@dataclass
class JobPlan:
    steps: list[list[str]]    # [kind, source] with kind "value" | "exec"
    tests: list[TestPlan]
    setup_ns: dict[str, Any]


def bound_names(tree: ast.AST) -> set[str]:
    """Every name a program may bind at module level (over-approximated: any store anywhere)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                names.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, ast.Global):
            names.update(node.names)
    return names


@functools.lru_cache(maxsize=256)
def _setup(setup_code: str) -> tuple[dict[str, Any], frozenset[str]]:
    """Run the (trusted) setup code in the parent; return its namespace and its trusted names."""
    if not setup_code.strip():
        return {}, frozenset()
    try:
        tree = ast.parse(setup_code)
        ns: dict[str, Any] = {"__builtins__": builtins}
        exec(compile(tree, "<setup_code>", "exec"), ns)
    except Exception:  # noqa: BLE001 - then nothing from setup is trusted; tests still run in the child
        return {}, frozenset()
    trusted: set[str] = set()
    untrusted: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                if a.name != "*":
                    trusted.add((a.asname or a.name).split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            if any(isinstance(n, ast.Lambda) for n in ast.walk(node)):
                untrusted |= bound_names(node)
            else:
                trusted |= bound_names(node)
        else:
            untrusted |= bound_names(node)
    return ns, frozenset(trusted - untrusted)


@functools.lru_cache(maxsize=65536)
def _parse_test(src: str) -> tuple[ast.Module | None, frozenset[str]]:
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return None, frozenset()
    names = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))
    return tree, names


def _local_names(expr: ast.AST) -> set[str]:
    out: set[str] = set()
    for n in ast.walk(expr):
        if isinstance(n, ast.comprehension):
            out |= {x.id for x in ast.walk(n.target) if isinstance(x, ast.Name)}
        elif isinstance(n, ast.Lambda):
            a = n.args
            out |= {x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg) if x}
        elif isinstance(n, ast.NamedExpr):
            out.add(n.target.id)
    return out


class _Rewriter:
    def __init__(self, untrusted: frozenset[str], program_names: frozenset[str], locals_: set[str]) -> None:
        self.untrusted = untrusted
        self.program_names = program_names
        self.locals = locals_
        self.units: list[str] = []
        self.all_direct = True

    def needs(self, node: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and n.id in self.untrusted and n.id not in self.locals
                   for n in ast.walk(node))

    def unit(self, node: ast.AST) -> ast.AST:
        if not isinstance(node, (ast.Call, ast.Name, ast.Attribute, ast.Subscript)):
            raise _Unplannable(type(node).__name__)
        if any(isinstance(n, ast.Name) and n.id in self.locals for n in ast.walk(node)):
            raise _Unplannable("unit uses a local name")
        root = node
        while isinstance(root, (ast.Call, ast.Attribute, ast.Subscript)):
            root = root.func if isinstance(root, ast.Call) else root.value
        if isinstance(root, ast.Call):  # pragma: no cover - loop above unwraps calls
            root = root.func
        inner = node.args[0] if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                                 and node.func.id in _WRAPPERS) else None
        direct_root = root if inner is None else inner
        while isinstance(direct_root, (ast.Call, ast.Attribute, ast.Subscript)):
            direct_root = direct_root.func if isinstance(direct_root, ast.Call) else direct_root.value
        if not (isinstance(direct_root, ast.Name) and direct_root.id in self.program_names):
            self.all_direct = False
        self.units.append(ast.unparse(node))
        k = len(self.units) - 1
        return ast.Subscript(value=ast.Name("__cs_v", ast.Load()), slice=ast.Constant(k), ctx=ast.Load())

    def rw(self, node: ast.AST) -> ast.AST:
        if not self.needs(node):
            return node
        if isinstance(node, ast.Compare):
            operands = [self.rw(node.left), *[self.rw(c) for c in node.comparators]]
            pieces = []
            for op, a, b in zip(node.ops, operands, operands[1:], strict=False):
                helper = {ast.Eq: "__cs_eq", ast.NotEq: "__cs_ne", ast.In: "__cs_in",
                          ast.NotIn: "__cs_not_in"}.get(type(op))
                if helper:
                    pieces.append(ast.Call(ast.Name(helper, ast.Load()), [a, b], []))
                else:
                    pieces.append(ast.Compare(a, [op], [b]))
            return pieces[0] if len(pieces) == 1 else ast.BoolOp(ast.And(), pieces)
        if isinstance(node, ast.Call):
            if self.needs(node.func):
                return self.unit(node)
            if (isinstance(node.func, ast.Name) and node.func.id in _WRAPPERS and len(node.args) == 1
                    and not node.keywords and isinstance(node.args[0], (ast.Call, ast.Name, ast.Attribute))
                    and self.needs(node.args[0])):
                return self.unit(node)
            return ast.Call(node.func, [self.rw(a) for a in node.args],
                            [ast.keyword(k.arg, self.rw(k.value)) for k in node.keywords])
        if isinstance(node, ast.Subscript):
            if self.needs(node.value):
                return self.unit(node)
            return ast.Subscript(node.value, self.rw(node.slice), node.ctx)
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.unit(node)
        if isinstance(node, _TRANSPARENT):
            new = type(node)()
            for name, value in ast.iter_fields(node):
                if isinstance(value, list):
                    setattr(new, name, [self.rw(v) if isinstance(v, ast.expr) else v for v in value])
                elif isinstance(value, ast.expr):
                    setattr(new, name, self.rw(value))
                else:
                    setattr(new, name, value)
            return new
        raise _Unplannable(type(node).__name__)


def _stmt_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


@functools.lru_cache(maxsize=65536)
def _plan_assert(src: str, untrusted: frozenset[str], program_names: frozenset[str]):
    """Plan ``[imports / plain assignments …] assert EXPR``; None when the test must run in the child."""
    tree, _ = _parse_test(src)
    if tree is None or not tree.body or not isinstance(tree.body[-1], ast.Assert):
        return None
    preamble = tree.body[:-1]
    bound: dict[str, ast.stmt] = {}
    for st in preamble:
        if not isinstance(st, (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign)):
            return None
        if isinstance(st, (ast.Assign, ast.AnnAssign)) and (_stmt_names(st) - bound_names(st)) & untrusted - set(bound):
            return None  # the preamble computes something from the program: run it in the child
        for name in bound_names(st):
            bound[name] = st
    test = tree.body[-1].test
    rw = _Rewriter(untrusted - frozenset(bound), program_names, _local_names(test))
    try:
        new = rw.rw(test)
    except _Unplannable:
        return None
    expr = ast.Expression(new)
    ast.fix_missing_locations(expr)
    try:
        code = compile(expr, "<graded test>", "eval")
        pre_code = compile(ast.Module(preamble, []), "<test preamble>", "exec") if preamble else None
    except (SyntaxError, ValueError, TypeError):
        return None
    # the child needs the imports, and the assignments whose names the units use (inputs, not expectations)
    need: set[str] = set()
    for u in rw.units:
        need |= _stmt_names(ast.parse(u, mode="eval"))
    child_stmts: list[ast.stmt] = []
    changed = True
    chosen: set[int] = set()
    while changed:
        changed = False
        for k, st in enumerate(preamble):
            if k in chosen:
                continue
            if isinstance(st, (ast.Import, ast.ImportFrom)) or bound_names(st) & need:
                chosen.add(k)
                need |= _stmt_names(st)
                changed = True
    child_stmts = [st for k, st in enumerate(preamble) if k in chosen]
    child_pre = "\n".join(ast.unparse(st) for st in child_stmts)
    return code, tuple(rw.units), rw.all_direct, pre_code, child_pre


def plan(task, program_names: frozenset[str] | None, tests: str = "all") -> JobPlan:
    """Build the child's step list and the parent's grading plan for one program and task.

    ``program_names``: :func:`bound_names` of the program (None when it does not parse).
    """
    setup_ns, setup_trusted = _setup(task.setup_code or "")
    program_names = program_names or frozenset()
    steps: list[list[str]] = []
    plans: list[TestPlan] = []
    groups = []
    if tests in ("all", "public"):
        groups.append(("public", task.public_tests))
    if tests in ("all", "hidden"):
        groups.append(("hidden", task.hidden_tests))
    for kind, srcs in groups:
        for i, src in enumerate(srcs):
            _, names = _parse_test(src)
            trusted = (names & _BUILTIN_NAMES) - program_names | (names & setup_trusted)
            untrusted = frozenset(names - trusted)
            planned = _plan_assert(src, untrusted, program_names)
            if planned is None:
                tp = TestPlan(kind, i, src, "child", [len(steps)])
                steps.append(["exec", src])
            else:
                code, units, direct, pre_code, child_pre = planned
                tp = TestPlan(kind, i, src, "parent", [], code, tamper_proof=direct, preamble=pre_code)
                if child_pre:
                    tp.steps.append(len(steps))
                    steps.append(["exec", child_pre])
                tp.value_steps = list(range(len(steps), len(steps) + len(units)))
                tp.steps.extend(tp.value_steps)
                steps.extend(["value", u] for u in units)
            plans.append(tp)
    return JobPlan(steps, plans, setup_ns)


def grade_parent(tp: TestPlan, values: list[Any], setup_ns: dict[str, Any]) -> tuple[str, str | None, str | None]:
    """Evaluate a parent-graded test on decoded values -> (status, error_type, error_message)."""
    ns = dict(setup_ns)
    ns.update(_HELPERS)
    ns["__builtins__"] = builtins
    ns["__cs_v"] = values
    try:
        if tp.preamble is not None:
            exec(tp.preamble, ns)
        ok = eval(tp.expr, ns)
        ok = bool(ok)
    except TypeError as e:
        if any(isinstance(v, V.Opaque) for v in values):
            return "failed", "Mismatch", f"value not gradable: {e}"
        return "error", "TypeError", str(e)[:500]
    except Exception as e:  # noqa: BLE001 - the test itself raised on the program's values
        return "error", type(e).__name__, str(e)[:500]
    if ok:
        return "passed", None, None
    shown = ", ".join(V.short_repr(v) for v in values) if values else "(no program values)"
    return "failed", "Mismatch", f"assertion failed; program value(s): {shown}"
