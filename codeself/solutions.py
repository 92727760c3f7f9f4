"""The solutions file: the programs ``codeself sandbox run`` and the sandbox notebook execute.

One JSON object per line: ``task_id`` (string), ``code`` (string, or null for "no program" — a
rollout record whose parser found no code), optional ``sample_id`` (int or string, unique per task).
A rollout file is a solutions file (its records carry ``task_id``, ``code`` and ``sample_id``).
The raw ``completion`` is never run in place of ``code``: programs are what the parser returned.

:func:`read_solutions` is the one reader, used by the CLI and the notebook views.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from codeself.io import DataError, Problem, read_jsonl


@dataclass
class Solutions:
    """The programs of a solutions file, in file order, and how many lines held no program."""

    programs: list[dict[str, Any]] = field(default_factory=list)  # {"task_id", "code", "sample_id", "line"}
    without_code: int = 0


def read_solutions(path: str | os.PathLike, task_ids: set[str] | None = None) -> Solutions:
    """Read and validate a solutions file; raise ``DataError`` naming file, line and field of every
    bad line: ``task_id`` missing or not a string (or, with ``task_ids``, not one of them), ``code``
    absent or neither a string nor null, ``sample_id`` neither an int nor a string, a repeated
    ``(task_id, sample_id)``. Lines with ``code: null`` are counted in ``without_code``, not returned.
    ``sample_id`` is None when the line has none."""
    records, _ = read_jsonl(path)
    out = Solutions()
    problems: list[Problem] = []
    seen: set[tuple[str, Any]] = set()
    for line, obj in records:
        tid = obj.get("task_id")
        if not isinstance(tid, str):
            problems.append(Problem(str(path), line, "task_id", "missing or not a string"))
            continue
        if task_ids is not None and tid not in task_ids:
            problems.append(Problem(str(path), line, "task_id", "unknown task id (not in --tasks)", tid))
            continue
        if "code" not in obj:
            problems.append(Problem(str(path), line, "code", "missing (a string, or null for no program)", tid))
            continue
        code = obj["code"]
        if code is not None and not isinstance(code, str):
            problems.append(Problem(str(path), line, "code", f"expected str or null, got {type(code).__name__}", tid))
            continue
        sid = obj.get("sample_id")
        if sid is not None and (isinstance(sid, bool) or not isinstance(sid, (int, str))):
            problems.append(Problem(str(path), line, "sample_id", f"expected int or str, got {type(sid).__name__}",
                                    tid))
            continue
        if sid is not None:
            if (tid, sid) in seen:
                problems.append(Problem(str(path), line, "sample_id", f"duplicate (task_id, sample_id) {sid!r}", tid))
                continue
            seen.add((tid, sid))
        if code is None:
            out.without_code += 1
            continue
        out.programs.append({"task_id": tid, "code": code, "sample_id": sid, "line": line})
    if problems:
        raise DataError(problems)
    return out


def read_programs(path: str | os.PathLike) -> tuple[list[dict[str, Any]], int]:
    """Programs of a solutions or rollout file for the notebooks: ``(programs, n_without_code)``
    (:func:`read_solutions`, the one reader); a program without a ``sample_id`` is labelled by its line."""
    read = read_solutions(path)
    return [{**p, "sample_id": p["line"] if p["sample_id"] is None else p["sample_id"]} for p in read.programs], \
        read.without_code
