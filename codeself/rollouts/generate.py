"""Generating rollouts: prompts → backend → the one parse → run step → reward, one record per
(task, sample), appended and resumed (:func:`generate_rollouts`) or in memory (:func:`rollout_records`)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from codeself.io import JsonlAppender, Problem
from codeself.rollouts.frame import sync_frame
from codeself.rollouts.records import RUN_KEYS, SCHEMA, RolloutError, layout_record, read_rollouts
from codeself.tasks import Task

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
                  max_new_tokens: int, seed: int, tests: str, reward: str = "partial") -> dict[str, Any]:
    """The run fields every record of one run carries (``RUN_KEYS``; plus ``reward_variant`` when the
    reward is not the default ``partial``, so default records are unchanged)."""
    from codeself.rewards import REWARDS

    if reward not in REWARDS:
        raise ValueError(f"--reward {reward!r}: use one of {', '.join(REWARDS)}")
    run = {**backend.describe(), "template": template, "show_public_tests": show_public_tests,
           "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens, "seed": seed,
           "tests": tests}
    if reward != "partial":
        run["reward_variant"] = reward
    return run


def _iter_rollouts(todo: Sequence[tuple[Task, list[int]]], backend: Any, run: dict[str, Any], *, batch_size: int,
                   workers: int | None, timeout: float | None, sandbox_config: Any,
                   on_phase: Callable[[str], None] | None = None) -> Iterable[dict[str, Any]]:
    """Records for the ``(task, sample ids)`` of ``todo``, in order: ``batch_size`` tasks per
    generation + sandbox batch (the batching is part of what makes sampled records reproducible).
    ``on_phase`` hears what each batch is doing (generating, running programs) before it starts."""
    from codeself.attempts import run_attempts
    from codeself.generation import GenerationRequest
    from codeself.prompts import build_prompt
    from codeself.rewards import score

    variant = run.get("reward_variant", "partial")
    chunks = list(_chunks(todo, max(1, batch_size)))
    say = on_phase or (lambda _msg: None)
    for i_chunk, chunk in enumerate(chunks, start=1):
        n_in_chunk = sum(len(ids) for _, ids in chunk)
        say(f"batch {i_chunk}/{len(chunks)}: generating {n_in_chunk} sample(s)")
        prompts = {t.task_id: build_prompt(t, run["template"], run["show_public_tests"]) for t, _ in chunk}
        reqs = [GenerationRequest(t.task_id, prompts[t.task_id], n=len(ids), temperature=run["temperature"],
                                  top_p=run["top_p"], max_new_tokens=run["max_new_tokens"], seed=run["seed"],
                                  sample_ids=ids, chat=run["template"] == "chat")
                for t, ids in chunk]
        g0 = time.perf_counter()
        completions = backend.generate(reqs)
        gen_s = time.perf_counter() - g0
        items = []
        for (t, ids), comps in zip(chunk, completions, strict=True):
            if len(comps) != len(ids):
                raise RuntimeError(f"backend returned {len(comps)} completions for {len(ids)} samples of {t.task_id}")
            for k, c in zip(ids, comps, strict=True):
                items.append((t, c, prompts[t.task_id], k))
        say(f"batch {i_chunk}/{len(chunks)}: running {len(items)} program(s) in the sandbox")
        batch = run_attempts(items, tests=run["tests"], workers=workers, timeout=timeout, config=sandbox_config)
        sb_s = batch.sandbox_s
        n_run = batch.n_executed
        for (t, _c, _p, k), at in zip(items, batch, strict=True):
            c, pc, res = at.completion, at.parsed, at.result
            bd = score(res, variant, completion=c, parse_status=pc.status, code=pc.code)
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
    reward: str = "partial",
) -> list[dict[str, Any]]:
    """The records :func:`generate_rollouts` would write for these settings, in memory (no file,
    no resume): the same prompts, batches, seeds, parse → run step and rewards. Used by in-memory
    evaluations (the study writes them as ordinary rollout files)."""
    if samples_per_task < 1:
        raise ValueError("samples_per_task must be >= 1")
    temperature = default_temperature(samples_per_task) if temperature is None else temperature
    run = _run_settings(backend, template=template, show_public_tests=show_public_tests, temperature=temperature,
                        top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, tests=tests, reward=reward)
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
    reward: str = "partial",
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Generate ``samples_per_task`` rollouts per task into ``output`` (append, flush, resume).

    For each batch of ``batch_size`` tasks: build prompts (``build_prompt``), ask the backend for
    the samples still missing, parse each completion and run every parsed program of the batch in
    one sandbox call (``codeself.attempts.run_attempts``), score (``codeself.rewards.score`` with the
    ``reward`` variant; ``partial`` = ``reward_v0_correctness``) and
    append one record per sample, in (task, sample) order. Returns ``{"written", "skipped", "total",
    "seconds", "samples_per_s", "statuses", "output"}``.
    Refuses to resume into a file whose records were made with other run settings (``RUN_KEYS``).
    """
    if samples_per_task < 1:
        raise ValueError("samples_per_task must be >= 1")
    temperature = default_temperature(samples_per_task) if temperature is None else temperature
    out = Path(output)
    run = _run_settings(backend, template=template, show_public_tests=show_public_tests, temperature=temperature,
                        top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, tests=tests, reward=reward)
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
            if r.get("reward_variant", "partial") != run.get("reward_variant", "partial"):
                raise RolloutError(Problem(str(out), r["_line"], "reward_variant",
                                           f"existing record was scored with reward "
                                           f"{r.get('reward_variant', 'partial')!r} but this run uses "
                                           f"{run.get('reward_variant', 'partial')!r}; resume only with identical "
                                           "settings, or choose a new --output", r["task_id"]))
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
    def phase(msg: str) -> None:
        if bar is not None:
            bar.set_postfix_str(msg, refresh=True)

    from codeself.progress import keep_alive

    try:
        with JsonlAppender(out) as app, keep_alive(bar):
            for rec in _iter_rollouts(todo, backend, run, batch_size=batch_size, workers=workers, timeout=timeout,
                                      sandbox_config=sandbox_config, on_phase=phase):
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
