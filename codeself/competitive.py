"""Importers of competitive-programming formats: LiveCodeBench, CodeContests, APPS / TACO.

Each reads a JSON array or JSONL file and returns one :class:`codeself.tasks.Task` per record, in
input order; a bad record is a located error (file, line, field), or is skipped and reported with
``skip_invalid``. Tests become stdin tests ``{"input", "output"}`` or call tests
``{"args", "expected"}`` (see :mod:`codeself.tasks`); each importer picks its dataset's own judge
(``judge=`` overrides it).

Public tests are what the problem statement shows — LiveCodeBench's and CodeContests' public tests;
for APPS/TACO the tests whose input and output both appear in the statement — and everything else is
hidden. Per-problem time and memory limits are kept (``time_limit_s``, ``memory_limit_mb``).

Rules worth knowing:

* LiveCodeBench's ``private_test_cases`` may be ``base64(zlib(pickle(json string)))``. The pickle is
  decoded **without executing anything**: every opcode is checked first (only strings, bytes,
  numbers, lists, dicts, tuples, memo and framing are allowed) and the unpickler refuses every
  global, so a payload that would run code on load is a located error. Decompression is bounded
  (:data:`MAX_DECOMPRESSED`).
* LiveCodeBench functional input is one JSON value per line, one per positional argument; the
  output is one JSON value.
* APPS/TACO call-based outputs are stored wrapped in a one-element list (``[ret]``), and APPS'
  own grader accepts either ``ret == out`` or ``ret == out[0]``. CodeSelf needs one expected value:
  a one-element list is unwrapped (``[[1, 2]]`` → ``[1, 2]``, ``[5]`` → ``5``); anything else is kept.
  The rare record whose function really returns a one-element list and was stored unwrapped is then
  graded against the element — check such tasks with ``codeself sandbox run`` on the reference.
* CodeContests' reference is its first Python 3 solution (language 3).
"""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import pickletools
import zlib
from pathlib import Path
from typing import Any

from codeself.datasets import _raise_or_collect, _read_json_or_jsonl
from codeself.io import DataError, Problem
from codeself.judges import JUDGES
from codeself.tasks import Task

MAX_DECOMPRESSED = 1 << 30
DEFAULT_JUDGE = {"livecodebench": "lcb", "codecontests": "codecontests", "apps": "tokens", "taco": "tokens"}

_SAFE_OPS = frozenset({
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "GET",
    "BINGET", "LONG_BINGET", "NONE", "NEWTRUE", "NEWFALSE", "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1",
    "LONG4", "FLOAT", "BINFLOAT", "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
    "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "EMPTY_LIST",
    "APPEND", "APPENDS", "LIST", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "EMPTY_DICT", "DICT",
    "SETITEM", "SETITEMS", "EMPTY_SET", "ADDITEMS", "FROZENSET",
})


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: D401 - refuse, never import
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def safe_unpickle(data: bytes) -> Any:
    """Plain data from a pickle, or ``ValueError``: nothing in it can run code (see module doc)."""
    try:
        for op, _arg, _pos in pickletools.genops(data):
            if op.name not in _SAFE_OPS:
                raise ValueError(f"pickle opcode {op.name} is not plain data (refused, nothing was run)")
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 - a truncated or malformed stream
        raise ValueError(f"malformed pickle: {e}") from None
    try:
        return _NoGlobals(io.BytesIO(data)).load()
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"malformed pickle: {e}") from None


def decode_private_tests(blob: str) -> Any:
    """LiveCodeBench's private tests: a JSON string, or ``base64(zlib(pickle(json string)))``."""
    text = blob.strip()
    if text[:1] in ("[", "{") or not text:
        return json.loads(text or "[]")
    try:
        raw = base64.b64decode(text, validate=False)
        d = zlib.decompressobj()
        data = d.decompress(raw, MAX_DECOMPRESSED)
        if d.unconsumed_tail:
            raise ValueError(f"decompressed private tests exceed {MAX_DECOMPRESSED} bytes")
    except (ValueError, zlib.error) as e:
        raise ValueError(f"neither JSON nor base64(zlib(pickle)): {e}") from None
    obj = safe_unpickle(data)
    if isinstance(obj, bytes):
        obj = obj.decode("utf-8")
    if isinstance(obj, str):
        return json.loads(obj)
    return obj


def _json_field(rec: dict, name: str, default: Any = None) -> Any:
    v = rec.get(name, default)
    if isinstance(v, str):
        return json.loads(v) if v.strip() else default
    return v


