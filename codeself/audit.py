"""Test-strength audit: does a task's test suite reject *broken* versions of its reference solution?

Under RL the tests are the reward, so a task whose tests accept wrong code pays a model for being
wrong. For every task with a ``canonical_solution`` the audit

1. makes small semantic **mutants** of the reference with the ``ast`` module only (no text edits):
   swapped comparison / arithmetic / boolean operators, off-by-one integer constants, slice bounds,
   ``range`` bounds and indices, slice steps, negated conditions, dropped ``else`` branches, swapped call
   arguments, flipped boolean constants, dropped unary operators, ``min``/``max`` and
   ``any``/``all`` swaps, ``break``/``continue`` swaps, negated boolean returns, dropped wrapping
   calls (``sorted(x)`` -> ``x``), twin-method swaps (``lower``/``upper``) and ``''``/``' '``
   swaps (:data:`OPERATORS`). Mutants whose unparsed source equals the reference's or another mutant's
   are dropped (equivalent as source); up to ``N`` are picked deterministically for the seed,
   round-robin over operators so that no single operator dominates;
2. infers the **input domain** from the task's own tests: every call to the entry point in the
   public and hidden tests whose arguments are literals is parsed (never executed in this
   process); per argument position it records types, signs and ranges of numbers, lengths,
   sortedness and distinctness of sequences, element types and the alphabet of strings;
3. draws **fresh inputs** from that domain with a seeded generator (half from the inferred schema,
   half by perturbing one argument of an observed call, which keeps relations between arguments),
   plus the observed inputs themselves;
4. **confirms** each mutant wrong only if its output differs from the reference's on at least one
   of those inputs, both evaluated in the sandbox (one sandbox job per program with all its calls,
   via :func:`codeself.sandbox.evaluate_calls`). Inputs on which the reference raises, times out,
   or gives different answers in two independent runs are dropped (out of domain or
   nondeterministic), so a mutant is never "wrong" merely because the input was invalid;
5. runs the task's public and hidden tests against every confirmed-wrong mutant
   (:func:`codeself.sandbox.run_many` with ``tests="all"``, batched) and flags the task **weak** if
   some confirmed-wrong mutant passes them all, **public-weak** if some passes every public test.

Guaranteed: the same tasks, seed and mutant budget give the same mutants, the same fresh inputs and
(barring sandbox timeouts under heavy machine load) the same audit records and report. A ``weak``
flag always comes with a concrete witness: the mutant's code and an input on which it and the
reference disagree. Not guaranteed: finding every weakness (``weak == False`` only means none of
the sampled mutants survived), and the domain inferred from literals can miss preconditions that
the tests never exercise (the reference raising on an input removes it, nothing more).
"""

from __future__ import annotations

import ast
import copy
import math
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codeself.io import DataError, Problem, read_jsonl
from codeself.tasks import Task

DEFAULT_MUTANTS = 24
DEFAULT_FRESH_INPUTS = 40
MIN_INPUTS = 3

# ---------------------------------------------------------------------------------------------
# Mutation operators (ast only)

#: operator name -> one-line description (the names appear in audit.jsonl).
OPERATORS: dict[str, str] = {
    "compare_swap": "a comparison operator replaced by a near neighbour (< <=, == !=, in / not in …)",
    "arith_swap": "an arithmetic or bitwise operator replaced (+ -, * +, // *, % // …), also in +=",
    "bool_swap": "`and` and `or` exchanged",
    "const_off_by_one": "an integer constant changed by ±1",
    "slice_bound": "a slice bound moved by ±1 or dropped",
    "range_bound": "a range() bound moved by ±1",
    "index_off_by_one": "a non-constant index a[i] changed to a[i ± 1]",
    "negate_condition": "the condition of an if / while / conditional expression negated",
    "drop_else": "the else (or elif) branch of an if statement removed",
    "swap_args": "two adjacent positional arguments of a call exchanged",
    "flip_bool": "a True / False constant flipped",
    "drop_unary": "a unary `not` or `-` removed",
    "swap_builtin": "min / max or any / all exchanged",
    "break_continue": "break and continue exchanged",
    "negate_return": "a boolean-valued return expression negated",
    "drop_call": "a wrapping builtin call removed: set(x), sorted(x), abs(x), list(x) … -> x",
    "swap_method": "a string/sequence method replaced by its twin (lower / upper, startswith / endswith …)",
    "string_const": "an empty string constant made a space, or a single space made empty",
}

_CMP_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Lt: (ast.LtE, ast.Gt),
    ast.LtE: (ast.Lt, ast.GtE),
    ast.Gt: (ast.GtE, ast.Lt),
    ast.GtE: (ast.Gt, ast.LtE),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
}
_ARITH_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Add: (ast.Sub,),
    ast.Sub: (ast.Add,),
    ast.Mult: (ast.Add, ast.FloorDiv),
    ast.Div: (ast.Mult, ast.FloorDiv),
    ast.FloorDiv: (ast.Div, ast.Mult),
    ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,),
    ast.LShift: (ast.RShift,),
    ast.RShift: (ast.LShift,),
    ast.BitAnd: (ast.BitOr,),
    ast.BitOr: (ast.BitAnd,),
    ast.BitXor: (ast.BitOr,),
}
_BUILTIN_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any"}
_DROPPABLE_CALLS = frozenset({"set", "sorted", "list", "tuple", "reversed", "abs", "round", "int", "float", "str"})
_METHOD_SWAPS = {
    "lower": "upper", "upper": "lower", "startswith": "endswith", "endswith": "startswith",
    "find": "rfind", "rfind": "find", "index": "rindex", "rindex": "index", "isupper": "islower",
    "islower": "isupper", "isdigit": "isalpha", "isalpha": "isdigit", "lstrip": "rstrip",
    "rstrip": "lstrip", "swapcase": "lower", "capitalize": "lower", "title": "lower",
}
_SYMBOL = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|",
    ast.BitXor: "^", ast.And: "and", ast.Or: "or",
}


@dataclass(frozen=True)
class Mutant:
    """One mutant of a reference program."""

    operator: str       # a key of OPERATORS
    description: str    # e.g. "line 3: `<` -> `<=`"
    code: str           # the complete mutated program (ast.unparse of the mutated tree)
    line: int | None = None


@dataclass(frozen=True)
class _Edit:
    operator: str
    node_index: int
    variant: Any
    description: str
    line: int | None


def _nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node in a fixed (breadth-first) order; identical trees give identical orders."""
    return list(ast.walk(tree))


def _parents(tree: ast.AST) -> dict[int, tuple[ast.AST, str, int | None]]:
    out: dict[int, tuple[ast.AST, str, int | None]] = {}
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if isinstance(value, list):
                for i, child in enumerate(value):
                    if isinstance(child, ast.AST):
                        out[id(child)] = (parent, name, i)
            elif isinstance(value, ast.AST):
                out[id(value)] = (parent, name, None)
    return out


def _skip_ids(tree: ast.AST) -> set[int]:
    """Nodes never mutated: annotations, imports, docstrings and everything under them."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)):
            mark(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            mark(node.returns)
            for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                      node.args.vararg, node.args.kwarg]:
                if a is not None:
                    mark(a.annotation)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                mark(body[0])
    return skip


def _src(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # pragma: no cover - unparse of odd nodes
        return "?"
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int_const(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _boolish(node: ast.AST) -> bool:
    return (isinstance(node, (ast.Compare, ast.BoolOp))
            or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not))
            or (isinstance(node, ast.Constant) and isinstance(node.value, bool)))


