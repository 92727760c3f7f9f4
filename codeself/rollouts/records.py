"""Rollout records: the schema, the head-first key layout, and the strict reader
(:func:`read_rollouts`) with its checks of a file's backend and tasks."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

from codeself.io import DataError, Problem, read_jsonl
from codeself.tasks import Task

#: Version 2 = the head-first key order of ``layout_record`` (version 1 files are read by the full
#: NDJSON reader; both are valid rollout files).
SCHEMA = "codeself.rollout/2"

#: Fields that must be identical between a file's existing records and a resumed run.
RUN_KEYS = ("backend", "model_id", "model_hash", "template", "show_public_tests", "temperature", "top_p",
            "max_new_tokens", "seed", "tests")


class RolloutError(DataError):
    """Bad rollout input (located problems)."""


#: Record keys written first ("head-first" layout), before the large text and per-test fields.
HEAD_KEYS = ("schema", "task_id", "sample_id", "backend", "model_id", "model_hash", "split", *RUN_KEYS[3:],
             "parse_status", "reward", "timings")
_RESULT_TAIL = ("tests", "stdout", "stderr")
#: The fast reader cuts each line here: everything the flat frame needs comes before it.
HEAD_MARKER = ', "tests": ['


def layout_record(rec: dict[str, Any]) -> dict[str, Any]:
    """The same record with keys in the head-first order: ``HEAD_KEYS``, then ``result`` (its scalar
    fields and scan findings first, then ``tests``/``stdout``/``stderr``), then everything else
    (reward_components, prompt, completion, code, parse_reason). Key order carries no meaning for
    JSON readers; it lets ``rollouts_frame`` decode only each line's head (up to ``HEAD_MARKER``)."""
    out = {k: rec[k] for k in HEAD_KEYS if k in rec}
    res = rec.get("result")
    if isinstance(res, dict):
        out["result"] = {**{k: v for k, v in res.items() if k not in _RESULT_TAIL},
                         **{k: res[k] for k in _RESULT_TAIL if k in res}}
    for k, v in rec.items():
        if k not in out:
            out[k] = v
    return out


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------


def _check_record(obj: dict[str, Any], file: str, line: int) -> list[Problem]:
    from codeself.sandbox.result import STATUSES

    probs: list[Problem] = []
    tid = obj.get("task_id")
    if not isinstance(tid, str) or not tid:
        probs.append(Problem(file, line, "task_id", "missing or not a non-empty string"))
        tid = None
    sid = obj.get("sample_id")
    if isinstance(sid, bool) or not isinstance(sid, int) or sid < 0:
        probs.append(Problem(file, line, "sample_id", f"must be a non-negative integer, got {sid!r}", tid))
    if not isinstance(obj.get("backend"), str):
        probs.append(Problem(file, line, "backend", "missing or not a string", tid))
    res = obj.get("result")
    if not isinstance(res, dict):
        probs.append(Problem(file, line, "result", "missing or not an object", tid))
    else:
        if res.get("status") not in STATUSES:
            probs.append(Problem(file, line, "result.status", f"unknown status {res.get('status')!r}", tid))
        if not isinstance(res.get("passed"), bool):
            probs.append(Problem(file, line, "result.passed", "missing or not a boolean", tid))
        for k in ("public_passed", "public_total", "hidden_passed", "hidden_total"):
            v = res.get(k, 0)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                probs.append(Problem(file, line, f"result.{k}", f"must be a non-negative integer, got {v!r}", tid))
    rw = obj.get("reward")
    if rw is not None and (isinstance(rw, bool) or not isinstance(rw, (int, float))):
        probs.append(Problem(file, line, "reward", f"must be a number or null, got {rw!r}", tid))
    return probs


