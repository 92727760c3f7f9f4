"""Verdict assembly: one server reply (or two, when hidden tests were re-run after a crash) → a
:class:`~codeself.sandbox.result.Result`.

The records come from the grader (which never runs program code); the program's process can
influence them only through the values it returned. One mapping from what the server saw to a
failure status lives here (:func:`death_status`), used for tests and for raw calls alike.
"""

from __future__ import annotations

from typing import Any

from codeself.sandbox.config import SandboxConfig
from codeself.sandbox.result import Result, TestOutcome
from codeself.sandbox.values import clean_text

_START_EVENTS = ("import_error", "setup_error", "syntax_error", "setup_failed", "no_start", "imported")
SIGXCPU, SIGKILL = 24, 9


def death_status(rep: dict, config: SandboxConfig) -> tuple[str, str]:
    """Why the program's process stopped answering: (status, message). Status is one of
    ``timeout``, ``memory``, ``crashed``."""
    if rep.get("timed_out"):
        return "timeout", f"wall-clock limit of {config.timeout_s} s exceeded"
    sig = rep.get("signal")
    if rep.get("oom_killed"):
        return "memory", f"the program's processes exceeded {config.memory_mb} MiB together (OOM-killed)"
    if sig == SIGXCPU:
        return "timeout", "CPU-time limit exceeded"
    if sig == SIGKILL and float(rep.get("wall_s", 0) or 0) >= config.cpu_limit_s:
        return "timeout", "CPU-time limit exceeded"
    if "MemoryError" in str(rep.get("stderr", ""))[-2000:]:
        return "memory", "the program ran out of memory"
    if sig is not None:
        return "crashed", f"killed by signal {sig}"
    if rep.get("grader_died"):
        return "crashed", "grading stopped: the program's values exhausted the grader's budget"
    return "crashed", f"the program exited (code {rep.get('exit_code')}) before every test was graded"


def finalize(task, sample_id, status: str, phase: str, outcomes: list[TestOutcome], findings, *, error=None,
             stdout="", stderr="", duration=0.0, exec_duration=0.0, extra: dict | None = None) -> Result:
    pub = [o for o in outcomes if o.kind == "public"]
    hid = [o for o in outcomes if o.kind == "hidden"]
    r = Result(
        task_id=task.task_id, passed=status == "passed", status=status, sample_id=sample_id, phase=phase,
        public_passed=sum(o.passed for o in pub), public_total=len(pub),
        hidden_passed=sum(o.passed for o in hid), hidden_total=len(hid), tests=outcomes,
        stdout=stdout, stderr=stderr, duration_s=duration, exec_duration_s=exec_duration, scan=findings,
        error=clean_text(error, 2000) if error is not None else None,
        tamper_proof_share=1.0 if outcomes else 0.0,
    )
    for k, v in (extra or {}).items():
        setattr(r, k, v)
    return r


def not_run(prepared, status: str, error_type: str | None, message: str) -> list[TestOutcome]:
    return [TestOutcome(p.index, p.kind, False, status, error_type, message, 0.0, True) for p in prepared]


def start_event(rep: dict) -> dict | None:
    return next((r for r in rep.get("records", []) if r.get("ev") in _START_EVENTS), None)


def _extra(replies: list[dict]) -> dict[str, Any]:
    return {
        "stdout_truncated": any(r.get("stdout_bytes", 0) > len(r.get("stdout", "").encode("utf-8", "replace"))
                                for r in replies),
        "stderr_truncated": any(r.get("stderr_bytes", 0) > len(r.get("stderr", "").encode("utf-8", "replace"))
                                for r in replies),
        "containment": replies[0].get("containment"),
    }


_RECORD_STATUS = {"passed", "failed", "error", "memory", "gone", "crashed", "timeout"}


