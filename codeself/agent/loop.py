"""The loop: generate → parse → run the public tests → feedback → revise, per (task, sample);
one grading of the final submission; traces appended and resumed (see :mod:`codeself.agent`)."""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeself.agent.config import AgentConfig
from codeself.agent.feedback import _count_tokens, build_feedback, fit_revision_prompt, select_final, truncate
from codeself.agent.traces import TRACE_SCHEMA, read_traces
from codeself.io import DataError, JsonlAppender, Problem
from codeself.tasks import Task

#: Settings that must match for a trace file to be resumed (otherwise records would be mixed).
_RESUME_KEYS = ("backend", "model_id", "model_hash", "max_revisions", "samples_per_task", "seed", "policy",
                "template", "revision_prompt", "show_public_tests", "temperature", "top_p", "max_new_tokens", "timeout_s",
                "feedback_chars", "stdout_chars")


def _seed_for(seed: int, task_id: str, sample_id: int, turn: int) -> int:
    h = hashlib.sha256(f"{seed}\0{task_id}\0{sample_id}\0{turn}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF



@dataclass
class _State:
    task: Task
    sample_id: int
    first_prompt: str
    prompt: str
    turns: list[dict[str, Any]] = field(default_factory=list)
    variant: str = "first"
    done: bool = False
    stop_reason: str | None = None
    started: float = field(default_factory=time.perf_counter)


def _generate(backend: Any, requests: list[Any]) -> list[tuple[str | None, str | None, float]]:
    """(completion, error, seconds) per request. A batch that raises is retried one by one, so
    one bad request cannot cost the others their replies."""
    t0 = time.perf_counter()
    try:
        outs = backend.generate(requests)
        dt = (time.perf_counter() - t0) / max(1, len(requests))
        if not isinstance(outs, list) or len(outs) != len(requests):
            got = len(outs) if isinstance(outs, list) else type(outs).__name__
            raise RuntimeError(f"backend returned {got} result lists for {len(requests)} requests")
        res = []
        for o in outs:
            if not o:
                res.append((None, "backend returned no completion", dt))
            elif not isinstance(o[0], str):
                res.append((None, f"backend returned a {type(o[0]).__name__}, not a string", dt))
            else:
                res.append((o[0], None, dt))
        return res
    except Exception as batch_error:
        if len(requests) == 1:
            return [(None, f"{type(batch_error).__name__}: {batch_error}", time.perf_counter() - t0)]
    return [r for req in requests for r in _generate(backend, [req])]


def _run_sandbox(pairs: list[tuple[Task, str, Any]], tests: str, config: AgentConfig) -> list[dict[str, Any]]:
    if not pairs:
        return []
    from codeself.sandbox import run_many

    # None leaves the sandbox's default (run_many/SandboxConfig.with_overrides ignore None overrides)
    return [r.to_dict() for r in run_many(pairs, tests=tests, progress=False, workers=config.workers,
                                          timeout=config.timeout_s)]


def _trace_key(rec: dict[str, Any]) -> tuple[str, int]:
    return rec["task_id"], int(rec["sample_id"])


def run_agent(
    tasks: Sequence[Task],
    backend: Any,
    config: AgentConfig | None = None,
    *,
    trace_path: str | os.PathLike | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run the self-debug loop on every (task, sample) and return the trace records, in task order.

    With ``trace_path`` each record is appended (flushed) as soon as its chunk is graded, and the
    pairs already in the file are skipped — returned records then include the earlier ones.
    ``backend`` is a :class:`codeself.generation.Backend` (``generate(list[GenerationRequest]) ->
    list[list[str]]``; ``describe()`` names it in every record's config; see ``get_backend``). Raises ``DataError`` for a trace file made with different
    settings or holding records for unknown tasks.
    """
    from codeself.attempts import run_attempts
    from codeself.generation import GenerationRequest
    from codeself.prompts import build_prompt

    config = config or AgentConfig()
    ids = [t.task_id for t in tasks]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise DataError(Problem("<tasks>", None, "task_id", "duplicate task id", dup))
    cfg = {**config.to_dict(), **backend.describe()}

    existing: dict[tuple[str, int], dict[str, Any]] = {}
    if trace_path is not None and Path(trace_path).exists() and Path(trace_path).stat().st_size > 0:
        existing = _existing_records(trace_path, cfg, set(ids))

    cursor: Counter[str] = Counter()
    for (tid, _), rec in existing.items():
        cursor[tid] += len(rec.get("turns", []))
    pending = [t for t in tasks if any((t.task_id, s) not in existing for s in range(config.samples_per_task))]
    n_todo = sum(1 for t in pending for s in range(config.samples_per_task) if (t.task_id, s) not in existing)

    appender = JsonlAppender(trace_path) if trace_path is not None else None
    bar = _progress(n_todo, progress)
    new: dict[tuple[str, int], dict[str, Any]] = {}
    try:
        for c0 in range(0, len(pending), config.batch_tasks):
            chunk = pending[c0:c0 + config.batch_tasks]
            states = []
            for task in chunk:
                p0 = build_prompt(task, config.template, show_public_tests=config.show_public_tests)
                for s in range(config.samples_per_task):
                    if (task.task_id, s) not in existing:
                        states.append(_State(task, s, p0, p0))
            for turn_i in range(config.max_revisions + 1):
                active = [st for st in states if not st.done]
                if not active:
                    break
                reqs = []
                for st in active:
                    k = cursor[st.task.task_id]
                    cursor[st.task.task_id] += 1
                    reqs.append(GenerationRequest(
                        task_id=st.task.task_id, prompt=st.prompt, n=1,
                        temperature=config.effective_temperature, top_p=config.top_p,
                        max_new_tokens=config.max_new_tokens,
                        seed=_seed_for(config.seed, st.task.task_id, st.sample_id, turn_i), sample_ids=[k]))
                gens = _generate(backend, reqs)
                batch = run_attempts(
                    [(st.task, completion, st.prompt if turn_i == 0 else None, f"{st.sample_id}.{turn_i}")
                     for st, (completion, _e, _s) in zip(active, gens, strict=True)],
                    tests="public", workers=config.workers, timeout=config.timeout_s)
                for st, req, (completion, gen_err, gen_s), at in zip(active, reqs, gens, batch, strict=True):
                    pstatus, preason = at.parse_status, at.parsed.reason
                    if completion is None:
                        preason = gen_err or "no completion"
                    st.turns.append({
                        "turn": turn_i, "request_index": req.sample_ids[0], "seed": req.seed,
                        "prompt": st.prompt, "prompt_variant": st.variant if turn_i else "first",
                        "completion": completion, "generation_error": gen_err,
                        "code": at.code, "parse_status": pstatus, "parse_reason": preason,
                        "public_status": None, "status": None, "passed": False, "public_passed": 0, "public_total": len(st.task.public_tests),
                        "public_tests": [], "stdout": "", "error": None, "feedback": None, "feedback_sent": False,
                        "prompt_tokens": _count_tokens(backend, st.prompt),
                        "completion_tokens": _count_tokens(backend, completion),
                        "timings": {"generate_s": round(gen_s, 6), "sandbox_s": 0.0},
                    })
                by_j = {j: at.result.to_dict() for j, at in enumerate(batch) if at.executed}
                for j, st in enumerate(active):
                    t = st.turns[-1]
                    res = by_j.get(j)
                    if res is not None:
                        t["public_status"] = res["status"]
                        t["public_passed"] = res.get("public_passed", 0)
                        t["public_total"] = res.get("public_total", len(st.task.public_tests))
                        t["public_tests"] = [
                            {k: o.get(k) for k in ("index", "passed", "status", "error_type", "error_message")}
                            for o in res.get("tests", []) if o.get("kind") == "public"]
                        t["stdout"] = truncate(res.get("stdout"), 4000)
                        t["error"] = res.get("error")
                        t["timings"]["sandbox_s"] = round(float(res.get("duration_s") or 0.0), 6)
                    else:
                        t["public_status"] = "not_run"
                    t["status"] = t["public_status"]
                    t["passed"] = t["public_status"] == "passed"
                    if t["public_status"] == "passed":
                        # with no public tests there is nothing to learn from: stop, and say so
                        st.done = True
                        st.stop_reason = "public_pass" if t["public_total"] else "no_public_tests"
                        continue
                    t["feedback"] = build_feedback(st.task, t, res, config)
                    if turn_i == config.max_revisions:
                        st.done, st.stop_reason = True, "max_revisions"
                    elif config.revision_prompt == "retry":
                        st.prompt, st.variant = st.first_prompt, "retry"  # feedback recorded, not sent
                    else:
                        t["feedback_sent"] = True
                        if t["completion"] is None:
                            pass  # the backend gave nothing to revise: ask the same prompt again (a new request)
                        else:
                            st.prompt, st.variant = fit_revision_prompt(backend, st.task, st.first_prompt, t,
                                                                        t["feedback"], config)
            # one grading per distinct (task, code): the final submission, and the first attempt
            finals = []
            grade_pairs: list[tuple[Task, str, Any]] = []
            grade_key: dict[tuple[str, str], int] = {}
            for st in states:
                fi = select_final(st.turns, config.policy)
                codes = (st.turns[fi]["code"] or "", st.turns[0]["code"] or "")
                for code in codes:
                    key = (st.task.task_id, code)
                    if key not in grade_key:
                        grade_key[key] = len(grade_pairs)
                        grade_pairs.append((st.task, code, st.sample_id))
                finals.append((st, fi, codes))
            graded = _run_sandbox(grade_pairs, "all", config)
            for st, fi, (final_code, first_code) in finals:
                final = graded[grade_key[(st.task.task_id, final_code)]]
                first = graded[grade_key[(st.task.task_id, first_code)]]
                rec = _record(st, fi, final, first, cfg)
                new[_trace_key(rec)] = rec
                if appender is not None:
                    appender.write(rec)
                bar.update(1)
    finally:
        bar.close()
        if appender is not None:
            appender.close()
    all_recs = {**existing, **new}
    order = {t.task_id: i for i, t in enumerate(tasks)}
    return sorted(all_recs.values(), key=lambda r: (order.get(r["task_id"], len(order)), int(r["sample_id"])))


def _record(st: _State, fi: int, final: dict[str, Any], first: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    final = {**final, "sample_id": st.sample_id}
    first = {**first, "sample_id": st.sample_id}
    gen_s = sum(t["timings"]["generate_s"] for t in st.turns)
    sb_s = sum(t["timings"]["sandbox_s"] for t in st.turns)
    ptok = [t["prompt_tokens"] for t in st.turns]
    ctok = [t["completion_tokens"] for t in st.turns]
    return {
        "schema": TRACE_SCHEMA,
        "task_id": st.task.task_id,
        "sample_id": st.sample_id,
        "backend": cfg["backend"], "model_id": cfg["model_id"], "model_hash": cfg["model_hash"],
        "config": cfg,
        "turns": st.turns,
        "revisions_used": len(st.turns) - 1,
        "stop_reason": st.stop_reason,
        "final_turn": fi,
        "final_policy": cfg["policy"],
        "passed": bool(final.get("passed")),
        "final_status": final.get("status"),
        "final": final,
        "first": first,
        "tokens": {
            "prompt": sum(ptok) if all(x is not None for x in ptok) else None,
            "completion": sum(ctok) if all(x is not None for x in ctok) else None,
            "prompt_chars": sum(len(t["prompt"]) for t in st.turns),
            "completion_chars": sum(len(t["completion"] or "") for t in st.turns),
        },
        "timings": {"generate_s": round(gen_s, 6), "sandbox_s": round(sb_s, 6),
                    "grade_s": round(float(final.get("duration_s") or 0.0), 6),
                    "total_s": round(time.perf_counter() - st.started, 6)},
        "split": st.task.split,
    }


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled or total == 0:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="agent", unit="loop")


def _existing_records(path: str | os.PathLike, cfg: dict[str, Any], task_ids: set[str]) -> dict[tuple[str, int], dict]:
    records = read_traces(path)
    out: dict[tuple[str, int], dict[str, Any]] = {}
    problems = []
    for line, rec in records:
        old = rec.get("config") or {}
        diff = [k for k in _RESUME_KEYS if k in cfg and old.get(k) != cfg[k]]
        if diff:
            k = diff[0]
            problems.append(Problem(str(path), line, f"config.{k}",
                                    f"trace made with {k}={old.get(k)!r}, this run has {cfg[k]!r}: use a new "
                                    "--trace-output or the same settings to resume", rec.get("task_id")))
            break
        if rec["task_id"] not in task_ids:
            problems.append(Problem(str(path), line, "task_id", "not among the selected tasks: resume with the same tasks "
                                    "(and --task/--limit) or use a new --trace-output",
                                    rec["task_id"]))
            break
        out[_trace_key(rec)] = rec
    if problems:
        raise DataError(problems)
    return out
