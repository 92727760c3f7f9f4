"""Pools of warm fork servers and the public execution API (run, run_many, imap, evaluate_calls)."""

from __future__ import annotations

import ast
import atexit
import functools
import json
import math
import os
import select
import subprocess
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
from codeself.sandbox.result import Result, TestOutcome
from codeself.sandbox.scan import blocking, scan_tree


class ServerDied(RuntimeError):
    pass


class _ServerProc:
    """The main-process handle of one fork server (``python -m codeself.sandbox.server``)."""

    def __init__(self, index: int, config: SandboxConfig) -> None:
        self.index = index
        settings = {"index": index, "uid_base": config.uid_base, "namespaces": config.namespaces,
                    "hide_paths": list(config.hide_paths), "preimport": list(config.preimport),
                    "scratch_mb": config.scratch_mb}
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = pkg_root
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codeself.sandbox.server", json.dumps(settings)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd="/", close_fds=True,
            start_new_session=True,  # no controlling terminal for the server or its children
        )
        self._buf = b""
        self._wlock = threading.Lock()
        self._cond = threading.Condition()
        self._sent = self._received = 0
        self._replies: dict[int, dict] = {}
        self._reading = False
        self.dead: str | None = None
        hello = self._readline(60.0)
        if hello is None:
            self.close()
            raise ServerDied("sandbox server did not start (no ready line)")
        info = json.loads(hello)
        if not info.get("ready"):
            self.close()
            raise ServerDied(f"sandbox server failed to start: {info.get('error')}")
        self.info = info

    def _readline(self, timeout: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def call(self, job: dict, timeout: float) -> dict:
        """Send one job and wait for its reply. Several threads may call at once (pipelining): the
        server answers in order, and whichever waiting caller is free reads the next reply."""
        data = (json.dumps(job) + "\n").encode()
        with self._wlock:
            if self.dead:
                raise ServerDied(self.dead)
            seq = self._sent
            self._sent += 1
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError) as e:
                self._fail(f"sandbox server {self.index} is gone: {e}")
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                while True:
                    if seq in self._replies:
                        return self._replies.pop(seq)
                    if self.dead:
                        raise ServerDied(self.dead)
                    if not self._reading:
                        self._reading = True
                        break
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise ServerDied(f"sandbox server {self.index} did not answer within {timeout:.0f} s")
                    self._cond.wait(left)
            line = self._readline(max(0.0, deadline - time.monotonic()))
            with self._cond:
                self._reading = False
                if line is None:
                    self.dead = f"sandbox server {self.index} died or did not answer within {timeout:.0f} s"
                    self._cond.notify_all()
                    self._fail(self.dead)
                self._replies[self._received] = json.loads(line)
                self._received += 1
                self._cond.notify_all()

    def _fail(self, why: str) -> None:
        self.dead = why
        try:
            self.proc.kill()
        except OSError:
            pass
        raise ServerDied(why)

    def alive(self) -> bool:
        return not self.dead and self.proc.poll() is None

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class LocalPool:
    """``n`` warm fork servers, each fed up to ``depth`` jobs at a time by the calling threads.

    With ``depth`` 2 a server always has its next job queued while the caller grades the previous
    result, so it never idles waiting for the caller (this matters most on a loaded machine).
    """

    def __init__(self, n: int, config: SandboxConfig, depth: int = 2) -> None:
        self.n = n
        self.depth = depth
        self.config = config
        self._lock = threading.Lock()
        self._servers: list[_ServerProc] = []
        self._load: dict[int, int] = {}
        self._closed = False
        self.mode: str | None = None

    @property
    def _idle(self) -> list[_ServerProc]:  # the live servers (name kept for the bench's CPU accounting)
        return list(self._servers)

    def _acquire(self) -> _ServerProc:
        with self._lock:
            self._servers = [s for s in self._servers if s.alive()]
            live = sorted(self._servers, key=lambda s: self._load.get(id(s), 0))
            if live and (len(live) >= self.n or self._load.get(id(live[0]), 0) == 0):
                srv = live[0]
                self._load[id(srv)] = self._load.get(id(srv), 0) + 1
                return srv
            used = {s.index for s in self._servers}
            index = next(i for i in range(self.n + 1) if i not in used) % max(1, self.n)
        srv = _ServerProc(index, self.config)  # may raise ServerDied
        with self._lock:
            self._servers.append(srv)
            self._load[id(srv)] = 1
        self.mode = srv.info.get("mode")
        return srv

    def _release(self, srv: _ServerProc) -> None:
        with self._lock:
            self._load[id(srv)] = self._load.get(id(srv), 1) - 1
            if not srv.alive() or self._closed:
                if srv in self._servers:
                    self._servers.remove(srv)
                if self._load.get(id(srv), 0) <= 0:
                    self._load.pop(id(srv), None)
                    closing = True
                else:
                    closing = False
            else:
                closing = False
        if closing:
            srv.close()

    def execute(self, job: dict) -> dict:
        """Run one job; returns the server's reply or ``{"infra_error": …}``."""
        timeout = (float(job["limits"]["timeout_s"]) + 30.0) * self.depth
        last = None
        for _attempt in range(2):
            try:
                srv = self._acquire()
            except ServerDied as e:
                last = str(e)
                continue
            try:
                return _parse_lines(srv.call(job, timeout))
            except ServerDied as e:
                last = str(e)
                continue
            finally:
                self._release(srv)
        return {"infra_error": last or "sandbox server failure"}

    def close(self) -> None:
        with self._lock:
            self._closed = True
            servers, self._servers = self._servers, []
        for s in servers:
            s.close()


