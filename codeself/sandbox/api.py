"""The sandbox's public API: ``run``, ``run_many``, ``imap`` (programs against tasks) and
``evaluate_calls`` (raw expressions against programs, for the audit).

Per program the parent only scans and syntax-checks the code (bounded: code it cannot parse is
left to the program's own process to reject) and sends one job; everything else happens in the
fork server, the grader and the program's process (see :mod:`codeself.sandbox.server`).
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from codeself.sandbox import grading
from codeself.sandbox import values as V
from codeself.sandbox.config import SandboxConfig
from codeself.sandbox.pool import get_pool
from codeself.sandbox.result import Result
from codeself.sandbox.scan import blocking, scan_tree
from codeself.sandbox.verdict import assemble, death_status, finalize, not_run, start_event

MAX_CODE_BYTES = 4 << 20


@functools.lru_cache(maxsize=4096)
def _analyze(code: str) -> tuple[tuple, str | None, bool]:
    """(scan findings, syntax error, parsed). Code the parent cannot parse within its own limits
    (nesting too deep for ``ast.parse``) is not judged here: the program's process compiles it."""
    if len(code) > MAX_CODE_BYTES:
        return (), f"SyntaxError: program longer than {MAX_CODE_BYTES} bytes", True
    try:
        tree = grading.parse(code)
    except SyntaxError as e:
        return (), V.clean_text(f"SyntaxError: {e.msg} (line {e.lineno})", 300), True
    except grading.PARSE_FAILURES:  # (incl. CPython's SystemError on hostile nesting; see grading.AST_LOCK)
        return (), None, False
    return tuple(scan_tree(tree)), None, True


_TAILS: dict[tuple, tuple[list, bytes]] = {}
_TAILS_LOCK = threading.Lock()


def _prepared(task, tests: str) -> tuple[list, bytes]:
    """The task's prepared tests and the serialized, sample-independent part of its grader job
    (cached: the same task comes back sample after sample)."""
    key = (task.task_id, task.prompt, task.entry_point, task.setup_code, tuple(task.public_tests),
           tuple(task.hidden_tests), tests, getattr(task, "judge", None), getattr(task, "time_limit_s", None),
           repr((getattr(task, "metadata", None) or {}).get("test_origin")) if tests == "original" else None)
    try:
        hit = _TAILS.get(key)
    except TypeError:  # stdin / call tests are dicts
        key = (*key[:4], json.dumps([task.public_tests, task.hidden_tests], sort_keys=True), *key[6:])
        hit = _TAILS.get(key)
    if hit is not None:
        return hit
    prepared = grading.prepare(task, tests)
    tail = json.dumps({"tests": [p.to_wire() for p in prepared],
                       "setup": task.setup_code or "",
                       "helpers": grading.prompt_helpers(task.prompt or "", task.entry_point or ""),
                       "entry_point": task.entry_point, "mode": "tests"}, separators=(",", ":"))
    out = (prepared, tail[1:].encode())
    with _TAILS_LOCK:
        if len(_TAILS) > 4096:
            _TAILS.clear()
        _TAILS[key] = out
    return out


def task_limits(task, config: SandboxConfig) -> dict:
    """The job limits: the config's, with the source problem's own memory limit where it has one."""
    limits = config.job_limits()
    mem = getattr(task, "memory_limit_mb", None)
    if mem:
        limits["memory_mb"] = int(mem)
    return limits


def wire_job(program: str, setup: str, limits: dict, grader_tail: bytes, start: int = 0,
             script: bool = False) -> dict:
    """A job as the pool sends it: the limits, the program's part and the grader's part, each
    serialized once (the server forwards both parts without parsing them)."""
    lim = json.dumps(limits, separators=(",", ":"))
    return {"limits": limits,
            "program": json.dumps({"program": program, "setup": setup, "limits": limits, "script": script}).encode(),
            "grader": b'{"start":' + str(int(start)).encode() + b',"limits":' + lim.encode() + b"," + grader_tail
            + b"\n"}


