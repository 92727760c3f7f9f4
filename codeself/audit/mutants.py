"""Mutants of a reference solution, made with the ``ast`` module only: the operators (:data:`OPERATORS`),
every applicable edit, de-duplication by unparsed source, and a deterministic round-robin pick per seed."""

from __future__ import annotations

import ast
import copy
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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