def _parse_lines(reply: dict) -> dict:
    """Parse the child's result lines (untrusted: the program can write to its own result pipe).

    Anything that is not a JSON object, or is nested too deeply to parse, counts as a bad record
    (which marks the channel as tampered with); a ``setup_failed`` event counts only as the very
    first record (the harness sends ``contained`` before any program code runs).
    """
    if "lines" not in reply:
        return reply
    records, bad = [], 0
    for line in reply.pop("lines"):
        try:
            rec = json.loads(line)
        except Exception:  # noqa: BLE001 - ValueError, RecursionError, ... all mean "bad record"
            bad += 1
            continue
        if not isinstance(rec, dict):
            bad += 1
            continue
        d = rec.get("d", 0.0)
        rec["d"] = float(d) if type(d) in (int, float) and math.isfinite(d) else 0.0
        for key in ("et", "em"):
            if key in rec and rec[key] is not None and not isinstance(rec[key], str):
                rec[key] = str(rec[key])[:500]
        if "i" in rec and type(rec["i"]) is not int:
            bad += 1
            continue
        records.append(rec)
    for k, rec in enumerate(records):
        if rec.get("ev") == "setup_failed" and k > 0:
            rec["ev"] = "forged_setup_failed"
            bad += 1
    reply["records"] = records
    reply["bad_records"] = bad
    return reply


_POOLS: dict[tuple, LocalPool] = {}
_POOLS_LOCK = threading.Lock()


_POOLS_PID = os.getpid()


def get_pool(config: SandboxConfig, workers: int | None = None) -> LocalPool:
    global _POOLS_PID
    n = workers or config.n_workers()
    key = (n, config.server_key())
    with _POOLS_LOCK:
        if _POOLS_PID != os.getpid():  # a forked copy of a process with pools: never share its servers
            _POOLS.clear()
            _POOLS_PID = os.getpid()
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = LocalPool(n, config)
        return pool


@atexit.register
def close_pools() -> None:
    """Stop every warm server (also registered at exit)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values()) if _POOLS_PID == os.getpid() else []
        _POOLS.clear()
    for p in pools:
        p.close()


# ---- programs against tasks ------------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def _analyze(code: str) -> tuple[tuple, frozenset[str] | None, str | None]:
    """Scan findings, the names the program binds (None if it does not parse), the syntax error."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError) as e:
        line = getattr(e, "lineno", None)
        return (), None, f"SyntaxError: {getattr(e, 'msg', e)} (line {line})"
    return tuple(scan_tree(tree)), frozenset(grading.bound_names(tree)), None


