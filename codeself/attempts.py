"""Attempts: the one parse → run step every caller uses.

An *attempt* is one completion for one task: it is parsed (:func:`codeself.parsing.parse_code`)
and, when the parser returned a program, run in the sandbox (:func:`codeself.sandbox.run_many`).
Rollouts, the agent loop, the TRL reward and the held-out evaluation all go through
:func:`run_attempts`, so they share one rule for what gets run and one status vocabulary:

- **What runs**: every attempt whose parsed ``code`` is not None and not blank — ``ok`` and
  ``syntax_error`` (the parser keeps its best candidate so the sandbox reports the error itself).
  ``empty`` and ``no_code`` hold no program and are never run.
- **Statuses**: the parse status is one of ``ok | empty | no_code | syntax_error``
  (:data:`codeself.parsing.PARSE_STATUSES`); the Result status is the sandbox's. An attempt that was
  not run gets :func:`unexecuted_result` (status ``syntax_error`` at phase ``syntax``, the task's
  test totals as denominators) and ``executed=False``.

All programs of one call run in ONE ``run_many`` batch, results in input order.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codeself.parsing import ParsedCode, parse_code
from codeself.sandbox.result import Result
from codeself.tasks import Task


@dataclass
class Attempt:
    """One completion of one task: what was parsed, whether it ran, and its Result."""

    task: Task
    completion: str | None
    parsed: ParsedCode
    result: Result
    executed: bool

    @property
    def code(self) -> str | None:
        return self.parsed.code

    @property
    def parse_status(self) -> str:
        return self.parsed.status


@dataclass
class AttemptBatch:
    """The attempts of one :func:`run_attempts` call (input order) and where the time went."""

    attempts: list[Attempt] = field(default_factory=list)
    parse_s: float = 0.0
    sandbox_s: float = 0.0

    @property
    def n_executed(self) -> int:
        return sum(1 for a in self.attempts if a.executed)

    def __iter__(self):
        return iter(self.attempts)

    def __len__(self) -> int:
        return len(self.attempts)

    def __getitem__(self, i: int) -> Attempt:
        return self.attempts[i]


def should_run(parsed: ParsedCode) -> bool:
    """The one rule for what gets run: a parsed program that is not blank."""
    return parsed.code is not None and bool(parsed.code.strip())


def unexecuted_result(task: Task, parse_status: str, reason: str | None, *, tests: str = "all") -> Result:
    """The Result recorded for a completion that was not executed because no program was parsed.

    Status ``syntax_error`` at phase ``syntax`` (nothing ran); test totals are the task's so that
    pass rates keep the right denominators; ``error`` says it was the parser.
    """
    pub = len(task.public_tests) if tests in ("all", "public") else 0
    hid = len(task.hidden_tests) if tests in ("all", "hidden") else 0
    return Result(task_id=task.task_id, passed=False, status="syntax_error", phase="syntax",
                  public_total=pub, hidden_total=hid,
                  error=f"not executed: parser returned {parse_status} ({reason})")


def run_attempts(
    items: Iterable[Sequence[Any]],
    *,
    tests: str = "all",
    workers: int | None = None,
    timeout: float | None = None,
    config: Any = None,
    progress: bool = False,
) -> AttemptBatch:
    """Parse every completion and run the parsable ones in one sandbox batch.

    ``items`` are ``(task, completion, prompt[, sample_id])``: ``prompt`` is the prefix a
    continuation is combined with (``None``: the task's ``completion`` template), ``sample_id`` is
    passed to the sandbox and set on the Result when it is still unset. ``tests``, ``workers``,
    ``timeout`` and ``config`` go to :func:`codeself.sandbox.run_many` (``None`` keeps the sandbox's
    default). Returns an :class:`AttemptBatch` in input order.
    """
    rows = [tuple(it) for it in items]
    t0 = time.perf_counter()
    parsed = []
    for row in rows:
        task, completion, prompt = row[0], row[1], row[2]
        parsed.append(parse_code(completion, task, prompt=prompt))
    parse_s = time.perf_counter() - t0
    jobs = []
    for row, pc in zip(rows, parsed, strict=True):
        if should_run(pc):
            sid = row[3] if len(row) > 3 else None
            jobs.append((row[0], pc.code) if sid is None else (row[0], pc.code, sid))
    t1 = time.perf_counter()
    results: list[Result] = []
    if jobs:
        from codeself.sandbox import run_many

        results = run_many(jobs, workers=workers, timeout=timeout, progress=progress, tests=tests, config=config)
    sandbox_s = time.perf_counter() - t1
    it = iter(results)
    out = []
    for row, pc in zip(rows, parsed, strict=True):
        task = row[0]
        ran = should_run(pc)
        res = next(it) if ran else unexecuted_result(task, pc.status, pc.reason, tests=tests)
        if res.sample_id is None and len(row) > 3:
            res.sample_id = row[3]
        out.append(Attempt(task, row[1], pc, res, ran))
    return AttemptBatch(out, parse_s, sandbox_s)
