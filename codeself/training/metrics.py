"""Per-step training metrics: the sandbox reward wrapper that measures itself, the writer and the
reader (:func:`read_metrics`, tolerant of a run still writing).

``D/metrics.jsonl`` holds one JSON object per optimiser step (``step`` 1, 2, …). Fields:

=============================== ==============================================================
``step``, ``algo``              optimiser step (1-based) and trainer
``time_s``                      wall seconds of the whole step (generation + reward + update)
``elapsed_s``                   wall seconds since the run (or the resumed run) started
``reward_mean``, ``reward_std`` mean and std of the rewards of the step's completions
``pass_rate``                   share of completions that passed every test
``frac_reward_zero_std``        share of groups (same prompt) whose rewards have zero spread
``informative_share``           share of groups with mixed outcomes (1 − the above): only these
                                groups carry a learning signal for group-relative advantages
``adv_abs_mean``, ``adv_std``   mean |advantage| and std of advantages (reward − group mean)
``group_mean_min/max``          smallest / largest group-mean reward
``kl``                          KL to the reference policy (TRL; only when beta > 0) or, for
                                PPO, the approx-KL between the rollout and updated policy
``entropy``                     mean per-token entropy of the policy on the completions
``clip_ratio``                  share of tokens whose ratio was clipped (TRL region mean / PPO)
``completion_length``           mean completion length in tokens
``status_<name>``               share of completions per Result status (``passed``, ``failed``,
                                ``syntax_error`` — which includes completions without a program,
                                see ``codeself.attempts`` —, …): the per-phase failure rates
``reward_s``                    wall seconds of the whole reward computation in the step (parsing
                                completions + running them in the sandbox + scoring)
``sandbox_s``                   of which inside ``codeself.sandbox.run_many``
``reward_share``                ``reward_s / time_s``: the reward computation's share of the step
``sandbox_share``               ``sandbox_s / time_s``: the sandbox's share of the step
``n_executed``, ``n_cached``    completions run in the sandbox / answered from the cache of
                                identical ``(task, completion)`` pairs
``reward_pass_rate``            share of completions passing every *reward* test (``--reward-tests``;
                                with ``all`` the same as ``pass_rate``)
``monitor_pass_rate``           share passing every *monitor* test (the tests that do not pay;
                                only when ``--reward-tests`` is ``public`` or ``hidden``)
``hack_rate``                   share passing every reward test but failing a monitor test (idem);
                                per task in ``D/hack_rate_by_task.jsonl`` (one line per step:
                                ``{"step", "tasks": {task_id: {"n", "hacks", "hack_rate"}}}``)
``weak_prompt_share``           share of the step's prompts that ``--audit FILE`` flags weak
``groups_skipped``              PPO with ``--skip-uniform-groups``: groups left out of the update
                                because their rewards were all equal
``loss``, ``learning_rate``, ``grad_norm``  from the trainer
``value_loss``, ``explained_variance``, ``approx_kl``, ``clip_frac``, ``value_mean``  (PPO only)
``heldout_greedy_pass_at_1``,   on evaluation steps only: pass@1 on the held-out (test) split,
``heldout_sampled_pass_at_1``   greedy and sampled (``eval_samples`` per task); ``heldout_n``
                                tasks, ``eval_s`` seconds (not counted in ``time_s``)
=============================== ==============================================================
"""

from __future__ import annotations

import math
import os
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from codeself.io import DataError, Problem, read_jsonl
from codeself.tasks import Task

if TYPE_CHECKING:
    import polars as pl