def _prepare(task, code: str, tests: str, config: SandboxConfig, sample_id) -> tuple[Result | None, Any, dict | None]:
    """Parent-side work before execution: scan, syntax check, grading plan, job."""
    found, names, syntax = _analyze(code)
    findings = [dict(f) for f in found]
    if config.scan_policy == "block" and blocking(findings):
        worst = next(f for f in findings if f["severity"] == "high")
        plans = grading.plan(task, None, tests)
        outcomes = [TestOutcome(tp.index, tp.kind, False, "not_run", "Rejected", "not run: rejected by scan",
                                0.0, tp.mode == "parent") for tp in plans.tests]
        return _finalize(task, sample_id, "rejected", "syntax", outcomes, findings,
                         error=f"rejected by the security scan: {worst['rule']} at line {worst['line']}"), None, None
    if syntax is not None:
        plans = grading.plan(task, None, tests)
        outcomes = [TestOutcome(tp.index, tp.kind, False, "not_run", "SyntaxError", "not run: syntax error", 0.0,
                                tp.mode == "parent") for tp in plans.tests]
        return _finalize(task, sample_id, "syntax_error", "syntax", outcomes, findings, error=syntax), None, None
    jp = grading.plan(task, names, tests)
    job = {"program": code, "setup": task.setup_code or "", "steps": jp.steps, "limits": config.job_limits()}
    return None, (jp, findings), job


def _finalize(task, sample_id, status, phase, outcomes, findings, *, error=None, stdout="", stderr="",
              duration=0.0, exec_duration=0.0, extra=None) -> Result:
    pub = [o for o in outcomes if o.kind == "public"]
    hid = [o for o in outcomes if o.kind == "hidden"]
    share = (sum(o.graded_in_parent for o in outcomes) / len(outcomes)) if outcomes else 0.0
    r = Result(
        task_id=task.task_id, passed=status == "passed", status=status, sample_id=sample_id, phase=phase,
        public_passed=sum(o.passed for o in pub), public_total=len(pub),
        hidden_passed=sum(o.passed for o in hid), hidden_total=len(hid), tests=outcomes,
        stdout=stdout, stderr=stderr, duration_s=duration, exec_duration_s=exec_duration, scan=findings,
        error=error, tamper_proof_share=share,
    )
    for k, v in (extra or {}).items():
        setattr(r, k, v)
    return r


_STEP_STATUS = {"MemoryError": "memory", "AssertionError": "failed"}


