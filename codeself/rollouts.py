"""Rollouts: one record per (task, sample) — generate, parse, execute, score — as resumable JSONL.

A rollout record (one JSON object per line)::

    task_id, sample_id          which task, which sample (0..N-1)
    backend, model_id, model_hash
    template, show_public_tests, temperature, top_p, max_new_tokens, seed
    prompt, completion, code    what the model saw, what it wrote, the parsed program (or null)
    parse_status, parse_reason  ok | empty | no_code | syntax_error (and why)
    result                      the sandbox Result as a dict (codeself.sandbox.result)
    reward, reward_components   reward_v0_correctness (reward is null for infra_error)
    timings                     {"generate_s": per-sample share of its batch, "sandbox_s"}
    split                       the task's split (train / validation / test / null)
    schema                      "codeself.rollout/1"

Guarantees
- ``generate_rollouts`` appends and flushes (fsync) one record at a time (``codeself.io.JsonlAppender``):
  a killed run loses at most the record being written. Re-running the same command resumes: samples
  whose ``(task_id, sample_id)`` is already in the file are skipped, never duplicated; a truncated
  last line is cut first. Resuming with a different backend/model/seed/template refuses (the file
  would mix two experiments).
- ``read_rollouts`` is strict about every line except a truncated tail (reported, not fatal), and
  names file, line and field for every bad record; ``skip_invalid=True`` keeps the valid ones.
- ``rollouts_frame`` reads a clean file through polars' native NDJSON reader (the fast path measured
  by ``codeself bench rollouts``); if that reader rejects the file it falls back to the strict
  reader so errors are located, never silently dropped.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from codeself.io import DataError, JsonlAppender, Problem, read_jsonl
from codeself.tasks import Task

SCHEMA = "codeself.rollout/1"

#: Fields that must be identical between a file's existing records and a resumed run.
RUN_KEYS = ("backend", "model_id", "model_hash", "template", "show_public_tests", "temperature", "top_p",
            "max_new_tokens", "seed", "tests")

#: Flat columns of ``rollouts_frame`` (name -> polars dtype name), in order.
FRAME_COLUMNS = (
    "task_id", "sample_id", "backend", "model_id", "model_hash", "split", "parse_status", "passed", "status",
    "phase", "public_passed", "public_total", "hidden_passed", "hidden_total", "reward", "duration_s",
    "exec_duration_s", "generate_s", "sandbox_s", "n_scan", "completion_chars", "seed", "temperature",
)


class RolloutError(DataError):
    """Bad rollout input (located problems)."""


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
    bad: list[Problem] = [p for p in probs if not p.message.startswith("truncated")]
    tail = [p for p in probs if p.message.startswith("truncated")]
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
    for p in tail:
        warnings.warn(f"{p} — ignored; {len(out)} valid records kept", UserWarning, stacklevel=2)
    if problems is not None:
        problems.extend(tail + bad)
    if bad and not skip_invalid:
        raise RolloutError(bad)
    if not out and not allow_empty:
        raise RolloutError(Problem(name, None, None, "no valid rollout records"))
    return out


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


def _flat(r: dict[str, Any]) -> dict[str, Any]:
    res = r.get("result") or {}
    tm = r.get("timings") or {}
    comp = r.get("completion")
    return {
        "task_id": r.get("task_id"), "sample_id": r.get("sample_id"), "backend": r.get("backend"),
        "model_id": r.get("model_id"), "model_hash": r.get("model_hash"), "split": r.get("split"),
        "parse_status": r.get("parse_status"), "passed": res.get("passed"), "status": res.get("status"),
        "phase": res.get("phase"), "public_passed": res.get("public_passed"),
        "public_total": res.get("public_total"), "hidden_passed": res.get("hidden_passed"),
        "hidden_total": res.get("hidden_total"),
        "reward": float(r["reward"]) if r.get("reward") is not None else None,
        "duration_s": _f(res.get("duration_s")), "exec_duration_s": _f(res.get("exec_duration_s")),
        "generate_s": _f(tm.get("generate_s")), "sandbox_s": _f(tm.get("sandbox_s")),
        "n_scan": len(res.get("scan") or []), "completion_chars": len(comp) if isinstance(comp, str) else None,
        "seed": r.get("seed"), "temperature": _f(r.get("temperature")),
    }


def _f(v: Any) -> float | None:
    return float(v) if v is not None else None


def _frame_schema():
    import polars as pl

    return {
        "task_id": pl.Utf8, "sample_id": pl.Int64, "backend": pl.Utf8, "model_id": pl.Utf8,
        "model_hash": pl.Utf8, "split": pl.Utf8, "parse_status": pl.Utf8, "passed": pl.Boolean,
        "status": pl.Utf8, "phase": pl.Utf8, "public_passed": pl.Int64, "public_total": pl.Int64,
        "hidden_passed": pl.Int64, "hidden_total": pl.Int64, "reward": pl.Float64, "duration_s": pl.Float64,
        "exec_duration_s": pl.Float64, "generate_s": pl.Float64, "sandbox_s": pl.Float64, "n_scan": pl.Int64,
        "completion_chars": pl.Int64, "seed": pl.Int64, "temperature": pl.Float64,
    }


def frame_from_records(records: Iterable[dict[str, Any]]):
    """``rollouts_frame`` columns from already-parsed records (the slow, strict path)."""
    import polars as pl

    return pl.DataFrame([_flat(r) for r in records], schema=_frame_schema(), orient="row")


def _fast_frame(path: Path):
    """polars' native NDJSON reader with a projected schema (nested result/timings as structs)."""
    import io

    import polars as pl

    struct = pl.Struct
    schema = {
        "task_id": pl.Utf8, "sample_id": pl.Int64, "backend": pl.Utf8, "model_id": pl.Utf8,
        "model_hash": pl.Utf8, "split": pl.Utf8, "parse_status": pl.Utf8, "reward": pl.Float64,
        "seed": pl.Int64, "temperature": pl.Float64, "completion": pl.Utf8,
        "result": struct({"passed": pl.Boolean, "status": pl.Utf8, "phase": pl.Utf8,
                          "public_passed": pl.Int64, "public_total": pl.Int64, "hidden_passed": pl.Int64,
                          "hidden_total": pl.Int64, "duration_s": pl.Float64, "exec_duration_s": pl.Float64,
                          "scan": pl.List(struct({"rule": pl.Utf8}))}),
        "timings": struct({"generate_s": pl.Float64, "sandbox_s": pl.Float64}),
    }
    size = path.stat().st_size
    source: Any = path
    with open(path, "rb") as f:
        if size:
            f.seek(size - 1)
            if f.read(1) != b"\n":  # truncated tail: hand polars everything up to the last newline
                f.seek(0)
                data = f.read()
                source = io.BytesIO(data[: data.rfind(b"\n") + 1])
    df = pl.read_ndjson(source, schema=schema)
    res = pl.col("result")
    out = df.select(
        "task_id", "sample_id", "backend", "model_id", "model_hash", "split", "parse_status",
        res.struct.field("passed").alias("passed"), res.struct.field("status").alias("status"),
        res.struct.field("phase").alias("phase"),
        *[res.struct.field(k).alias(k) for k in ("public_passed", "public_total", "hidden_passed", "hidden_total")],
        "reward",
        res.struct.field("duration_s").alias("duration_s"),
        res.struct.field("exec_duration_s").alias("exec_duration_s"),
        pl.col("timings").struct.field("generate_s").alias("generate_s"),
        pl.col("timings").struct.field("sandbox_s").alias("sandbox_s"),
        res.struct.field("scan").list.len().fill_null(0).cast(pl.Int64).alias("n_scan"),
        pl.col("completion").str.len_chars().cast(pl.Int64).alias("completion_chars"),
        "seed", "temperature",
    )
    return out