class SandboxReward:
    """A TRL reward function (``fn(prompts, completions, task_id, **kw) -> list[float]``) that
    delegates to :func:`codeself.rewards.make_trl_reward` and records, per call, the rewards,
    groups, statuses and the wall time spent — so trainers can report the reward computation's
    share of each step. ``take()`` returns and clears what was recorded since the last call.

    Identical completions of the same task are executed once: programs here are pure functions of
    their code (the sandbox gives every run a fresh process and the tests are fixed), so a repeated
    ``(task_id, completion)`` gets the cached reward and status; the completion is keyed by
    :func:`codeself.parsing.completion_text`, the very text that is parsed for code.
    ``infra_error`` (reward ``None``) is never cached. ``n_executed`` / ``n_cached`` per step say how much this saved.
    """

    __name__ = "sandbox_reward"

    def __init__(self, tasks: dict[str, Task], *, workers: int | None = None, cache_size: int = 200_000,
                 reward: str = "partial", reward_tests: str = "all", weak: set[str] | None = None):
        from codeself.rewards import make_trl_reward

        self.inner = make_trl_reward(tasks, workers=workers, reward=reward, reward_tests=reward_tests)
        self.monitored = reward_tests != "all"
        self.weak = weak
        self.by_task: dict[str, Any] = {}  # the last step's per-task hack counts (set by take())
        # (reward, status, passed every reward test, passed every monitor test or None)
        self.cache: OrderedDict[tuple[str, str], tuple[float, str, bool, bool | None]] = OrderedDict()
        self.cache_size = cache_size
        self._reset()

    def _reset(self) -> None:
        self.rewards: list[float] = []
        self.task_ids: list[str] = []
        self.seconds = 0.0
        self.sandbox_seconds = 0.0
        self.statuses: dict[str, int] = {}
        self.n_executed = 0
        self.n_cached = 0
        self.reward_passed: list[bool] = []
        self.monitor_passed: list[bool | None] = []

    def __call__(self, prompts, completions, **columns) -> list[float | None]:
        from codeself.parsing import completion_text

        t0 = time.perf_counter()
        task_ids = list(columns.get("task_id") or [])
        if len(task_ids) != len(completions):
            raise ValueError("codeself reward needs a 'task_id' column in the training dataset")
        texts = [completion_text(c) for c in completions]
        keys = [(tid, txt) for tid, txt in zip(task_ids, texts, strict=True)]
        todo: dict[tuple[str, str], int] = {}
        for i, k in enumerate(keys):
            if k not in self.cache and k not in todo:
                todo[k] = i
        fresh: dict[tuple[str, str], tuple[float | None, str, bool, bool | None]] = {}
        if todo:
            idx = list(todo.values())
            sub_prompts = [prompts[i] for i in idx] if prompts is not None else None
            extra = {k: [v[i] for i in idx] for k, v in columns.items()
                     if isinstance(v, list) and len(v) == len(completions)}
            vals = self.inner(sub_prompts, [completions[i] for i in idx], **extra)
            bds = getattr(self.inner, "last_breakdowns", None) or [None] * len(vals)
            stats = getattr(self.inner, "last_stats", None) or {}
            self.sandbox_seconds += float(stats.get("sandbox_s") or 0.0)
            for k, v, bd in zip(todo, vals, bds, strict=True):
                comps = bd.components if bd is not None else {}
                status = comps.get("status") or "unknown"
                rp = bool(comps["reward_passed"]) if "reward_passed" in comps else status == "passed"
                entry = (v, status, rp, comps.get("monitor_passed"))
                fresh[k] = entry
                if v is not None:
                    self.cache[k] = entry
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
        out: list[float | None] = []
        for k in keys:
            v, status, rp, mp = fresh[k] if k in fresh else self.cache[k]
            out.append(v)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if v is not None:  # infra_error: excluded from every rate, as from the reward
                self.reward_passed.append(rp)
                self.monitor_passed.append(mp)
            else:
                self.reward_passed.append(None)
                self.monitor_passed.append(None)
        self.n_executed += len(todo)
        self.n_cached += len(keys) - len(todo)
        self.seconds += time.perf_counter() - t0
        self.rewards.extend(float("nan") if r is None else float(r) for r in out)
        self.task_ids.extend(task_ids)
        return out

    def take(self) -> dict[str, Any]:
        m = group_metrics(self.rewards, self.task_ids)
        n = max(1, len(self.rewards))
        m["reward_s"] = round(self.seconds, 4)
        m["sandbox_s"] = round(self.sandbox_seconds, 4)
        m["n_executed"] = self.n_executed
        m["n_cached"] = self.n_cached
        for k, v in sorted(self.statuses.items()):
            m[f"status_{k}"] = v / n
        mon, by_task = monitor_metrics(self.task_ids, self.reward_passed, self.monitor_passed,
                                       monitored=self.monitored, weak=self.weak)
        m.update(mon)
        self.by_task = by_task
        self._reset()
        return m


