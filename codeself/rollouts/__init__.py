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

Modules: :mod:`~codeself.rollouts.records` (the record schema and layout, ``read_rollouts``,
``check_single_backend``, ``check_known_tasks``), :mod:`~codeself.rollouts.frame` (the analysis frame,
``rollouts_frame``, its Parquet cache, ``write_parquet``), :mod:`~codeself.rollouts.generate`
(``generate_rollouts``, ``rollout_records``). Every public name is re-exported here.
``codeself bench rollouts`` lives in :mod:`codeself.bench.rollouts`.
"""

from codeself.rollouts.frame import (
    FRAME_CACHE_VERSION,
    FRAME_COLUMNS,
    frame_cache_dir,
    frame_from_records,
    rollouts_frame,
    sync_frame,
    write_parquet,
)
from codeself.rollouts.generate import default_temperature, generate_rollouts, rollout_records
from codeself.rollouts.records import (
    HEAD_KEYS,
    HEAD_MARKER,
    RUN_KEYS,
    SCHEMA,
    RolloutError,
    check_known_tasks,
    check_single_backend,
    layout_record,
    read_rollouts,
)

__all__ = [
    "FRAME_CACHE_VERSION",
    "FRAME_COLUMNS",
    "HEAD_KEYS",
    "HEAD_MARKER",
    "RUN_KEYS",
    "SCHEMA",
    "RolloutError",
    "check_known_tasks",
    "check_single_backend",
    "default_temperature",
    "frame_cache_dir",
    "frame_from_records",
    "generate_rollouts",
    "layout_record",
    "read_rollouts",
    "rollout_records",
    "rollouts_frame",
    "sync_frame",
    "write_parquet",
]
