"""Rewards: ``reward_v0_correctness``, the other reward variants, the reward/monitor test split and
the TRL reward-function adapter.

``reward_v0_correctness`` — the formula
=======================================

Let ``k`` be the number of tests that passed and ``n`` the number that were graded
(``public_passed + hidden_passed`` over ``public_total + hidden_total``), ``f = k / n``
(``0`` when ``n = 0``). The *correctness* term is, by outcome:

================================  ===================  ============================================
outcome                           correctness          why
================================  ===================  ============================================
``passed`` (every test)           ``1.0``              the only way to reach the top band
``failed`` / ``runtime_error``    ``0.5 * f``          partial credit, always ``< 0.5``
``timeout`` / ``memory`` /        ``0.25 * f``         tests passed before the limit count half:
``crashed``                                            a hang/crash is worse than a wrong answer
``import_error``                  ``0.0``              module-level code raised; no test ran
``syntax_error`` (compiles? no)   ``-0.5``             a program was written but does not parse
parse ``empty`` / ``no_code``     ``-1.0``             no program at all (format failure)
``rejected`` (security scan)      ``-1.0``             refused to run under ``scan_policy=block``
``infra_error``                   ``None`` (excluded)  a harness fault, never the program's: it is
                                                       surfaced and excluded, never scored as 0
================================  ===================  ============================================

So every fully correct program (1.0) outranks every incorrect one (< 0.5), a program that ran
outranks one that did not parse, and a parse failure is distinct from a syntax error.

Diagnostics (``components``): completion length, code length, number of scan findings (and high
severity ones), program runtime. They are reported separately. A *quality* score
``q = -(0.5 * min(1, len(code) / 4000) + 0.5 * min(1, high_scan_findings / 3))`` in ``[-1, 0]`` is
added as ``total = correctness + quality_weight * q`` only when a caller opts in with
``quality_weight`` (default ``0``; at most ``0.1``, which keeps every correct program above every
incorrect one: ``1 - 0.1 > 0.5``).

``make_trl_reward`` turns this into ``fn(prompts, completions, **columns) -> list[float | None]``
for ``trl.GRPOTrainer`` / ``RLOOTrainer``: it parses every completion of a step, runs all of them in
one ``codeself.sandbox.run_many`` batch, and returns the totals. ``infra_error`` gives ``None``
(TRL 1.16 treats a ``None`` reward as unscorable: excluded from the group baseline, advantage 0).

Reward variants (``--reward``, :func:`score`)
=============================================

With ``k`` / ``n`` as above (over the *reward tests*, see below), ``correct`` = status ``passed``:

============  ==========================================================  ===============================
variant       value                                                       correct vs incorrect
============  ==========================================================  ===============================
``partial``   ``reward_v0_correctness`` (the table above; the default)    1.0 > every incorrect (< 0.5)
``binary``    ``1`` if correct else ``0`` (RLEF, DeepCoder)                1 > 0 (incorrect programs tie)
``fraction``  ``k / n`` if correct is ``1``; incorrect: ``min(k, n-1)/n``  1 > every incorrect (≤ (n−1)/n)
              (``0`` with no test run: syntax/import error, rejected,
              parse failure)
``weighted``  ``binary + 0.1 × fraction`` (open-r1)                        1.1 > every incorrect (< 0.1)
============  ==========================================================  ===============================

``infra_error`` is excluded (``None``) under every variant. ``fraction`` caps an incorrect
program's count at ``n − 1`` (a timeout or crash after the last test is still not a pass), so
every variant keeps every fully correct program strictly above every incorrect one.

Reward tests and monitor tests (``--reward-tests all|public|hidden``, :func:`restrict_result`)
==============================================================================================

Training runs *every* test of a completion; ``reward_tests`` chooses which of them pay the reward
(the Result is restricted to those tests — counts and status recomputed from the per-test outcomes
— and scored). The others are **monitor tests**: graded, reported (``monitor_passed``), never paid.
A completion that passes every reward test but fails a monitor test is a *hack* (``hack``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from codeself.sandbox.result import Result
from codeself.tasks import Task

#: Correctness value per non-passing status when the program parsed (see the module docstring).
PARTIAL_SCALE = {"failed": 0.5, "runtime_error": 0.5, "timeout": 0.25, "memory": 0.25, "crashed": 0.25}
FIXED = {"passed": 1.0, "import_error": 0.0, "syntax_error": -0.5, "rejected": -1.0}
PARSE_FAILURE = -1.0
MAX_QUALITY_WEIGHT = 0.1
#: ``--reward``: the reward variants (formulas in the module docstring); ``partial`` is the default.
REWARDS = ("partial", "binary", "fraction", "weighted")
#: ``--reward-tests``: which tests pay the reward (the others are monitor tests).
REWARD_TESTS = ("all", "public", "hidden")
#: statuses under which no test ran: the status holds for any subset of the tests
_NO_TESTS_RAN = ("syntax_error", "import_error", "infra_error", "rejected")


@dataclass
class RewardBreakdown:
    """A reward and its parts. ``total`` is None (and ``excluded`` True) for ``infra_error``."""

    total: float | None
    components: dict[str, Any] = field(default_factory=dict)
    excluded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reward_v0_correctness(
    result: Result | Mapping[str, Any],
    *,
    completion: str | None = None,
    parse_status: str = "ok",
    code: str | None = None,
    quality_weight: float = 0.0,
) -> RewardBreakdown:
    """Score one execution (formula in the module docstring): correctness first, partial credit
    from tests passed, parse failures / syntax errors / timeouts distinct, ``infra_error`` excluded
    (``total=None``), quality/efficiency diagnostics reported in ``components`` and only added
    (bounded, opt-in) through ``quality_weight <= 0.1``.
    """
    if not 0.0 <= quality_weight <= MAX_QUALITY_WEIGHT:
        raise ValueError(f"quality_weight must be in [0, {MAX_QUALITY_WEIGHT}], got {quality_weight}")
    r = result if isinstance(result, Result) else Result.from_dict(dict(result))
    k = r.public_passed + r.hidden_passed
    n = r.public_total + r.hidden_total
    frac = k / n if n else 0.0
    high = sum(1 for s in r.scan if str(s.get("severity", "")).lower() in ("high", "critical"))
    comps: dict[str, Any] = {
        "status": r.status,
        "parse_status": parse_status,
        "tests_passed": k,
        "tests_total": n,
        "frac_passed": frac,
        "public_passed": r.public_passed,
        "public_total": r.public_total,
        "hidden_passed": r.hidden_passed,
        "hidden_total": r.hidden_total,
        "completion_chars": len(completion) if completion is not None else None,
        "code_chars": len(code) if code is not None else None,
        "scan_findings": len(r.scan),
        "scan_high": high,
        "runtime_s": r.exec_duration_s,
    }
    if r.status == "infra_error":
        comps.update(correctness=None, quality=None, quality_weight=quality_weight, reason=r.error or "infra_error")
        return RewardBreakdown(None, comps, True)
    if parse_status in ("empty", "no_code"):
        correctness, rule = PARSE_FAILURE, f"parse:{parse_status}"
    elif parse_status == "syntax_error" or r.status == "syntax_error":
        correctness, rule = FIXED["syntax_error"], "syntax_error"
    elif r.status in FIXED:
        correctness, rule = FIXED[r.status], r.status
    elif r.status in PARTIAL_SCALE:
        correctness, rule = PARTIAL_SCALE[r.status] * frac, f"{r.status}:{PARTIAL_SCALE[r.status]}*frac"
    else:
        raise ValueError(f"unknown Result status {r.status!r}")
    if r.passed and r.status != "passed":  # defensive: the contract says passed <=> status passed
        raise ValueError(f"inconsistent Result: passed=True with status {r.status!r}")
    length = len(code) if code is not None else (len(completion) if completion is not None else 0)
    quality = -(0.5 * min(1.0, length / 4000) + 0.5 * min(1.0, high / 3))
    total = correctness + quality_weight * quality
    comps.update(correctness=correctness, rule=rule, quality=quality, quality_weight=quality_weight)
    return RewardBreakdown(float(total), comps, False)


def restrict_result(result: Result | Mapping[str, Any], kind: str) -> Result:
    """The Result as if only the ``kind`` tests (``"public"`` or ``"hidden"``; ``"all"`` returns it
    unchanged) had been graded: the other kind's counts are 0, and the status is recomputed from the
    kept tests' outcomes — ``passed`` if every kept test passed (and there is at least one), else the
    first of ``timeout``/``memory``/``crashed`` among them, else ``failed`` if one failed on a wrong
    answer, else ``runtime_error`` if one raised, else the original status. Statuses under which no
    test ran (syntax/import error, infra_error, rejected) are kept."""
    r = result if isinstance(result, Result) else Result.from_dict(dict(result))
    if kind == "all":
        return r
    if kind not in ("public", "hidden"):
        raise ValueError(f"reward tests {kind!r}: use one of {REWARD_TESTS}")
    from dataclasses import replace

    kept = [t for t in r.tests if t.kind == kind]
    if kind == "public":
        k, n = r.public_passed, r.public_total
        counts = {"public_passed": k, "public_total": n, "hidden_passed": 0, "hidden_total": 0}
    else:
        k, n = r.hidden_passed, r.hidden_total
        counts = {"public_passed": 0, "public_total": 0, "hidden_passed": k, "hidden_total": n}
    if r.status in _NO_TESTS_RAN:
        status = r.status
    elif n > 0 and k == n:
        status = "passed"
    else:
        bad = [t.status for t in kept if not t.passed]
        status = next((s for s in bad if s in ("timeout", "memory", "crashed")), None)
        if status is None:
            status = "failed" if "failed" in bad else ("runtime_error" if "error" in bad else r.status)
        if status == "passed":  # no kept test at all (n == 0) on a passing run: nothing was paid
            status = "failed"
    return replace(r, tests=kept, passed=status == "passed", status=status, **counts)


def score(
    result: Result | Mapping[str, Any],
    reward: str = "partial",
    *,
    completion: str | None = None,
    parse_status: str = "ok",
    code: str | None = None,
    quality_weight: float = 0.0,
) -> RewardBreakdown:
    """Score one execution with the reward variant ``reward`` (formulas in the module docstring).

    ``partial`` is exactly :func:`reward_v0_correctness`. ``binary`` = 1 if every test passed else 0;
    ``fraction`` = ``k/n`` for a pass, ``min(k, n-1)/n`` otherwise (0 when no test ran or the
    completion did not parse); ``weighted`` = ``binary + 0.1 * fraction``. ``infra_error`` → ``None``
    (excluded) for every variant. ``quality_weight`` is only accepted with ``partial``.
    """
    if reward not in REWARDS:
        raise ValueError(f"reward {reward!r}: use one of {REWARDS}")
    if reward != "partial" and quality_weight:
        raise ValueError("quality_weight applies to the 'partial' reward only")
    bd = reward_v0_correctness(result, completion=completion, parse_status=parse_status, code=code,
                               quality_weight=quality_weight)
    if reward == "partial" or bd.excluded:
        if reward != "partial":
            bd.components["reward_variant"] = reward
        return bd
    c = bd.components
    correct = c["rule"] == "passed"
    k, n = c["tests_passed"], c["tests_total"]
    ran = not (c["rule"].startswith("parse:") or c["rule"] in ("syntax_error", "import_error", "rejected"))
    if correct:
        frac = 1.0
    elif ran and n:
        frac = min(k, n - 1) / n
    else:
        frac = 0.0
    binary = 1.0 if correct else 0.0
    total = {"binary": binary, "fraction": frac, "weighted": binary + 0.1 * frac}[reward]
    c.update(reward_variant=reward, correctness=total, binary=binary, fraction=frac)
    return RewardBreakdown(float(total), c, False)


def make_trl_reward(
    tasks: Mapping[str, Task] | Sequence[Task],
    *,
    workers: int | None = None,
    timeout: float | None = None,
    template: str = "completion",
    tests: str = "all",
    quality_weight: float = 0.0,
    config: Any = None,
    progress: bool = False,
    reward: str = "partial",
    reward_tests: str = "all",
) -> Callable[..., list[float | None]]:
    """A TRL reward function ``fn(prompts, completions, *, task_id, **columns)``.

    Needs a ``task_id`` dataset column (TRL passes every column as a keyword). Each completion is
    parsed and run by :func:`codeself.attempts.run_attempts` (a string prompt is used as the prefix a
    continuation is combined with; conversational prompts fall back to the task's ``template``
    prompt): every parsed program of the step runs in ONE ``codeself.sandbox.run_many`` call
    (``workers``, ``timeout``, ``tests``). Parse failures are scored without running anything.
    Returns ``total`` per completion, ``None`` for ``infra_error``. ``reward`` picks the variant
    (:func:`score`); ``reward_tests`` other than ``"all"`` runs every test but pays only those
    (:func:`restrict_result`): each breakdown's components then carry ``reward_passed`` (every reward
    test passed), ``monitor_passed`` (every monitor test passed; ``None`` without monitor tests) and
    ``hack`` (the first without the second).

    After each call ``fn.last_stats`` holds ``{"n", "sandbox_s", "parse_s", "statuses",
    "parse_statuses", "infra_errors", "reward_mean"}`` (trainers report ``sandbox_s`` as a share of
    step time) and ``fn.last_breakdowns`` the ``RewardBreakdown`` list.
    """
    from codeself.attempts import run_attempts
    from codeself.parsing import completion_text
    from codeself.prompts import build_prompt

    task_map = dict(tasks) if isinstance(tasks, Mapping) else {t.task_id: t for t in tasks}
    if reward not in REWARDS:
        raise ValueError(f"reward {reward!r}: use one of {REWARDS}")
    if reward_tests not in REWARD_TESTS:
        raise ValueError(f"reward tests {reward_tests!r}: use one of {REWARD_TESTS}")
    monitor_kind = {"public": "hidden", "hidden": "public"}.get(reward_tests)
    if monitor_kind is not None:
        tests = "all"  # monitor tests run on every completion

    def reward_fn(prompts: Sequence[Any], completions: Sequence[Any], **columns: Any) -> list[float | None]:
        if "task_id" not in columns:
            raise ValueError("codeself reward needs a 'task_id' column in the training dataset")
        task_ids = list(columns["task_id"])
        if len(task_ids) != len(completions):
            raise ValueError(f"{len(task_ids)} task ids for {len(completions)} completions")
        unknown = sorted({t for t in task_ids if t not in task_map})
        if unknown:
            raise ValueError(f"unknown task id(s) in the reward batch: {unknown[:5]}")
        items = []
        for i, (tid, comp) in enumerate(zip(task_ids, completions, strict=True)):
            task = task_map[tid]
            p = prompts[i] if prompts is not None and i < len(prompts) and isinstance(prompts[i], str) else None
            items.append((task, completion_text(comp), p if p is not None else build_prompt(task, template), i))
        batch = run_attempts(items, tests=tests, workers=workers, timeout=timeout, config=config, progress=progress)
        out: list[float | None] = []
        breakdowns = []
        for at in batch:
            paid = restrict_result(at.result, reward_tests)
            bd = score(paid, reward, completion=at.completion, parse_status=at.parse_status,
                       code=at.code, quality_weight=quality_weight)
            if monitor_kind is not None:
                ok = at.parse_status not in ("empty", "no_code")
                mon = restrict_result(at.result, monitor_kind)
                reward_passed = ok and paid.status == "passed"
                monitor_passed = (ok and mon.status == "passed") if mon.public_total + mon.hidden_total else None
                bd.components.update(status=at.result.status, reward_tests=reward_tests,
                                     reward_passed=reward_passed, monitor_passed=monitor_passed,
                                     hack=bool(reward_passed and monitor_passed is False))
            breakdowns.append(bd)
            out.append(bd.total)
        scored = [v for v in out if v is not None]
        reward_fn.last_stats = {
            "n": len(out),
            "sandbox_s": batch.sandbox_s,
            "parse_s": batch.parse_s,
            "statuses": dict(Counter(b.components["status"] for b in breakdowns)),
            "parse_statuses": dict(Counter(at.parse_status for at in batch)),
            "infra_errors": sum(1 for b in breakdowns if b.excluded),
            "reward_mean": (sum(scored) / len(scored)) if scored else None,
        }
        reward_fn.last_breakdowns = breakdowns
        return out

    reward_fn.__name__ = "reward_v0_correctness" if reward == "partial" else f"reward_{reward}"
    reward_fn.last_stats = {}
    reward_fn.last_breakdowns = []
    return reward_fn