def rollouts_frame(path: str | os.PathLike, *, fast: bool = True, problems: list[Problem] | None = None):
    """A polars DataFrame with one row per rollout record and flat columns (``FRAME_COLUMNS``).

    Fast path (``fast=True``): polars' NDJSON reader with a projected schema, then a validity check
    (non-null task_id / sample_id / status / passed, no duplicate samples). Any problem — a parse
    error, a missing field, a duplicate — re-reads the file with the strict ``read_rollouts`` so the
    error names file, line and field (or, with a truncated tail only, the valid records are kept
    and the tail reported in ``problems``).
    """
    import polars as pl

    p = Path(path)
    if fast and p.is_file() and p.stat().st_size > 0:
        try:
            df = _fast_frame(p)
        except Exception:  # polars rejected the file: locate the problem with the strict reader
            df = None
        if df is not None and df.height > 0:
            nulls = df.select(pl.any_horizontal(pl.col(c).is_null() for c in ("task_id", "sample_id", "status", "passed")).any()).item()
            dups = df.select(pl.struct("task_id", "sample_id").is_duplicated().any()).item()
            if not nulls and not dups:
                from codeself.sandbox.result import STATUSES

                bad_status = df.filter(~pl.col("status").is_in(list(STATUSES))).height
                if bad_status == 0:
                    with open(p, "rb") as f:
                        f.seek(p.stat().st_size - 1)
                        truncated = f.read(1) != b"\n"
                    if truncated:
                        read_rollouts(p, problems=problems)  # reports the tail (and re-checks lines)
                    return df
    recs = read_rollouts(p, problems=problems)
    return frame_from_records(recs)


