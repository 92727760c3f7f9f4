"""The self-debug agent: generate → parse → run the PUBLIC tests → feedback → revise, with full traces.

The loop, per (task, sample)
    1. Turn 0 asks the model with ``prompts.build_prompt(task, template, show_public_tests)`` —
       the same prompt single-shot generation uses, so the first attempt *is* the single-shot
       baseline.
    2. The completion is parsed and, when it holds code, run in the sandbox on the task's **public
       tests only** — the one parse → run step (``attempts.run_attempts(..., tests="public")``).
    3. If every public test passed, the loop stops. Otherwise a feedback message is built from the
       public run alone (the first failing public test, its error type and message, the program's
       truncated stdout; or the syntax error / timeout / parse failure) and the model is asked for a
       revision (``build_revision_prompt``), up to ``max_revisions`` times. With
       ``revision_prompt="retry"`` (a control arm) the first prompt is asked again instead: the same
       budget of public-test-filtered attempts, without the feedback text.
    4. The final submission is chosen by ``policy`` (see ``POLICIES``) and graded **once** on the
       public and hidden tests (``tests="all"``). The first attempt is graded on all tests as well,
       for the paired first-vs-final comparison only; when the final submission is the first
       attempt's code, that one grading serves both.

Guarantees
    - Hidden tests and hidden results never enter a prompt or a feedback message: every prompt is
      built from ``build_prompt`` (which reads only the task prompt, starter code and public tests),
      the previous attempt's own code and a feedback message made from a *public-only* sandbox run
      (hidden tests are never executed before the final grading). The final submission is chosen
      from public-test results only. ``tests/test_agent.py`` scans every prompt in the traces for
      every hidden test's text and expected value.
    - Nothing is lost: a backend that raises or returns nothing, an unparseable completion, a
      sandbox timeout, an infrastructure error — each is recorded in the turn (``generation_error``,
      ``parse_status``, ``status``) and the loop goes on; every (task, sample) gets one record.
    - Traces are appended with ``codeself.io.JsonlAppender`` (flushed per record); re-running with
      the same settings skips the (task, sample) pairs already in the file (no duplicates). A trace
      file made with different settings is refused rather than mixed.

Request order (what a ``static`` script must follow)
    Tasks are processed in chunks of ``batch_tasks``; inside a chunk, generation is turn by turn:
    every sample's turn 0, then every still-failing sample's turn 1, and so on. Each generation
    request carries ``sample_ids=[k]`` where ``k`` counts the requests made so far *for that task*
    (0, 1, 2, …). The static backend serves the ``k``-th line of a task, so a static file holds
    each task's attempts in file order: with one sample per task, line ``i`` of a task is its
    attempt ``i`` (turn 0, revision 1, revision 2, …). A task whose lines run out gets a recorded
    ``generation_error`` for the missing attempts. On resume, a task's counter starts after the
    turns already recorded for it.

Not guaranteed
    Bitwise-identical sampled completions after a resume (see ``codeself.generation``); tokens are
    counted only when the backend has a ``tokenizer`` (``hf``, ``nano``) — otherwise the report
    shows characters.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import math
import os
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codeself.io import DataError, JsonlAppender, Problem, read_jsonl
from codeself.tasks import Task, test_text

TRACE_SCHEMA = "codeself.agent.trace/1"

#: How the final submission is chosen (from public-test results only — never hidden ones).
POLICIES = {
    "last": "the last attempt, whatever its public-test result",
    "first-public-pass": (
        "the first attempt that passes every public test; if none does, the attempt that passed the "
        "most public tests (the earliest among ties), so a revision that made things worse on the "
        "visible tests is not submitted"
    ),
}

#: What a revision request shows the model (see ``AgentConfig.revision_prompt``).
REVISION_PROMPTS = ("feedback", "retry")

#: Settings that must match for a trace file to be resumed (otherwise records would be mixed).
_RESUME_KEYS = ("backend", "model_id", "model_hash", "max_revisions", "samples_per_task", "seed", "policy",
                "template", "revision_prompt", "show_public_tests", "temperature", "top_p", "max_new_tokens", "timeout_s",
                "feedback_chars", "stdout_chars")

REQUIRED_TRACE_FIELDS = ("task_id", "sample_id", "turns", "final")
REQUIRED_TURN_FIELDS = ("prompt", "completion", "code", "public_passed", "public_total", "feedback")


@dataclass
class AgentConfig:
    """Settings of one agent run (recorded in every trace record under ``config``)."""

    max_revisions: int = field(default=2, metadata={"help": "Revisions after the first attempt (R); R=0 is single-shot."})
    samples_per_task: int = field(default=1, metadata={"help": "Independent loops per task (N)."})
    seed: int = field(default=0, metadata={"help": "Base seed; each request's seed is derived from (seed, task, sample, turn)."})
    policy: str = field(default="last", metadata={"help": "Final-submission policy: " + "; ".join(f"{k}: {v}" for k, v in POLICIES.items())})
    template: str = field(default="completion", metadata={"help": "Prompt template of prompts.build_prompt: completion | chat."})
    revision_prompt: str = field(default="feedback", metadata={"help": (
        "'feedback': revise from the previous attempt and its feedback; 'retry': ask the first prompt again "
        "(a control arm: the same budget of public-test-filtered attempts without the feedback text; "
        "use a temperature > 0)")})
    show_public_tests: bool = field(default=False, metadata={"help": "Show the public tests in the first prompt (feedback always shows the failing one)."})
    temperature: float | None = field(default=None, metadata={"help": "Sampling temperature; default 0 (greedy) for N=1, 0.8 for N>1."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling top-p."})
    max_new_tokens: int = field(default=256, metadata={"help": "Generation length limit per attempt."})
    timeout_s: float | None = field(default=None, metadata={"help": "Sandbox wall-clock limit per program run (default: the sandbox's)."})
    workers: int | None = field(default=None, metadata={"help": "Sandbox workers (default: the sandbox's)."})
    batch_tasks: int = field(default=8, metadata={"help": "Tasks per chunk; generation is batched across a chunk's samples."})
    feedback_chars: int = field(default=600, metadata={"help": "Cap on the error message in a feedback message."})
    stdout_chars: int = field(default=400, metadata={"help": "Cap on the program's stdout in a feedback message."})

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.max_revisions, int) or self.max_revisions < 0:
            problems.append(f"max_revisions must be an integer >= 0, got {self.max_revisions!r}")
        if not isinstance(self.samples_per_task, int) or self.samples_per_task < 1:
            problems.append(f"samples_per_task must be an integer >= 1, got {self.samples_per_task!r}")
        if self.policy not in POLICIES:
            problems.append(f"policy must be one of {sorted(POLICIES)}, got {self.policy!r}")
        if self.revision_prompt not in REVISION_PROMPTS:
            problems.append(f"revision_prompt must be one of {REVISION_PROMPTS}, got {self.revision_prompt!r}")
        if self.template not in ("completion", "chat"):
            problems.append(f"template must be 'completion' or 'chat', got {self.template!r}")
        if self.temperature is not None and not self.temperature >= 0:
            problems.append(f"temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            problems.append(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if self.timeout_s is not None and not self.timeout_s > 0:
            problems.append(f"timeout_s must be > 0, got {self.timeout_s!r}")
        if self.batch_tasks < 1:
            problems.append(f"batch_tasks must be >= 1, got {self.batch_tasks!r}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def effective_temperature(self) -> float:
        if self.temperature is not None:
            return float(self.temperature)
        return 0.0 if self.samples_per_task == 1 else 0.8

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["temperature"] = self.effective_temperature
        return d


# ---------------------------------------------------------------------------------------------
# feedback and prompts
# ---------------------------------------------------------------------------------------------


def truncate(text: str | None, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    text = text or ""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… [{len(text) - limit} more characters cut]"


def build_feedback(task: Task, turn: dict[str, Any], result: dict[str, Any] | None, config: AgentConfig) -> str | None:
    """The feedback message for one attempt, made from its PUBLIC-only run; None if it passed.

    Shows: how many public tests passed, the first failing public test's text, its error type and
    message (capped at ``feedback_chars``), and the program's stdout (capped at ``stdout_chars``).
    For attempts that never ran it says why (empty reply, no code, backend failure). Only outcomes
    of kind ``public`` are read, and ``result`` comes from a ``tests="public"`` run.
    """
    if turn.get("generation_error"):
        return "The previous request produced no reply (the model backend failed). Please answer the task."
    if turn.get("code") is None:
        status = turn.get("parse_status")
        if status == "empty":
            return "Your previous reply was empty. Reply with the complete function."
        return ("Your previous reply contained no Python code that could be run"
                f" ({turn.get('parse_reason') or status}). Reply with the complete function.")
    if result is None:  # pragma: no cover - every attempt with code is run
        return None
    status = result.get("status")
    if status == "passed":
        return None
    pub_p, pub_t = result.get("public_passed", 0), result.get("public_total", 0)
    lines = [f"Your code passed {pub_p} of {pub_t} public tests (status: {status})."]
    if status in ("syntax_error", "import_error"):
        lines.append("It did not run: " + truncate(result.get("error") or status, config.feedback_chars))
    elif status == "timeout":
        lines.append("It was stopped for exceeding the time limit"
                     + (f" ({result.get('error')})." if result.get("error") else ".")
                     + " Look for an infinite loop or a much too slow algorithm.")
    elif status == "memory":
        lines.append("It was stopped for exceeding the memory limit.")
    elif status == "crashed":
        lines.append("The process died: " + truncate(result.get("error") or "crashed", config.feedback_chars))
    elif status == "infra_error":
        lines.append("The test harness failed (not a fault of your code): "
                     + truncate(result.get("error") or "", config.feedback_chars))
    elif status == "rejected":
        lines.append("The code was refused by the security scan: " + truncate(result.get("error") or "", config.feedback_chars))
    failing = [t for t in result.get("tests", [])
               if t.get("kind") == "public" and not t.get("passed") and t.get("status") != "not_run"]
    if failing:
        t = failing[0]
        idx = t.get("index")
        text = (test_text(task.public_tests[idx], task.entry_point or "f", limit=config.feedback_chars)
                if isinstance(idx, int) and 0 <= idx < len(task.public_tests) else None)
        if text is not None:
            lines.append("This public test failed:\n" + text)
        err = t.get("error_type") or t.get("status") or "failed"
        msg = t.get("error_message")
        lines.append("Error: " + err + (": " + truncate(msg, config.feedback_chars) if msg else ""))
        if len(failing) > 1:
            lines.append(f"({len(failing) - 1} more public test(s) failed.)")
    elif status not in ("syntax_error", "import_error", "timeout", "memory", "crashed", "infra_error", "rejected"):
        if result.get("error"):
            lines.append("Error: " + truncate(result["error"], config.feedback_chars))
    stdout = result.get("stdout") or ""
    if stdout.strip():
        lines.append("Its output (stdout) was:\n" + truncate(stdout, config.stdout_chars))
    return "\n".join(lines)


def _comment(text: str) -> str:
    return "\n".join("# " + ln if ln.strip() else "#" for ln in text.rstrip("\n").split("\n"))


def build_revision_prompt(task: Task, first_prompt: str, previous: dict[str, Any], feedback: str,
                          template: str, *, include_attempt: bool = True) -> str:
    """The prompt asking for a revision of ``previous`` (a turn dict) given ``feedback``.

    ``chat``: the first prompt, the previous attempt in a fenced block, the feedback, and a request
    for the corrected complete function in one ```python block. ``completion``: the previous attempt
    and the feedback as Python comments, then the task prompt again, so a completion model continues
    the function body (the same format as the first prompt). Only the latest attempt and its
    feedback are shown (prompts do not grow with R); ``include_attempt=False`` leaves the attempt
    out (the compact form used when a model's context is too short). No hidden test is read.
    """
    attempt = previous.get("code")
    if attempt is None:
        attempt = previous.get("completion") or ""
    if template == "chat":
        fence = _fence_for(attempt)
        shown = (f"Your previous attempt:\n{fence}python\n{attempt.rstrip()}\n{fence}\n\n" if include_attempt
                 else "Your previous attempt failed.\n")
        return (f"{first_prompt.rstrip()}\n\n{shown}"
                f"Feedback from running the public tests:\n{feedback}\n\n"
                "Fix the problem. Reply with the corrected complete function in a single ```python code block.\n")
    from codeself.prompts import build_prompt

    base = build_prompt(task, "completion")
    if include_attempt:
        head = ["# A previous attempt at the function below:",
                _comment(attempt) if attempt.strip() else "# (no code)"]
    else:
        head = ["# A previous attempt at the function below failed."]
    head.append("# Feedback from running the public tests:")
    head.append(_comment(feedback))
    head.append("# Write a corrected version.")
    return "\n".join(head) + "\n" + base


