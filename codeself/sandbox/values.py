"""Parent side of the value protocol: decode the child's type-preserving encoding, compare strictly.

The comparison rule (:func:`strict_eq`), used for every ``==``/``!=``/``in`` that involves a
value computed by the program:

* types must match exactly — ``True != 1``, ``(1, 2) != [1, 2]``, ``"1" != 1``;
* the one exception is ``int`` vs ``float``, compared by value as Python does (``1 == 1.0``):
  reference solutions and expected literals mix them freely (``2`` vs ``2.0``) and a test
  that wants a float says so with ``isinstance`` or a tolerance; ``bool`` never equals a number;
* floats compare exactly (``0.1 + 0.2 != 0.3``); tolerance comes only from the test itself
  (``math.isclose``, ``abs(a - b) < tol``), which the parent evaluates on the decoded numbers;
* containers compare element-wise with the same rule; dicts by key then value; sets as sets;
* a value of a non-builtin type arrives as :class:`Opaque`, which equals nothing and has no
  truth value, so no test that depends on it can pass.
"""

from __future__ import annotations

import json
import math
from typing import Any


class Opaque:
    """A value of a non-builtin type (only its type name and a capped repr crossed the channel)."""

    __slots__ = ("type_name", "text")

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name = type_name
        self.text = text

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TypeError(f"a value of type {self.type_name} cannot be graded (not a builtin type)")

    def __repr__(self) -> str:
        return f"<{self.type_name}: {self.text}>"


def decode(enc: Any) -> Any:
    """Turn the child's encoding back into plain Python values (see ``child.encode``)."""
    if enc is None or isinstance(enc, (bool, str)):
        return enc
    if isinstance(enc, list):
        return [decode(x) for x in enc]
    if isinstance(enc, dict) and len(enc) >= 1:
        (tag, body), *rest = enc.items()
        if tag == "$i":
            return int(body, 16)
        if tag == "$f":
            return float(body)
        if tag == "$t":
            return tuple(decode(x) for x in body)
        if tag == "$d":
            out = {}
            for k, v in body:
                dk = decode(k)
                try:
                    out[dk] = decode(v)
                except TypeError:
                    return Opaque("dict", "unhashable key")
            return out
        if tag in ("$s", "$fs"):
            try:
                items = [decode(x) for x in body]
                return set(items) if tag == "$s" else frozenset(items)
            except TypeError:
                return Opaque("set", "unhashable element")
        if tag == "$c":
            return complex(float(body[0]), float(body[1]))
        if tag == "$b":
            return bytes.fromhex(body)
        if tag == "$ba":
            return bytearray.fromhex(body)
        if tag == "$r":
            return range(*(decode(x) for x in body))
        if tag == "$o":
            return Opaque(str(body), str(enc.get("r", "")))
    raise ValueError(f"bad value encoding: {json.dumps(enc)[:200]}")


_NUM = (int, float)


def strict_eq(a: Any, b: Any) -> bool:
    """Equality with exact types; see the module docstring for the rule."""
    ta, tb = type(a), type(b)
    if ta is Opaque or tb is Opaque:
        return False
    if ta is bool or tb is bool:
        return ta is tb and a == b
    if ta in _NUM and tb in _NUM:
        return a == b
    if ta is not tb:
        return False
    if ta is list or ta is tuple:
        return len(a) == len(b) and all(strict_eq(x, y) for x, y in zip(a, b, strict=True))
    if ta is dict:
        if len(a) != len(b):
            return False
        for k, v in a.items():
            if k not in b:
                return False
            kb = next(x for x in b if x == k)
            if not strict_eq(k, kb) or not strict_eq(v, b[k]):
                return False
        return True
    if ta is float:
        return a == b
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return False


def strict_ne(a: Any, b: Any) -> bool:
    return not strict_eq(a, b)


def strict_in(x: Any, container: Any) -> bool:
    """``x in container`` with :func:`strict_eq` for elements (substring test for two strings)."""
    if type(container) is Opaque or type(x) is Opaque:
        return False
    if isinstance(container, str):
        return isinstance(x, str) and x in container
    if isinstance(container, (bytes, bytearray)):
        return isinstance(x, (bytes, bytearray, int)) and type(x) is not bool and x in container
    if isinstance(container, dict):
        return any(strict_eq(x, k) for k in container)
    return any(strict_eq(x, e) for e in container)


def strict_not_in(x: Any, container: Any) -> bool:
    return not strict_in(x, container)


def values_equal(a_enc: Any, b_enc: Any) -> bool:
    """Are two encodings the same value with exact types (NaN equal to NaN)?"""
    return json.dumps(a_enc, sort_keys=False) == json.dumps(b_enc, sort_keys=False)


def short_repr(v: Any, limit: int = 200) -> str:
    try:
        r = repr(v)
    except Exception:  # noqa: BLE001
        r = "<unrepresentable>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


def is_number(v: Any) -> bool:
    return type(v) in _NUM and not (isinstance(v, float) and math.isnan(v))