def write_parquet(path: str | os.PathLike, frame) -> None:
    """Write a polars DataFrame to Parquet atomically (temp file + rename)."""
    from codeself.io import atomic_writer

    with atomic_writer(path, "wb") as f:
        frame.write_parquet(f)


# ---------------------------------------------------------------------------------------------
# generating
# ---------------------------------------------------------------------------------------------


def _chunks(seq: Sequence[Any], n: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def default_temperature(samples_per_task: int) -> float:
    """Greedy (0.0) for one sample per task, 0.8 for several (pass@k needs diverse samples)."""
    return 0.0 if samples_per_task <= 1 else 0.8


def generate_rollouts(
    tasks: Sequence[Task],
    backend: Any,
    output: str | os.PathLike,
    *,
    samples_per_task: int = 1,
    seed: int = 0,
    template: str = "completion",
    show_public_tests: bool = False,
    temperature: float | None = None,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    workers: int | None = None,
    timeout: float | None = None,
    tests: str = "all",
    sandbox_config: Any = None,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Generate ``samples_per_task`` rollouts per task into ``output`` (append, flush, resume).

    For each batch of ``batch_size`` tasks: build prompts (``build_prompt``), ask the backend for
    the samples still missing, parse each completion (``parse_code``), run every parsed program of
    the batch in one ``codeself.sandbox.run_many`` call, score (``reward_v0_correctness``) and append
    one record per sample, in (task, sample) order. Returns ``{"written", "skipped", "total",
    "seconds", "samples_per_s", "statuses", "output"}``.
    Refuses to resume into a file whose records were made with other run settings (``RUN_KEYS``).
    """
    from codeself.generation import GenerationRequest, build_prompt, parse_code
    from codeself.rewards import reward_v0_correctness, unexecuted_result

    if samples_per_task < 1:
        raise ValueError("samples_per_task must be >= 1")
    temperature = default_temperature(samples_per_task) if temperature is None else temperature
    out = Path(output)
    run = {"backend": backend.name, "model_id": backend.model_id, "model_hash": backend.model_hash,
           "template": template, "show_public_tests": show_public_tests, "temperature": temperature,
           "top_p": top_p, "max_new_tokens": max_new_tokens, "seed": seed, "tests": tests}
    done: set[tuple[str, int]] = set()
    if out.exists() and out.stat().st_size > 0:
        existing = read_rollouts(out, allow_empty=True, with_lines=True)
        for r in existing:
            diffs = [k for k in RUN_KEYS if k in r and r.get(k) != run[k]]
            if diffs:
                k = diffs[0]
                raise RolloutError(Problem(str(out), r["_line"], k,
                                           f"existing record has {k}={r.get(k)!r} but this run has {run[k]!r}; "
                                           "resume only with identical settings, or choose a new --output", r["task_id"]))
            done.add((r["task_id"], r["sample_id"]))
    todo: list[tuple[Task, list[int]]] = []
    for t in tasks:
        missing = [k for k in range(samples_per_task) if (t.task_id, k) not in done]
        if missing:
            todo.append((t, missing))
    total = len(tasks) * samples_per_task
    n_todo = sum(len(m) for _, m in todo)
    skipped = total - n_todo
    statuses: dict[str, int] = {}
    written = 0
    t_start = time.perf_counter()
    bar = None
    if progress and n_todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_todo, unit="sample", desc=f"rollouts ({backend.name})", file=sys.stderr,
                   dynamic_ncols=True, smoothing=0.1)
    try:
        with JsonlAppender(out) as app:
            for chunk in _chunks(todo, max(1, batch_size)):
                prompts = {t.task_id: build_prompt(t, template, show_public_tests) for t, _ in chunk}
                reqs = [GenerationRequest(t.task_id, prompts[t.task_id], n=len(ids), temperature=temperature,
                                          top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, sample_ids=ids)
                        for t, ids in chunk]
                g0 = time.perf_counter()
                completions = backend.generate(reqs)
                gen_s = time.perf_counter() - g0
                n_in_chunk = sum(len(ids) for _, ids in chunk)
                items = []
                for (t, ids), comps in zip(chunk, completions, strict=True):
                    if len(comps) != len(ids):
                        raise RuntimeError(f"backend returned {len(comps)} completions for {len(ids)} samples of {t.task_id}")
                    for k, c in zip(ids, comps, strict=True):
                        items.append((t, k, c, parse_code(c, t, prompt=prompts[t.task_id])))
                jobs = [(t, pc.code, k) for t, k, _c, pc in items if pc.code is not None]
                s0 = time.perf_counter()
                results_list: list[Any] = []
                if jobs:
                    from codeself.sandbox import run_many

                    kw: dict[str, Any] = {"workers": workers, "progress": False, "tests": tests}
                    if timeout is not None:
                        kw["timeout"] = timeout
                    if sandbox_config is not None:
                        kw["config"] = sandbox_config
                    results_list = run_many(jobs, **kw)
                sb_s = time.perf_counter() - s0
                res_iter = iter(results_list)
                for t, k, c, pc in items:
                    res = next(res_iter) if pc.code is not None else unexecuted_result(t, pc.status, pc.reason, tests=tests)
                    if res.sample_id is None:
                        res.sample_id = k
                    bd = reward_v0_correctness(res, completion=c, parse_status=pc.status, code=pc.code)
                    rec = {
                        "schema": SCHEMA, "task_id": t.task_id, "sample_id": k, **run,
                        "prompt": prompts[t.task_id], "completion": c, "code": pc.code,
                        "parse_status": pc.status, "parse_reason": pc.reason, "result": res.to_dict(),
                        "reward": bd.total, "reward_components": bd.components,
                        "timings": {"generate_s": gen_s / n_in_chunk,
                                    "sandbox_s": sb_s / max(1, len(jobs)) if pc.code is not None else 0.0},
                        "split": t.split,
                    }
                    app.write(rec)
                    written += 1
                    statuses[res.status] = statuses.get(res.status, 0) + 1
                    if on_record is not None:
                        on_record(rec)
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    secs = time.perf_counter() - t_start
    return {"written": written, "skipped": skipped, "total": total, "seconds": secs,
            "samples_per_s": written / secs if secs > 0 else 0.0, "statuses": statuses, "output": str(out)}