def _context_limit(backend: Any) -> int | None:
    """The model's context length in tokens, when the backend exposes it (``hf``, ``nano``)."""
    cfg = getattr(getattr(backend, "model", None), "config", None)
    n = getattr(cfg, "max_position_embeddings", None)
    return n if isinstance(n, int) and n > 0 else None


def fit_revision_prompt(backend: Any, task: Task, first_prompt: str, previous: dict[str, Any], feedback: str,
                        config: AgentConfig) -> tuple[str, str]:
    """``(prompt, variant)``: the full revision prompt if it fits the model's context with room for
    ``max_new_tokens``, else a compact one without the previous attempt (``feedback_only``), else
    one with the feedback cut to its first line (``short_feedback``). Without a tokenizer or a known
    context length the full prompt is used (``full``)."""
    full = build_revision_prompt(task, first_prompt, previous, feedback, config.template)
    limit = _context_limit(backend)
    if limit is None or getattr(backend, "tokenizer", None) is None:
        return full, "full"
    budget = limit - config.max_new_tokens
    first_line = feedback.split("\n", 1)[0]
    candidates = [
        (full, "full"),
        (build_revision_prompt(task, first_prompt, previous, feedback, config.template, include_attempt=False),
         "feedback_only"),
        (build_revision_prompt(task, first_prompt, previous, first_line, config.template, include_attempt=False),
         "short_feedback"),
    ]
    for text, variant in candidates:
        n = _count_tokens(backend, text)
        if n is not None and n <= budget:
            return text, variant
    return candidates[-1]


