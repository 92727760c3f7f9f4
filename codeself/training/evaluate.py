"""Held-out evaluation of a causal LM: greedy pass@1 and sampled pass@1.

The evaluation *is* the documented flow run in memory: completions come from
:func:`codeself.generation.hf_generate` (the one HF generation function, behind ``codeself rollouts
generate --backend hf``), records from :func:`codeself.rollouts.rollout_records` (same prompts,
batches, seeds, parse → run step on *all* tests and rewards as ``generate_rollouts``). So::

    codeself rollouts generate --tasks T --backend hf --model M --device cpu --final \\
        --samples-per-task 1 --temperature 0 --seed S --max-new-tokens L --batch-size B
    codeself rollouts generate ... --samples-per-task N --temperature TEMP ...

give the same records (up to timings) as ``evaluate_backend`` on the same tasks (in the same
order), and ``codeself compare`` on them the same numbers. A completion without a program counts as
a failure; a sandbox ``infra_error`` is surfaced (``n_infra_errors``) and counted as not passed only
after being reported — never silently.

Guaranteed: the same model, tasks and seed give the same completions on the same torch build.
"""

from __future__ import annotations

import time
from typing import Any

from codeself.tasks import Task

#: Tasks per generation + sandbox batch (``--batch-size`` of ``codeself rollouts generate``).
EVAL_BATCH_SIZE = 8


def evaluate_backend(
    backend: Any,
    tasks: list[Task],
    *,
    n_samples: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 48,
    workers: int | None = None,
    batch_size: int = EVAL_BATCH_SIZE,
) -> dict[str, Any]:
    """Greedy (1 per task) and sampled (``n_samples`` per task) pass@1 on ``tasks``.

    Returns ``greedy_pass_at_1``, ``sampled_pass_at_1``, ``greedy`` ({task_id: bool}),
    ``sampled`` ({task_id: [0/1, …]}), ``greedy_completions`` ({task_id: str}),
    ``statuses`` (Result status counts), ``n_infra_errors``, ``seconds`` and ``records``
    (``{"greedy": [...], "sampled": [...]}``: ordinary rollout records).
    """
    from codeself.rollouts import rollout_records

    t0 = time.time()
    kw = dict(seed=seed, max_new_tokens=max_new_tokens, workers=workers, batch_size=batch_size)
    greedy = rollout_records(tasks, backend, samples_per_task=1, temperature=0.0, **kw)
    sampled = (rollout_records(tasks, backend, samples_per_task=n_samples, temperature=temperature, **kw)
               if n_samples > 0 else [])
    statuses: dict[str, int] = {}
    for r in greedy + sampled:
        st = r["result"]["status"]
        statuses[st] = statuses.get(st, 0) + 1
    g_map = {r["task_id"]: bool(r["result"]["passed"]) for r in greedy}
    g_comp = {r["task_id"]: r["completion"] for r in greedy}
    s_map: dict[str, list[int]] = {t.task_id: [] for t in tasks}
    for r in sampled:
        s_map[r["task_id"]].append(int(bool(r["result"]["passed"])))
    n = len(tasks)
    n_s = sum(len(x) for x in s_map.values())
    return {
        "n_tasks": n,
        "greedy_pass_at_1": sum(g_map.values()) / n if n else 0.0,
        "sampled_pass_at_1": sum(sum(x) for x in s_map.values()) / n_s if n_s else None,
        "greedy": g_map,
        "sampled": s_map,
        "greedy_completions": g_comp,
        "statuses": statuses,
        "n_infra_errors": statuses.get("infra_error", 0),
        "seconds": round(time.time() - t0, 3),
        "records": {"greedy": greedy, "sampled": sampled},
    }


def evaluate_model(
    model,
    tok,
    tasks: list[Task],
    *,
    n_samples: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 48,
    workers: int | None = None,
    model_id: str = "in-memory",
    model_hash: str = "",
) -> dict[str, Any]:
    """:func:`evaluate_backend` on a model in memory (a trainer's policy): the same generation as an
    ``hf`` backend loaded from a directory (``HFBackend.from_model``)."""
    from codeself.generation import HFBackend

    backend = HFBackend.from_model(model, tok, model_id=model_id, model_hash=model_hash)
    return evaluate_backend(backend, tasks, n_samples=n_samples, temperature=temperature, seed=seed,
                            max_new_tokens=max_new_tokens, workers=workers)
