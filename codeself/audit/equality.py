"""When the audit calls two outputs the same: the grader's equality with a float tolerance.

The rule, in one place. :func:`close_eq` is :func:`codeself.sandbox.values.strict_eq` (exact types:
``True != 1``, ``(1,) != [1]``, ``"1" != 1``; ``int`` vs ``float`` by value; dict keys and set
elements by exact type), except where a float is involved:

* a ``float`` against a ``float`` or an ``int`` is equal within ``math.isclose(rel_tol, abs_tol)``
  (defaults :data:`REL_TOL`, :data:`ABS_TOL`), and two NaNs are equal;
* ``complex`` numbers are equal when their real and imaginary parts are;
* lists, tuples and dict values are compared element by element with the same rule;
* two :class:`~codeself.sandbox.values.Opaque` values (objects that are not plain data) are equal when
  their type name and capped repr are (``strict_eq`` says an opaque value equals nothing).

Why a tolerance: the audit confirms a mutant *wrong* only on evidence a test could see; a
difference in the last bits of a float, or an object that renders the same, is no such evidence.
With ``rel_tol=abs_tol=0`` only the NaN and opaque rules differ from ``strict_eq``.
"""

from __future__ import annotations

import math
from typing import Any

from codeself.sandbox.values import Opaque, strict_eq

REL_TOL = 1e-9
ABS_TOL = 1e-12

_NUM = (int, float)
_MISSING = object()


def close_eq(a: Any, b: Any, *, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    """``strict_eq`` with a float tolerance (the module docstring gives the rule)."""
    ta, tb = type(a), type(b)
    if ta is Opaque and tb is Opaque:
        return (a.type_name, a.text) == (b.type_name, b.text)
    if ta in _NUM and tb in _NUM and float in (ta, tb):
        fa, fb = float(a), float(b)
        if math.isnan(fa) and math.isnan(fb):
            return True
        return math.isclose(fa, fb, rel_tol=rel_tol, abs_tol=abs_tol)
    if ta is complex and tb is complex:
        return (close_eq(a.real, b.real, rel_tol=rel_tol, abs_tol=abs_tol)
                and close_eq(a.imag, b.imag, rel_tol=rel_tol, abs_tol=abs_tol))
    if ta is tb and ta in (list, tuple):
        return len(a) == len(b) and all(close_eq(x, y, rel_tol=rel_tol, abs_tol=abs_tol)
                                        for x, y in zip(a, b, strict=True))
    if ta is dict and tb is dict:
        if len(a) != len(b):
            return False
        keys_b = {k: k for k in b}  # the key object b holds for each key Python calls equal
        for ka, va in a.items():
            kb = keys_b.get(ka, _MISSING)
            if kb is _MISSING or not strict_eq(ka, kb) or not close_eq(va, b[kb], rel_tol=rel_tol, abs_tol=abs_tol):
                return False
        return True
    return strict_eq(a, b)
