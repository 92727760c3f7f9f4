"""The audit itself (:func:`audit_tasks`): mutants and inputs per task, reference and mutants evaluated in
the sandbox, confirmed-wrong mutants run against the task's tests, one record per task.

Three kinds of task (the record's ``test_kind``):

* ``assert`` — inputs are the entry point's literal calls in the tests (or those recorded while the
  tests ran); return values are compared with :func:`codeself.audit.equality.close_eq` (the
  grader's exact-type rule, with a float tolerance);
* ``call`` — inputs are the call tests' argument lists; the reference is a function, or a
  ``class Solution`` whose method is called on a fresh ``Solution()`` per input (as the grader
  does); values are compared with ``close_eq`` after :func:`codeself.sandbox.values.listify`
  (tuples count as lists, as in call tests);
* ``stdin`` — the reference is a script; inputs are the stdin tests' input texts plus edits of them
  (:func:`codeself.audit.domain.fresh_stdin_inputs`); each program's stdout is captured in the
  sandbox (:func:`codeself.sandbox.evaluate_stdin`) and two outputs are the same when the task's
  judge accepts one for the other (:func:`codeself.judges.get`, the grader's own rules), so a
  difference the task's tests cannot see is never evidence. A stdin task with a ``checker`` (many
  valid outputs) is skipped: differing from the reference's output is no evidence there.

A reference (or mutant) that floods its output, hangs, exits non-zero or reads files fails the
inputs it does so on, in its own sandboxed process: the task is skipped or the mutant unconfirmed,
nothing else is affected."""

from __future__ import annotations

import ast
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from codeself import judges
from codeself.audit.domain import (
    DEFAULT_FRESH_INPUTS,
    Call,
    fresh_inputs,
    fresh_stdin_inputs,
    infer_domain,
    observed_calls,
    observed_stdin_inputs,
)
from codeself.audit.equality import close_eq
from codeself.audit.mutants import Mutant, sample_mutants
from codeself.sandbox.values import listify
from codeself.tasks import Task, test_kind

DEFAULT_MUTANTS = 24
MIN_INPUTS = 3


