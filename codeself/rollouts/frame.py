"""The analysis frame: one flat polars row per rollout record (:func:`rollouts_frame`), read by
polars' fast paths and validated, kept current as a Parquet cache that grows with its file."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codeself.io import Problem
from codeself.rollouts.records import HEAD_MARKER, SCHEMA, read_rollouts

#: Flat columns of ``rollouts_frame`` (name -> polars dtype name), in order.
FRAME_COLUMNS = (
    "task_id", "sample_id", "backend", "model_id", "model_hash", "split", "parse_status", "passed", "status",
    "phase", "public_passed", "public_total", "hidden_passed", "hidden_total", "reward", "duration_s",
    "exec_duration_s", "generate_s", "sandbox_s", "n_scan", "seed", "temperature",
)


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


def _cache_paths(path: Path, cache_dir: Path | None = None) -> tuple[Path, Path]:
    import hashlib

    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    d = Path(cache_dir) if cache_dir is not None else frame_cache_dir()
    return d / f"{key}.parquet", d / f"{key}.json"


def _cache_load(path: Path, cache_dir: Path | None = None):
    import json

    import polars as pl

    pq, meta_p = _cache_paths(path, cache_dir)
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


def _cache_save(path: Path, df, end: int, n_lines: int, cache_dir: Path | None = None) -> None:
    import json

    from codeself.io import atomic_write_text

    pq, meta_p = _cache_paths(path, cache_dir)
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
                   problems: list[Problem] | None = None, cache_dir: str | os.PathLike | None = None):
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
    files (or pass ``cache=False``). ``cache_dir`` overrides where the cache lives.
    """
    import warnings as _w

    import polars as pl

    p = Path(path)
    if not fast or not p.is_file() or p.stat().st_size == 0:
        return frame_from_records(read_rollouts(p, problems=problems))
    end = _complete_end(p)
    size = p.stat().st_size
    cached = _cache_load(p, cache_dir) if cache else None
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
        _cache_save(p, df, end, n_lines, cache_dir)
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