def select_final(turns: Sequence[dict[str, Any]], policy: str) -> int:
    """Index of the submitted attempt under ``policy`` (see ``POLICIES``); public results only."""
    if not turns:
        raise ValueError("no turns")
    if policy == "last":
        return len(turns) - 1
    if policy == "first-public-pass":
        for i, t in enumerate(turns):
            if t.get("public_status") == "passed":
                return i
        best = max(t.get("public_passed") or 0 for t in turns)
        return next(i for i, t in enumerate(turns) if (t.get("public_passed") or 0) == best)
    raise ValueError(f"unknown policy {policy!r} (use one of {sorted(POLICIES)})")


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------


def _seed_for(seed: int, task_id: str, sample_id: int, turn: int) -> int:
    h = hashlib.sha256(f"{seed}\0{task_id}\0{sample_id}\0{turn}".encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


def _count_tokens(backend: Any, text: str | None) -> int | None:
    tok = getattr(backend, "tokenizer", None)
    if tok is None or text is None:
        return None
    try:
        return len(tok(text, add_special_tokens=False)["input_ids"])
    except Exception:  # a tokenizer that cannot count is not worth failing the run for
        return None


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


def read_traces(path: str | os.PathLike) -> list[tuple[int, dict[str, Any]]]:
    """``[(line, record)]`` of a trace file; a truncated last line (killed run) is ignored.

    Raises ``DataError`` naming file, line and field for a record missing a required field
    (``REQUIRED_TRACE_FIELDS``, and per turn ``REQUIRED_TURN_FIELDS``) or a duplicate
    (task_id, sample_id).
    """
    records, _ = read_jsonl(path, tolerate_truncated_tail=True)
    problems: list[Problem] = []
    seen: dict[tuple[str, int], int] = {}
    ok = []
    for line, rec in records:
        tid = rec.get("task_id") if isinstance(rec.get("task_id"), str) else None
        bad = False
        for k in REQUIRED_TRACE_FIELDS:
            if k not in rec:
                problems.append(Problem(str(path), line, k, "missing required trace field", tid))
                bad = True
        if bad:
            continue
        if not isinstance(rec["turns"], list) or not rec["turns"]:
            problems.append(Problem(str(path), line, "turns", "expected a non-empty list", tid))
            continue
        if not isinstance(rec["final"], dict) or "passed" not in rec["final"]:
            problems.append(Problem(str(path), line, "final", "expected a graded Result with 'passed'", tid))
            continue
        for i, t in enumerate(rec["turns"]):
            miss = [k for k in REQUIRED_TURN_FIELDS if not isinstance(t, dict) or k not in t]
            if miss:
                problems.append(Problem(str(path), line, f"turns[{i}].{miss[0]}", "missing required turn field", tid))
                bad = True
                break
        if bad:
            continue
        try:
            key = (rec["task_id"], int(rec["sample_id"]))
        except (TypeError, ValueError):
            problems.append(Problem(str(path), line, "sample_id", f"expected an integer, got {rec['sample_id']!r}", tid))
            continue
        if key in seen:
            problems.append(Problem(str(path), line, "sample_id",
                                    f"duplicate (task, sample) record (first at line {seen[key]})", tid))
            continue
        seen[key] = line
        ok.append((line, rec))
    if problems:
        raise DataError(problems)
    return ok


def load_traces(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a trace file (see ``read_traces``)."""
    return [rec for _, rec in read_traces(path)]


# ---------------------------------------------------------------------------------------------
# the strategy report
# ---------------------------------------------------------------------------------------------


def revision_outcome(prev: dict[str, Any], cur: dict[str, Any]) -> str:
    """How revision ``cur`` changed attempt ``prev``, judged on the PUBLIC tests (what the loop sees).

    ``fixed``: prev failed some public test, cur passes all; ``broke``: cur passes fewer public tests
    than prev (or prev ran and cur has no runnable code); ``improved``: more public tests pass, not
    all; ``unchanged``: the same code as before; ``same_result``: different code, the same number of
    public tests passed (and still failing).
    """
    if cur.get("public_status") == "passed" and prev.get("public_status") != "passed":
        return "fixed"
    if cur.get("code") is not None and cur.get("code") == prev.get("code"):
        return "unchanged"
    pp, cp = prev.get("public_passed") or 0, cur.get("public_passed") or 0
    prev_ran = prev.get("code") is not None
    cur_ran = cur.get("code") is not None
    if cp < pp or (prev_ran and not cur_ran) or (prev.get("public_status") == "passed" and cur.get("public_status") != "passed"):
        return "broke"
    if cp > pp:
        return "improved"
    return "same_result"


REVISION_OUTCOMES = ("fixed", "improved", "same_result", "unchanged", "broke")


def _rate(k: int, n: int) -> str:
    return f"{k}/{n} = {k / n:.3f}" if n else f"{k}/0 = n/a"


def summarize_traces(records: Sequence[dict[str, Any]], *, seed: int = 0) -> dict[str, Any]:
    """Every number of the strategy report, as a plain dict (the report renders this).

    - ``pass_at_1_first`` / ``pass_at_1_final``: per-task pass rate over samples, averaged over tasks
      (records whose first or final grade is ``infra_error`` are excluded from the paired numbers
      and counted in ``excluded_infra``).
    - ``paired``: the (task, sample) 2x2 table of first vs final (``a`` both pass, ``b`` first passes
      and final fails = *broke*, ``c`` first fails and final passes = *fixed*, ``d`` both fail) and
      ``mcnemar_p`` = ``stats.mcnemar_exact(b, c)``; with several samples per task the pairs are
      clustered, so ``cluster_ci`` (task-level bootstrap of the pass@1 difference) is added.
    - ``revision_outcomes``: counts of ``revision_outcome`` over every revision made.
    - ``overfit_final`` / ``overfit_first``: among submissions that pass every public test (with at
      least one public test), how many fail a hidden test (``k``, ``n``, ``rate``, Wilson interval).
    - ``revisions_used``: histogram and mean; ``stop_reasons``; per-turn parse and run statuses;
      ``tokens`` and ``time`` per (task, sample) loop.
    """
    from codeself.stats import cluster_bootstrap_ci, mcnemar_exact, paired_table, wilson_interval

    recs = list(records)
    s: dict[str, Any] = {"n_records": len(recs), "n_tasks": len({r["task_id"] for r in recs})}
    cfgs = [r.get("config") or {} for r in recs]
    s["config"] = cfgs[0] if cfgs else {}
    s["samples_per_task"] = dict(Counter(Counter(r["task_id"] for r in recs).values()))
    infra = [r for r in recs if r["final"].get("status") == "infra_error" or (r.get("first") or {}).get("status") == "infra_error"]
    s["excluded_infra"] = len(infra)
    good = [r for r in recs if r not in infra]
    first_by: dict[str, list[int]] = {}
    final_by: dict[str, list[int]] = {}
    first_of: dict[tuple[str, Any], bool] = {}
    final_of: dict[tuple[str, Any], bool] = {}
    for i, r in enumerate(good):
        f0 = bool((r.get("first") or r["final"]).get("passed"))
        f1 = bool(r["final"].get("passed"))
        first_by.setdefault(r["task_id"], []).append(int(f0))
        final_by.setdefault(r["task_id"], []).append(int(f1))
        first_of[(r["task_id"], i)] = f0
        final_of[(r["task_id"], i)] = f1
    n_t = len(first_by)
    s["pass_at_1_first"] = sum(sum(v) / len(v) for v in first_by.values()) / n_t if n_t else None
    s["pass_at_1_final"] = sum(sum(v) / len(v) for v in final_by.values()) / n_t if n_t else None
    table = paired_table(first_of, final_of)  # over (task, sample) records: first vs final
    s["paired"] = {**table, "mcnemar_p": mcnemar_exact(table["b"], table["c"])}
    clustered = any(len(v) > 1 for v in first_by.values())
    s["paired"]["clustered"] = clustered
    if clustered and n_t >= 2:
        diff, lo, hi = cluster_bootstrap_ci(first_by, final_by, seed=seed)
        s["paired"]["cluster_ci"] = {"diff": diff, "low": lo, "high": hi}

    outcomes: Counter[str] = Counter({k: 0 for k in REVISION_OUTCOMES})
    by_rev: dict[int, Counter[str]] = {}
    for r in recs:
        for i in range(1, len(r["turns"])):
            o = revision_outcome(r["turns"][i - 1], r["turns"][i])
            outcomes[o] += 1
            by_rev.setdefault(i, Counter({k: 0 for k in REVISION_OUTCOMES}))[o] += 1
    s["revision_outcomes"] = dict(outcomes)
    s["revision_outcomes_by_revision"] = {i: dict(v) for i, v in sorted(by_rev.items())}
    s["n_revisions"] = sum(outcomes.values())

    def overfit(key: str) -> dict[str, Any]:
        sub = [(r.get(key) or r["final"]) for r in good]
        sub = [g for g in sub if g.get("public_total", 0) > 0 and g.get("public_passed") == g.get("public_total")]
        n = len(sub)
        k = sum(1 for g in sub if not g.get("passed"))
        lo, hi = wilson_interval(k, n) if n else (None, None)
        return {"k": k, "n": n, "rate": k / n if n else None, "low": lo, "high": hi}

    s["overfit_final"] = overfit("final")
    s["overfit_first"] = overfit("first")
    used = [r.get("revisions_used", len(r["turns"]) - 1) for r in recs]
    s["revisions_used"] = {"hist": dict(sorted(Counter(used).items())), "mean": statistics.fmean(used) if used else None,
                           "total": sum(used)}
    s["stop_reasons"] = dict(Counter(r.get("stop_reason") for r in recs))
    s["final_turn"] = dict(sorted(Counter(r.get("final_turn") for r in recs).items()))
    turns = [t for r in recs for t in r["turns"]]
    s["n_turns"] = len(turns)
    s["parse_status"] = dict(Counter(t.get("parse_status") for t in turns))
    s["public_status"] = dict(Counter(t.get("public_status") for t in turns))
    s["generation_errors"] = sum(1 for t in turns if t.get("generation_error"))
    s["final_status"] = dict(Counter(r["final"].get("status") for r in recs))

    def dist(vals: list[float]) -> dict[str, float] | None:
        vals = [v for v in vals if v is not None]
        if not vals:
            return None
        return {"mean": statistics.fmean(vals), "median": statistics.median(vals), "max": max(vals), "sum": sum(vals)}

    tok = [r.get("tokens") or {} for r in recs]
    s["tokens"] = {
        "prompt": dist([t.get("prompt") for t in tok]) if all(t.get("prompt") is not None for t in tok) else None,
        "completion": dist([t.get("completion") for t in tok]) if all(t.get("completion") is not None for t in tok) else None,
        "prompt_chars": dist([t.get("prompt_chars") for t in tok]),
        "completion_chars": dist([t.get("completion_chars") for t in tok]),
    }
    tim = [r.get("timings") or {} for r in recs]
    s["time"] = {k: dist([t.get(k) for t in tim]) for k in ("generate_s", "sandbox_s", "grade_s", "total_s")}
    s["no_public_tests"] = sum(1 for r in recs if r["final"].get("public_total", 0) == 0)
    return s


def _f(x: float | None, nd: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def render_report(records: Sequence[dict[str, Any]], *, title: str = "Self-debug agent: strategy report",
                  source: str | None = None, seed: int = 0) -> str:
    """The strategy report (Markdown) of a set of trace records; every number from ``summarize_traces``."""
    s = summarize_traces(records, seed=seed)
    cfg = s["config"]
    p = s["paired"]
    out = [f"# {title}", ""]
    if source:
        out += [f"Traces: `{source}`", ""]
    out += [
        f"- Backend: `{cfg.get('backend')}`, model: `{cfg.get('model_id')}` (hash `{str(cfg.get('model_hash'))[:12]}`)",
        f"- Max revisions R = {cfg.get('max_revisions')}, samples per task = {cfg.get('samples_per_task')}, "
        f"seed = {cfg.get('seed')}, template = `{cfg.get('template')}`, temperature = {cfg.get('temperature')}, "
        f"revision prompt = `{cfg.get('revision_prompt', 'feedback')}`"
        + (" (the first prompt again: feedback recorded, not sent)" if cfg.get("revision_prompt") == "retry" else ""),
        f"- Final-submission policy: `{cfg.get('policy')}` — {POLICIES.get(cfg.get('policy'), '?')}",
        f"- {s['n_tasks']} tasks, {s['n_records']} loops (task × sample), {s['n_turns']} attempts, "
        f"{s['n_revisions']} revisions",
        "- Feedback came from the public tests only; the final submission was graded once on public and "
        "hidden tests. The first attempt was graded on all tests too, for this comparison only.",
        "",
        "## Pass@1: first attempt vs final submission",
        "",
        "| | pass@1 |",
        "|---|---|",
        f"| first attempt | {_f(s['pass_at_1_first'])} |",
        f"| final submission | {_f(s['pass_at_1_final'])} |",
        "",
        "Paired (task, sample) table, first → final:",
        "",
        "| | final passes | final fails |",
        "|---|---|---|",
        f"| **first passes** | {p['a']} | {p['b']} (broke) |",
        f"| **first fails** | {p['c']} (fixed) | {p['d']} |",
        "",
        f"Exact McNemar test (two-sided, on the discordant pairs b = {p['b']}, c = {p['c']}): "
        f"**p = {p['mcnemar_p']:.4g}** (n = {p['n']}).",
    ]
    if p.get("clustered"):
        out.append("Several samples per task make the pairs clustered, so the McNemar p-value is optimistic;")
        ci = p.get("cluster_ci")
        if ci:
            out.append(f"the task-level cluster bootstrap gives final − first = {ci['diff']:+.3f} "
                       f"(95% CI {ci['low']:+.3f} to {ci['high']:+.3f}).")
    if s["excluded_infra"]:
        out.append(f"\n{s['excluded_infra']} loop(s) with a sandbox infrastructure error were excluded from these numbers.")
    ro = s["revision_outcomes"]
    n_rev = s["n_revisions"]
    out += [
        "",
        "## What the revisions did",
        "",
        "Each revision compared with the attempt before it, on the public tests (the signal the loop sees):",
        "",
        "| outcome | revisions | share |",
        "|---|---|---|",
    ]
    desc = {"fixed": "fixed (now passes every public test)", "improved": "improved (more public tests pass, not all)",
            "same_result": "changed code, same public result", "unchanged": "left unchanged (identical code)",
            "broke": "broke (fewer public tests pass, or no runnable code)"}
    for k in REVISION_OUTCOMES:
        out.append(f"| {desc[k]} | {ro.get(k, 0)} | {_f(ro.get(k, 0) / n_rev) if n_rev else 'n/a'} |")
    if s["revision_outcomes_by_revision"]:
        out += ["", "By revision number:", "", "| revision | " + " | ".join(REVISION_OUTCOMES) + " |",
                "|---|" + "---|" * len(REVISION_OUTCOMES)]
        for i, c in s["revision_outcomes_by_revision"].items():
            out.append(f"| {i} | " + " | ".join(str(c.get(k, 0)) for k in REVISION_OUTCOMES) + " |")
    of1, of0 = s["overfit_final"], s["overfit_first"]

    def ofrow(name: str, o: dict[str, Any]) -> str:
        ci = f"{_f(o['low'])}–{_f(o['high'])}" if o["n"] else "n/a"
        return f"| {name} | {o['n']} | {o['k']} | {_f(o['rate'])} | {ci} |"

    out += [
        "",
        "## Overfitting to the visible tests",
        "",
        "Among submissions that pass every public test, how many fail a hidden test (a reward-hacking signal "
        "when it grows over revisions):",
        "",
        "| | pass all public | of which fail hidden | rate | 95% Wilson CI |",
        "|---|---|---|---|---|",
        ofrow("first attempt", of0),
        ofrow("final submission", of1),
    ]
    if s["no_public_tests"]:
        out.append(f"\n{s['no_public_tests']} loop(s) had tasks without public tests (no feedback possible).")
    ru = s["revisions_used"]
    out += [
        "",
        "## Revisions used, stops and statuses",
        "",
        f"- Revisions used per loop: mean {_f(ru['mean'], 2)}, total {ru['total']}; histogram "
        + ", ".join(f"{k}: {v}" for k, v in ru["hist"].items()),
        "- Stop reasons: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["stop_reasons"].items(), key=str)),
        "- Submitted attempt (turn index): " + ", ".join(f"{k}: {v}" for k, v in s["final_turn"].items()),
        "- Parse status per attempt: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["parse_status"].items(), key=str)),
        "- Public-run status per attempt: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["public_status"].items(), key=str)),
        f"- Generation errors (backend failed or returned nothing): {s['generation_errors']}",
        "- Final grade status: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["final_status"].items(), key=str)),
        "",
        "## Tokens and time per loop (task × sample)",
        "",
        "| quantity | mean | median | max | total |",
        "|---|---|---|---|---|",
    ]
    rows = [("prompt tokens", s["tokens"]["prompt"], 0), ("completion tokens", s["tokens"]["completion"], 0),
            ("prompt characters", s["tokens"]["prompt_chars"], 0),
            ("completion characters", s["tokens"]["completion_chars"], 0)]
    rows += [(f"{k} (seconds)", s["time"][k], 3) for k in ("generate_s", "sandbox_s", "grade_s", "total_s")]
    for name, d, nd in rows:
        if d is None:
            out.append(f"| {name} | n/a (backend has no tokenizer) | | | |")
        else:
            out.append(f"| {name} | {_f(d['mean'], nd or 1)} | {_f(d['median'], nd or 1)} | {_f(d['max'], nd or 1)} | {_f(d['sum'], nd or 1)} |")
    out += ["", "Generation time is the batch time divided by the requests in the batch; sandbox time is the "
            "public runs' wall time as seen by the parent; grade time is the final grading's.", "",
            "## Per task", "", "| task | samples | first pass | final pass | revisions used | per-revision outcomes |",
            "|---|---|---|---|---|---|"]
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_task.setdefault(r["task_id"], []).append(r)
    for tid, rs in by_task.items():
        f0 = sum(bool((r.get("first") or r["final"]).get("passed")) for r in rs)
        f1 = sum(bool(r["final"].get("passed")) for r in rs)
        rev = sum(r.get("revisions_used", 0) for r in rs)
        oc = Counter(revision_outcome(r["turns"][i - 1], r["turns"][i]) for r in rs for i in range(1, len(r["turns"])))
        out.append(f"| `{tid}` | {len(rs)} | {f0} | {f1} | {rev} | " + ", ".join(f"{k} {v}" for k, v in sorted(oc.items())) + " |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# the trace viewer
# ---------------------------------------------------------------------------------------------


def _fence_for(text: str) -> str:
    longest, run = 0, 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _block(text: str, lang: str = "") -> str:
    f = _fence_for(text)
    return f"{f}{lang}\n{text.rstrip(chr(10))}\n{f}"


def _collapsible(summary: str, text: str, lang: str = "", *, open_below: int = 12) -> str:
    """A fenced block, wrapped in <details> when longer than ``open_below`` lines."""
    body = _block(text, lang)
    if text.count("\n") < open_below and len(text) <= 80 * open_below:
        return f"{summary}\n\n{body}"
    size = f"{text.count(chr(10)) + 1} lines, {len(text)} characters"
    return f"<details><summary>{html.escape(summary.replace('**', ''))} ({size})</summary>\n\n{body}\n\n</details>"


def render_trace(rec: dict[str, Any]) -> str:
    """One trace record as Markdown: a summary table, every turn (prompt and long outputs collapsed,
    the diff from the previous attempt), and the final grade with per-test outcomes."""
    final = rec["final"]
    fi = rec.get("final_turn", len(rec["turns"]) - 1)
    verdict = "PASSED" if final.get("passed") else f"FAILED ({final.get('status')})"
    out = [f"## `{rec['task_id']}` · sample {rec['sample_id']} — final: **{verdict}**", ""]
    first = rec.get("first") or {}
    out.append(f"First attempt graded: {'passed' if first.get('passed') else first.get('status', 'n/a')}; "
               f"submitted attempt: turn {fi} (policy `{rec.get('final_policy', '?')}`); "
               f"revisions used: {rec.get('revisions_used')}; stop: {rec.get('stop_reason')}.")
    out += ["", "| turn | parse | public | status | revision | generate s | sandbox s |", "|---|---|---|---|---|---|---|"]
    for i, t in enumerate(rec["turns"]):
        oc = revision_outcome(rec["turns"][i - 1], t) if i else "—"
        mark = " ⇐ submitted" if i == fi else ""
        tm = t.get("timings") or {}
        out.append(f"| {i}{mark} | {t.get('parse_status')} | {t.get('public_passed')}/{t.get('public_total')} | "
                   f"{t.get('public_status')} | {oc} | {_f(tm.get('generate_s'))} | {_f(tm.get('sandbox_s'))} |")
    for i, t in enumerate(rec["turns"]):
        out += ["", f"### Turn {i}" + (" (first attempt)" if i == 0 else f" (revision {i})"), ""]
        out.append(_collapsible_always("Prompt", t.get("prompt") or ""))
        out.append("")
        if t.get("generation_error"):
            out += [f"**Generation error:** `{t['generation_error']}`", ""]
        comp = t.get("completion")
        out.append(_collapsible("**Completion**", comp if comp is not None else "(none)", "text"))
        out.append("")
        status = t.get("parse_status")
        if t.get("code") is None:
            out.append(f"**Parsed code:** none — `{status}`" + (f": {t.get('parse_reason')}" if t.get("parse_reason") else ""))
        else:
            # diff against the latest earlier attempt that had code
            j = next((k for k in range(i - 1, -1, -1) if rec["turns"][k].get("code") is not None), None)
            prev = rec["turns"][j]["code"] if j is not None else None
            label = f"**Parsed code** (`{status}`" + (f": {t.get('parse_reason')}" if t.get("parse_reason") else "") + ")"
            if prev is not None:
                diff = "".join(difflib.unified_diff(prev.splitlines(True), t["code"].splitlines(True),
                                                    fromfile=f"turn {j}", tofile=f"turn {i}"))
                out.append(f"**Diff from turn {j}:**\n\n" + (_block(diff, "diff") if diff else "_identical code_"))
                out.append("")
                out.append(_collapsible_always(label.replace("**", ""), t["code"], "python"))
            else:
                out.append(_collapsible(label, t["code"], "python"))
        out.append("")
        out.append(f"**Public tests:** {t.get('public_passed')}/{t.get('public_total')} passed, status `{t.get('public_status')}`")
        for o in t.get("public_tests") or []:
            if not o.get("passed"):
                msg = (o.get("error_type") or o.get("status") or "") + (f": {o['error_message']}" if o.get("error_message") else "")
                out.append(f"- public test {o.get('index')} failed — {truncate(msg, 300)}")
        if t.get("stdout"):
            out += ["", _collapsible("stdout", t["stdout"], "text")]
        if t.get("feedback"):
            why = ("retry arm" if (rec.get("config") or {}).get("revision_prompt") == "retry" and i < len(rec["turns"]) - 1
                   else "no revisions left")
            out += ["", _collapsible("**Feedback**" + (" sent to the model" if t.get("feedback_sent") else f" (not sent: {why})"),
                                     t["feedback"], "text")]
    out += ["", "### Final grade (public + hidden tests; never shown to the model)", "",
            f"- status `{final.get('status')}`, public {final.get('public_passed')}/{final.get('public_total')}, "
            f"hidden {final.get('hidden_passed')}/{final.get('hidden_total')}, {_f(final.get('duration_s'))} s"]
    if final.get("error"):
        out.append(f"- error: {truncate(final['error'], 300)}")
    for o in final.get("tests") or []:
        if not o.get("passed"):
            msg = (o.get("error_type") or o.get("status") or "") + (f": {o['error_message']}" if o.get("error_message") else "")
            out.append(f"- {o.get('kind')} test {o.get('index')} failed — {truncate(msg, 300)}")
    return "\n".join(out) + "\n"


def _collapsible_always(summary: str, text: str, lang: str = "") -> str:
    return f"<details><summary>{html.escape(summary)} ({len(text)} characters)</summary>\n\n{_block(text, lang)}\n\n</details>"


def render_traces(records: Iterable[dict[str, Any]], *, task_id: str | None = None, source: str | None = None) -> str:
    """All records (or those of ``task_id``) as one Markdown document. ``ValueError`` if none match."""
    recs = [r for r in records if task_id is None or r["task_id"] == task_id]
    if not recs:
        raise ValueError(f"no trace for task {task_id!r}" if task_id else "no traces")
    head = ["# Self-debug traces", ""]
    if source:
        head += [f"From `{source}`; {len(recs)} loop(s).", ""]
    if len(recs) > 1:
        head += ["| task | sample | final | revisions used |", "|---|---|---|---|"]
        for r in recs:
            head.append(f"| `{r['task_id']}` | {r['sample_id']} | {'pass' if r['final'].get('passed') else r['final'].get('status')} "
                        f"| {r.get('revisions_used')} |")
        head.append("")
    return "\n".join(head) + "\n" + "\n".join(render_trace(r) for r in recs)