def _execute_one(pool_exec, task, code: str, tests: str, config: SandboxConfig, sample_id) -> Result:
    t0 = time.perf_counter()
    prepared, tail = _prepared(task, tests)
    found, syntax, parsed = _analyze(code)
    findings = [dict(f) for f in found]
    if config.scan_policy == "block" and (blocking(findings) or not parsed):
        worst = next((f for f in findings if f["severity"] == "high"), {"rule": "S000", "line": 1})
        return finalize(task, sample_id, "rejected", "syntax", not_run(prepared, "not_run", "Rejected",
                                                                        "not run: rejected by scan"), findings,
                        error=f"rejected by the security scan: {worst['rule']} at line {worst['line']}",
                        duration=time.perf_counter() - t0)
    if syntax is not None:
        return finalize(task, sample_id, "syntax_error", "syntax",
                        not_run(prepared, "not_run", "SyntaxError", "not run: syntax error"), findings, error=syntax,
                        duration=time.perf_counter() - t0)
    script = bool(getattr(task, "is_stdio", False))
    limits = task_limits(task, config)
    job = wire_job(code, task.setup_code or "", limits, tail, 0, script)
    t_prep = time.perf_counter() - t0
    reply = pool_exec(job)
    if "infra_error" in reply:
        return finalize(task, sample_id, "infra_error", "syntax", not_run(prepared, "not_run", "InfraError",
                                                                           "not run: sandbox failure"), findings,
                        error=f"sandbox infrastructure error: {reply['infra_error']}",
                        duration=time.perf_counter() - t0)
    replies = [reply]
    if any(p.spec is not None for p in prepared) and (start_event(reply) or {}).get("ev") == "imported":
        # stdin / call tests are independent runs with their own time limit: after a test that timed
        # out or killed the process, the remaining tests go on in a fresh process
        rep = reply
        while True:
            recs = {r["t"]: r for r in rep.get("records", []) if type(r.get("t")) is int}
            first_lost = next((k for k in range(rep.get("start", 0), len(prepared))
                               if k not in recs or recs[k].get("s") in ("gone", "timeout")), None)
            if first_lost is None or len(replies) > len(prepared):
                break
            nxt = first_lost + 1 if first_lost in recs else first_lost
            if nxt >= len(prepared) or (nxt == rep.get("start", 0) and len(replies) > 1):
                break
            rep = pool_exec(wire_job(code, task.setup_code or "", limits, tail, nxt, script))
            if "infra_error" in rep or (start_event(rep) or {}).get("ev") != "imported":
                break
            rep["start"] = nxt
            replies.append(rep)
    elif config.retry_hidden_after_crash and (start_event(reply) or {}).get("ev") == "imported":
        graded = {r["t"] for r in reply.get("records", []) if type(r.get("t")) is int and r.get("s") != "gone"}
        first_hidden = next((k for k, p in enumerate(prepared) if p.kind == "hidden"), None)
        public_lost = any(p.kind == "public" and k not in graded for k, p in enumerate(prepared))
        if first_hidden is not None and public_lost and first_hidden not in graded:
            rep2 = pool_exec(wire_job(code, task.setup_code or "", limits, tail, first_hidden))
            if "infra_error" not in rep2 and (start_event(rep2) or {}).get("ev") == "imported":
                rep2["start"] = first_hidden
                replies.append(rep2)
    t1 = time.perf_counter()
    result = assemble(task, sample_id, prepared, findings, replies, config)
    result.duration_s = t_prep + sum(float(r.get("wall_s", 0.0)) for r in replies) + (time.perf_counter() - t1)
    return result


def run_chunk(task_dicts: list[dict], items: list[tuple[int, str, Any]], tests: str,
               config: dict) -> list[dict]:
    from codeself.tasks import Task

    cfg = SandboxConfig(**{**config, "hide_paths": tuple(config["hide_paths"]),
                           "preimport": tuple(config["preimport"])})
    tasks = [Task.from_dict(d) for d in task_dicts]
    pairs = [(tasks[ti], code, sid) for ti, code, sid in items]
    return [r.to_dict() for r in run_many(pairs, workers=1, progress=False, tests=tests, config=cfg)]


def _normalize_pairs(pairs: Iterable[Sequence[Any]]) -> list[tuple[Any, str, Any]]:
    out = []
    for k, p in enumerate(pairs):
        if len(p) == 2:
            out.append((p[0], p[1], None))
        elif len(p) == 3:
            out.append((p[0], p[1], p[2]))
        else:
            raise ValueError(f"pair {k}: expected (task, code) or (task, code, sample_id), got {len(p)} items")
        if not isinstance(out[-1][1], str):
            raise TypeError(f"pair {k}: code must be str, got {type(out[-1][1]).__name__}")
    return out


