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
    schema                      "codeself.rollout/2" (keys written head-first, see layout_record)

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

#: Version 2 = the head-first key order of ``layout_record`` (version 1 files are read by the full
#: NDJSON reader; both are valid rollout files).
SCHEMA = "codeself.rollout/2"

#: Fields that must be identical between a file's existing records and a resumed run.
RUN_KEYS = ("backend", "model_id", "model_hash", "template", "show_public_tests", "temperature", "top_p",
            "max_new_tokens", "seed", "tests")

#: Flat columns of ``rollouts_frame`` (name -> polars dtype name), in order.
FRAME_COLUMNS = (
    "task_id", "sample_id", "backend", "model_id", "model_hash", "split", "parse_status", "passed", "status",
    "phase", "public_passed", "public_total", "hidden_passed", "hidden_total", "reward", "duration_s",
    "exec_duration_s", "generate_s", "sandbox_s", "n_scan", "seed", "temperature",
)


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


def _flat(r: dict[str, Any]) -> dict[str, Any]:
    res = r.get("result") or {}
    tm = r.get("timings") or {}
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
        "n_scan": len(res.get("scan") or []),
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
        "seed": pl.Int64, "temperature": pl.Float64,
    }


def frame_from_records(records: Iterable[dict[str, Any]]):
    """``rollouts_frame`` columns from already-parsed records (the slow, strict path)."""
    import polars as pl

    return pl.DataFrame([_flat(r) for r in records], schema=_frame_schema(), orient="row")


def _frame_struct_schema():
    import polars as pl

    struct = pl.Struct
    return {
        "task_id": pl.Utf8, "sample_id": pl.Int64, "backend": pl.Utf8, "model_id": pl.Utf8,
        "model_hash": pl.Utf8, "split": pl.Utf8, "parse_status": pl.Utf8, "reward": pl.Float64,
        "seed": pl.Int64, "temperature": pl.Float64,
        "result": struct({"passed": pl.Boolean, "status": pl.Utf8, "phase": pl.Utf8,
                          "public_passed": pl.Int64, "public_total": pl.Int64, "hidden_passed": pl.Int64,
                          "hidden_total": pl.Int64, "duration_s": pl.Float64, "exec_duration_s": pl.Float64,
                          "scan": pl.List(struct({"rule": pl.Utf8}))}),
        "timings": struct({"generate_s": pl.Float64, "sandbox_s": pl.Float64}),
    }


def _select_flat(df):
    import polars as pl

    res = pl.col("result")
    return df.select(
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
        "seed", "temperature",
    )


def _source(path: Path, start: int, end: int):
    import io

    if start == 0 and end == path.stat().st_size:
        return path
    with open(path, "rb") as f:
        f.seek(start)
        return io.BytesIO(f.read(end - start))


def _head_frame(path: Path, start: int = 0, end: int | None = None):
    """Decode only each line's head (up to ``HEAD_MARKER``) of a head-first (``SCHEMA`` v2) file,
    every line of which must declare ``SCHEMA`` in its head: lines are read as
    raw strings (a valid JSON line contains no raw control character, so ``\\x1f`` never splits
    one), cut at the marker, closed with ``}}`` and decoded by polars. Returns None when any line
    lacks the marker (not head-first: use the full NDJSON reader)."""
    import polars as pl

    end = path.stat().st_size if end is None else end
    lines = pl.read_csv(_source(path, start, end), has_header=False, separator="\x1f", quote_char=None,
                        schema={"line": pl.Utf8}, comment_prefix=None)
    lines = lines.filter(pl.col("line").is_not_null() & (pl.col("line").str.strip_chars() != ""))
    parts = lines.select(pl.col("line").str.split_exact(HEAD_MARKER, 1).alias("p")).unnest("p")
    if parts.height == 0 or parts["field_1"].null_count() > 0:
        return None
    dtype = pl.Struct({"schema": pl.Utf8, **_frame_struct_schema()})
    decoded = parts.select((pl.col("field_0") + "}}").str.json_decode(dtype).alias("r")).unnest("r")
    # only lines that declare the head-first layout may be read from their head
    if decoded["schema"].null_count() or (decoded["schema"] != SCHEMA).any():
        return None
    return _select_flat(decoded)


