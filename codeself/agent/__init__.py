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

Modules
    :mod:`~codeself.agent.config` (``AgentConfig``, ``POLICIES``), :mod:`~codeself.agent.feedback`
    (feedback messages, revision prompts, ``select_final``), :mod:`~codeself.agent.loop`
    (``run_agent``), :mod:`~codeself.agent.traces` (the trace schema, ``read_traces``, the trace
    viewer ``render_trace(s)``), :mod:`~codeself.agent.report` (``revision_outcome``,
    ``summarize_traces``, ``render_report``). Every public name is re-exported here.
"""

from codeself.agent.config import POLICIES, REVISION_PROMPTS, AgentConfig
from codeself.agent.feedback import (
    build_feedback,
    build_revision_prompt,
    fit_revision_prompt,
    select_final,
    truncate,
)
from codeself.agent.loop import run_agent
from codeself.agent.report import REVISION_OUTCOMES, render_report, revision_outcome, summarize_traces
from codeself.agent.traces import (
    REQUIRED_TRACE_FIELDS,
    REQUIRED_TURN_FIELDS,
    TRACE_SCHEMA,
    load_traces,
    read_traces,
    render_trace,
    render_traces,
)

__all__ = [
    "POLICIES",
    "REQUIRED_TRACE_FIELDS",
    "REQUIRED_TURN_FIELDS",
    "REVISION_OUTCOMES",
    "REVISION_PROMPTS",
    "TRACE_SCHEMA",
    "AgentConfig",
    "build_feedback",
    "build_revision_prompt",
    "fit_revision_prompt",
    "load_traces",
    "read_traces",
    "render_report",
    "render_trace",
    "render_traces",
    "revision_outcome",
    "run_agent",
    "select_final",
    "summarize_traces",
    "truncate",
]