TEST_SELECTIONS = ("all", "public", "hidden", "original")


def _check_tests_arg(tests: str) -> None:
    if tests not in TEST_SELECTIONS:
        raise ValueError(f"tests must be one of {', '.join(TEST_SELECTIONS)}, got {tests!r}")


def run(task, code: str, *, tests: str = "all", sample_id=None, config: SandboxConfig | None = None,
        **overrides: Any) -> Result:
    """Run one program against one task's tests in the sandbox and grade it (see the package docs)."""
    _check_tests_arg(tests)
    cfg = (config or SandboxConfig()).with_overrides(**overrides)
    pool = get_pool(cfg, cfg.workers or 1)
    return _execute_one(pool.execute, task, code, tests, cfg, sample_id)


def imap(pairs: Iterable[Sequence[Any]], *, workers: int | None = None, timeout: float | None = None,
         progress: bool = False, tests: str = "all", config: SandboxConfig | None = None,
         executor: str = "local", memory_mb: int | None = None) -> Iterator[Result]:
    """Yield one Result per pair, in input order, as soon as it (and every earlier one) is done."""
    _check_tests_arg(tests)
    cfg = (config or SandboxConfig()).with_overrides(timeout_s=timeout, memory_mb=memory_mb)
    items = _normalize_pairs(pairs)
    if executor == "ray":
        from codeself.sandbox.ray_executor import ray_imap

        yield from ray_imap(items, run_chunk=run_chunk, workers=workers, tests=tests, config=cfg,
                            progress=progress)
        return
    if executor != "local":
        raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
    n = workers or cfg.n_workers()
    pool = get_pool(cfg, n)
    bar = _progress(len(items), progress, "sandbox")
    with ThreadPoolExecutor(max_workers=n * pool.depth, thread_name_prefix="codeself-sandbox") as ex:
        futs = [ex.submit(_execute_one, pool.execute, t, c, tests, cfg, s) for t, c, s in items]
        try:
            for f in futs:
                r = f.result()
                if bar is not None:
                    bar.update(1)
                yield r
        finally:  # the consumer stopped early (or an error): do not run what nobody will read
            for f in futs:
                f.cancel()
            if bar is not None:
                bar.close()


def run_many(pairs: Iterable[Sequence[Any]], workers: int | None = None, timeout: float | None = None,
             progress: bool = True, tests: str = "all", config: SandboxConfig | None = None,
             executor: str = "local", memory_mb: int | None = None) -> list[Result]:
    """Run many (task, code[, sample_id]) pairs; results in input order."""
    return list(imap(pairs, workers=workers, timeout=timeout, progress=progress, tests=tests, config=config,
                     executor=executor, memory_mb=memory_mb))


def _progress(total: int, enabled: bool, desc: str):
    if not enabled or total <= 1:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="prog", leave=False, file=sys.stderr)


# ---- raw calls (the audit) ---------------------------------------------------------------------------

@dataclass
class CallOutcome:
    """One evaluated expression. ``value`` is the type-preserving encoding (see
    :mod:`codeself.sandbox.values`): two values are ``==`` iff the Python values are equal with exact
    types (NaN equals NaN, ``1 != 1.0`` here, unlike in graded tests). ``error_type`` is
    ``"Timeout"``, ``"Crashed"``, ``"Memory"``, the name of what module-level code raised, or the
    exception the call raised."""

    ok: bool
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None
    duration_s: float = 0.0

    def decoded(self) -> Any:
        return V.decode(self.value) if self.ok else None