def _outcome_text(o: Any, limit: int = 300) -> str:
    """A short human-readable rendering of one CallOutcome."""
    if not o.ok:
        et = o.error_type or "error"
        text = f"raises {et}: {o.error_message}" if o.error_message else f"raises {et}"
    else:
        try:
            text = repr(o.decoded())
        except Exception:
            text = repr(o.value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _call_eq(a: Any, b: Any) -> bool:
    return close_eq(listify(a), listify(b))


def task_kind(task: Task) -> str:
    """``stdin`` (every test is a stdin test), ``call`` (some test is a call test) or ``assert``."""
    if task.is_stdio:
        return "stdin"
    return "call" if any(test_kind(t) == "call" for t in [*task.public_tests, *task.hidden_tests]) else "assert"


def outcome_eq(task: Task) -> Callable[[Any, Any], bool]:
    """When two decoded outputs of programs for ``task`` are the same (reference first): the task's
    judge on stdout texts for stdin tasks, ``close_eq`` otherwise (after ``listify`` for call tests)."""
    kind = task_kind(task)
    if kind == "stdin":
        judge = judges.get(judges.stdin_judge_name(task.judge))
        return lambda ref, out: type(ref) is str and type(out) is str and bool(judge(out, ref))
    return _call_eq if kind == "call" else close_eq


def _same_outcome(a: Any, b: Any, eq: Callable[[Any, Any], bool] = close_eq) -> bool:
    if not (a.ok and b.ok):
        return False
    if a.value == b.value:
        return True
    try:
        return eq(a.decoded(), b.decoded())
    except Exception:
        return False


def _evidence(o: Any) -> bool:
    """Whether an outcome says something about the program (a value or a raised exception), as
    opposed to a timeout, a crash or a harness fault, which can come from machine load."""
    return o.ok or o.error_type not in ("Timeout", "Crashed", "InfraError")


#: Per-job time limits for mutants are the smallest of these ≥ 8× the reference's time + 0.5 s.
_LIMIT_STEPS = (1.0, 2.0, 4.0, 10.0, 30.0)


def _budgeted(indices: list[int], costs: list[float], budget_s: float, rng: random.Random) -> list[int]:
    """The inputs mutants are run on: all of them when the reference's median time per input
    times their number fits ``budget_s`` (every cheap task: the choice does not depend on timing);
    otherwise a seeded random subset whose size is a power of two (at least ``MIN_INPUTS``) chosen
    from that median, so measured time moves the choice only across factor-of-two boundaries."""
    if not indices:
        return []
    median = sorted(costs)[len(costs) // 2]
    if median * len(indices) <= budget_s:
        return list(indices)
    fits = int(budget_s / median) if median > 0 else len(indices)
    k = max(MIN_INPUTS, 1 << max(0, fits.bit_length() - 1))
    if k >= len(indices):
        return list(indices)
    return sorted(rng.sample(indices, k))


def _limit(reference_s: float, cap: float) -> float:
    need = 8 * reference_s + 0.5
    return min(cap, next((x for x in _LIMIT_STEPS if x >= need), cap))


def _bucketed(items: list, limit_of: Callable[[Any], float], run: Callable[[list, float], list]) -> list:
    """``run`` once per distinct time limit (one sandbox batch each), results in ``items`` order."""
    groups: dict[float, list[int]] = {}
    for k, it in enumerate(items):
        groups.setdefault(limit_of(it), []).append(k)
    out: list[Any] = [None] * len(items)
    for limit in sorted(groups):
        idx = groups[limit]
        for k, res in zip(idx, run([items[k] for k in idx], limit), strict=True):
            out[k] = res
    return out


@dataclass
class _Plan:
    task: Task
    record: dict[str, Any]
    kind: str = "assert"
    reference: str = ""
    mutants: list[Mutant] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)  # Call objects, or input texts for stdin tasks
    n_observed: int = 0
    callee: str = ""  # what the expressions call: the entry point, or Solution().<entry point>
    confirmed: list[tuple[int, int]] = field(default_factory=list)  # (mutant index, input index)
    ref_outcomes: list[Any] = field(default_factory=list)
    calls: list[Any] = field(default_factory=list)
    valid: list[int] = field(default_factory=list)
    mut_outcomes: list[list[Any]] = field(default_factory=list)
    eq: Callable[[Any, Any], bool] = close_eq

    def probe(self, i: int) -> str:
        """What the sandbox gets for input ``i``: an expression, or the stdin text."""
        x = self.inputs[i]
        return x if self.kind == "stdin" else x.expr(self.callee)

    def shown(self, i: int, limit: int = 500) -> str:
        """Input ``i`` as the record shows it (stdin texts cut to ``limit`` characters)."""
        text = self.probe(i)
        return text if len(text) <= limit else text[: limit - 3] + "..."


def _defines_solution(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(isinstance(n, ast.ClassDef) and n.name == "Solution" for n in tree.body)


def _evaluate(items: list[tuple[_Plan, str, list[int]]], *, progress: bool, **kw: Any) -> list[list[Any]]:
    """Each program on its plan's inputs ``idx``, in the sandbox: expressions through
    ``evaluate_calls`` (one job per program), stdin texts through ``evaluate_stdin`` (one job per
    program, each run bounded by the task's own time limit)."""
    from codeself import sandbox

    out: list[Any] = [None] * len(items)
    calls = [k for k, (p, _, _) in enumerate(items) if p.kind != "stdin"]
    if calls:
        res = sandbox.evaluate_calls([(items[k][1], items[k][0].task.setup_code,
                                       [items[k][0].probe(i) for i in items[k][2]]) for k in calls],
                                     progress=progress, **kw)
        for k, r in zip(calls, res, strict=True):
            out[k] = r
    by_limit: dict[float | None, list[int]] = {}
    for k, (p, _, _) in enumerate(items):
        if p.kind == "stdin":
            by_limit.setdefault(p.task.time_limit_s, []).append(k)
    for limit, ks in by_limit.items():
        res = sandbox.evaluate_stdin([(items[k][1], [items[k][0].probe(i) for i in items[k][2]]) for k in ks],
                                     time_limit_s=limit, progress=progress, **kw)
        for k, r in zip(ks, res, strict=True):
            out[k] = r
    return out


_RECORDER = """

def __codeself_record(__tests):
    __g = globals()
    __orig = __g[{name!r}]
    __seen = []

    def __wrapper(*args, **kwargs):
        if len(__seen) < {cap}:
            __seen.append(repr((args, tuple(sorted(kwargs.items())))))
        return __orig(*args, **kwargs)

    __g[{name!r}] = __wrapper
    try:
        for __t in __tests:
            try:
                exec(__t, __g)
            except Exception:
                pass
    finally:
        __g[{name!r}] = __orig
    return __seen
"""


def _recorder(entry_point: str, cap: int = 200) -> str:
    return _RECORDER.format(name=entry_point, cap=cap)


def _recorded_calls(reprs: Any) -> list[Call]:
    """Distinct calls from the recorder's reprs; anything that is not a plain literal is dropped."""
    out: list[Call] = []
    seen: set[str] = set()
    for text in reprs if isinstance(reprs, list) else []:
        if not isinstance(text, str) or text in seen or len(text) > 20_000:
            continue
        seen.add(text)
        try:
            args, kwargs = ast.literal_eval(text)
            call = Call(tuple(args), tuple((str(k), v) for k, v in kwargs))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        out.append(call)
    return out


def _base_record(task: Task, seed: int, budget: int) -> dict[str, Any]:
    return {
        "task_id": task.task_id, "status": "audited", "reason": None, "seed": seed, "mutant_budget": budget,
        "mutation_sites": 0, "mutants_made": 0, "confirmed_wrong": 0, "unconfirmed": 0, "timed_out": 0,
        "accepted_by_public": 0, "accepted_by_all": 0, "weak": None, "public_weak": None,
        "public_tests": len(task.public_tests), "hidden_tests": len(task.hidden_tests),
        "test_kind": task_kind(task), "reference": "canonical_solution" if task.canonical_solution else None,
        "inputs": {"observed": 0, "recorded": False, "fresh": 0, "valid": 0, "used": 0}, "infra_errors": 0,
        "operators": {}, "example": None, "survivors": [],
    }


def _skip(plan: _Plan, reason: str) -> None:
    plan.record.update(status="skipped", reason=reason, weak=None, public_weak=None)


def audit_tasks(
    tasks: Sequence[Task],
    mutants: int = DEFAULT_MUTANTS,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    *,
    fresh: int = DEFAULT_FRESH_INPUTS,
    timeout: float | None = None,
    call_budget_s: float = 0.25,
    stats: dict[str, Any] | None = None,
    references: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Audit the test strength of ``tasks``; one record per task, in input order.

    ``mutants`` is the per-task budget N (≥ 1), ``fresh`` the number of fresh inputs per task,
    ``workers`` the sandbox pool size, ``timeout`` the per-job sandbox limit in seconds (the
    sandbox default when None). Record fields: task_id, status ("audited" | "skipped"), reason,
    mutants_made, confirmed_wrong, unconfirmed (no value or exception differs on any valid input:
    possibly equivalent; ``timed_out`` of them hit a time limit or crashed on some input, which is
    not counted as evidence because machine load can cause it), accepted_by_public, accepted_by_all, weak, public_weak, example{mutant_code,
    operator, description, exposing_input, reference_output, mutant_output}, survivors (every
    mutant accepted by all tests: operator, description, exposing_input), inputs{observed, fresh,
    valid}, operators{name: {made, confirmed, accepted_by_all}}, infra_errors, seed.

    Mutants run on every input the reference answers unless the reference's time on them exceeds
    ``call_budget_s`` per job; then on a seeded subset sized from that time (see ``_budgeted``),
    so a task with an expensive reference costs a bounded time per mutant. Pass a dict as ``stats`` to receive wall seconds per stage and sandbox job counts.

    ``references`` (``{task_id: code}``, e.g. from :func:`codeself.audit.references.pick_references`)
    gives a reference to tasks without a ``canonical_solution`` (the record's ``reference`` says which
    one was used); a task's own ``canonical_solution`` always wins.
    """
    import time

    clock = time.perf_counter()
    timings: dict[str, Any] = {} if stats is None else stats

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[f"{name}_s"] = round(now - clock, 3)
        clock = now

    if isinstance(mutants, bool) or not isinstance(mutants, int) or mutants < 1:
        raise ValueError(f"mutants must be a positive integer, got {mutants!r}")
    if isinstance(fresh, bool) or not isinstance(fresh, int) or fresh < 0:
        raise ValueError(f"fresh must be a non-negative integer, got {fresh!r}")
    from codeself import sandbox

    sandbox_kw: dict[str, Any] = {"workers": workers}
    if timeout is not None:
        sandbox_kw["timeout"] = timeout
    cap = timeout if timeout is not None else sandbox.SandboxConfig().timeout_s

    plans: list[_Plan] = []
    for task in tasks:
        plan = _Plan(task=task, record=_base_record(task, seed, mutants), kind=task_kind(task), eq=outcome_eq(task))
        plans.append(plan)
        reference = task.canonical_solution
        if (not reference or not reference.strip()) and references and (references.get(task.task_id) or "").strip():
            reference = references[task.task_id]
            plan.record["reference"] = "references"
        if not reference or not reference.strip():
            _skip(plan, "no canonical_solution (nothing to mutate)" if not references else
                  "no canonical_solution and no passing program in the references")
            continue
        if plan.kind == "stdin" and task.checker:
            _skip(plan, "the task has a checker (many valid outputs): an output that differs from the "
                        "reference's is no evidence of a wrong mutant")
            continue
        try:
            selected, n_sites = sample_mutants(reference, mutants, seed=seed, key=task.task_id)
        except SyntaxError as e:
            _skip(plan, f"the reference does not parse: {e.msg} (line {e.lineno})")
            continue
        if not selected:
            _skip(plan, "the reference has no mutation site")
            continue
        plan.reference = reference
        plan.mutants = selected
        plan.record.update(mutation_sites=n_sites, mutants_made=len(plan.mutants))
        if plan.kind == "stdin":
            plan.calls = observed_stdin_inputs(task)
        else:
            plan.calls = observed_calls(task)
            solution = plan.kind == "call" and _defines_solution(reference)
            plan.callee = f"Solution().{task.entry_point}" if solution else task.entry_point

    # tests that build their arguments at run time (loops, random data): record the calls the
    # reference receives while its own tests run, in the sandbox (values come back as reprs and are
    # parsed with ast.literal_eval only)
    need = [p for p in plans if p.record["status"] == "audited" and not p.calls and p.kind == "assert"]
    if need:
        jobs = [(p.reference + _recorder(p.task.entry_point), p.task.setup_code,
                 [f"__codeself_record({[*p.task.public_tests, *p.task.hidden_tests]!r})"]) for p in need]
        for p, (o,) in zip(need, sandbox.evaluate_calls(jobs, progress=False, **sandbox_kw), strict=True):
            p.calls = _recorded_calls(o.decoded() if o.ok else None)
            p.record["inputs"]["recorded"] = bool(p.calls)
    for p in plans:
        if p.record["status"] != "audited":
            continue
        if not p.calls:
            _skip(p, "no stdin test input" if p.kind == "stdin" else
                  "no call of the entry point with literal arguments in the tests, and none "
                  "recorded while they ran: cannot infer an input domain")
            continue
        if p.kind == "stdin":
            new = fresh_stdin_inputs(p.calls, fresh, seed=seed, key=p.task.task_id)
        else:
            new = fresh_inputs(infer_domain(p.calls), fresh, seed=seed, key=p.task.task_id)
        p.inputs = p.calls + new
        p.n_observed = len(p.calls)
        p.record["inputs"].update(observed=len(p.calls), fresh=len(new))

    lap("prepare")
    # 1. the reference must pass its own tests, or there is nothing to measure against
    active = [p for p in plans if p.record["status"] == "audited"]
    test_limit: dict[int, float] = {}
    if active:
        ref_results = sandbox.run_many([(p.task, p.reference, "reference") for p in active],
                                       tests="all", progress=progress, **sandbox_kw)
        for p, r in zip(active, ref_results, strict=True):
            if r.status == "infra_error":
                _skip(p, f"sandbox infra_error on the reference: {r.error}")
            elif not r.passed:
                _skip(p, f"the reference fails its own tests (status {r.status}: {r.error})")
            test_limit[id(p)] = _limit(r.duration_s, cap)

    lap("reference_tests")
    timings["jobs_reference_tests"] = len(active)
    # 2. the reference on every input (one job per task), then again on the inputs it will use
    #    (the cheapest ones it answered, within the per-job budget) to drop nondeterministic ones
    active = [p for p in plans if p.record["status"] == "audited"]
    ref_jobs = [(p, p.reference, list(range(len(p.inputs)))) for p in active]
    ref_out = _evaluate(ref_jobs, progress=progress, **sandbox_kw) if ref_jobs else []
    for p, ref_a in zip(active, ref_out, strict=True):
        p.ref_outcomes = ref_a
        answered = [i for i, o in enumerate(ref_a) if o.ok]
        p.record["inputs"]["valid"] = len(answered)
        p.valid = _budgeted(answered, [ref_a[i].duration_s for i in answered], call_budget_s,
                            random.Random(f"codeself-audit-budget:{seed}:{p.task.task_id}"))
    again = [p for p in active if p.valid]
    ref_out_b = _evaluate([(p, p.reference, p.valid) for p in again], progress=progress,
                          **sandbox_kw) if again else []
    call_limit: dict[int, float] = {}
    for p, ref_b in zip(again, ref_out_b, strict=True):
        p.valid = [i for i, o in zip(p.valid, ref_b, strict=True) if _same_outcome(p.ref_outcomes[i], o, p.eq)]
        spent = max(sum(p.ref_outcomes[i].duration_s for i in p.valid), sum(o.duration_s for o in ref_b))
        call_limit[id(p)] = _limit(spent, cap)
    for p in active:
        p.record["inputs"]["used"] = len(p.valid)
        if not p.valid:
            _skip(p, "the reference raised, timed out or was nondeterministic on every input")

    lap("reference_calls")
    timings["jobs_reference_calls"] = len(ref_jobs) + len(again)
    # 3. every mutant on the same inputs, one job each; a mutant is confirmed wrong by its first
    #    valid input with a different value or exception (timeouts and crashes are no evidence)
    active = [p for p in plans if p.record["status"] == "audited"]
    mut_items = [(p, j) for p in active for j in range(len(p.mutants))]
    mut_out = _bucketed(
        mut_items, lambda it: call_limit[id(it[0])],
        lambda items, limit: _evaluate([(p, p.mutants[j].code, p.valid) for p, j in items],
                                       progress=progress, workers=workers, timeout=limit))
    for (p, _j), outs in zip(mut_items, mut_out, strict=True):
        full: list[Any] = [None] * len(p.inputs)
        for i, o in zip(p.valid, outs, strict=True):
            full[i] = o
        p.mut_outcomes.append(full)
    for p in active:
        for j, outs in enumerate(p.mut_outcomes):
            exposing = next((i for i in p.valid if _evidence(outs[i])
                             and not _same_outcome(p.ref_outcomes[i], outs[i], p.eq)), None)
            if exposing is not None:
                p.confirmed.append((j, exposing))
            elif any(not _evidence(outs[i]) for i in p.valid):
                p.record["timed_out"] += 1

    lap("mutant_calls")
    timings["jobs_mutant_calls"] = len(mut_items)
    # 4. the task's own tests against every confirmed-wrong mutant, batched
    items = [(p, j) for p in active for j, _ in p.confirmed]
    results = _bucketed(
        items, lambda it: test_limit[id(it[0])],
        lambda chunk, limit: sandbox.run_many(
            [(p.task, p.mutants[j].code, f"mutant-{j}") for p, j in chunk],
            tests="all", progress=progress, workers=workers, timeout=limit))
    lap("mutant_tests")
    timings["jobs_mutant_tests"] = len(items)
    pos = 0
    for p in active:
        rec = p.record
        ops: dict[str, dict[str, int]] = {}
        for m in p.mutants:
            ops.setdefault(m.operator, {"made": 0, "confirmed": 0, "accepted_by_all": 0})["made"] += 1
        survivors_all: list[tuple[int, int]] = []
        survivors_public: list[tuple[int, int]] = []
        infra = 0
        for j, i in p.confirmed:
            r = results[pos]
            pos += 1
            if r.status == "infra_error":
                infra += 1
                continue
            ops[p.mutants[j].operator]["confirmed"] += 1
            public_ok = r.public_total == len(p.task.public_tests) and r.public_passed == r.public_total
            if public_ok:
                survivors_public.append((j, i))
            if r.passed:
                survivors_all.append((j, i))
                ops[p.mutants[j].operator]["accepted_by_all"] += 1
        rec.update(
            confirmed_wrong=len(p.confirmed) - infra,
            unconfirmed=len(p.mutants) - len(p.confirmed),
            accepted_by_public=len(survivors_public),
            accepted_by_all=len(survivors_all),
            weak=bool(survivors_all),
            public_weak=bool(survivors_public),
            infra_errors=infra,
            operators=dict(sorted(ops.items())),
            survivors=[{"operator": p.mutants[j].operator, "description": p.mutants[j].description,
                        "exposing_input": p.shown(i)} for j, i in survivors_all],
        )
        if infra:
            rec["reason"] = f"{infra} confirmed-wrong mutant(s) not graded: sandbox infra_error"
        shown = survivors_all or survivors_public
        if shown:
            j, i = shown[0]
            rec["example"] = {
                "mutant_code": p.mutants[j].code,
                "operator": p.mutants[j].operator,
                "description": p.mutants[j].description,
                "accepted_by": "all" if survivors_all else "public",
                "exposing_input": p.shown(i),
                "input_is_fresh": i >= p.n_observed,
                "reference_output": _outcome_text(p.ref_outcomes[i]),
                "mutant_output": _outcome_text(p.mut_outcomes[j][i]),
            }
    return [p.record for p in plans]