def _assemble(task, sample_id, jp: grading.JobPlan, findings, replies: list[dict], wall: float,
              config: SandboxConfig) -> Result:
    """Grade the server replies (one, or two when hidden tests were retried) into a Result."""
    by_step: dict[int, dict] = {}
    tampered = False
    events: list[dict] = []
    stdout = stderr = ""
    exec_d = 0.0
    for rep in replies:
        for rec in rep["records"]:
            if "i" in rec:
                i = rec.get("i")
                if not isinstance(i, int) or i < 0 or i >= len(jp.steps) or i in by_step:
                    tampered = True
                    continue
                by_step[i] = rec
            elif "ev" in rec:
                events.append(rec)
        stdout += rep.get("stdout", "")
        stderr += rep.get("stderr", "")
        tampered = tampered or rep.get("bad_records", 0) > 0
    first = replies[0]
    ev_names = [e.get("ev") for e in events]
    for e in events:
        if e.get("ev") == "done" and isinstance(e.get("d"), (int, float)):
            exec_d += float(e["d"])
    import_fail = next((e for e in events if e.get("ev") in ("import_error", "setup_error", "syntax_error",
                                                             "setup_failed")), None)
    if import_fail is not None and import_fail.get("ev") == "setup_failed":
        return _finalize(task, sample_id, "infra_error", "syntax",
                         [TestOutcome(tp.index, tp.kind, False, "not_run", None, "not run", 0.0,
                                      tp.mode == "parent") for tp in jp.tests],
                         findings, error=f"sandbox containment setup failed: {import_fail.get('et')}: "
                                         f"{import_fail.get('em')}", duration=wall)

    first_limits = {"timeout_s": config.timeout_s, "cpu_s": config.cpu_limit_s}

    def death(rep: dict) -> tuple[str, str]:
        if rep.get("timed_out"):
            return "timeout", f"wall-clock limit of {first_limits['timeout_s']} s exceeded"
        sig = rep.get("signal")
        if rep.get("oom_killed"):
            return "memory", f"the program's processes exceeded {config.memory_mb} MiB together (OOM-killed)"
        if sig == 24:  # SIGXCPU
            return "timeout", "CPU-time limit exceeded"
        if sig == 9 and rep.get("wall_s", 0) >= first_limits["cpu_s"]:
            return "timeout", "CPU-time limit exceeded"
        if sig is not None:
            return "crashed", f"killed by signal {sig}"
        if rep.get("result_overflow"):
            return "crashed", "result channel overflow"
        return "crashed", f"the program exited (code {rep.get('exit_code')}) before every test reported"

    outcomes: list[TestOutcome] = []
    phase = "import"
    if import_fail is None and "imported" not in ev_names:
        st, msg = death(first)
        status = "memory" if "MemoryError" in stderr[-2000:] else st
        outcomes = [TestOutcome(tp.index, tp.kind, False, status, None, f"not run: {msg}", 0.0,
                                tp.mode == "parent") for tp in jp.tests]
        return _finalize(task, sample_id, status, "import", outcomes, findings, error=msg, stdout=stdout,
                         stderr=stderr, duration=wall, exec_duration=exec_d, extra=_extra(replies))
    if import_fail is not None:
        et, em = import_fail.get("et"), import_fail.get("em")
        status = "memory" if et == "MemoryError" else ("syntax_error" if import_fail["ev"] == "syntax_error"
                                                       else "import_error")
        what = "setup_code raised" if import_fail["ev"] == "setup_error" else "module-level code raised"
        outcomes = [TestOutcome(tp.index, tp.kind, False, "not_run", et, f"not run: {what}", 0.0,
                                tp.mode == "parent") for tp in jp.tests]
        return _finalize(task, sample_id, status, "import", outcomes, findings, error=f"{what}: {et}: {em}",
                         stdout=stdout, stderr=stderr, duration=wall, exec_duration=exec_d, extra=_extra(replies))
    deaths = [None if rep_done(rep) else death(rep) for rep in replies]
    second_start = replies[1].get("start", 0) if len(replies) > 1 else None
    for tp in jp.tests:
        recs = [by_step.get(s) for s in tp.steps]
        dur = sum(float(r.get("d", 0.0)) for r in recs if r)
        if any(r is None for r in recs):
            which = 1 if second_start is not None and tp.steps and tp.steps[0] >= second_start else 0
            st, msg = deaths[which] or ("crashed", "no report for this test")
            if tampered:
                st, msg = "crashed", "result channel tampered with"
            outcomes.append(TestOutcome(tp.index, tp.kind, False, st, st.capitalize() if st != "crashed"
                                        else "Crashed", msg, dur, tp.mode == "parent"))
            continue
        phase = tp.kind
        bad = next((r for r in recs if not r.get("ok")), None)
        if bad is not None:
            et = bad.get("et") or "Error"
            st = _STEP_STATUS.get(et, "error")
            outcomes.append(TestOutcome(tp.index, tp.kind, False, st, et, bad.get("em"), dur, tp.mode == "parent"))
            continue
        if tp.mode == "child":
            outcomes.append(TestOutcome(tp.index, tp.kind, True, "passed", None, None, dur, False))
            continue
        try:
            vals = [V.decode(by_step[s].get("v")) for s in tp.value_steps]
        except Exception as e:  # noqa: BLE001 - a forged or malformed value: the test fails
            outcomes.append(TestOutcome(tp.index, tp.kind, False, "crashed", "BadValue", str(e)[:300], dur, True))
            continue
        st, et, em = grading.grade_parent(tp, vals, jp.setup_ns)
        outcomes.append(TestOutcome(tp.index, tp.kind, st == "passed", st, et, em, dur, tp.tamper_proof))
    if tampered:
        for o in outcomes:
            if o.passed and not o.graded_in_parent:
                o.passed, o.status, o.error_type, o.error_message = False, "crashed", "Tampered", \
                    "result channel tampered with"
    missing = next((tp.kind for tp, o in zip(jp.tests, outcomes, strict=True)
                    if o.status in ("timeout", "crashed", "memory") and not o.passed), None)
    statuses = {o.status for o in outcomes}
    if all(o.passed for o in outcomes):
        status, error = "passed", None
        phase = "done"
    else:
        for cand in ("timeout", "memory", "crashed", "failed", "error"):
            if cand in statuses:
                status = "runtime_error" if cand == "error" else cand
                break
        else:
            status = "failed"
        worst = next(o for o in outcomes if not o.passed and (o.status == cand or cand not in statuses))
        error = f"{worst.kind} test {worst.index}: {worst.error_type}: {worst.error_message}"
        if all(rep_done(r) for r in replies) and missing is None:
            phase = "done"
        elif missing is not None:
            phase = missing
    return _finalize(task, sample_id, status, phase, outcomes, findings, error=error, stdout=stdout,
                     stderr=stderr, duration=wall, exec_duration=exec_d,
                     extra=_extra(replies))