def read_rollouts(
    path: str | os.PathLike,
    *,
    skip_invalid: bool = False,
    problems: list[Problem] | None = None,
    allow_empty: bool = False,
    with_lines: bool = False,
) -> list[dict[str, Any]]:
    """Read a rollout JSONL file strictly, tolerating (and reporting) a truncated last line.

    Every record is checked (task_id, sample_id, backend, result.status/passed/counts, reward);
    duplicate ``(task_id, sample_id)`` pairs are errors naming both lines. Problems raise
    ``RolloutError`` unless ``skip_invalid`` (then the valid records are returned and the problems
    appended to ``problems``). A truncated tail is never fatal: it is appended to ``problems`` and
    emitted as a ``UserWarning``. With ``with_lines`` each record gets ``_line`` (its line number).
    """
    name = str(path)
    records, probs = read_jsonl(path, skip_invalid=True, tolerate_truncated_tail=True, allow_empty=allow_empty)
    out: list[dict[str, Any]] = []
    seen: dict[tuple[str, int], int] = {}
    bad: list[Problem] = [p for p in probs if p.kind != "truncated"]
    tail = [p for p in probs if p.kind == "truncated"]
    for line, obj in records:
        rp = _check_record(obj, name, line)
        if not rp:
            key = (obj["task_id"], obj["sample_id"])
            if key in seen:
                rp = [Problem(name, line, "sample_id",
                              f"duplicate sample {key[1]} of task (first at line {seen[key]})", key[0])]
            else:
                seen[key] = line
        if rp:
            bad.extend(rp)
            continue
        if with_lines:
            obj["_line"] = line
        out.append(obj)
    kind = _other_file_kind(records[0][1]) if records and not out else None
    if kind is not None:  # one clear sentence instead of every missing rollout field of every line
        raise RolloutError(Problem(name, records[0][0], None, f"this is {kind[0]}, not rollouts; {kind[1]}"))
    for p in tail:
        warnings.warn(f"{p} — ignored; {len(out)} valid records kept", UserWarning, stacklevel=2)
    if problems is not None:
        problems.extend(tail + bad)
    if bad and not skip_invalid:
        raise RolloutError(bad)
    if not out and not allow_empty:
        raise RolloutError(Problem(name, None, None, "no valid rollout records"))
    return out


def _other_file_kind(obj: dict[str, Any]) -> tuple[str, str] | None:
    """What a JSONL record that is not a rollout belongs to, and what to do with it (None: unknown)."""
    if "result" in obj:
        return None
    if str(obj.get("schema", "")).startswith("codeself.agent.trace"):
        return "an agent trace file", "read it with `codeself agent report --traces FILE`"
    if "prompt" in obj and "entry_point" in obj and ("hidden_tests" in obj or "public_tests" in obj):
        return "a task file", "make rollouts from it with `codeself rollouts generate --tasks FILE`"
    if "completion" in obj and "task_id" in obj:
        return "a completions file", "replay it with `codeself rollouts generate --backend static --model FILE`"
    return None


def check_single_backend(records: Sequence[dict[str, Any]], path: str | os.PathLike) -> dict[str, Any]:
    """The one ``(backend, model_id, model_hash)`` of a file's records; ``RolloutError`` naming the
    first line of each extra one when a file mixes backends or models."""
    groups: dict[tuple, int] = {}
    for i, r in enumerate(records, start=1):
        key = (r.get("backend"), r.get("model_id"), r.get("model_hash"))
        groups.setdefault(key, r.get("_line", i))
    if len(groups) > 1:
        desc = "; ".join(f"backend={k[0]!r} model_id={k[1]!r} (first at line {ln})" for k, ln in groups.items())
        raise RolloutError(Problem(str(path), None, "backend",
                                   f"mixes {len(groups)} backends/models in one file: {desc}; "
                                   "split the file per model first"))
    (backend, model_id, model_hash), = groups.keys()
    return {"backend": backend, "model_id": model_id, "model_hash": model_hash}


def check_known_tasks(records: Sequence[dict[str, Any]], tasks: dict[str, Task], path: str | os.PathLike) -> None:
    """``RolloutError`` naming file, line and task for records whose task is not in ``tasks``."""
    probs = [Problem(str(path), r.get("_line"), "task_id", "unknown task id (not in the tasks file)", r["task_id"])
             for r in records if r["task_id"] not in tasks]
    if probs:
        raise RolloutError(probs)
