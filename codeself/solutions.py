"""The solutions file: programs to run, one ``{task_id, code[, sample_id]}`` per line, or a rollout
file (whose parsed ``code`` is re-run). Read by notebook 02; ``codeself sandbox run`` has its own
reader (``codeself.cli.sandbox.read_solutions``) until the two are made one.
"""

from __future__ import annotations

import os
from typing import Any

from codeself.io import DataError, Problem, read_jsonl


def read_programs(path: str | os.PathLike) -> tuple[list[dict[str, Any]], int]:
    """Programs from a solutions file (``{task_id, code[, sample_id]}`` per line) or a rollout file.

    Returns ``(programs, n_without_code)``: rollouts whose ``code`` is null (the parser found no
    code) are counted, not run and not hidden. A record without ``task_id``, or whose ``code`` is
    neither a string nor null, raises ``DataError`` naming file, line and field.
    """
    records, _ = read_jsonl(path)
    programs: list[dict[str, Any]] = []
    no_code = 0
    bad: list[Problem] = []
    for line, r in records:
        if not isinstance(r.get("task_id"), str):
            bad.append(Problem(str(path), line, "task_id", "missing or not a string"))
            continue
        code = r.get("code", r.get("completion") if "code" not in r else None)
        if code is None:
            no_code += 1
            continue
        if not isinstance(code, str):
            bad.append(Problem(str(path), line, "code", f"expected str or null, got {type(code).__name__}",
                               r["task_id"]))
            continue
        programs.append({"task_id": r["task_id"], "code": code,
                         "sample_id": r.get("sample_id", line), "line": line})
    if bad:
        raise DataError(bad)
    return programs, no_code