def _edits(tree: ast.AST) -> list[_Edit]:
    """All mutation sites of ``tree`` in a fixed order."""
    skip = _skip_ids(tree)
    parents = _parents(tree)
    edits: list[_Edit] = []

    def add(op: str, idx: int, node: ast.AST, variant: Any, desc: str) -> None:
        line = getattr(node, "lineno", None)
        edits.append(_Edit(op, idx, variant, f"line {line}: {desc}" if line else desc, line))

    for idx, node in enumerate(_nodes(tree)):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                for new in _CMP_SWAPS.get(type(op), ()):
                    add("compare_swap", idx, node, (k, new),
                        f"`{_SYMBOL[type(op)]}` -> `{_SYMBOL[new]}` in `{_src(node)}`")
        elif isinstance(node, (ast.BinOp, ast.AugAssign)):
            for new in _ARITH_SWAPS.get(type(node.op), ()):
                add("arith_swap", idx, node, new,
                    f"`{_SYMBOL[type(node.op)]}` -> `{_SYMBOL[new]}` in `{_src(node)}`")
        elif isinstance(node, ast.BoolOp):
            new = ast.Or if isinstance(node.op, ast.And) else ast.And
            add("bool_swap", idx, node, new, f"`{_SYMBOL[type(node.op)]}` -> `{_SYMBOL[new]}` in `{_src(node)}`")
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, str) and node.value in ("", " "):
                new_s = " " if node.value == "" else ""
                add("string_const", idx, node, new_s, f"string `{node.value!r}` -> `{new_s!r}`")
            elif isinstance(node.value, bool):
                add("flip_bool", idx, node, not node.value, f"`{node.value}` -> `{not node.value}`")
            elif type(node.value) is int:
                parent = parents.get(id(node))
                in_slice = parent is not None and isinstance(parent[0], ast.Slice)
                if not in_slice:  # slice bounds have their own operator
                    for d in (1, -1):
                        add("const_off_by_one", idx, node, node.value + d,
                            f"constant `{node.value}` -> `{node.value + d}`")
        elif isinstance(node, ast.Slice):
            for part in ("lower", "upper", "step"):
                bound = getattr(node, part)
                if bound is None:
                    continue
                for d in (1, -1):
                    add("slice_bound", idx, node, (part, d),
                        f"slice {part} bound `{_src(bound)}` -> `{_src(bound)} {'+' if d > 0 else '-'} 1`")
                add("slice_bound", idx, node, (part, None), f"slice {part} bound `{_src(bound)}` dropped")
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id == "range" and node.args \
                    and not any(isinstance(a, ast.Starred) for a in node.args):
                for pos in range(min(2, len(node.args))):
                    for d in (1, -1):
                        add("range_bound", idx, node, (pos, d),
                            f"range argument `{_src(node.args[pos])}` {'+' if d > 0 else '-'} 1 in `{_src(node)}`")
            if isinstance(node.func, ast.Name) and node.func.id in _DROPPABLE_CALLS and len(node.args) == 1 \
                    and not node.keywords and not isinstance(node.args[0], ast.Starred):
                add("drop_call", idx, node, None, f"`{_src(node)}` -> `{_src(node.args[0])}`")
            if isinstance(node.func, ast.Attribute) and node.func.attr in _METHOD_SWAPS:
                new_attr = _METHOD_SWAPS[node.func.attr]
                add("swap_method", idx, node, new_attr, f"`.{node.func.attr}(…)` -> `.{new_attr}(…)` in `{_src(node)}`")
            if isinstance(node.func, ast.Name) and node.func.id in _BUILTIN_SWAPS:
                add("swap_builtin", idx, node, _BUILTIN_SWAPS[node.func.id],
                    f"`{node.func.id}` -> `{_BUILTIN_SWAPS[node.func.id]}` in `{_src(node)}`")
            for k in range(len(node.args) - 1):
                a, b = node.args[k], node.args[k + 1]
                if isinstance(a, ast.Starred) or isinstance(b, ast.Starred):
                    continue
                if ast.dump(a) == ast.dump(b):
                    continue
                add("swap_args", idx, node, k, f"arguments {k + 1} and {k + 2} swapped in `{_src(node)}`")
        elif isinstance(node, ast.Subscript):
            if not isinstance(node.slice, (ast.Slice, ast.Constant, ast.Tuple)) \
                    and isinstance(node.ctx, ast.Load):
                for d in (1, -1):
                    add("index_off_by_one", idx, node, d,
                        f"index `{_src(node.slice)}` -> `{_src(node.slice)} {'+' if d > 0 else '-'} 1` "
                        f"in `{_src(node)}`")
        elif isinstance(node, (ast.If, ast.While, ast.IfExp)):
            add("negate_condition", idx, node, None, f"condition `{_src(node.test)}` negated")
            if isinstance(node, ast.If) and node.orelse:
                add("drop_else", idx, node, None, f"else branch of `if {_src(node.test)}` removed")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            add("drop_unary", idx, node, None, f"`{_src(node)}` -> `{_src(node.operand)}`")
        elif isinstance(node, (ast.Break, ast.Continue)):
            new = "continue" if isinstance(node, ast.Break) else "break"
            add("break_continue", idx, node, None, f"`{'break' if new == 'continue' else 'continue'}` -> `{new}`")
        elif isinstance(node, ast.Return) and node.value is not None and _boolish(node.value) \
                and not isinstance(node.value, ast.Constant):
            add("negate_return", idx, node, None, f"`return {_src(node.value)}` negated")
    return edits


def _replace(parents: dict[int, tuple[ast.AST, str, int | None]], node: ast.AST, new: ast.AST) -> None:
    parent, name, pos = parents[id(node)]
    if pos is None:
        setattr(parent, name, new)
    else:
        getattr(parent, name)[pos] = new


def _negate(expr: ast.expr) -> ast.expr:
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
        return expr.operand
    return ast.UnaryOp(op=ast.Not(), operand=expr)


def _plus(expr: ast.expr, d: int) -> ast.expr:
    return ast.BinOp(left=expr, op=ast.Add() if d > 0 else ast.Sub(), right=ast.Constant(abs(d)))


def _apply(tree: ast.Module, edit: _Edit) -> str | None:
    """Apply one edit to a copy of ``tree``; the mutated program's source, or None if invalid."""
    t = copy.deepcopy(tree)
    node = _nodes(t)[edit.node_index]
    parents = _parents(t) if edit.operator in ("drop_unary", "break_continue", "drop_call") else {}
    op, v = edit.operator, edit.variant
    if op == "compare_swap":
        k, new = v
        node.ops[k] = new()
    elif op in ("arith_swap", "bool_swap"):
        node.op = v()
    elif op in ("const_off_by_one", "flip_bool", "string_const"):
        node.value = v
    elif op == "drop_call":
        _replace(parents, node, node.args[0])
    elif op == "swap_method":
        node.func.attr = v
    elif op == "slice_bound":
        part, d = v
        setattr(node, part, None if d is None else _plus(getattr(node, part), d))
    elif op == "range_bound":
        pos, d = v
        node.args[pos] = _plus(node.args[pos], d)
    elif op == "swap_builtin":
        node.func = ast.Name(id=v, ctx=ast.Load())
    elif op == "swap_args":
        node.args[v], node.args[v + 1] = node.args[v + 1], node.args[v]
    elif op == "index_off_by_one":
        node.slice = _plus(node.slice, v)
    elif op == "negate_condition":
        node.test = _negate(node.test)
    elif op == "drop_else":
        node.orelse = []
    elif op == "drop_unary":
        _replace(parents, node, node.operand)
    elif op == "break_continue":
        _replace(parents, node, ast.Continue() if isinstance(node, ast.Break) else ast.Break())
    elif op == "negate_return":
        node.value = _negate(node.value)
    else:  # pragma: no cover - every operator is handled above
        raise ValueError(f"unknown operator {op}")
    ast.fix_missing_locations(t)
    try:
        code = ast.unparse(t)
        compile(code, "<mutant>", "exec")
    except (SyntaxError, ValueError, TypeError, RecursionError):
        return None
    return code + "\n"


def make_mutants(source: str) -> list[Mutant]:
    """Every distinct single-edit mutant of ``source`` (a complete program), in a fixed order.

    Mutants whose unparsed source equals the reference's (after the same normalisation) or an
    earlier mutant's are dropped. Raises ``SyntaxError`` if ``source`` does not parse.
    """
    tree = ast.parse(source)
    reference = ast.unparse(tree) + "\n"
    seen = {reference}
    out: list[Mutant] = []
    for edit in _edits(tree):
        code = _apply(tree, edit)
        if code is None or code in seen:
            continue
        seen.add(code)
        out.append(Mutant(edit.operator, edit.description, code, edit.line))
    return out