def _calls_one(pool_exec, job_t, cfg: SandboxConfig, stdin: bool = False,
               time_limit_s: float | None = None) -> list[CallOutcome]:
    program, setup, exprs = job_t
    exprs = list(exprs)
    specs = grading.prepare_stdin_runs(exprs, time_limit_s) if stdin else grading.prepare_calls(exprs)
    tail = json.dumps({"tests": specs, "setup": setup or "", "helpers": "",
                       "entry_point": None, "mode": "calls"}, separators=(",", ":"))[1:].encode()
    rep = pool_exec(wire_job(program, setup or "", cfg.job_limits(), tail, 0, stdin))
    if "infra_error" in rep:
        return [CallOutcome(False, None, "InfraError", rep["infra_error"]) for _ in exprs]
    ev = start_event(rep) or {"ev": "no_start"}
    if ev["ev"] == "setup_failed":
        return [CallOutcome(False, None, "InfraError", f"setup_failed: {ev.get('em')}") for _ in exprs]
    st, msg = death_status(rep, cfg)
    miss = ({"timeout": "Timeout", "memory": "Memory"}.get(st, "Crashed"), msg)
    if ev["ev"] == "no_start":
        return [CallOutcome(False, None, *miss) for _ in exprs]
    if ev["ev"] != "imported":
        return [CallOutcome(False, None, V.clean_text(ev.get("et"), 100), f"{ev['ev']}: {V.clean_text(ev.get('em'))}")
                for _ in exprs]
    recs: dict[int, dict] = {}
    for r in rep.get("records", []):
        if type(r.get("t")) is int:
            recs.setdefault(r["t"], r)
    out = []
    for i in range(len(exprs)):
        r = recs.get(i)
        d = float(r["d"]) if r is not None and type(r.get("d")) in (int, float) else 0.0
        if r is None or r.get("s") == "gone":
            out.append(CallOutcome(False, None, *miss, d))
        elif r.get("s") == "value":
            try:
                V.decode(r.get("v"))
            except V.BadValue:
                out.append(CallOutcome(False, None, "BadValue", "malformed value encoding", d))
                continue
            out.append(CallOutcome(True, r.get("v"), None, None, d))
        else:
            out.append(CallOutcome(False, None, V.clean_text(r.get("et"), 100) or "Error",
                                   V.clean_text(r.get("em")), d))
    return out


def evaluate_calls(jobs: Iterable[tuple[str, str, Sequence[str]]], *, workers: int | None = None,
                   timeout: float | None = None, progress: bool = False, config: SandboxConfig | None = None,
                   **overrides: Any) -> list[list[CallOutcome]]:
    """Evaluate expressions against programs: one sandboxed program process per job, in input order.

    Each job is ``(program_code, setup_code, call_exprs)``. The program runs, then the setup code;
    each expression is evaluated by the grader with the program's names as remote handles, so its
    value is whatever the program returned. ``overrides`` are SandboxConfig fields.
    """
    cfg = (config or SandboxConfig()).with_overrides(timeout_s=timeout, **overrides)
    jobs = list(jobs)
    n = workers or cfg.n_workers()
    pool = get_pool(cfg, n)
    bar = _progress(len(jobs), progress, "calls")
    out = []
    with ThreadPoolExecutor(max_workers=n * pool.depth, thread_name_prefix="codeself-calls") as ex:
        for res in ex.map(lambda j: _calls_one(pool.execute, j, cfg), jobs):
            out.append(res)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return out


def evaluate_stdin(jobs: Iterable[tuple[str, Sequence[str]]], *, workers: int | None = None,
                   timeout: float | None = None, time_limit_s: float | None = None, progress: bool = False,
                   config: SandboxConfig | None = None, **overrides: Any) -> list[list[CallOutcome]]:
    """Run scripts on stdin inputs: one sandboxed program process per job, in input order.

    Each job is ``(program_code, inputs)``; the program runs as a script once per input, exactly as
    for a stdin test (fresh ``__main__``, the input on fd 0, fd 1 captured), and each outcome's value
    is the encoded stdout string. A non-zero exit status or output over the cap is an error outcome
    (``ScriptExit``); ``time_limit_s`` bounds each run (plus the job's ``timeout``). Nothing is
    compared here: the caller (the audit) compares outputs with the task's judge.
    """
    cfg = (config or SandboxConfig()).with_overrides(timeout_s=timeout, **overrides)
    jobs = [(program, "", list(inputs)) for program, inputs in jobs]
    n = workers or cfg.n_workers()
    pool = get_pool(cfg, n)
    bar = _progress(len(jobs), progress, "stdin runs")
    out = []
    with ThreadPoolExecutor(max_workers=n * pool.depth, thread_name_prefix="codeself-stdin") as ex:
        for res in ex.map(lambda j: _calls_one(pool.execute, j, cfg, True, time_limit_s), jobs):
            out.append(res)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return out