def _extra(replies: list[dict]) -> dict[str, Any]:
    return {
        "stdout_truncated": any(r.get("stdout_bytes", 0) > len(r.get("stdout", "").encode("utf-8", "replace"))
                                for r in replies),
        "stderr_truncated": any(r.get("stderr_bytes", 0) > len(r.get("stderr", "").encode("utf-8", "replace"))
                                for r in replies),
        "containment": replies[0].get("containment"),
    }


def rep_done(rep: dict) -> bool:
    return any(r.get("ev") == "done" for r in rep.get("records", []))


def _execute_one(pool_exec, task, code: str, tests: str, config: SandboxConfig, sample_id) -> Result:
    t0 = time.perf_counter()
    early, prep, job = _prepare(task, code, tests, config, sample_id)
    if early is not None:
        early.duration_s = time.perf_counter() - t0
        return early
    jp, findings = prep
    t_prep = time.perf_counter() - t0
    reply = pool_exec(job)
    if "infra_error" in reply:
        outcomes = [TestOutcome(tp.index, tp.kind, False, "not_run", "InfraError", "not run: sandbox failure", 0.0,
                                tp.mode == "parent") for tp in jp.tests]
        return _finalize(task, sample_id, "infra_error", "syntax", outcomes, findings,
                         error=f"sandbox infrastructure error: {reply['infra_error']}",
                         duration=time.perf_counter() - t0)
    replies = [reply]
    if not rep_done(reply) and config.retry_hidden_after_crash:
        got = {r["i"] for r in reply["records"] if isinstance(r.get("i"), int)}
        imported = any(r.get("ev") == "imported" for r in reply["records"])
        first_hidden = next((tp.steps[0] for tp in jp.tests if tp.kind == "hidden" and tp.steps), None)
        missing_public = any(s not in got for tp in jp.tests if tp.kind == "public" for s in tp.steps)
        if imported and first_hidden is not None and missing_public and first_hidden not in got:
            job2 = dict(job, start=first_hidden)
            rep2 = pool_exec(job2)
            if "infra_error" not in rep2:
                rep2["records"] = [r for r in rep2["records"] if "i" in r or r.get("ev") in ("done",)]
                rep2["start"] = first_hidden
                replies.append(rep2)
    t1 = time.perf_counter()
    result = _assemble(task, sample_id, jp, findings, replies, 0.0, config)
    # sandbox time of this program: parent-side preparation and grading + the server's fork-to-exit
    # wall time(s); time spent queued behind other programs is not counted
    result.duration_s = t_prep + sum(float(r.get("wall_s", 0.0)) for r in replies) + (time.perf_counter() - t1)
    return result


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