def select_mutants(mutants: Sequence[Mutant], n: int, *, seed: int = 0, key: str = "") -> list[Mutant]:
    """Pick up to ``n`` mutants deterministically for ``(seed, key)``, round-robin over operators.

    Operators are visited in a seeded order and each operator's mutants in a seeded order, so the
    sample spreads over operators rather than being dominated by the most frequent one.
    """
    if n <= 0:
        return []
    rng = random.Random(f"codeself-audit:{seed}:{key}")
    groups: dict[str, list[Mutant]] = {}
    for m in mutants:
        groups.setdefault(m.operator, []).append(m)
    names = sorted(groups)
    rng.shuffle(names)
    for name in names:
        rng.shuffle(groups[name])
    picked: list[Mutant] = []
    depth = 0
    while len(picked) < n and any(depth < len(groups[g]) for g in names):
        for name in names:
            if depth < len(groups[name]) and len(picked) < n:
                picked.append(groups[name][depth])
        depth += 1
    return picked


def sample_mutants(source: str, n: int, *, seed: int = 0, key: str = "") -> tuple[list[Mutant], int]:
    """Up to ``n`` distinct mutants of ``source`` for ``(seed, key)`` and the number of edit sites.

    The same round-robin-over-operators order as :func:`select_mutants`, but edits are applied
    lazily (only until ``n`` distinct, compilable mutants exist), which is what the audit uses:
    the result does not depend on anything but the source, ``n``, ``seed`` and ``key``.
    Raises ``SyntaxError`` if ``source`` does not parse.
    """
    tree = ast.parse(source)
    edits = _edits(tree)
    if n <= 0 or not edits:
        return [], len(edits)
    rng = random.Random(f"codeself-audit:{seed}:{key}")
    groups: dict[str, list[_Edit]] = {}
    for e in edits:
        groups.setdefault(e.operator, []).append(e)
    names = sorted(groups)
    rng.shuffle(names)
    for name in names:
        rng.shuffle(groups[name])
    seen = {ast.unparse(tree) + "\n"}
    picked: list[Mutant] = []
    depth = 0
    while len(picked) < n and any(depth < len(groups[g]) for g in names):
        for name in names:
            if depth < len(groups[name]) and len(picked) < n:
                e = groups[name][depth]
                code = _apply(tree, e)
                if code is not None and code not in seen:
                    seen.add(code)
                    picked.append(Mutant(e.operator, e.description, code, e.line))
        depth += 1
    return picked, len(edits)


# ---------------------------------------------------------------------------------------------
# Input domain: inferred from the literal calls in the task's own tests


@dataclass(frozen=True)
class Call:
    """One call of the entry point: positional and keyword argument values (Python literals)."""

    args: tuple
    kwargs: tuple = ()  # ((name, value), ...) sorted by name

    def expr(self, name: str) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{name}({', '.join(parts)})"


_SAFE_CALLS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset, "range": range,
               "str": str, "int": int, "float": float, "bool": bool, "sorted": sorted,
               "reversed": lambda x: list(reversed(x)), "dict": dict}
_SAFE_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a ** b,
}
_MAX_LITERAL_SIZE = 10_000


class _NotLiteral(Exception):
    pass


def _size_ok(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple, set, frozenset, dict)) and len(value) > _MAX_LITERAL_SIZE:
        raise _NotLiteral("too large")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        raise _NotLiteral("too large")
    return value


