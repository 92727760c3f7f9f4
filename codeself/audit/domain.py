"""The input domain of a task, inferred from its own tests (never executed here), and fresh inputs.

Assert tests: the literal calls to the entry point (parsed). Call tests ``{"args", "expected"}``:
their argument lists. Stdin tests: their input texts, and fresh inputs made by small edits of them
that keep the line structure (:func:`fresh_stdin_inputs`). Fresh inputs are seeded and deterministic."""

from __future__ import annotations

import ast
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codeself.tasks import Task

DEFAULT_FRESH_INPUTS = 40


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
    Calls with a non-literal argument (a variable, a generated value) are not included. A call test
    ``{"args", "expected"}`` is one call with its ``args`` (JSON values) as positional arguments;
    stdin tests hold no call (see :func:`observed_stdin_inputs`).
    """
    names = {task.entry_point, "candidate"}
    seen: set[str] = set()
    out: list[Call] = []
    for test in [*task.public_tests, *task.hidden_tests]:
        if isinstance(test, dict):
            if isinstance(test.get("args"), list):
                call = Call(tuple(test["args"]))
                if repr(call) not in seen:
                    seen.add(repr(call))
                    out.append(call)
            continue
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


# ---- stdin tasks: inputs are the tests' own input texts ----------------------------------------------

def observed_stdin_inputs(task: Task) -> list[str]:
    """The distinct ``input`` texts of the task's stdin tests (public, then hidden), in order."""
    seen: set[str] = set()
    out: list[str] = []
    for t in [*task.public_tests, *task.hidden_tests]:
        if isinstance(t, dict) and isinstance(t.get("input"), str) and t["input"] not in seen:
            seen.add(t["input"])
            out.append(t["input"])
    return out


def _int_token(tok: str) -> int | None:
    try:
        return int(tok) if tok.lstrip("+-").isdigit() else None
    except ValueError:
        return None


def _perturb_int(v: int, rng: random.Random) -> int:
    """A nearby integer of the same sign class (a non-negative value stays non-negative)."""
    span = max(3, abs(v))
    new = v + rng.choice([-1, 1]) * rng.randint(1, span)
    return abs(new) if v >= 0 else new


def perturb_stdin(text: str, rng: random.Random) -> str | None:
    """One edit of an input text that keeps its line structure: shuffle the tokens of a line with
    two or more tokens, or change one integer token to a nearby one of the same sign. The lone token
    of the first line of a multi-line input (usually a count: ``n`` or the number of test cases) is
    never changed. None when the text offers nothing to edit."""
    lines = text.split("\n")
    multi = sum(bool(ln.strip()) for ln in lines) > 1
    first = next((k for k, ln in enumerate(lines) if ln.strip()), None)
    shufflable = [k for k, ln in enumerate(lines) if len(ln.split()) >= 2 and len(set(ln.split())) >= 2]
    ints = [(k, j) for k, ln in enumerate(lines) for j, tok in enumerate(ln.split())
            if _int_token(tok) is not None and not (multi and k == first and len(ln.split()) == 1)]
    choices = (["shuffle"] if shufflable else []) + (["int"] * 2 if ints else [])
    if not choices:
        return None
    if rng.choice(choices) == "shuffle":
        k = rng.choice(shufflable)
        toks = lines[k].split()
        rng.shuffle(toks)
        lines[k] = " ".join(toks)
    else:
        k, j = rng.choice(ints)
        toks = lines[k].split()
        toks[j] = str(_perturb_int(int(toks[j]), rng))
        lines[k] = " ".join(toks)
    return "\n".join(lines)


def fresh_stdin_inputs(observed: Sequence[str], n: int = DEFAULT_FRESH_INPUTS, *, seed: int = 0,
                       key: str = "") -> list[str]:
    """Up to ``n`` new input texts, each one or two :func:`perturb_stdin` edits of an observed input
    (never equal to an observed one); deterministic for ``seed`` and ``key``. Not guaranteed to
    satisfy the problem's constraints: inputs on which the reference raises are dropped by the audit,
    but an edit the reference silently accepts (a value out of the stated range) is kept."""
    if not observed or n <= 0:
        return []
    rng = random.Random(f"codeself-audit-stdin:{seed}:{key}")
    seen = set(observed)
    out: list[str] = []
    attempts = 0
    while len(out) < n and attempts < n * 20:
        attempts += 1
        text: str | None = rng.choice(list(observed))
        for _ in range(rng.choice((1, 1, 2))):
            text = perturb_stdin(text, rng) if text is not None else None
        if text is None or text in seen:
            continue
        seen.add(text)
        out.append(text)
    return out
