"""Held-out evaluation of an in-memory causal LM: greedy pass@1 and sampled pass@1.

Completions come from ``model.generate`` (left-padded batches, one torch RNG seeded per call),
parsed and run on *all* tests (public + hidden) by :func:`codeself.attempts.run_attempts`, the
parse → run step rollouts use. A completion without a program counts as a failure; a sandbox
``infra_error`` is surfaced (``n_infra_errors``) and counted as not passed only after being
reported — never silently.

Guaranteed: the same model, tasks and seed give the same completions on the same torch build.
"""

from __future__ import annotations

import time
from typing import Any

from codeself.tasks import Task


def generate(
    model,
    tok,
    prompts: list[str],
    *,
    n: int = 1,
    temperature: float = 0.0,
    max_new_tokens: int = 48,
    seed: int = 0,
    batch_size: int = 512,
) -> list[list[str]]:
    """``n`` completions per prompt (greedy when ``temperature == 0``), decoded without specials."""
    import torch

    was_training = model.training
    model.eval()
    tok.padding_side = "left"
    flat = [p for p in prompts for _ in range(n)]
    texts: list[str] = []
    gen = torch.Generator().manual_seed(seed)
    try:
        with torch.no_grad():
            for i in range(0, len(flat), batch_size):
                chunk = flat[i : i + batch_size]
                enc = tok(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
                kw: dict[str, Any] = dict(
                    max_new_tokens=max_new_tokens,
                    pad_token_id=tok.pad_token_id,
                    eos_token_id=tok.eos_token_id,
                )
                if temperature > 0:
                    # model.generate draws from the global RNG: seed it from our own generator.
                    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                    kw.update(do_sample=True, temperature=temperature, top_k=0, top_p=1.0)
                else:
                    kw.update(do_sample=False)
                out = model.generate(**enc, **kw)
                texts.extend(tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True))
    finally:
        if was_training:
            model.train()
    return [texts[i * n : (i + 1) * n] for i in range(len(prompts))]


def execute(tasks: list[Task], completions: list[list[str]], *, workers: int | None = None) -> list[list[Any]]:
    """Parse and run every completion (:func:`codeself.attempts.run_attempts`, all tests); returns,
    per task, a list of ``(passed, status, code)`` — ``status`` is the Result's, so a completion
    without a program is ``syntax_error`` (parse status in the rollout records)."""
    from codeself.attempts import run_attempts
    from codeself.training.nano import format_prompt

    items = [(task, c, format_prompt(task), f"{task.task_id}#{si}")
             for task, comps in zip(tasks, completions, strict=True) for si, c in enumerate(comps)]
    it = iter(run_attempts(items, workers=workers))
    return [[(bool(at.result.passed), at.result.status, at.code) for at in (next(it) for _ in comps)]
            for comps in completions]


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
) -> dict[str, Any]:
    """Greedy (1 per task) and sampled (``n_samples`` per task) pass@1 on ``tasks``.

    Returns ``greedy_pass_at_1``, ``sampled_pass_at_1``, ``greedy`` ({task_id: bool}),
    ``sampled`` ({task_id: [0/1, …]}), ``greedy_completions`` ({task_id: str}),
    ``statuses`` (counts), ``n_infra_errors`` and ``seconds``.
    """
    from codeself.training.nano import format_prompt

    t0 = time.time()
    prompts = [format_prompt(t) for t in tasks]
    greedy = generate(model, tok, prompts, n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=seed)
    sampled = (
        generate(model, tok, prompts, n=n_samples, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        if n_samples > 0
        else [[] for _ in tasks]
    )
    merged = [g + s for g, s in zip(greedy, sampled, strict=True)]
    verdicts = execute(tasks, merged, workers=workers)
    statuses: dict[str, int] = {}
    g_map: dict[str, bool] = {}
    s_map: dict[str, list[int]] = {}
    g_comp: dict[str, str] = {}
    for task, comps, v in zip(tasks, merged, verdicts, strict=True):
        g_map[task.task_id] = v[0][0]
        g_comp[task.task_id] = comps[0]
        s_map[task.task_id] = [int(x[0]) for x in v[1:]]
        for x in v:
            statuses[x[1]] = statuses.get(x[1], 0) + 1
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
    }
