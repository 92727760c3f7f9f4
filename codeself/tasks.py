"""Tasks: the canonical schema, loaders for public formats, deterministic splits, validation.

The canonical task (one JSON object per line of a ``.jsonl`` file):

==================== ========= ==============================================================
field                type      meaning
==================== ========= ==============================================================
``task_id``          str       unique id, e.g. ``HumanEval/0``
``prompt``           str       what the model sees (HumanEval: signature + docstring)
``entry_point``      str       name of the function the tests call
``public_tests``     list[str] tests that may be shown to a model
``hidden_tests``     list[str] tests used only for grading; never shown to a model
``starter_code``     str       optional code given to the model (default ``""``)
``setup_code``       str       optional statements run before the tests (imports they need)
``canonical_solution`` str|null optional *complete program* defining ``entry_point``
``split``            str|null  ``train`` / ``validation`` / ``test`` or null
``source``           str       where it came from (``humaneval``, ``mbpp``, ``family:NAME`` …)
``metadata``         object    anything else (free form)
==================== ========= ==============================================================

A *test* is a string of Python statements that passes iff it runs without raising, usually a
single ``assert``. Tests call the solution by its ``entry_point`` name; ``setup_code`` runs first.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codeself.io import DataError, Problem, read_jsonl, sha256_file, write_jsonl_atomic

SPLITS = ("train", "validation", "test")
DEFAULT_SPLIT_SALT = "codeself-v1"
DEFAULT_SPLIT_FRACTIONS = (0.7, 0.1, 0.2)

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "task_id": str,
    "prompt": str,
    "entry_point": str,
    "public_tests": list,
    "hidden_tests": list,
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "starter_code": str,
    "setup_code": str,
    "canonical_solution": (str, type(None)),
    "split": (str, type(None)),
    "source": str,
    "metadata": dict,
}


@dataclass
class Task:
    """One coding task in the canonical format (see the module docstring for every field)."""

    task_id: str
    prompt: str
    entry_point: str
    public_tests: list[str]
    hidden_tests: list[str]
    starter_code: str = ""
    setup_code: str = ""
    canonical_solution: str | None = None
    split: str | None = None
    source: str = "canonical"
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any], *, file: str = "<dict>", line: int | None = None) -> Task:
        """Build a Task, raising ``DataError`` that names file, line, task id and field."""
        problems = check_record(obj, file=file, line=line)
        if problems:
            raise DataError(problems)
        known = {k: obj[k] for k in (*_REQUIRED, *_OPTIONAL) if k in obj}
        extra = {k: v for k, v in obj.items() if k not in known}
        task = cls(**known)
        if extra:
            task.metadata = {**task.metadata, "extra_fields": extra}
        return task


def check_record(obj: dict[str, Any], *, file: str = "<dict>", line: int | None = None) -> list[Problem]:
    """Schema problems of one raw record (missing fields, wrong types, empty ids)."""
    problems: list[Problem] = []
    tid = obj.get("task_id") if isinstance(obj.get("task_id"), str) else None
    for name, typ in _REQUIRED.items():
        if name not in obj:
            problems.append(Problem(file, line, name, "missing required field", tid))
        elif not isinstance(obj[name], typ):
            problems.append(
                Problem(file, line, name, f"expected {_tname(typ)}, got {type(obj[name]).__name__}", tid)
            )
    for name, typ in _OPTIONAL.items():
        if name in obj and not isinstance(obj[name], typ):
            problems.append(
                Problem(file, line, name, f"expected {_tname(typ)}, got {type(obj[name]).__name__}", tid)
            )
    for name in ("public_tests", "hidden_tests"):
        if isinstance(obj.get(name), list):
            for j, t in enumerate(obj[name]):
                if not isinstance(t, str):
                    problems.append(
                        Problem(file, line, f"{name}[{j}]", f"expected str, got {type(t).__name__}", tid)
                    )
    if isinstance(obj.get("task_id"), str) and not obj["task_id"].strip():
        problems.append(Problem(file, line, "task_id", "empty task id", None))
    if isinstance(obj.get("entry_point"), str) and not obj["entry_point"].isidentifier():
        problems.append(Problem(file, line, "entry_point", f"not an identifier: {obj['entry_point']!r}", tid))
    split = obj.get("split")
    if isinstance(split, str) and split not in SPLITS:
        problems.append(Problem(file, line, "split", f"unknown split {split!r} (use one of {SPLITS})", tid))
    return problems


def _tname(typ: type | tuple[type, ...]) -> str:
    if isinstance(typ, tuple):
        return " or ".join("null" if t is type(None) else t.__name__ for t in typ)
    return typ.__name__


def load_tasks(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    skip_invalid: bool = False,
    problems: list[Problem] | None = None,
) -> list[Task]:
    """Load canonical tasks from one or more JSONL files.

    Raises ``DataError`` naming file, line and field for any bad record, unless ``skip_invalid``
    is given, in which case bad records are appended to ``problems`` (pass a list to see them).
    """
    paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    tasks: list[Task] = []
    found: list[Problem] = []
    for p in paths:
        records, bad = read_jsonl(p, skip_invalid=skip_invalid)
        found.extend(bad)
        for line, obj in records:
            recp = check_record(obj, file=str(p), line=line)
            if recp:
                found.extend(recp)
                continue
            tasks.append(Task.from_dict(obj, file=str(p), line=line))
    if found and not skip_invalid:
        raise DataError(found)
    if problems is not None:
        problems.extend(found)
    return tasks


def load_task_map(path: str | os.PathLike | Sequence[str | os.PathLike]) -> dict[str, Task]:
    """``{task_id: Task}``; raises ``DataError`` on duplicate ids."""
    out: dict[str, Task] = {}
    dups: list[Problem] = []
    for t in load_tasks(path):
        if t.task_id in out:
            dups.append(Problem(str(path), None, "task_id", "duplicate task id", t.task_id))
        out[t.task_id] = t
    if dups:
        raise DataError(dups)
    return out


def write_tasks(path: str | os.PathLike, tasks: Iterable[Task]) -> None:
    """Write tasks as JSONL atomically (temp file + rename)."""
    write_jsonl_atomic(path, [t.to_dict() for t in tasks])


# ---------------------------------------------------------------------------------------------
# Splits


def split_for(task_id: str, salt: str = DEFAULT_SPLIT_SALT,
              fractions: tuple[float, float, float] = DEFAULT_SPLIT_FRACTIONS) -> str:
    """Deterministic split of one id: ``sha256(salt + "\\0" + task_id)`` mapped to [0, 1).

    Depends only on the id and the salt, so it is the same on any machine and in any input order.
    """
    if abs(sum(fractions) - 1.0) > 1e-9 or any(f < 0 for f in fractions):
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    digest = hashlib.sha256(f"{salt}\0{task_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    cum = 0.0
    for name, frac in zip(SPLITS, fractions, strict=True):
        cum += frac
        if u < cum:
            return name
    return SPLITS[-1]


def assign_splits(tasks: Iterable[Task], salt: str = DEFAULT_SPLIT_SALT,
                  fractions: tuple[float, float, float] = DEFAULT_SPLIT_FRACTIONS) -> list[Task]:
    """Set ``split`` on every task from a hash of its id and ``salt`` (in place; returns the list)."""
    out = list(tasks)
    for t in out:
        t.split = split_for(t.task_id, salt, fractions)
    return out


def split_manifest(tasks: Sequence[Task], *, salt: str, fractions: tuple[float, float, float],
                   input_path: str | os.PathLike | None) -> dict[str, Any]:
    counts = {s: 0 for s in SPLITS}
    for t in tasks:
        if t.split in counts:
            counts[t.split] += 1
    return {
        "salt": salt,
        "fractions": dict(zip(SPLITS, fractions, strict=True)),
        "counts": counts,
        "n_tasks": len(tasks),
        "input": str(input_path) if input_path else None,
        "input_sha256": sha256_file(input_path) if input_path and Path(input_path).is_file() else None,
        "method": "sha256(salt + NUL + task_id), first 8 bytes as a fraction of 2**64",
    }


def _parse_ok(src: str) -> str | None:
    try:
        ast.parse(src)
    except SyntaxError as e:
        return f"does not parse: {e.msg} (line {e.lineno})"
    return None


def dumps_task(task: Task) -> str:
    return json.dumps(task.to_dict(), ensure_ascii=False)