def _check_tests_arg(tests: str) -> None:
    if tests not in ("all", "public", "hidden"):
        raise ValueError(f"tests must be 'all', 'public' or 'hidden', got {tests!r}")


def run(task, code: str, *, tests: str = "all", sample_id=None, config: SandboxConfig | None = None,
        **overrides: Any) -> Result:
    """Run one program against one task's tests in the sandbox and grade it (see module docs)."""
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

        yield from ray_imap(items, workers=workers, tests=tests, config=cfg, progress=progress)
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
    """One evaluated expression. ``value`` is the type-preserving encoding (see ``child.encode``):
    two values are ``==`` iff the Python values are equal with exact types (NaN equals NaN,
    ``1 != 1.0`` here, unlike in graded tests). ``error_type`` is ``"Timeout"``, ``"Crashed"``,
    ``"ImportError"``-like names of what module-level code raised, or the exception the call raised."""

    ok: bool
    value: Any = None
    error_type: str | None = None
    error_message: str | None = None
    duration_s: float = 0.0

    def decoded(self) -> Any:
        return V.decode(self.value) if self.ok else None


def _calls_one(pool_exec, job_t, cfg: SandboxConfig) -> list[CallOutcome]:
    program, setup, exprs = job_t
    exprs = list(exprs)
    job = {"program": program, "setup": setup or "", "steps": [["value", e] for e in exprs],
           "limits": cfg.job_limits()}
    rep = pool_exec(job)
    if "infra_error" in rep:
        return [CallOutcome(False, None, "InfraError", rep["infra_error"]) for _ in exprs]
    recs: dict[int, dict] = {}
    dup = False
    for r in rep["records"]:
        if isinstance(r.get("i"), int):
            dup = dup or r["i"] in recs or not 0 <= r["i"] < len(exprs)
            recs.setdefault(r["i"], r)
    if dup or rep.get("bad_records", 0):
        return [CallOutcome(False, None, "Tampered", "the program wrote to its result channel") for _ in exprs]
    ev = next((r for r in rep["records"] if r.get("ev") in ("import_error", "setup_error", "syntax_error",
                                                            "setup_failed")), None)
    if ev is not None:
        et = "InfraError" if ev["ev"] == "setup_failed" else ev.get("et")
        return [CallOutcome(False, None, et, f"{ev['ev']}: {ev.get('em')}") for _ in exprs]
    out = []
    if rep.get("timed_out"):
        miss = ("Timeout", "wall-clock limit exceeded")
    elif rep.get("signal") == 24:
        miss = ("Timeout", "CPU-time limit exceeded")
    else:
        miss = ("Crashed", f"process ended (exit {rep.get('exit_code')}, signal {rep.get('signal')})")
    for i in range(len(exprs)):
        r = recs.get(i)
        if r is None:
            out.append(CallOutcome(False, None, *miss))
        elif r.get("ok"):
            try:
                V.decode(r.get("v"))
            except Exception:  # noqa: BLE001 - malformed encoding
                out.append(CallOutcome(False, None, "BadValue", "malformed value encoding", float(r["d"])))
                continue
            out.append(CallOutcome(True, r.get("v"), None, None, float(r.get("d", 0.0))))
        else:
            out.append(CallOutcome(False, None, r.get("et"), r.get("em"), float(r.get("d", 0.0))))
    return out


def evaluate_calls(jobs: Iterable[tuple[str, str, Sequence[str]]], *, workers: int | None = None,
                   timeout: float | None = None, progress: bool = False, config: SandboxConfig | None = None,
                   **overrides: Any) -> list[list[CallOutcome]]:
    """Evaluate expressions against programs: one sandboxed process per job, in input order.

    Each job is ``(program_code, setup_code, call_exprs)``; the child runs the program, then the
    setup, then evaluates each expression in that namespace. ``overrides`` are SandboxConfig fields.
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
