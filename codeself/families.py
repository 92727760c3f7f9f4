"""Declared procedural task families: the distribution codeself-nano practices on.

A *family* is a deterministic generator of small Python function tasks with public and hidden
tests, a canonical solution, and a **held-out split by composition**: each task is a composition
of primitive steps, and a fixed set of compositions (the ordered sequence of step kinds) is
reserved for the ``test`` split. No ``train`` task ever uses a held-out composition, so an
improvement measured on ``test`` is an improvement on combinations the model never practised on.
The held-out compositions are a property of the family (fixed salt), *not* of the seed: every seed
draws fresh task instances but the same compositions stay held out.

Families
--------
``arith`` — composed integer arithmetic. A task reads, for example::

    def f(x):
        \"\"\"Add 8, multiply by 8, subtract 6.\"\"\"

and its canonical answer is ``    return (x+8)*8-6``. Steps are ``add k``, ``subtract k`` and
``multiply by k`` (k in 2..9), two or three steps per task (3² + 3³ = 36 compositions, 9 held out).
A multiply that follows an add or subtract needs parentheses — that is what the family's
``needs_parens`` metadata records, and what the codeself-nano warm start's documented flaw is about
(see :mod:`codeself.training.nano`). Tests evaluate ``f`` at points where the parenthesised and
unparenthesised forms differ (never at 0), so a precedence slip always fails.

Guaranteed: same ``(name, n, seed)`` → identical tasks (ids, prompts, tests, splits); task ids are
unique; every canonical solution passes its own tests. Not guaranteed: stable output across
versions of this module (the family's ``version`` is stored in each task's metadata).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from codeself.tasks import Task

__all__ = ["FAMILIES", "Family", "generate_family", "arith_expression", "HELDOUT_SALT"]

#: Salt of the held-out-composition choice. Changing it changes which compositions are held out.
HELDOUT_SALT = "codeself-families-v1"

_OPS = ("add", "sub", "mul")
_WORDS = {"add": "add {k}", "sub": "subtract {k}", "mul": "multiply by {k}"}
_SYM = {"add": "+", "sub": "-", "mul": "*"}


def arith_expression(steps: list[tuple[str, int]], *, parens: bool = True) -> str:
    """Python expression in ``x`` that applies ``steps`` in order.

    With ``parens=False`` the parentheses a multiply needs after an add/subtract are dropped —
    the precedence slip used as the warm start's flawed demonstration (a wrong program).
    """
    expr = "x"
    low = False  # expr's top-level operator is + or -
    for op, k in steps:
        if op == "mul":
            if low and parens:
                expr = f"({expr})"
            expr = f"{expr}*{k}"
            low = False
        else:
            expr = f"{expr}{_SYM[op]}{k}"
            low = True
    return expr


def _needs_parens(steps: list[tuple[str, int]]) -> bool:
    return arith_expression(steps) != arith_expression(steps, parens=False)


def _describe(steps: list[tuple[str, int]]) -> str:
    words = [_WORDS[op].format(k=k) for op, k in steps]
    text = ", ".join(words)
    return text[0].upper() + text[1:] + "."


@dataclass(frozen=True)
class Family:
    """One declared family: a name, a description, its compositions and a task generator."""

    name: str
    description: str
    compositions: tuple[tuple[str, ...], ...]
    heldout: frozenset[tuple[str, ...]]
    make_task: Callable[[random.Random, tuple[str, ...], str], Task] = field(repr=False)
    version: int = 1

    def split_of(self, composition: tuple[str, ...]) -> str:
        """``test`` for a held-out composition, else ``train``."""
        return "test" if composition in self.heldout else "train"

    def generate(self, n_train: int, n_test: int, seed: int) -> list[Task]:
        """Exactly ``n_train`` train tasks then ``n_test`` test tasks, unique programs, deterministic."""
        if n_train < 0 or n_test < 0:
            raise ValueError("task counts must be >= 0")
        train_comps = [c for c in self.compositions if c not in self.heldout]
        test_comps = [c for c in self.compositions if c in self.heldout]
        out: list[Task] = []
        for split, comps, count in (("train", train_comps, n_train), ("test", test_comps, n_test)):
            rng = random.Random(f"{self.name}:{seed}:{split}")
            seen: set[str] = set()
            tries = 0
            while sum(1 for t in out if t.split == split) < count:
                tries += 1
                if tries > 50 * count + 1000:
                    raise ValueError(f"family {self.name!r} cannot make {count} unique {split} tasks")
                comp = comps[rng.randrange(len(comps))]
                task = self.make_task(rng, comp, f"{self.name}/s{seed}/{split}/{len(seen)}")
                if task.canonical_solution in seen:
                    continue
                seen.add(task.canonical_solution or "")
                task.split = split
                out.append(task)
        return out


def _make_arith(rng: random.Random, comp: tuple[str, ...], task_id: str) -> Task:
    steps = [(op, rng.randint(2, 9)) for op in comp]
    expr = arith_expression(steps)
    sig = "def f(x):\n"
    prompt = f'{sig}    """{_describe(steps)}"""\n'

    def value(x: int) -> int:
        v = x
        for op, k in steps:
            v = v + k if op == "add" else v - k if op == "sub" else v * k
        return v

    # Points never 0 (where a dropped-parenthesis form can coincide); distinct per task.
    xs = rng.sample([v for v in range(-9, 13) if v != 0], 5)
    tests = [f"assert f({x}) == {value(x)}" for x in xs]
    return Task(
        task_id=task_id,
        prompt=prompt,
        entry_point="f",
        public_tests=tests[:2],
        hidden_tests=tests[2:],
        canonical_solution=f"{sig}    return {expr}\n",
        source="family:arith",
        metadata={
            "family": "arith",
            "family_version": 1,
            "composition": "-".join(comp),
            "steps": [[op, k] for op, k in steps],
            "needs_parens": _needs_parens(steps),
            "expression": expr,
        },
    )


def _heldout(comps: list[tuple[str, ...]], k: int) -> frozenset[tuple[str, ...]]:
    ranked = sorted(comps, key=lambda c: hashlib.sha256(f"{HELDOUT_SALT}\0{'-'.join(c)}".encode()).hexdigest())
    return frozenset(ranked[:k])


_ARITH_COMPS = [c for n in (2, 3) for c in itertools.product(_OPS, repeat=n)]

#: Every declared family by name.
FAMILIES: dict[str, Family] = {
    "arith": Family(
        name="arith",
        description=(
            "Composed integer arithmetic f(x): 2-3 steps of add/subtract/multiply by k in 2..9; "
            "36 compositions (ordered step kinds), 9 held out for the test split."
        ),
        compositions=tuple(_ARITH_COMPS),
        heldout=_heldout(_ARITH_COMPS, 9),
        make_task=_make_arith,
    ),
}


def generate_family(name: str, n: int, seed: int, *, test_share: float | None = None) -> list[Task]:
    """``n`` tasks of family ``name`` for ``seed``, with ``split`` set (``train``/``test``).

    The number of test tasks is ``round(n * test_share)``; by default ``test_share`` is the held-out
    compositions' share of all compositions (9/36 for ``arith``), i.e. compositions are drawn
    uniformly. Raises ``KeyError`` naming the known families for an unknown name.
    """
    if name not in FAMILIES:
        raise KeyError(f"unknown family {name!r}; known: {', '.join(sorted(FAMILIES))}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    fam = FAMILIES[name]
    share = len(fam.heldout) / len(fam.compositions) if test_share is None else test_share
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"test_share must be in [0, 1], got {share}")
    n_test = round(n * share)
    return fam.generate(n - n_test, n_test, seed)