def _fast_frame(path: Path, start: int = 0, end: int | None = None):
    """The flat frame of the complete lines in bytes ``[start, end)``: the head-only decoder for
    head-first files, else polars' NDJSON reader with a projected schema (memory-mapped when the
    range is the whole file)."""
    import polars as pl

    end = path.stat().st_size if end is None else end
    with open(path, "rb") as f:
        f.seek(start)
        first = f.readline()
    if HEAD_MARKER.encode() in first:
        df = _head_frame(path, start, end)
        if df is not None:
            return df
    return _select_flat(pl.read_ndjson(_source(path, start, end), schema=_frame_struct_schema()))


def _complete_end(path: Path) -> int:
    """Offset just past the last newline (the end of the last complete line)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        pos = size
        while pos > 0:
            step = min(1 << 16, pos)
            f.seek(pos - step)
            chunk = f.read(step)
            i = chunk.rfind(b"\n")
            if i >= 0:
                return pos - step + i + 1
            pos -= step
    return 0


def _frame_valid(df) -> bool:
    import polars as pl

    from codeself.sandbox.result import STATUSES

    if df.height == 0:
        return False
    nulls = df.select(pl.any_horizontal(pl.col(c).is_null() for c in ("task_id", "sample_id", "status", "passed")).any()).item()
    if nulls:
        return False
    if df.select(pl.struct("task_id", "sample_id").is_duplicated().any()).item():
        return False
    return df.filter(~pl.col("status").is_in(list(STATUSES))).height == 0


#: Bump when the frame columns or their meaning change: old caches are then ignored.
FRAME_CACHE_VERSION = 1
_EDGE = 1 << 16


def frame_cache_dir() -> Path:
    """``<data dir>/cache/rollout-frames`` (``codeself.paths.data_dir()``; git-ignored)."""
    from codeself.paths import data_dir

    return data_dir() / "cache" / "rollout-frames"


def _edge_hashes(path: Path, end: int) -> tuple[str, str]:
    import hashlib

    with open(path, "rb") as f:
        head = f.read(min(_EDGE, end))
        f.seek(max(0, end - _EDGE))
        tail = f.read(min(_EDGE, end))
    return hashlib.sha256(head).hexdigest(), hashlib.sha256(tail).hexdigest()


def _cache_paths(path: Path) -> tuple[Path, Path]:
    import hashlib

    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    d = frame_cache_dir()
    return d / f"{key}.parquet", d / f"{key}.json"


def _cache_load(path: Path):
    import json

    import polars as pl

    pq, meta_p = _cache_paths(path)
    try:
        meta = json.loads(meta_p.read_text())
        if meta.get("version") != FRAME_CACHE_VERSION or meta.get("source") != str(path.resolve()):
            return None
        end = int(meta["end"])
        if path.stat().st_size < end or (meta["head_sha"], meta["tail_sha"]) != _edge_hashes(path, end):
            return None
        return pl.read_parquet(pq), meta
    except (OSError, ValueError, KeyError, TypeError):
        return None
    except Exception:  # a corrupt cache file is never fatal: rebuild it
        return None


def _cache_save(path: Path, df, end: int, n_lines: int) -> None:
    import json

    from codeself.io import atomic_write_text

    pq, meta_p = _cache_paths(path)
    try:
        pq.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(pq, df)
        h, t = _edge_hashes(path, end)
        st = path.stat()
        atomic_write_text(meta_p, json.dumps({
            "version": FRAME_CACHE_VERSION, "source": str(path.resolve()), "end": end, "rows": df.height,
            "lines": n_lines, "head_sha": h, "tail_sha": t, "mtime_ns": st.st_mtime_ns,
        }))
    except OSError:  # read-only data directory: no cache, still correct
        pass


def _count_newlines(path: Path, start: int, end: int) -> int:
    n = 0
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            chunk = f.read(min(1 << 24, left))
            if not chunk:
                break
            n += chunk.count(b"\n")
            left -= len(chunk)
    return n


def rollouts_frame(path: str | os.PathLike, *, fast: bool = True, cache: bool = True,
                   problems: list[Problem] | None = None):
    """A polars DataFrame with one row per rollout record and flat columns (``FRAME_COLUMNS``).

    Fast path (``fast=True``): polars' NDJSON reader with a projected schema, then a validity check
    (non-null task_id / sample_id / status / passed, known statuses, no duplicate samples). Any
    problem re-reads the file with the strict ``read_rollouts`` so the error names file, line and
    field; a truncated last line is left out and reported in ``problems`` (and as a warning).

    Cache (``cache=True``): the flat frame of the complete lines is kept as Parquet in
    ``frame_cache_dir()`` with the byte offset it covers and sha256 of the first and last 64 KiB
    of that range. Rollout files only grow (append + flush), so the next call parses only the bytes
    appended since (a resumed run's new records), or nothing. A file rewritten so that those edge
    hashes or its size no longer match is re-read from scratch. Not guaranteed: detecting an
    in-place edit of the *middle* of a file that keeps its size and both 64 KiB edges — rewrite such
    files (or pass ``cache=False``).
    """
    import warnings as _w

    import polars as pl

    p = Path(path)
    if not fast or not p.is_file() or p.stat().st_size == 0:
        return frame_from_records(read_rollouts(p, problems=problems))
    end = _complete_end(p)
    size = p.stat().st_size
    cached = _cache_load(p) if cache else None
    df = None
    n_lines = 0
    try:
        if cached is not None and int(cached[1]["end"]) == end:
            df, n_lines = cached[0], int(cached[1]["lines"])
        elif cached is not None and int(cached[1]["end"]) < end:
            start = int(cached[1]["end"])
            new = _fast_frame(p, start, end)
            df = pl.concat([cached[0], new], how="vertical")
            n_lines = int(cached[1]["lines"]) + _count_newlines(p, start, end)
            if not _frame_valid(new) or not _frame_valid(df):
                df = None
        else:
            df = _fast_frame(p, 0, end) if end > 0 else None
            if df is not None and not _frame_valid(df):
                df = None
            elif df is not None:
                n_lines = _count_newlines(p, 0, end)
    except Exception:  # polars rejected the bytes: locate the problem with the strict reader
        df = None
    if df is None:
        return frame_from_records(read_rollouts(p, problems=problems))
    if cache and (cached is None or int(cached[1]["end"]) != end):
        _cache_save(p, df, end, n_lines)
    if end < size:
        prob = Problem(str(p), n_lines + 1, None, "truncated last line (killed writer?)")
        _w.warn(f"{prob} — ignored; {df.height} valid records kept", UserWarning, stacklevel=2)
        if problems is not None:
            problems.append(prob)
    return df


def sync_frame(path: str | os.PathLike) -> bool:
    """Bring the Parquet analysis frame of a rollout file up to date (what ``generate_rollouts``
    does when it stops, so analysis reads Parquet, per the design: JSONL for people and streams,
    Parquet for analysis). Only the bytes appended since the last sync are parsed. Never raises:
    a failure here must not fail a run (the next ``rollouts_frame`` falls back to parsing).
    Returns whether the frame is current."""
    import warnings as _w

    try:
        with _w.catch_warnings():
            _w.simplefilter("ignore")
            rollouts_frame(path)
        return True
    except Exception:  # noqa: BLE001 - a cache is an optimisation, never a failure
        return False


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


def _run_settings(backend: Any, *, template: str, show_public_tests: bool, temperature: float, top_p: float,
                  max_new_tokens: int, seed: int, tests: str) -> dict[str, Any]:
    """The run fields every record of one run carries (``RUN_KEYS``)."""
    return {**backend.describe(), "template": template, "show_public_tests": show_public_tests,
            "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens, "seed": seed,
            "tests": tests}


def _iter_rollouts(todo: Sequence[tuple[Task, list[int]]], backend: Any, run: dict[str, Any], *, batch_size: int,
                   workers: int | None, timeout: float | None, sandbox_config: Any) -> Iterable[dict[str, Any]]:
    """Records for the ``(task, sample ids)`` of ``todo``, in order: ``batch_size`` tasks per
    generation + sandbox batch (the batching is part of what makes sampled records reproducible)."""
    from codeself.attempts import run_attempts
    from codeself.generation import GenerationRequest
    from codeself.prompts import build_prompt
    from codeself.rewards import reward_v0_correctness

    for chunk in _chunks(todo, max(1, batch_size)):
        prompts = {t.task_id: build_prompt(t, run["template"], run["show_public_tests"]) for t, _ in chunk}
        reqs = [GenerationRequest(t.task_id, prompts[t.task_id], n=len(ids), temperature=run["temperature"],
                                  top_p=run["top_p"], max_new_tokens=run["max_new_tokens"], seed=run["seed"],
                                  sample_ids=ids, chat=run["template"] == "chat")
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
                items.append((t, c, prompts[t.task_id], k))
        batch = run_attempts(items, tests=run["tests"], workers=workers, timeout=timeout, config=sandbox_config)
        sb_s = batch.sandbox_s
        n_run = batch.n_executed
        for (t, _c, _p, k), at in zip(items, batch, strict=True):
            c, pc, res = at.completion, at.parsed, at.result
            bd = reward_v0_correctness(res, completion=c, parse_status=pc.status, code=pc.code)
            rec = {
                "schema": SCHEMA, "task_id": t.task_id, "sample_id": k, **run,
                "prompt": prompts[t.task_id], "completion": c, "code": pc.code,
                "parse_status": pc.status, "parse_reason": pc.reason, "result": res.to_dict(),
                "reward": bd.total, "reward_components": bd.components,
                "timings": {"generate_s": gen_s / n_in_chunk,
                            "sandbox_s": sb_s / max(1, n_run) if at.executed else 0.0},
                "split": t.split,
            }
            yield layout_record(rec)


def rollout_records(
    tasks: Sequence[Task],
    backend: Any,
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
) -> list[dict[str, Any]]:
    """The records :func:`generate_rollouts` would write for these settings, in memory (no file,
    no resume): the same prompts, batches, seeds, parse → run step and rewards. Used by in-memory
    evaluations (the study writes them as ordinary rollout files)."""
    if samples_per_task < 1:
        raise ValueError("samples_per_task must be >= 1")
    temperature = default_temperature(samples_per_task) if temperature is None else temperature
    run = _run_settings(backend, template=template, show_public_tests=show_public_tests, temperature=temperature,
                        top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, tests=tests)
    todo = [(t, list(range(samples_per_task))) for t in tasks]
    return list(_iter_rollouts(todo, backend, run, batch_size=batch_size, workers=workers, timeout=timeout,
                               sandbox_config=sandbox_config))


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
    the samples still missing, parse each completion and run every parsed program of the batch in
    one sandbox call (``codeself.attempts.run_attempts``), score (``reward_v0_correctness``) and
    append one record per sample, in (task, sample) order. Returns ``{"written", "skipped", "total",
    "seconds", "samples_per_s", "statuses", "output"}``.
    Refuses to resume into a file whose records were made with other run settings (``RUN_KEYS``).
    """
    if samples_per_task < 1:
        raise ValueError("samples_per_task must be >= 1")
    temperature = default_temperature(samples_per_task) if temperature is None else temperature
    out = Path(output)
    run = _run_settings(backend, template=template, show_public_tests=show_public_tests, temperature=temperature,
                        top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, tests=tests)
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
    if hasattr(backend, "available"):  # static: every requested sample must have its line, checked up front
        short = [(t.task_id, backend.available(t.task_id)) for t, ids in todo if max(ids) >= backend.available(t.task_id)]
        if short:
            from codeself.generation import BackendError

            desc = ", ".join(f"{tid} ({have})" for tid, have in short[:5])
            raise BackendError(f"{getattr(backend, 'path', 'static file')}: {len(short)} task(s) have fewer than "
                               f"{samples_per_task} completion line(s): {desc}; nothing was generated")
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
            for rec in _iter_rollouts(todo, backend, run, batch_size=batch_size, workers=workers, timeout=timeout,
                                      sandbox_config=sandbox_config):
                app.write(rec)
                written += 1
                st = rec["result"]["status"]
                statuses[st] = statuses.get(st, 0) + 1
                if on_record is not None:
                    on_record(rec)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if written:
            sync_frame(out)
    secs = time.perf_counter() - t_start
    return {"written": written, "skipped": skipped, "total": total, "seconds": secs,
            "samples_per_s": written / secs if secs > 0 else 0.0, "statuses": statuses, "output": str(out)}


# ---------------------------------------------------------------------------------------------
# benchmark: reading rollouts into polars (``codeself bench rollouts``)
# ---------------------------------------------------------------------------------------------


def _synthetic_bodies(n_variants: int, seed: int) -> list[str]:
    """JSON bodies (everything after task_id/sample_id) of realistic records: HumanEval-sized
    prompt/completion/code, a Result with 1 public + 3 hidden test outcomes, reward components."""
    import json
    import random

    from codeself.rewards import reward_v0_correctness
    from codeself.sandbox.result import Result, TestOutcome

    rng = random.Random(seed)
    statuses = ["passed"] * 45 + ["failed"] * 30 + ["runtime_error"] * 10 + ["syntax_error"] * 6 + \
        ["timeout"] * 4 + ["import_error"] * 3 + ["crashed", "infra_error"]
    bodies = []
    for v in range(n_variants):
        st = rng.choice(statuses)
        passed = st == "passed"
        fn = f"f{v}"
        prompt = (f"def {fn}(numbers: list[int], threshold: float) -> bool:\n    \"\"\"Check if any two numbers "
                  f"in the list are closer to each other than the threshold.\n    >>> {fn}([1.0, 2.0, 3.0], 0.5)\n"
                  "    False\n    \"\"\"\n")
        body = "    for i, a in enumerate(numbers):\n        for b in numbers[i + 1:]:\n" \
               f"            if abs(a - b) < threshold{' * 2' if not passed else ''}:\n                return True\n    return False\n"
        completion = f"```python\n{prompt}{body}```\n" if rng.random() < 0.7 else body
        pt = 1
        ht = 3
        pp = pt if passed else rng.randint(0, pt)
        hp = ht if passed else rng.randint(0, ht - 1)
        tests = [TestOutcome(0, "public", pp == 1, "passed" if pp else "failed", None if pp else "Mismatch",
                             None if pp else "expected False, got True", rng.random() * 1e-3, True)]
        tests += [TestOutcome(i, "hidden", i < hp, "passed" if i < hp else "failed", None if i < hp else "Mismatch",
                              None if i < hp else "expected True, got False", rng.random() * 1e-3, True) for i in range(ht)]
        res = Result(task_id="", passed=passed, status=st, sample_id=None,
                     phase="done" if st in ("passed", "failed", "runtime_error") else "syntax",
                     public_passed=pp, public_total=pt, hidden_passed=hp, hidden_total=ht, tests=tests,
                     duration_s=0.004 + rng.random() * 0.01, exec_duration_s=rng.random() * 0.005,
                     tamper_proof_share=1.0, error=None if passed else f"{st}: test failed")
        parse = "ok" if st != "syntax_error" or rng.random() < 0.5 else "no_code"
        bd = reward_v0_correctness(res, completion=completion, parse_status=parse, code=prompt + body)
        d = {
            "schema": SCHEMA, "backend": "hf", "model_id": "data/models/nano", "model_hash": "ab" * 32, "template": "completion",
            "show_public_tests": False, "temperature": 0.8, "top_p": 0.95, "max_new_tokens": 256, "seed": 0,
            "tests": "all", "prompt": prompt, "completion": completion, "code": prompt + body if parse == "ok" else None,
            "parse_status": parse, "parse_reason": None if parse == "ok" else "no fenced block and no code-like lines",
            "result": {k: v for k, v in res.to_dict().items() if k not in ("task_id", "sample_id")},
            "reward": bd.total, "reward_components": bd.components,
            "timings": {"generate_s": rng.random() * 0.05, "sandbox_s": rng.random() * 0.01},
            "split": rng.choice(["train", "train", "validation", "test"]),
        }
        d = layout_record({"task_id": "", "sample_id": 0, **d})
        del d["task_id"], d["sample_id"]
        bodies.append(json.dumps(d, ensure_ascii=False)[1:])  # drop "{"
    return bodies


def write_synthetic_rollouts(path: str | os.PathLike, n: int, *, n_tasks: int = 164, seed: int = 0) -> int:
    """Write ``n`` synthetic rollout records (``n_tasks`` tasks, samples numbered per task); returns bytes."""
    bodies = _synthetic_bodies(257, seed)
    per_task = -(-n // n_tasks)
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        buf = []
        for i in range(n):
            t, k = divmod(i, per_task)
            buf.append(f'{{"task_id": "HumanEval/{t}", "sample_id": {k}, {bodies[i % len(bodies)]}\n')
            if len(buf) >= 10000:
                written += f.write("".join(buf))
                buf = []
        written += f.write("".join(buf))
    return written


def _json_loads_frame(path: str | os.PathLike):
    """Baseline: ``json.loads`` per line, flattened into columns, then one polars DataFrame."""
    import json

    import polars as pl

    cols: dict[str, list[Any]] = {c: [] for c in FRAME_COLUMNS}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            flat = _flat(json.loads(line))
            for c in FRAME_COLUMNS:
                cols[c].append(flat[c])
    return pl.DataFrame(cols, schema=_frame_schema())


def bench_rollouts(n: int = 1_000_000, *, path: str | os.PathLike | None = None, keep: bool = False,
                   seed: int = 0, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write ``n`` synthetic records, then in the same run read them into the flat polars frame
    three ways: ``json.loads`` per line (the baseline), ``rollouts_frame`` cold (polars NDJSON fast
    path, validity checks, builds the frame cache), and ``rollouts_frame`` again (cache hit); then
    append 1% more records and read once more (incremental: only the appended bytes are parsed).
    Checks the frames are equal to the baseline; returns timings, records/s and ratios."""
    import shutil
    import tempfile

    log = log or (lambda s: None)
    tmpdir = tempfile.mkdtemp(prefix="codeself-bench-")
    if path is None:
        path = Path(tmpdir) / "rollouts.jsonl"
    path = Path(path)
    old_env = os.environ.get("CODESELF_DATA_DIR")
    os.environ["CODESELF_DATA_DIR"] = tmpdir  # the frame cache of this run lives in the temp dir
    try:
        t0 = time.perf_counter()
        size = write_synthetic_rollouts(path, n, seed=seed)
        t_write = time.perf_counter() - t0
        log(f"wrote {n:,} synthetic rollout records ({size / 1e6:,.0f} MB, {size / n:,.0f} B/record) "
            f"to {path} in {t_write:.1f} s")
        log("                                          wall time    records/s  ratio   (process CPU s)")
        t0, c0 = time.perf_counter(), time.process_time()
        slow = _json_loads_frame(path)
        t_slow, c_slow = time.perf_counter() - t0, time.process_time() - c0
        log(f"json.loads per line → polars (baseline): {t_slow:7.2f} s  {n / t_slow:>12,.0f}/s  ×1.0   ({c_slow:.1f})")
        t0, c0 = time.perf_counter(), time.process_time()
        cold = rollouts_frame(path)
        t_cold, c_cold = time.perf_counter() - t0, time.process_time() - c0
        log(f"rollouts_frame, raw JSONL, no frame yet:  {t_cold:7.2f} s  {n / t_cold:>12,.0f}/s  ×{t_slow / t_cold:.1f}   ({c_cold:.1f})"
            "   <- a file from another tool; this read builds the Parquet frame")
        same = cold.equals(slow)
        del cold
        t0, c0 = time.perf_counter(), time.process_time()
        warm = rollouts_frame(path)
        t_warm, c_warm = time.perf_counter() - t0, time.process_time() - c0
        log(f"rollouts_frame, analysis read (Parquet):  {t_warm:7.2f} s  {n / t_warm:>12,.0f}/s  ×{t_slow / t_warm:.1f}   ({c_warm:.1f})"
            "   <- a file written by `rollouts generate` (the writer keeps the frame current: sync_frame)")
        same = same and warm.equals(slow)
        del warm, slow
        extra = max(1, n // 100)
        tmp2 = Path(tmpdir) / "extra.jsonl"
        write_synthetic_rollouts(tmp2, extra, seed=seed + 1)
        with open(path, "ab") as f, open(tmp2, "rb") as g:  # a resumed run appends; new task ids
            f.write(g.read().replace(b'"task_id": "HumanEval/', b'"task_id": "Extra/'))
        t0, c0 = time.perf_counter(), time.process_time()
        inc = rollouts_frame(path)
        t_inc, c_inc = time.perf_counter() - t0, time.process_time() - c0
        log(f"rollouts_frame, +{extra:,} appended records: {t_inc:7.2f} s  {(n + extra) / t_inc:>12,.0f}/s  "
            f"×{t_slow * (n + extra) / n / t_inc:.1f}   ({c_inc:.1f})")
        same = same and inc.height == n + extra
        del inc
    finally:
        if old_env is None:
            os.environ.pop("CODESELF_DATA_DIR", None)
        else:
            os.environ["CODESELF_DATA_DIR"] = old_env
        if not keep:
            shutil.rmtree(tmpdir, ignore_errors=True)
    target = 200_000
    return {"n": n, "bytes": size, "write_s": t_write, "baseline_s": t_slow, "cold_s": t_cold, "cached_s": t_warm,
            "incremental_s": t_inc, "baseline_cpu_s": c_slow, "cold_cpu_s": c_cold, "cached_cpu_s": c_warm,
            "incremental_cpu_s": c_inc, "baseline_records_per_s": n / t_slow, "cold_records_per_s": n / t_cold,
            "cached_records_per_s": n / t_warm, "incremental_records_per_s": (n + extra) / t_inc,
            "cold_ratio": t_slow / t_cold, "cached_ratio": t_slow / t_warm, "frames_equal": same,
            "target_records_per_s": target, "cold_meets_target": n / t_cold >= target,
            "cached_meets_target": n / t_warm >= target, "path": str(path) if keep else None}