def monitor_metrics(task_ids: list[str], reward_passed: list[bool | None], monitor_passed: list[bool | None], *,
                    monitored: bool, weak: set[str] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The hacking monitor's numbers for one step's completions (``None`` entries — infra errors —
    are left out of every rate).

    ``reward_pass_rate`` = share passing every reward test; with ``monitored`` (reward tests are
    ``public`` or ``hidden``): ``monitor_pass_rate`` = share passing every monitor test and
    ``hack_rate`` = share passing every reward test but failing a monitor test. ``weak`` (the task
    ids an audit flags): ``weak_prompt_share`` = share of the step's distinct prompts (tasks) that
    are weak. Returns ``(metrics, by_task)``; ``by_task`` maps task id → ``{"n", "hacks",
    "hack_rate"}`` (empty without a monitor)."""
    rows = [(t, rp, mp) for t, rp, mp in zip(task_ids, reward_passed, monitor_passed, strict=True) if rp is not None]
    m: dict[str, Any] = {}
    n = len(rows)
    m["reward_pass_rate"] = sum(1 for _, rp, _ in rows if rp) / n if n else None
    by_task: dict[str, Any] = {}
    if monitored:
        mon = [mp for _, _, mp in rows if mp is not None]
        m["monitor_pass_rate"] = sum(1 for mp in mon if mp) / len(mon) if mon else None
        hacks = [bool(rp and mp is False) for _, rp, mp in rows]
        m["hack_rate"] = sum(hacks) / n if n else None
        for (t, _, _), h in zip(rows, hacks, strict=True):
            d = by_task.setdefault(t, {"n": 0, "hacks": 0})
            d["n"] += 1
            d["hacks"] += int(h)
        for d in by_task.values():
            d["hack_rate"] = d["hacks"] / d["n"]
    if weak is not None:
        prompts = list(dict.fromkeys(task_ids))
        m["weak_prompt_share"] = sum(1 for t in prompts if t in weak) / len(prompts) if prompts else None
    return m, by_task


def group_metrics(rewards: list[float], groups: list[str]) -> dict[str, Any]:
    """Reward, group-spread and advantage statistics of one step's completions."""
    by: OrderedDict[str, list[float]] = OrderedDict()
    for r, g in zip(rewards, groups, strict=True):
        if not math.isnan(r):
            by.setdefault(g, []).append(r)
    vals = [r for rs in by.values() for r in rs]
    if not vals:
        return {"reward_mean": None, "reward_std": None, "n_completions": len(rewards)}
    mean = sum(vals) / len(vals)
    std = math.sqrt(sum((r - mean) ** 2 for r in vals) / len(vals))
    zero = [max(rs) - min(rs) == 0 for rs in by.values()]
    advs = []
    gmeans = []
    for rs in by.values():
        gm = sum(rs) / len(rs)
        gmeans.append(gm)
        advs.extend(r - gm for r in rs)
    adv_std = math.sqrt(sum(a * a for a in advs) / len(advs))
    return {
        "reward_mean": mean,
        "reward_std": std,
        "pass_rate": sum(1 for r in vals if r >= 1.0) / len(vals),
        "n_completions": len(rewards),
        "n_groups": len(by),
        "frac_reward_zero_std": sum(zero) / len(zero),
        "informative_share": 1 - sum(zero) / len(zero),
        "adv_abs_mean": sum(abs(a) for a in advs) / len(advs),
        "adv_std": adv_std,
        "group_mean_min": min(gmeans),
        "group_mean_max": max(gmeans),
    }


def clean(record: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe: NaN/inf → None, floats rounded to 6 significant digits."""
    out = {}
    for k, v in record.items():
        if isinstance(v, float):
            v = None if not math.isfinite(v) else float(f"{v:.6g}")
        out[k] = v
    return out


#: the metrics a training chart offers (notebook 04), in display order
METRIC_FIELDS = ("reward_mean", "reward_std", "frac_reward_zero_std", "informative_share", "kl",
                 "entropy", "clip_ratio", "completion_length", "sandbox_share",
                 "heldout_greedy_pass_at_1", "heldout_sampled_pass_at_1",
                 "reward_pass_rate", "monitor_pass_rate", "hack_rate", "weak_prompt_share",
                 # the feedback loop (codeself.training.feedback)
                 "turns_mean", "first_hidden_pass_rate", "final_hidden_pass_rate", "fixed_on_revision_1",
                 "broke_share", "unchanged_share", "public_pass_hidden_fail_rate")


def read_metrics(path: str | os.PathLike) -> tuple[pl.DataFrame, list[Problem]]:
    """A run's ``metrics.jsonl`` as a frame (one row per step), tolerant of a run still writing.

    A truncated last line (the writer mid-record) is skipped and reported in the problems; every
    other bad line raises ``DataError``. An empty file gives an empty frame.
    """
    import polars as pl

    records, problems = read_jsonl(path, tolerate_truncated_tail=True, allow_empty=True)
    rows = []
    for line, r in records:
        if "step" not in r:
            raise DataError(Problem(str(path), line, "step", "missing required field"))
        rows.append({k: v for k, v in r.items() if isinstance(v, (int, float, str, bool)) or v is None})
    if not rows:
        return pl.DataFrame(schema={"step": pl.Int64}), problems
    df = pl.DataFrame(rows, infer_schema_length=None)
    num = [c for c, t in df.schema.items() if t.is_numeric() or t == pl.Boolean]
    return df.select(num).with_columns(pl.col("step").cast(pl.Int64)).sort("step"), problems