class _Bad(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _str_field(rec: dict, name: str, required: bool = True) -> str:
    v = rec.get(name)
    if v is None and not required:
        return ""
    if not isinstance(v, str):
        raise _Bad(name, "missing required field" if v is None else f"expected str, got {type(v).__name__}")
    return v


def _import(path: str | os.PathLike, fmt: str, convert, *, skip_invalid: bool, problems: list[Problem] | None,
            judge: str | None) -> list[Task]:
    if judge is not None and judge not in JUDGES:
        raise DataError(Problem(str(path), None, "judge", f"unknown judge {judge!r}; choose one of {', '.join(JUDGES)}"))
    p = Path(path)
    out, bad = [], []
    for line, rec in _read_json_or_jsonl(p, skip_invalid=skip_invalid, problems=problems):
        tid = rec.get("question_id") or rec.get("name") or rec.get("problem_id")
        try:
            task = convert(rec)
            task.judge = judge or DEFAULT_JUDGE[fmt]
            task.source = fmt
        except _Bad as e:
            bad.append(Problem(str(p), line, e.field, e.message, str(tid) if tid is not None else None))
            continue
        except (ValueError, TypeError, KeyError, json.JSONDecodeError) as e:
            bad.append(Problem(str(p), line, None, f"{type(e).__name__}: {e}"[:300],
                               str(tid) if tid is not None else None))
            continue
        out.append(task)
    _raise_or_collect(bad, skip_invalid, problems)
    return out


# ---- LiveCodeBench -----------------------------------------------------------------------------------

def _lcb_cases(value: Any, field: str) -> list[dict]:
    if not isinstance(value, list):
        raise _Bad(field, f"expected a list of test cases, got {type(value).__name__}")
    for j, c in enumerate(value):
        if not isinstance(c, dict) or not isinstance(c.get("input"), str) or not isinstance(c.get("output"), str):
            raise _Bad(f"{field}[{j}]", "a test case needs string input and output")
        if c.get("testtype", "stdin") not in ("stdin", "functional"):
            raise _Bad(f"{field}[{j}].testtype", f"unknown testtype {c.get('testtype')!r}")
    return value


def _lcb_test(c: dict, field: str) -> dict:
    if c.get("testtype", "stdin") == "stdin":
        return {"input": c["input"], "output": c["output"], "origin": "dataset"}
    try:
        args = [json.loads(x) for x in c["input"].split("\n") if x.strip()]
        expected = json.loads(c["output"])
    except json.JSONDecodeError as e:
        raise _Bad(field, f"functional test is not one JSON value per line: {e.msg}") from None
    return {"args": args, "expected": expected, "origin": "dataset"}


def _lcb(rec: dict) -> Task:
    qid = _str_field(rec, "question_id") if isinstance(rec.get("question_id"), str) else str(rec.get("question_id", ""))
    if not qid:
        raise _Bad("question_id", "missing required field")
    content = _str_field(rec, "question_content")
    starter = _str_field(rec, "starter_code", required=False)
    try:
        public = _lcb_cases(_json_field(rec, "public_test_cases", []), "public_test_cases")
    except json.JSONDecodeError as e:
        raise _Bad("public_test_cases", f"malformed JSON: {e.msg}") from None
    blob = rec.get("private_test_cases", "")
    try:
        private = decode_private_tests(blob) if isinstance(blob, str) else blob
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _Bad("private_test_cases", str(e)[:300]) from None
    private = _lcb_cases(private, "private_test_cases")
    try:
        meta = _json_field(rec, "metadata", {}) or {}
    except json.JSONDecodeError as e:
        raise _Bad("metadata", f"malformed JSON: {e.msg}") from None
    if not isinstance(meta, dict):
        raise _Bad("metadata", "expected a JSON object")
    functional = any(c.get("testtype") == "functional" for c in [*public, *private])
    entry = meta.get("func_name", "") if functional else ""
    if functional and (not isinstance(entry, str) or not entry.isidentifier()):
        raise _Bad("metadata.func_name", "functional problems need func_name")
    prompt = content + (f"\n\n{starter}" if starter else "")
    return Task(task_id=f"{rec.get('platform', 'lcb')}/{qid}", prompt=prompt, entry_point=entry,
                public_tests=[_lcb_test(c, f"public_test_cases[{j}]") for j, c in enumerate(public)],
                hidden_tests=[_lcb_test(c, f"private_test_cases[{j}]") for j, c in enumerate(private)],
                starter_code=starter,
                metadata={k: rec.get(k) for k in ("question_title", "platform", "contest_id", "contest_date",
                                                   "difficulty") if k in rec})


def from_livecodebench(path, *, skip_invalid: bool = False, problems: list[Problem] | None = None,
                       judge: str | None = None) -> list[Task]:
    return _import(path, "livecodebench", _lcb, skip_invalid=skip_invalid, problems=problems, judge=judge)


# ---- CodeContests -----------------------------------------------------------------------------------

def _cc_tests(rec: dict, name: str) -> list[dict]:
    t = rec.get(name) or {"input": [], "output": []}
    if not isinstance(t, dict) or not isinstance(t.get("input"), list) or not isinstance(t.get("output"), list):
        raise _Bad(name, "expected {input: [str], output: [str]}")
    if len(t["input"]) != len(t["output"]):
        raise _Bad(name, f"{len(t['input'])} inputs but {len(t['output'])} outputs")
    out = []
    for j, (i, o) in enumerate(zip(t["input"], t["output"], strict=True)):
        if not isinstance(i, str) or not isinstance(o, str):
            raise _Bad(f"{name}.input[{j}]", "expected str")
        out.append({"input": i, "output": o, "origin": "dataset"})
    return out


def _cc(rec: dict) -> Task:
    name = _str_field(rec, "name")
    desc = _str_field(rec, "description")
    tl = rec.get("time_limit")
    time_limit = None
    if isinstance(tl, dict):
        secs = float(tl.get("seconds") or 0) + float(tl.get("nanos") or 0) / 1e9
        time_limit = secs if secs > 0 else None
    elif tl is not None:
        raise _Bad("time_limit", "expected {seconds, nanos}")
    mem = rec.get("memory_limit_bytes")
    if mem is not None and (not isinstance(mem, int) or mem < 0):
        raise _Bad("memory_limit_bytes", "expected a non-negative integer")
    ref = None
    sols = rec.get("solutions") or {}
    if not isinstance(sols, dict):
        raise _Bad("solutions", "expected {language: [int], solution: [str]}")
    for lang, src in zip(sols.get("language") or [], sols.get("solution") or [], strict=False):
        if lang == 3 and isinstance(src, str):
            ref = src
            break
    return Task(task_id=name, prompt=desc, entry_point="", public_tests=_cc_tests(rec, "public_tests"),
                hidden_tests=_cc_tests(rec, "private_tests") + _cc_tests(rec, "generated_tests"),
                canonical_solution=ref, time_limit_s=time_limit,
                memory_limit_mb=max(64, mem >> 20) if mem else None,
                metadata={k: rec.get(k) for k in ("source", "difficulty", "cf_rating", "cf_tags") if k in rec})


def from_codecontests(path, *, skip_invalid: bool = False, problems: list[Problem] | None = None,
                      judge: str | None = None) -> list[Task]:
    return _import(path, "codecontests", _cc, skip_invalid=skip_invalid, problems=problems, judge=judge)


# ---- APPS / TACO --------------------------------------------------------------------------------------

def _ws(s: str) -> str:
    return " ".join(s.split())


def _as_text(v: Any, field: str) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return "\n".join(v) + ("\n" if v else "")
    raise _Bad(field, f"expected str or a list of lines, got {type(v).__name__}")


def _apps(rec: dict) -> Task:
    pid = rec.get("problem_id", rec.get("name"))
    if pid is None:
        raise _Bad("problem_id", "missing required field (problem_id or name)")
    question = _str_field(rec, "question")
    starter = _str_field(rec, "starter_code", required=False)
    try:
        io_ = _json_field(rec, "input_output", None)
    except json.JSONDecodeError as e:
        raise _Bad("input_output", f"malformed JSON: {e.msg}") from None
    if not isinstance(io_, dict) or not isinstance(io_.get("inputs"), list) or not isinstance(io_.get("outputs"), list):
        raise _Bad("input_output", "expected {inputs: [...], outputs: [...]}")
    if len(io_["inputs"]) != len(io_["outputs"]):
        raise _Bad("input_output", f"{len(io_['inputs'])} inputs but {len(io_['outputs'])} outputs")
    try:
        sols = _json_field(rec, "solutions", []) or []
    except json.JSONDecodeError as e:
        raise _Bad("solutions", f"malformed JSON: {e.msg}") from None
    fn = io_.get("fn_name")
    stmt = _ws(question)
    public, hidden = [], []
    for j, (i, o) in enumerate(zip(io_["inputs"], io_["outputs"], strict=True)):
        if fn:
            if not isinstance(i, list):
                raise _Bad(f"input_output.inputs[{j}]", "call-based inputs are argument lists")
            expected = o[0] if isinstance(o, list) and len(o) == 1 else o
            test = {"args": i, "expected": expected, "origin": "dataset"}
            shown = all(_ws(json.dumps(a)) in stmt for a in i) and _ws(json.dumps(expected)) in stmt
        else:
            ti, to = _as_text(i, f"input_output.inputs[{j}]"), _as_text(o, f"input_output.outputs[{j}]")
            test = {"input": ti, "output": to, "origin": "dataset"}
            shown = bool(ti.strip()) and _ws(ti) in stmt and _ws(to) in stmt
        (public if shown else hidden).append(test)
    if fn and (not isinstance(fn, str) or not fn.isidentifier()):
        raise _Bad("input_output.fn_name", f"not an identifier: {fn!r}")
    ref = next((s for s in sols if isinstance(s, str)), None) if isinstance(sols, list) else None
    return Task(task_id=f"apps/{pid}", prompt=question + (f"\n\n{starter}" if starter else ""),
                entry_point=fn or "", public_tests=public, hidden_tests=hidden, starter_code=starter,
                canonical_solution=ref, metadata={k: rec.get(k) for k in ("difficulty", "url", "source") if k in rec})


def from_apps(path, *, skip_invalid: bool = False, problems: list[Problem] | None = None,
              judge: str | None = None, fmt: str = "apps") -> list[Task]:
    return _import(path, fmt, _apps, skip_invalid=skip_invalid, problems=problems, judge=judge)