def _literal(node: ast.AST) -> Any:
    """Value of a literal expression: constants, displays, unary/binary arithmetic on literals and
    a few pure builtins (``list``, ``range``, ``sorted`` …). Never executes test code."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (int, float, str, bool, bytes, type(None))):
            return node.value
        raise _NotLiteral("constant")
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_literal(e) for e in node.elts]
        kind = {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)]
        return _size_ok(kind(items))
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _NotLiteral("dict unpacking")
        return _size_ok({_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)})
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _literal(node.operand)
        if not isinstance(v, (int, float)):
            raise _NotLiteral("unary")
        return -v if isinstance(node.op, ast.USub) else +v
    if isinstance(node, ast.BinOp) and type(node.op) in _SAFE_BINOPS:
        left, right = _literal(node.left), _literal(node.right)
        if isinstance(node.op, ast.Pow) and (not isinstance(right, int) or abs(right) > 64):
            raise _NotLiteral("power")
        if isinstance(node.op, ast.Mult) and isinstance(right, int) and isinstance(left, (str, list, tuple)) \
                and len(left) * right > _MAX_LITERAL_SIZE:
            raise _NotLiteral("too large")
        if isinstance(node.op, ast.Mult) and isinstance(left, int) and isinstance(right, (str, list, tuple)) \
                and len(right) * left > _MAX_LITERAL_SIZE:
            raise _NotLiteral("too large")
        try:
            return _size_ok(_SAFE_BINOPS[type(node.op)](left, right))
        except Exception as e:
            raise _NotLiteral("binop") from e
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _SAFE_CALLS \
            and not node.keywords:
        args = [_literal(a) for a in node.args]
        if node.func.id == "range" and (len(args) > 3 or not all(isinstance(a, int) for a in args)
                                        or len(range(*args)) > _MAX_LITERAL_SIZE):
            raise _NotLiteral("range")
        try:
            value = _SAFE_CALLS[node.func.id](*args)
        except Exception as e:
            raise _NotLiteral("call") from e
        return _size_ok(list(value) if isinstance(value, range) else value)
    raise _NotLiteral(type(node).__name__)


def observed_calls(task: Task) -> list[Call]:
    """The distinct literal calls of ``task.entry_point`` in its public and hidden tests, in order.

    Calls through the name ``candidate`` (HumanEval's ``check(candidate)`` convention) count too.
    Calls with a non-literal argument (a variable, a generated value) are not included.
    """
    names = {task.entry_point, "candidate"}
    seen: set[str] = set()
    out: list[Call] = []
    for test in [*task.public_tests, *task.hidden_tests]:
        try:
            tree = ast.parse(test)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in names):
                continue
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                continue
            try:
                args = tuple(_literal(a) for a in node.args)
                kwargs = tuple(sorted((k.arg, _literal(k.value)) for k in node.keywords))
            except (_NotLiteral, RecursionError, TypeError, ValueError):
                continue
            call = Call(args, kwargs)
            key = repr(call)
            if key not in seen:
                seen.add(key)
                out.append(call)
    return out


# A schema is a small dict describing the values observed at one position:
#   {"kind": "int", "lo", "hi"} | {"kind": "float", "lo", "hi", "decimals"} | {"kind": "bool"}
#   {"kind": "none"} | {"kind": "str", "alphabet", "min_len", "max_len"}
#   {"kind": "list"|"tuple"|"set", "elem", "min_len", "max_len", "order": "asc"|"desc"|None,
#    "distinct": bool, "fixed": [schemas] | None}
#   {"kind": "dict", "key", "value", "min_len", "max_len"}
#   {"kind": "union", "options": [schemas]} | {"kind": "pool", "values": [...]} (reuse only)


def _decimals(x: float) -> int:
    text = repr(float(x))
    if "e" in text or "inf" in text or "nan" in text:
        return 6
    return min(6, len(text.split(".")[1].rstrip("0")) if "." in text else 0)


def _sorted_as(values: list, reverse: bool) -> bool:
    try:
        return all((a >= b) if reverse else (a <= b) for a, b in zip(values, values[1:], strict=False))
    except TypeError:
        return False


def infer_schema(values: Sequence[Any]) -> dict[str, Any]:
    """The schema of the values observed at one argument position (see the comment above)."""
    by_kind: dict[str, list[Any]] = {}
    for v in values:
        if v is None:
            k = "none"
        elif isinstance(v, bool):
            k = "bool"
        elif isinstance(v, int):
            k = "int"
        elif isinstance(v, float):
            k = "float" if math.isfinite(v) else "pool"
        elif isinstance(v, str):
            k = "str"
        elif isinstance(v, (list, tuple, set, frozenset)):
            k = {list: "list", tuple: "tuple"}.get(type(v), "set")
        elif isinstance(v, dict):
            k = "dict"
        else:
            k = "pool"
        by_kind.setdefault(k, []).append(v)
    schemas = [_infer_kind(k, vs) for k, vs in sorted(by_kind.items())]
    if not schemas:
        return {"kind": "pool", "values": []}
    if len(schemas) == 1:
        return schemas[0]
    weights = [len(by_kind[k]) for k in sorted(by_kind)]
    return {"kind": "union", "options": schemas, "weights": weights}


def _infer_kind(kind: str, vs: list[Any]) -> dict[str, Any]:
    if kind in ("none", "bool"):
        return {"kind": kind}
    if kind == "int":
        return {"kind": "int", "lo": min(vs), "hi": max(vs)}
    if kind == "float":
        return {"kind": "float", "lo": min(vs), "hi": max(vs), "decimals": max(_decimals(v) for v in vs)}
    if kind == "str":
        alphabet = sorted(set("".join(vs)))
        schema = {"kind": "str", "alphabet": "".join(alphabet), "min_len": min(map(len, vs)),
                  "max_len": max(map(len, vs))}
        examples = sorted({v for v in vs if any(c.isalnum() for c in v)})[:50]
        if examples:
            schema["examples"] = examples
        return schema
    if kind in ("list", "tuple", "set"):
        seqs = [list(v) if kind != "set" else sorted(v, key=repr) for v in vs]
        lens = [len(s) for s in seqs]
        long = [s for s in seqs if len(s) >= 2]
        order = None
        if long and kind != "set":
            if all(_sorted_as(s, False) for s in long) and any(s[0] != s[-1] for s in long):
                order = "asc"
            elif all(_sorted_as(s, True) for s in long) and any(s[0] != s[-1] for s in long):
                order = "desc"
        distinct = kind == "set" or bool(long) and all(len({repr(x) for x in s}) == len(s) for s in long)
        fixed = None
        if kind == "tuple" and len(set(lens)) == 1:
            fixed = [infer_schema([s[i] for s in seqs]) for i in range(lens[0])]
        elem = infer_schema([x for s in seqs for x in s])
        schema = {"kind": kind, "elem": elem, "min_len": min(lens), "max_len": max(lens), "order": order,
                  "distinct": distinct, "fixed": fixed}
        # grids: every observed value is a non-empty list of equally long lists (square if n x n)
        if kind == "list" and elem.get("kind") == "list" and all(s for s in seqs) \
                and all(isinstance(r, list) for s in seqs for r in s) \
                and all(len({len(r) for r in s}) == 1 for s in seqs):
            schema["grid"] = "square" if all(len(s[0]) == len(s) for s in seqs) else "rect"
        return schema
    if kind == "dict":
        return {"kind": "dict", "key": infer_schema([k for d in vs for k in d]),
                "value": infer_schema([x for d in vs for x in d.values()]),
                "min_len": min(map(len, vs)), "max_len": max(map(len, vs))}
    return {"kind": "pool", "values": vs}


@dataclass
class Domain:
    """The input domain of one task: the observed calls and a schema per argument position."""

    calls: list[Call]
    positional: list[dict[str, Any]] = field(default_factory=list)  # one schema per position
    keywords: dict[str, dict[str, Any]] = field(default_factory=dict)
    arity: int = 0                                                   # positions in every call

    def to_dict(self) -> dict[str, Any]:
        return {"n_observed": len(self.calls), "positional": self.positional, "keywords": self.keywords}


def infer_domain(calls: Sequence[Call]) -> Domain:
    """Per-position schemas over the calls that share the most common arity."""
    calls = list(calls)
    if not calls:
        return Domain(calls=[])
    arities: dict[int, int] = {}
    for c in calls:
        arities[len(c.args)] = arities.get(len(c.args), 0) + 1
    arity = max(sorted(arities), key=lambda a: arities[a])
    same = [c for c in calls if len(c.args) == arity]
    positional = [infer_schema([c.args[i] for c in same]) for i in range(arity)]
    kw_values: dict[str, list[Any]] = {}
    for c in same:
        for k, v in c.kwargs:
            kw_values.setdefault(k, []).append(v)
    keywords = {k: infer_schema(vs) for k, vs in sorted(kw_values.items())}
    return Domain(calls=calls, positional=positional, keywords=keywords, arity=arity)


_MAX_GEN_LEN = 12


def _int_range(lo: int, hi: int) -> tuple[int, int]:
    """Widen [lo, hi] a little, keeping the observed signs (non-negative stays non-negative …)."""
    pad = max(3, (hi - lo) // 4)
    new_lo, new_hi = lo - pad, hi + pad
    if lo >= 0:
        new_lo = max(new_lo, 0 if lo == 0 else 1)
    elif hi <= 0:
        new_hi = min(new_hi, 0 if hi == 0 else -1)
    return new_lo, new_hi


def _char_class(c: str) -> str:
    if c.isdigit():
        return "digit"
    if c.isalpha():
        return "upper" if c.isupper() else "lower" if c.islower() else "alpha"
    return c  # spaces and punctuation are their own class: kept in place


def _reshape(example: str, alphabet: str, rng: random.Random) -> str | None:
    """A new string with the shape of ``example``: punctuation and spaces stay where they are,
    each run of digits / lower / upper letters is redrawn from the same class of ``alphabet``,
    its length changed by at most one (never to zero). E.g. ``"1/5"`` -> ``"37/2"``."""
    pools: dict[str, str] = {}
    for c in alphabet:
        pools[_char_class(c)] = pools.get(_char_class(c), "") + c
    out: list[str] = []
    i = 0
    while i < len(example):
        cls = _char_class(example[i])
        j = i
        while j < len(example) and _char_class(example[j]) == cls:
            j += 1
        run = j - i
        if cls in ("digit", "upper", "lower", "alpha") and pools.get(cls):
            n = max(1, run + rng.choice([-1, 0, 0, 1]))
            out.append("".join(rng.choice(pools[cls]) for _ in range(n)))
        else:
            out.append(example[i:j])
        i = j
    text = "".join(out)
    return None if text == example else text


def _shape_items(items: list[Any], schema: dict[str, Any]) -> list[Any]:
    """Give generated or perturbed items the observed shape: distinct if the tests' inputs were,
    sorted (ascending/descending) if they were."""
    if schema["distinct"]:
        uniq: dict[str, Any] = {}
        for x in items:
            uniq.setdefault(repr(x), x)
        items = list(uniq.values())
    if schema["order"]:
        try:
            items.sort(reverse=schema["order"] == "desc")
        except TypeError:
            pass
    return items


def generate_value(schema: dict[str, Any], rng: random.Random, depth: int = 0) -> Any:
    """One value drawn from ``schema`` with ``rng`` (deterministic for the rng's state)."""
    kind = schema["kind"]
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        lo, hi = _int_range(schema["lo"], schema["hi"])
        if rng.random() < 0.15:
            return rng.choice([schema["lo"], schema["hi"], lo, hi])
        return rng.randint(lo, hi)
    if kind == "float":
        lo, hi = schema["lo"], schema["hi"]
        span = max(hi - lo, 1.0)
        new_lo, new_hi = lo - span / 4, hi + span / 4
        if lo >= 0:
            new_lo = max(new_lo, 0.0)
        elif hi <= 0:
            new_hi = min(new_hi, 0.0)
        return round(rng.uniform(new_lo, new_hi), max(1, schema["decimals"]))
    if kind == "str":
        alphabet = schema["alphabet"] or "abc"
        if schema.get("examples") and rng.random() < 0.5:
            shaped = _reshape(rng.choice(schema["examples"]), alphabet, rng)
            if shaped is not None:
                return shaped
        n = rng.randint(schema["min_len"], min(schema["max_len"] + 2, max(schema["min_len"], 40)))
        return "".join(rng.choice(alphabet) for _ in range(n))
    if kind in ("list", "tuple", "set"):
        if schema.get("fixed") is not None:
            return tuple(generate_value(s, rng, depth + 1) for s in schema["fixed"])
        hi_len = min(schema["max_len"] + 2, max(schema["min_len"], _MAX_GEN_LEN if depth == 0 else 5))
        n = rng.randint(schema["min_len"], max(schema["min_len"], hi_len))
        if schema.get("grid"):
            inner = schema["elem"]
            m = n if schema["grid"] == "square" else rng.randint(
                max(1, inner["min_len"]), max(1, inner["min_len"], min(inner["max_len"] + 1, _MAX_GEN_LEN)))
            return [[generate_value(inner["elem"], rng, depth + 2) for _ in range(m)] for _ in range(n)]
        items = _shape_items([generate_value(schema["elem"], rng, depth + 1) for _ in range(n)], schema)
        return {"list": list, "tuple": tuple, "set": set}[kind](items)
    if kind == "dict":
        n = rng.randint(schema["min_len"], max(schema["min_len"], min(schema["max_len"] + 1, 6)))
        out: dict[Any, Any] = {}
        for _ in range(n):
            key = generate_value(schema["key"], rng, depth + 1)
            try:
                out[key] = generate_value(schema["value"], rng, depth + 1)
            except TypeError:  # unhashable key
                break
        return out
    if kind == "union":
        options, weights = schema["options"], schema["weights"]
        return generate_value(rng.choices(options, weights=weights)[0], rng, depth)
    values = schema.get("values") or [None]
    return rng.choice(values)


def perturb_value(value: Any, schema: dict[str, Any], rng: random.Random) -> Any:
    """A small change of one observed value that stays inside ``schema`` (signs, order, alphabet)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        lo, hi = _int_range(schema.get("lo", value), schema.get("hi", value)) if schema.get("kind") == "int" \
            else (value - 2, value + 2)
        return min(hi, max(lo, value + rng.choice([-2, -1, 1, 2])))
    if isinstance(value, float):
        step = max(abs(value) * 0.1, 0.5)
        new = value + rng.choice([-1, 1]) * step
        if schema.get("kind") == "float" and schema["lo"] >= 0:
            new = abs(new)
        return round(new, max(1, schema.get("decimals", 2)))
    if isinstance(value, str):
        alphabet = (schema.get("alphabet") if schema.get("kind") == "str" else None) or value or "abc"
        chars = list(value)
        lo_len = schema.get("min_len", 0) if schema.get("kind") == "str" else 0
        hi_len = schema.get("max_len", len(value)) + 2 if schema.get("kind") == "str" else len(value) + 1
        moves = [0] if chars else []
        moves += [1] if len(chars) < hi_len else []
        moves += [2] if len(chars) > lo_len else []
        if not moves:
            return value
        move = rng.choice(moves)
        if move == 0:
            chars[rng.randrange(len(chars))] = rng.choice(alphabet)
        elif move == 1:
            chars.insert(rng.randint(0, len(chars)), rng.choice(alphabet))
        else:
            del chars[rng.randrange(len(chars))]
        return "".join(chars)
    if isinstance(value, (list, tuple)) and schema.get("kind") in ("list", "tuple") and not schema.get("fixed"):
        items = list(value)
        elem = schema["elem"]
        moves = [0, 3] if items else []
        if not schema.get("grid"):  # a grid keeps its shape: change or shuffle rows only
            moves += [1] if len(items) < schema["max_len"] + 2 else []
            moves += [2] if len(items) > schema["min_len"] else []
        if not moves:
            return value
        move = rng.choice(moves)
        if move == 0 and schema.get("grid") and all(isinstance(r, list) and r for r in items):
            i = rng.randrange(len(items))
            row = list(items[i])
            j = rng.randrange(len(row))
            row[j] = perturb_value(row[j], elem["elem"], rng)
            items[i] = row
        elif move == 0:
            i = rng.randrange(len(items))
            items[i] = perturb_value(items[i], elem, rng)
        elif move == 1:
            items.insert(rng.randint(0, len(items)), generate_value(elem, rng, 1))
        elif move == 2:
            del items[rng.randrange(len(items))]
        else:
            rng.shuffle(items)
        return type(value)(_shape_items(items, schema))
    return generate_value(schema, rng, 1) if schema.get("kind") not in (None, "pool") else value


def fresh_inputs(domain: Domain, n: int = DEFAULT_FRESH_INPUTS, *, seed: int = 0, key: str = "") -> list[Call]:
    """Up to ``n`` new calls from ``domain``, none equal to an observed call; deterministic.

    Half are drawn from the per-position schemas, half perturb one argument of an observed call
    (which keeps any relation between the other arguments). Returns [] for an empty domain.
    """
    if not domain.calls or n <= 0:
        return []
    rng = random.Random(f"codeself-audit-inputs:{seed}:{key}")
    seen = {repr(c) for c in domain.calls}
    same = [c for c in domain.calls if len(c.args) == domain.arity]
    out: list[Call] = []
    attempts = 0
    while len(out) < n and attempts < n * 20:
        attempts += 1
        try:
            if attempts % 2 == 1 and domain.arity + len(domain.keywords) > 0:
                args = tuple(generate_value(s, rng) for s in domain.positional)
                base = rng.choice(same)
                kwargs = tuple((k, generate_value(domain.keywords[k], rng) if k in domain.keywords else v)
                               for k, v in base.kwargs)
            else:
                base = rng.choice(same)
                args = list(base.args)
                kwargs = base.kwargs
                if args:
                    i = rng.randrange(len(args))
                    args[i] = perturb_value(args[i], domain.positional[i], rng)
                args = tuple(args)
            call = Call(args, kwargs)
            text = repr(call)
        except (TypeError, ValueError, RecursionError):
            continue
        if text in seen:
            continue
        seen.add(text)
        out.append(call)
    return out


# ---------------------------------------------------------------------------------------------
# The audit


def _close(a: Any, b: Any) -> bool:
    """Equality of two decoded values, by the grader's own rule (``codeself.sandbox.values``):
    exact types (``True != 1``, ``(1,) != [1]``) except ``int`` vs ``float``, compared by value as
    the grader does (``5 == 5.0``); floats are equal when ``math.isclose(rel_tol=1e-9,
    abs_tol=1e-12)`` (or both NaN), so a mutant is never "wrong" because of float rounding or a
    difference no test could see. Values of non-builtin types are equal when their type name and
    (capped) repr are."""
    num = (int, float)
    if (isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool)
            and type(a) is not type(b)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if type(a).__name__ == "Opaque":
        return (a.type_name, a.text) == (b.type_name, b.text)
    if isinstance(a, complex):
        return _close(a.real, b.real) and _close(a.imag, b.imag)
    try:
        return bool(a == b)
    except Exception:
        return False


def _outcome_text(o: Any, limit: int = 300) -> str:
    """A short human-readable rendering of one CallOutcome."""
    if not o.ok:
        et = o.error_type or "error"
        text = f"raises {et}: {o.error_message}" if o.error_message else f"raises {et}"
    else:
        try:
            text = repr(o.decoded())
        except Exception:
            text = repr(o.value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _same_outcome(a: Any, b: Any) -> bool:
    if not (a.ok and b.ok):
        return False
    if a.value == b.value:
        return True
    try:
        return _close(a.decoded(), b.decoded())
    except Exception:
        return False


def _evidence(o: Any) -> bool:
    """Whether an outcome says something about the program (a value or a raised exception), as
    opposed to a timeout, a crash or a harness fault, which can come from machine load."""
    return o.ok or o.error_type not in ("Timeout", "Crashed", "InfraError")


#: Per-job time limits for mutants are the smallest of these ≥ 8× the reference's time + 0.5 s.
_LIMIT_STEPS = (1.0, 2.0, 4.0, 10.0, 30.0)


def _budgeted(indices: list[int], costs: list[float], budget_s: float, rng: random.Random) -> list[int]:
    """The inputs mutants are run on: all of them when the reference's median time per input
    times their number fits ``budget_s`` (every cheap task: the choice does not depend on timing);
    otherwise a seeded random subset whose size is a power of two (at least ``MIN_INPUTS``) chosen
    from that median, so measured time moves the choice only across factor-of-two boundaries."""
    if not indices:
        return []
    median = sorted(costs)[len(costs) // 2]
    if median * len(indices) <= budget_s:
        return list(indices)
    fits = int(budget_s / median) if median > 0 else len(indices)
    k = max(MIN_INPUTS, 1 << max(0, fits.bit_length() - 1))
    if k >= len(indices):
        return list(indices)
    return sorted(rng.sample(indices, k))


def _limit(reference_s: float, cap: float) -> float:
    need = 8 * reference_s + 0.5
    return min(cap, next((x for x in _LIMIT_STEPS if x >= need), cap))


def _bucketed(items: list, limit_of: Callable[[Any], float], run: Callable[[list, float], list]) -> list:
    """``run`` once per distinct time limit (one sandbox batch each), results in ``items`` order."""
    groups: dict[float, list[int]] = {}
    for k, it in enumerate(items):
        groups.setdefault(limit_of(it), []).append(k)
    out: list[Any] = [None] * len(items)
    for limit in sorted(groups):
        idx = groups[limit]
        for k, res in zip(idx, run([items[k] for k in idx], limit), strict=True):
            out[k] = res
    return out


@dataclass
class _Plan:
    task: Task
    record: dict[str, Any]
    reference: str = ""
    mutants: list[Mutant] = field(default_factory=list)
    inputs: list[Call] = field(default_factory=list)
    n_observed: int = 0
    confirmed: list[tuple[int, int]] = field(default_factory=list)  # (mutant index, input index)
    ref_outcomes: list[Any] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    valid: list[int] = field(default_factory=list)
    mut_outcomes: list[list[Any]] = field(default_factory=list)


_RECORDER = """

def __codeself_record(__tests):
    __g = globals()
    __orig = __g[{name!r}]
    __seen = []

    def __wrapper(*args, **kwargs):
        if len(__seen) < {cap}:
            __seen.append(repr((args, tuple(sorted(kwargs.items())))))
        return __orig(*args, **kwargs)

    __g[{name!r}] = __wrapper
    try:
        for __t in __tests:
            try:
                exec(__t, __g)
            except Exception:
                pass
    finally:
        __g[{name!r}] = __orig
    return __seen
"""


def _recorder(entry_point: str, cap: int = 200) -> str:
    return _RECORDER.format(name=entry_point, cap=cap)


def _recorded_calls(reprs: Any) -> list[Call]:
    """Distinct calls from the recorder's reprs; anything that is not a plain literal is dropped."""
    out: list[Call] = []
    seen: set[str] = set()
    for text in reprs if isinstance(reprs, list) else []:
        if not isinstance(text, str) or text in seen or len(text) > 20_000:
            continue
        seen.add(text)
        try:
            args, kwargs = ast.literal_eval(text)
            call = Call(tuple(args), tuple((str(k), v) for k, v in kwargs))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        out.append(call)
    return out


def _base_record(task: Task, seed: int, budget: int) -> dict[str, Any]:
    return {
        "task_id": task.task_id, "status": "audited", "reason": None, "seed": seed, "mutant_budget": budget,
        "mutation_sites": 0, "mutants_made": 0, "confirmed_wrong": 0, "unconfirmed": 0, "timed_out": 0,
        "accepted_by_public": 0, "accepted_by_all": 0, "weak": None, "public_weak": None,
        "public_tests": len(task.public_tests), "hidden_tests": len(task.hidden_tests),
        "inputs": {"observed": 0, "recorded": False, "fresh": 0, "valid": 0, "used": 0}, "infra_errors": 0,
        "operators": {}, "example": None, "survivors": [],
    }


def _skip(plan: _Plan, reason: str) -> None:
    plan.record.update(status="skipped", reason=reason, weak=None, public_weak=None)


def audit_tasks(
    tasks: Sequence[Task],
    mutants: int = DEFAULT_MUTANTS,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    *,
    fresh: int = DEFAULT_FRESH_INPUTS,
    timeout: float | None = None,
    call_budget_s: float = 0.25,
    stats: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Audit the test strength of ``tasks``; one record per task, in input order.

    ``mutants`` is the per-task budget N (≥ 1), ``fresh`` the number of fresh inputs per task,
    ``workers`` the sandbox pool size, ``timeout`` the per-job sandbox limit in seconds (the
    sandbox default when None). Record fields: task_id, status ("audited" | "skipped"), reason,
    mutants_made, confirmed_wrong, unconfirmed (no value or exception differs on any valid input:
    possibly equivalent; ``timed_out`` of them hit a time limit or crashed on some input, which is
    not counted as evidence because machine load can cause it), accepted_by_public, accepted_by_all, weak, public_weak, example{mutant_code,
    operator, description, exposing_input, reference_output, mutant_output}, survivors (every
    mutant accepted by all tests: operator, description, exposing_input), inputs{observed, fresh,
    valid}, operators{name: {made, confirmed, accepted_by_all}}, infra_errors, seed.

    Mutants run on every input the reference answers unless the reference's time on them exceeds
    ``call_budget_s`` per job; then on a seeded subset sized from that time (see ``_budgeted``),
    so a task with an expensive reference costs a bounded time per mutant. Pass a dict as ``stats`` to receive wall seconds per stage and sandbox job counts.
    """
    import time

    clock = time.perf_counter()
    timings: dict[str, Any] = {} if stats is None else stats

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[f"{name}_s"] = round(now - clock, 3)
        clock = now

    if isinstance(mutants, bool) or not isinstance(mutants, int) or mutants < 1:
        raise ValueError(f"mutants must be a positive integer, got {mutants!r}")
    if isinstance(fresh, bool) or not isinstance(fresh, int) or fresh < 0:
        raise ValueError(f"fresh must be a non-negative integer, got {fresh!r}")
    from codeself import sandbox

    sandbox_kw: dict[str, Any] = {"workers": workers}
    if timeout is not None:
        sandbox_kw["timeout"] = timeout
    cap = timeout if timeout is not None else sandbox.SandboxConfig().timeout_s

    plans: list[_Plan] = []
    for task in tasks:
        plan = _Plan(task=task, record=_base_record(task, seed, mutants))
        plans.append(plan)
        if not task.canonical_solution or not task.canonical_solution.strip():
            _skip(plan, "no canonical_solution (nothing to mutate)")
            continue
        try:
            selected, n_sites = sample_mutants(task.canonical_solution, mutants, seed=seed, key=task.task_id)
        except SyntaxError as e:
            _skip(plan, f"canonical_solution does not parse: {e.msg} (line {e.lineno})")
            continue
        if not selected:
            _skip(plan, "the reference has no mutation site")
            continue
        plan.reference = task.canonical_solution
        plan.mutants = selected
        plan.record.update(mutation_sites=n_sites, mutants_made=len(plan.mutants))
        plan.calls = observed_calls(task)

    # tests that build their arguments at run time (loops, random data): record the calls the
    # reference receives while its own tests run, in the sandbox (values come back as reprs and are
    # parsed with ast.literal_eval only)
    need = [p for p in plans if p.record["status"] == "audited" and not p.calls]
    if need:
        jobs = [(p.reference + _recorder(p.task.entry_point), p.task.setup_code,
                 [f"__codeself_record({[*p.task.public_tests, *p.task.hidden_tests]!r})"]) for p in need]
        for p, (o,) in zip(need, sandbox.evaluate_calls(jobs, progress=False, **sandbox_kw), strict=True):
            p.calls = _recorded_calls(o.decoded() if o.ok else None)
            p.record["inputs"]["recorded"] = bool(p.calls)
    for p in plans:
        if p.record["status"] != "audited":
            continue
        if not p.calls:
            _skip(p, "no call of the entry point with literal arguments in the tests, and none "
                     "recorded while they ran: cannot infer an input domain")
            continue
        new = fresh_inputs(infer_domain(p.calls), fresh, seed=seed, key=p.task.task_id)
        p.inputs = p.calls + new
        p.n_observed = len(p.calls)
        p.record["inputs"].update(observed=len(p.calls), fresh=len(new))

    lap("prepare")
    # 1. the reference must pass its own tests, or there is nothing to measure against
    active = [p for p in plans if p.record["status"] == "audited"]
    test_limit: dict[int, float] = {}
    if active:
        ref_results = sandbox.run_many([(p.task, p.reference, "reference") for p in active],
                                       tests="all", progress=progress, **sandbox_kw)
        for p, r in zip(active, ref_results, strict=True):
            if r.status == "infra_error":
                _skip(p, f"sandbox infra_error on the reference: {r.error}")
            elif not r.passed:
                _skip(p, f"the reference fails its own tests (status {r.status}: {r.error})")
            test_limit[id(p)] = _limit(r.duration_s, cap)

    lap("reference_tests")
    timings["jobs_reference_tests"] = len(active)
    # 2. the reference on every input (one job per task), then again on the inputs it will use
    #    (the cheapest ones it answered, within the per-job budget) to drop nondeterministic ones
    active = [p for p in plans if p.record["status"] == "audited"]
    exprs = {id(p): [c.expr(p.task.entry_point) for c in p.inputs] for p in active}
    ref_jobs = [(p.reference, p.task.setup_code, exprs[id(p)]) for p in active]
    ref_out = sandbox.evaluate_calls(ref_jobs, progress=progress, **sandbox_kw) if ref_jobs else []
    for p, ref_a in zip(active, ref_out, strict=True):
        p.ref_outcomes = ref_a
        answered = [i for i, o in enumerate(ref_a) if o.ok]
        p.record["inputs"]["valid"] = len(answered)
        p.valid = _budgeted(answered, [ref_a[i].duration_s for i in answered], call_budget_s,
                            random.Random(f"codeself-audit-budget:{seed}:{p.task.task_id}"))
    again = [p for p in active if p.valid]
    ref_out_b = sandbox.evaluate_calls(
        [(p.reference, p.task.setup_code, [exprs[id(p)][i] for i in p.valid]) for p in again],
        progress=progress, **sandbox_kw) if again else []
    call_limit: dict[int, float] = {}
    for p, ref_b in zip(again, ref_out_b, strict=True):
        p.valid = [i for i, o in zip(p.valid, ref_b, strict=True) if _same_outcome(p.ref_outcomes[i], o)]
        spent = max(sum(p.ref_outcomes[i].duration_s for i in p.valid), sum(o.duration_s for o in ref_b))
        call_limit[id(p)] = _limit(spent, cap)
    for p in active:
        p.record["inputs"]["used"] = len(p.valid)
        if not p.valid:
            _skip(p, "the reference raised, timed out or was nondeterministic on every input")

    lap("reference_calls")
    timings["jobs_reference_calls"] = len(ref_jobs) + len(again)
    # 3. every mutant on the same inputs, one job each; a mutant is confirmed wrong by its first
    #    valid input with a different value or exception (timeouts and crashes are no evidence)
    active = [p for p in plans if p.record["status"] == "audited"]
    mut_items = [(p, j) for p in active for j in range(len(p.mutants))]
    mut_out = _bucketed(
        mut_items, lambda it: call_limit[id(it[0])],
        lambda items, limit: sandbox.evaluate_calls(
            [(p.mutants[j].code, p.task.setup_code, [exprs[id(p)][i] for i in p.valid])
             for p, j in items],
            progress=progress, workers=workers, timeout=limit))
    for (p, _j), outs in zip(mut_items, mut_out, strict=True):
        full: list[Any] = [None] * len(p.inputs)
        for i, o in zip(p.valid, outs, strict=True):
            full[i] = o
        p.mut_outcomes.append(full)
    for p in active:
        for j, outs in enumerate(p.mut_outcomes):
            exposing = next((i for i in p.valid if _evidence(outs[i])
                             and not _same_outcome(p.ref_outcomes[i], outs[i])), None)
            if exposing is not None:
                p.confirmed.append((j, exposing))
            elif any(not _evidence(outs[i]) for i in p.valid):
                p.record["timed_out"] += 1

    lap("mutant_calls")
    timings["jobs_mutant_calls"] = len(mut_items)
    # 4. the task's own tests against every confirmed-wrong mutant, batched
    items = [(p, j) for p in active for j, _ in p.confirmed]
    results = _bucketed(
        items, lambda it: test_limit[id(it[0])],
        lambda chunk, limit: sandbox.run_many(
            [(p.task, p.mutants[j].code, f"mutant-{j}") for p, j in chunk],
            tests="all", progress=progress, workers=workers, timeout=limit))
    lap("mutant_tests")
    timings["jobs_mutant_tests"] = len(items)
    pos = 0
    for p in active:
        rec = p.record
        ops: dict[str, dict[str, int]] = {}
        for m in p.mutants:
            ops.setdefault(m.operator, {"made": 0, "confirmed": 0, "accepted_by_all": 0})["made"] += 1
        survivors_all: list[tuple[int, int]] = []
        survivors_public: list[tuple[int, int]] = []
        infra = 0
        for j, i in p.confirmed:
            r = results[pos]
            pos += 1
            if r.status == "infra_error":
                infra += 1
                continue
            ops[p.mutants[j].operator]["confirmed"] += 1
            public_ok = r.public_total == len(p.task.public_tests) and r.public_passed == r.public_total
            if public_ok:
                survivors_public.append((j, i))
            if r.passed:
                survivors_all.append((j, i))
                ops[p.mutants[j].operator]["accepted_by_all"] += 1
        rec.update(
            confirmed_wrong=len(p.confirmed) - infra,
            unconfirmed=len(p.mutants) - len(p.confirmed),
            accepted_by_public=len(survivors_public),
            accepted_by_all=len(survivors_all),
            weak=bool(survivors_all),
            public_weak=bool(survivors_public),
            infra_errors=infra,
            operators=dict(sorted(ops.items())),
            survivors=[{"operator": p.mutants[j].operator, "description": p.mutants[j].description,
                        "exposing_input": p.inputs[i].expr(p.task.entry_point)} for j, i in survivors_all],
        )
        if infra:
            rec["reason"] = f"{infra} confirmed-wrong mutant(s) not graded: sandbox infra_error"
        shown = survivors_all or survivors_public
        if shown:
            j, i = shown[0]
            rec["example"] = {
                "mutant_code": p.mutants[j].code,
                "operator": p.mutants[j].operator,
                "description": p.mutants[j].description,
                "accepted_by": "all" if survivors_all else "public",
                "exposing_input": p.inputs[i].expr(p.task.entry_point),
                "input_is_fresh": i >= p.n_observed,
                "reference_output": _outcome_text(p.ref_outcomes[i]),
                "mutant_output": _outcome_text(p.mut_outcomes[j][i]),
            }
    return [p.record for p in plans]


# ---------------------------------------------------------------------------------------------
# Summary, report and the --exclude-tasks helpers


def _interval(k: int, n: int) -> tuple[float, float]:
    try:
        from codeself.stats import wilson_interval
    except ImportError:  # pragma: no cover - stats ships with the package
        from scipy.stats import binomtest

        ci = binomtest(k, n).proportion_ci(0.95, method="wilson") if n else None
        return (ci.low, ci.high) if ci else (0.0, 1.0)
    return wilson_interval(k, n, 0.95)


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Headline numbers of an audit: counts, shares and 95% Wilson intervals."""
    audited = [r for r in records if r.get("status") == "audited"]
    n = len(audited)
    weak = [r for r in audited if r.get("weak")]
    public_weak = [r for r in audited if r.get("public_weak")]
    public_only = [r for r in audited if r.get("public_weak") and not r.get("weak")]
    no_public = [r for r in audited if r.get("public_tests", 0) == 0]
    out: dict[str, Any] = {
        "n_tasks": len(records), "n_audited": n, "n_skipped": len(records) - n,
        "n_weak": len(weak), "n_public_weak": len(public_weak), "n_public_only_weak": len(public_only),
        "n_no_public_tests": len(no_public),
        "n_public_weak_with_public_tests": len([r for r in public_weak if r.get("public_tests", 0) > 0]),
        "mutants_made": sum(r.get("mutants_made", 0) for r in audited),
        "confirmed_wrong": sum(r.get("confirmed_wrong", 0) for r in audited),
        "accepted_by_all": sum(r.get("accepted_by_all", 0) for r in audited),
        "weak_task_ids": [r["task_id"] for r in weak],
    }
    for name, k in (("weak", len(weak)), ("public_weak", len(public_weak)), ("public_only_weak", len(public_only))):
        out[f"{name}_share"] = k / n if n else None
        out[f"{name}_ci95"] = list(_interval(k, n)) if n else None
    return out


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def render_report(records: Sequence[dict[str, Any]], *, source: str | None = None) -> str:
    """The audit report as Markdown; a pure function of the records (so deterministic for a seed)."""
    s = summarize(records)
    seeds = sorted({r.get("seed") for r in records if r.get("seed") is not None})
    budgets = sorted({r.get("mutant_budget") for r in records if r.get("mutant_budget") is not None})
    lines = ["# Test-strength audit", ""]
    if source:
        lines.append(f"Tasks: `{source}`  ")
    lines += [
        f"Seed: {', '.join(map(str, seeds)) or 'n/a'}; mutants per task: {', '.join(map(str, budgets)) or 'n/a'}; "
        f"audited {s['n_audited']} of {s['n_tasks']} tasks ({s['n_skipped']} skipped).",
        "",
        "A mutant is *confirmed wrong* when its output differs from the reference's on at least one "
        "input drawn from the domain of the task's own tests (both run in the sandbox). A task is "
        "*weak* when some confirmed-wrong mutant passes all its tests (public + hidden).",
        "",
        "| measure | tasks | share | 95% Wilson interval |",
        "|---|---:|---:|---|",
    ]
    for label, key in (("weak (all tests accept a wrong mutant)", "weak"),
                       ("public tests weak (what a model sees)", "public_weak"),
                       ("only the public tests weak (hidden tests catch it)", "public_only_weak")):
        ci = s[f"{key}_ci95"]
        ci_text = f"{_pct(ci[0])} – {_pct(ci[1])}" if ci else "n/a"
        lines.append(f"| {label} | {s['n_' + key]} / {s['n_audited']} | {_pct(s[key + '_share'])} | {ci_text} |")
    lines += [
        "",
        f"Mutants made: {s['mutants_made']}; confirmed wrong: {s['confirmed_wrong']}; "
        f"accepted by all tests: {s['accepted_by_all']}. Tasks without public tests (their public "
        f"tests accept anything, so they count as public-weak): {s['n_no_public_tests']}; public tests "
        f"weak among the {s['n_audited'] - s['n_no_public_tests']} tasks that have some: "
        f"{s['n_public_weak_with_public_tests']}.",
        "",
        "## Weak tasks",
        "",
    ]
    weak = [r for r in records if r.get("status") == "audited" and r.get("weak")]
    if not weak:
        lines.append("None of the audited tasks accepted a confirmed-wrong mutant.")
    else:
        lines += ["| task | confirmed wrong | accepted by public | accepted by all | example mutation | "
                  "exposing input | reference → mutant |", "|---|---:|---:|---:|---|---|---|"]
        for r in weak:
            ex = r.get("example") or {}
            lines.append(
                f"| {_md(r['task_id'])} | {r['confirmed_wrong']} | {r['accepted_by_public']} | "
                f"{r['accepted_by_all']} | {_md(ex.get('operator', ''))}: {_md(ex.get('description', ''))} | "
                f"`{_md(ex.get('exposing_input', ''))}` | `{_md(ex.get('reference_output', ''))}` → "
                f"`{_md(ex.get('mutant_output', ''))}` |")
    ops: dict[str, list[int]] = {}
    for r in records:
        if r.get("status") == "audited":
            for name, c in (r.get("operators") or {}).items():
                row = ops.setdefault(name, [0, 0, 0])
                row[0] += c.get("made", 0)
                row[1] += c.get("confirmed", 0)
                row[2] += c.get("accepted_by_all", 0)
    if ops:
        lines += ["", "## Mutation operators", "", "| operator | made | confirmed wrong | accepted by all tests |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {name} | {m} | {c} | {a} |" for name, (m, c, a) in sorted(ops.items())]
    skipped = [r for r in records if r.get("status") != "audited"]
    if skipped:
        lines += ["", "## Skipped tasks", "", "| task | reason |", "|---|---|"]
        lines += [f"| {_md(r['task_id'])} | {_md(r.get('reason'))} |" for r in skipped]
    return "\n".join(lines) + "\n"


def load_audit(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read an audit.jsonl, checking the fields the other commands rely on (located errors)."""
    records, _ = read_jsonl(path)
    problems: list[Problem] = []
    out: list[dict[str, Any]] = []
    for line, obj in records:
        tid = obj.get("task_id")
        if not isinstance(tid, str) or not tid:
            problems.append(Problem(str(path), line, "task_id", "missing or not a string (is this an audit.jsonl?)"))
            continue
        if "weak" not in obj:
            problems.append(Problem(str(path), line, "weak", "missing (is this an audit.jsonl?)", tid))
            continue
        if obj["weak"] is not None and not isinstance(obj["weak"], bool):
            problems.append(Problem(str(path), line, "weak", f"expected true/false/null, got {obj['weak']!r}", tid))
            continue
        out.append(obj)
    if problems:
        raise DataError(problems)
    return out


def load_weak_task_ids(audit_path: str | os.PathLike) -> set[str]:
    """Ids of the tasks an audit flagged weak (skipped tasks are not weak: nothing was measured)."""
    return {r["task_id"] for r in load_audit(audit_path) if r["weak"] is True}


def exclude_weak(tasks: Iterable[Task], audit_path: str | os.PathLike) -> tuple[list[Task], int]:
    """``(kept, n_dropped)``: ``tasks`` without the ones ``audit_path`` flags weak, order kept."""
    weak = load_weak_task_ids(audit_path)
    tasks = list(tasks)
    kept = [t for t in tasks if t.task_id not in weak]
    return kept, len(tasks) - len(kept)


# ---------------------------------------------------------------------------------------------
# Benchmark (`codeself bench audit`)


def bench_audit(mutants: int = DEFAULT_MUTANTS, seed: int = 0, workers: int | None = None,
                baseline_processes: int = 40, progress: bool = True) -> dict[str, Any]:
    """Audit all of HumanEval and time it; compare with a process-per-test audit, measured here.

    The baseline runs ``baseline_processes`` real ``python -c`` processes (each: a mutant program
    plus one test of its task, as a process-per-test audit would), ``workers`` at a time, and
    extrapolates their mean cost to the number of processes such an audit of the same work needs
    (one per reference/mutant call evaluated and one per test run on a confirmed-wrong mutant).
    """
    import subprocess
    import sys
    import time
    from concurrent.futures import ThreadPoolExecutor

    from codeself.datasets import from_humaneval

    n_workers = workers or os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    tasks = from_humaneval()
    load_s = time.perf_counter() - t0
    stats: dict[str, Any] = {}
    t0 = time.perf_counter()
    records = audit_tasks(tasks, mutants=mutants, seed=seed, workers=workers, progress=progress, stats=stats)
    audit_s = time.perf_counter() - t0
    load_after = os.getloadavg()[0]
    summary = summarize(records)

    # baseline: a sample of (mutant, test) processes, deterministic for the seed
    by_id = {t.task_id: t for t in tasks}
    rng = random.Random(f"codeself-audit-bench:{seed}")
    audited = [r for r in records if r["status"] == "audited"]
    sample: list[str] = []
    for r in rng.sample(audited, min(len(audited), baseline_processes)):
        t = by_id[r["task_id"]]
        ms, _ = sample_mutants(t.canonical_solution or "", 1, seed=seed, key=t.task_id)
        tests = [*t.public_tests, *t.hidden_tests]
        if ms and tests:
            sample.append("\n".join([ms[0].code, t.setup_code, rng.choice(tests)]))

    def one(program: str) -> float:
        start = time.perf_counter()
        try:
            subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=10, check=False)
        except subprocess.TimeoutExpired:
            pass
        return time.perf_counter() - start

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n_workers) as ex:
        list(ex.map(one, sample))
    sample_wall = time.perf_counter() - t0
    per_process = sample_wall * n_workers / max(1, len(sample))
    processes = sum((2 + r["mutants_made"]) * r["inputs"]["used"]
                    + r["confirmed_wrong"] * (r["public_tests"] + r["hidden_tests"]) for r in audited)
    baseline_s = per_process * processes / n_workers
    return {
        "tasks": len(tasks), "mutants": mutants, "seed": seed, "workers": n_workers,
        "load_humaneval_s": round(load_s, 2), "audit_s": round(audit_s, 2), "stages": stats,
        "target_s": 180.0, "meets_target": audit_s <= 180.0,
        "load_before": load_before, "load_after": load_after, "cpus": os.cpu_count(),
        "baseline_sample": len(sample), "baseline_per_process_ms": round(1000 * per_process, 1),
        "baseline_processes": processes, "baseline_estimate_s": round(baseline_s, 1),
        "speedup": round(baseline_s / audit_s, 1) if audit_s > 0 else None,
        "summary": summary,
    }


def read_audit(path: str | os.PathLike) -> Any:
    """audit.jsonl (from ``codeself tasks audit``) as a flat polars frame, one row per task."""
    import polars as pl

    records, _ = read_jsonl(path)
    rows = []
    for line, r in records:
        if "task_id" not in r:
            raise DataError(Problem(str(path), line, "task_id", "missing required field"))
        rows.append({
            "task_id": r["task_id"], "status": r.get("status"), "reason": r.get("reason"),
            "mutants_made": r.get("mutants_made"), "confirmed_wrong": r.get("confirmed_wrong"),
            "accepted_by_public": r.get("accepted_by_public"), "accepted_by_all": r.get("accepted_by_all"),
            "weak": r.get("weak"), "public_weak": r.get("public_weak"),
        })
    return pl.DataFrame(rows, infer_schema_length=None)