def assemble(task, sample_id, prepared, findings, replies: list[dict], config: SandboxConfig) -> Result:
    """Grade the server replies into a Result (see the module docstring)."""
    stdout = "".join(r.get("stdout", "") for r in replies)
    stderr = "".join(r.get("stderr", "") for r in replies)
    extra = _extra(replies)
    first = replies[0]
    ev = start_event(first) or {"ev": "no_start"}
    exec_d = 0.0
    if ev["ev"] == "setup_failed":  # sent by the harness before any program code: a harness fault
        return finalize(task, sample_id, "infra_error", "syntax", not_run(prepared, "not_run", None, "not run"),
                        findings, error=f"sandbox containment setup failed: {ev.get('et')}: {ev.get('em')}",
                        extra=extra)
    if ev["ev"] == "no_start":
        st, msg = death_status(first, config)
        return finalize(task, sample_id, st, "import", not_run(prepared, st, None, f"not run: {msg}"), findings,
                        error=msg, stdout=stdout, stderr=stderr, extra=extra)
    if ev["ev"] != "imported":
        et, em = ev.get("et"), ev.get("em")
        status = "memory" if et == "MemoryError" else ("syntax_error" if ev["ev"] == "syntax_error" else "import_error")
        what = "setup_code raised" if ev["ev"] == "setup_error" else "module-level code raised"
        return finalize(task, sample_id, status, "import", not_run(prepared, "not_run", et, f"not run: {what}"),
                        findings, error=f"{what}: {et}: {em}", stdout=stdout, stderr=stderr, extra=extra)
    if isinstance(ev.get("d"), (int, float)):
        exec_d += float(ev["d"])
    by_test: dict[int, tuple[dict, dict]] = {}
    for rep in replies:  # a later reply (a fresh process from its "start") is authoritative from there on
        for rec in rep.get("records", []):
            k = rec.get("t")
            if type(k) is int and 0 <= k < len(prepared) and rec.get("s") in _RECORD_STATUS:
                old = by_test.get(k)
                if old is None or (old[0].get("s") == "gone" and k >= rep.get("start", 0)):
                    by_test[k] = (rec, rep)
    outcomes: list[TestOutcome] = []
    deaths = {id(rep): death_status(rep, config) for rep in replies}
    missing_kind = None
    for k, p in enumerate(prepared):
        got = by_test.get(k)
        if got is None:
            rep = next((r for r in reversed(replies) if k >= r.get("start", 0)), first)
            st, msg = deaths[id(rep)]
            outcomes.append(TestOutcome(p.index, p.kind, False, st, "Timeout" if st == "timeout" else "Crashed", msg,
                                        0.0, True))
            missing_kind = missing_kind or p.kind
            continue
        rec, rep = got
        d = float(rec["d"]) if type(rec.get("d")) in (int, float) and 0 <= rec["d"] < 1e7 else 0.0
        exec_d += d
        s = rec["s"]
        jv = rec.get("j")
        jv = {str(k)[:40]: bool(v) for k, v in jv.items()} if isinstance(jv, dict) and len(jv) <= 16 else None
        if s == "passed":
            outcomes.append(TestOutcome(p.index, p.kind, True, "passed", None, None, d, True, jv))
        elif s == "gone":
            st, msg = deaths[id(rep)]
            if rec.get("ended") is False:  # the process was alive but its answers broke the channel
                st, msg = "crashed", clean_text(rec.get("em"), 300) or "the program's answers broke the channel"
            outcomes.append(TestOutcome(p.index, p.kind, False, st, "Timeout" if st == "timeout" else "Crashed",
                                        msg, d, True))
            missing_kind = missing_kind or p.kind
        elif s == "timeout":  # the test's own time limit (stdin and call tests)
            outcomes.append(TestOutcome(p.index, p.kind, False, "timeout", "Timeout", clean_text(rec.get("em"), 300),
                                        d, True))
        else:
            outcomes.append(TestOutcome(p.index, p.kind, False, s, clean_text(rec.get("et"), 100) or None,
                                        clean_text(rec.get("em"), 500) or None, d, True, jv))
    statuses = {o.status for o in outcomes}
    if all(o.passed for o in outcomes):  # (a selection with no test passes, as it always has)
        status, error, phase = "passed", None, "done"
    else:
        status = "failed"
        for cand in ("timeout", "memory", "crashed", "failed", "error"):
            if cand in statuses:
                status = "runtime_error" if cand == "error" else cand
                break
        worst = next((o for o in outcomes if not o.passed and o.status == {"runtime_error": "error"}.get(status, status)),
                     next((o for o in outcomes if not o.passed), None))
        error = f"{worst.kind} test {worst.index}: {worst.error_type}: {worst.error_message}" if worst else None
        phase = missing_kind or "done"
    return finalize(task, sample_id, status, phase, outcomes, findings, error=error, stdout=stdout, stderr=stderr,
                    exec_duration=exec_d, extra=extra)
