"""Training with execution feedback in the loop (``codeself train feedback``): multi-turn RL, RLEF-style.

One **episode** per (task, sample) is the self-debug loop of :mod:`codeself.agent`, run by the
policy being trained: up to ``max_turns`` attempts; after each attempt the program runs on the
task's **public** tests only and, if it failed, the feedback message (``agent.build_feedback``)
becomes part of the next prompt (``agent.fit_revision_prompt``). ``revision_prompt="retry"`` is
the control arm: the same number of attempts and the same public-test filtering, but the next prompt
is the first prompt again, without the feedback text. The submission is chosen by ``policy``
(``agent.POLICIES``, public results only) and the episode's **reward comes from the hidden tests
only** (``rewards.restrict_result(final, "hidden")`` scored with ``--reward``): never from a test
the model saw. The loop itself is :func:`codeself.agent.run_agent` — the very code that evaluates
the agent — so training-time episodes and evaluation share prompts, feedback and selection.

Update (one optimiser step per training step)
    Every turn of every episode is a training row: its prompt (first prompt, or revision prompt with
    the feedback) and its completion, as the **sampled token ids** (captured from
    ``generation.hf_generate``, not re-tokenised). Only completion tokens carry loss — prompt and
    feedback tokens are masked.

    - ``grpo``: the episode's advantage is its reward minus the mean of its group (the
      ``group_size`` episodes of one task), divided by the group's std (+1e-4); every turn of the
      episode gets it. Loss: ``−A · log π(token)`` over the episode's completion tokens, divided by
      that episode's token count and by the number of episodes — every episode weighs the same
      however many turns it took (a token-level mean over the batch would give failed, longer
      episodes more weight and, their advantages being negative, a net push *down* on every sampled
      token; measured: with it, a validation run lost 0.067 sampled pass@1). One gradient step per
      batch, so the PPO ratio is 1 and no clipping applies.
    - ``ppo``: CodeSelf's PPO (:mod:`codeself.training.ppo`: value head on detached features, GAE,
      clipped surrogate, clipped value loss) over the turns; a turn's terminal value is the
      episode's reward for the last turn and, for an earlier turn, the critic's value at the start
      of the next turn's completion (the bootstrap: the next turn is the same episode).

Why not TRL: TRL 1.16's multi-turn pieces (``rollout_func``, ``environment_factory`` /
``get_reward``) are marked experimental, generate through vLLM or one ``generate`` per prompt, and
compute the loss over one prompt/completion pair per sample — a revision turn's tokens would have
to be folded into one long completion with the feedback tokens masked by a custom collator. The
loop here is a few hundred lines over the same pieces CodeSelf already tests (the agent loop, the
sandbox reward, ``hf_generate``, the PPO maths), so what is masked and what is paid is visible.

Metrics (``D/metrics.jsonl``, one object per step) — on top of the single-turn fields that apply
(``reward_mean``, ``reward_std``, ``frac_reward_zero_std``, ``informative_share``,
``adv_abs_mean``, ``adv_std``, ``status_<name>`` of the submissions, ``reward_s``, ``sandbox_s``,
``reward_share``, ``sandbox_share``, ``loss``, ``entropy``, ``completion_length``, ``kl``/``clip_ratio``
and the value fields for PPO, ``heldout_*`` on evaluation steps):

================================= ============================================================
``turns_mean``                    attempts per episode (1 … ``max_turns``)
``fixed_on_revision_<k>``         share of episodes whose revision ``k`` (k ≥ 1) was the first
                                  attempt to pass every public test
``broke_share``                   share of revisions that passed fewer public tests than the
                                  attempt before (``agent.revision_outcome`` = ``broke``)
``unchanged_share``               share of revisions that repeated the previous code
``first_public_pass_rate``        first attempts passing every public test
``final_public_pass_rate``        submissions passing every public test
``first_hidden_pass_rate``        first attempts passing every hidden test
``final_hidden_pass_rate``        submissions passing every hidden test (what the reward pays)
``public_pass_hidden_fail_rate``  submissions passing every public test but failing a hidden one
``n_episodes``, ``n_turns``       episodes and training rows (turns) of the step
``programs_sampled``              completions generated in the step (= ``n_turns``)
``generate_s``                    wall seconds generating (all turns)
================================= ============================================================

``reward_s`` (= ``sandbox_s``) is the wall time the loop spent besides generating — parsing, the
public-test runs of every turn, the feedback messages and the final gradings whose result is the
reward — and ``reward_share = reward_s / time_s``. ``D/traces.jsonl`` holds sampled training-time episodes in the
agent's trace schema (``codeself.agent.traces``), with ``train_step`` and a ``sample_id`` unique
per task across steps (``(step − 1) · group_size + sample``): ``trace_episodes`` per step (the first
sample of the first tasks; ``-1``: every episode, ``0``: none).

Guaranteed: hidden tests are never run before an episode's final grading and never enter a prompt
or a feedback message (the agent's guarantee; ``tests/test_feedback_training.py`` scans every
training-time prompt and feedback); the optimiser moves only completion tokens' log-probabilities.
Not guaranteed: bitwise-identical runs after a resume (the sampling RNG is re-seeded per step, the
sandbox's timings are not deterministic).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from codeself.training.config import TrainConfig, TrainInputError


class PolicyBackend:
    """The policy as an agent backend: :func:`codeself.generation.hf_generate` with the sampled
    token ids captured per request (``tokens[(task_id, request_index)] = (prompt_ids, completion_ids)``)."""

    name = "policy"

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 64, model_id: str = "training-policy"):
        self.model, self.tokenizer = model, tokenizer
        self.batch_size = batch_size
        self.model_id = model_id
        self.tokens: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
        self.seconds = 0.0

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model_id": self.model_id, "model_hash": ""}

    def generate(self, requests):
        from codeself.generation import hf_generate

        t0 = time.perf_counter()
        cap: list[Any] = []
        out = hf_generate(self.model, self.tokenizer, requests, batch_size=self.batch_size, capture=cap)
        for r, c in zip(requests, cap, strict=True):
            self.tokens[(r.task_id, r.ids()[0])] = c[0]
        self.seconds += time.perf_counter() - t0
        return out


def agent_config(cfg: TrainConfig, step: int) -> Any:
    """The agent settings of one training step's episodes (seeds differ per step)."""
    from codeself.agent import AgentConfig

    return AgentConfig(max_revisions=cfg.max_turns - 1, samples_per_task=cfg.group_size,
                       seed=cfg.seed * 100_003 + step, policy=cfg.policy, template="completion",
                       revision_prompt=cfg.revision_prompt, temperature=cfg.temperature,
                       max_new_tokens=cfg.max_completion_length, workers=cfg.workers,
                       batch_tasks=cfg.prompts_per_step)


def episode_reward(rec: dict[str, Any], reward: str) -> float | None:
    """The episode's reward: the submission's result restricted to the HIDDEN tests, scored with
    ``reward`` (``None`` for an ``infra_error``: the episode is left out of the update)."""
    from codeself.rewards import restrict_result, score

    turn = rec["turns"][rec["final_turn"]]
    res = restrict_result(rec["final"], "hidden")
    return score(res, reward, completion=turn.get("completion"), parse_status=turn.get("parse_status") or "ok",
                 code=turn.get("code")).total


def _hidden_passed(result: dict[str, Any] | None) -> bool:
    from codeself.rewards import restrict_result

    return bool(result) and result.get("status") != "infra_error" and restrict_result(result, "hidden").passed


def episode_metrics(records: list[dict[str, Any]], max_turns: int) -> dict[str, Any]:
    """The loop's per-step numbers (see the module docstring) from the step's episode records."""
    from codeself.agent.report import revision_outcome

    n = len(records)
    if not n:
        return {"n_episodes": 0}
    m: dict[str, Any] = {"n_episodes": n, "turns_mean": sum(len(r["turns"]) for r in records) / n}
    for k in range(1, max_turns):
        m[f"fixed_on_revision_{k}"] = sum(
            1 for r in records if len(r["turns"]) > k and r["turns"][k].get("public_status") == "passed"
            and all(t.get("public_status") != "passed" for t in r["turns"][:k])) / n
    outs = [revision_outcome(r["turns"][i - 1], r["turns"][i]) for r in records for i in range(1, len(r["turns"]))]
    m["n_revisions"] = len(outs)
    m["broke_share"] = outs.count("broke") / len(outs) if outs else None
    m["unchanged_share"] = outs.count("unchanged") / len(outs) if outs else None
    m["first_public_pass_rate"] = sum(1 for r in records if r["turns"][0].get("public_status") == "passed") / n
    m["final_public_pass_rate"] = sum(
        1 for r in records if r["turns"][r["final_turn"]].get("public_status") == "passed") / n
    m["first_hidden_pass_rate"] = sum(1 for r in records if _hidden_passed(r.get("first") or r["final"])) / n
    m["final_hidden_pass_rate"] = sum(1 for r in records if _hidden_passed(r["final"])) / n
    m["public_pass_hidden_fail_rate"] = sum(
        1 for r in records if r["turns"][r["final_turn"]].get("public_status") == "passed"
        and not _hidden_passed(r["final"])) / n
    return m


def _rows(records: list[dict[str, Any]], backend: PolicyBackend, advantages: list[float | None]):
    """Training rows ``(prompt_ids, completion_ids, advantage, episode, turn, last)`` of the step."""
    rows = []
    for e, (rec, a) in enumerate(zip(records, advantages, strict=True)):
        if a is None:
            continue
        for ti, t in enumerate(rec["turns"]):
            key = (rec["task_id"], t.get("request_index"))
            if t.get("completion") is None or key not in backend.tokens:
                continue  # a generation error: no sampled tokens to train on
            p, c = backend.tokens[key]
            if c:
                rows.append((p, c, a, e, ti, ti == len(rec["turns"]) - 1))
    return rows


def _pad(rows, pad_id: int):
    """Right-padded ids, attention and a target mask over positions 1.. (completion tokens only)."""
    import torch

    L = max(len(p) + len(c) for p, c, *_ in rows)
    ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
    att = torch.zeros((len(rows), L), dtype=torch.long)
    tmask = torch.zeros((len(rows), L - 1), dtype=torch.float32)
    for i, (p, c, *_) in enumerate(rows):
        seq = p + c
        ids[i, : len(seq)] = torch.tensor(seq)
        att[i, : len(seq)] = 1
        tmask[i, len(p) - 1 : len(seq) - 1] = 1.0
    return ids, att, tmask


def _minibatches(rows, max_tokens: int) -> list[list[int]]:
    """Row indices grouped by length (little padding), each group at most ``max_tokens`` padded tokens."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]) + len(rows[i][1]))
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        width = len(rows[i][0]) + len(rows[i][1])
        if cur and width * (len(cur) + 1) > max_tokens:
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def group_advantages(records: list[dict[str, Any]], rewards: list[float | None]) -> list[float | None]:
    """GRPO: reward minus its group's mean (episodes of one task), over the group's std + 1e-4."""
    import math

    by: dict[str, list[float]] = {}
    for r, x in zip(records, rewards, strict=True):
        if x is not None:
            by.setdefault(r["task_id"], []).append(x)
    out: list[float | None] = []
    for r, x in zip(records, rewards, strict=True):
        if x is None:
            out.append(None)
            continue
        g = by[r["task_id"]]
        mu = sum(g) / len(g)
        sd = math.sqrt(sum((y - mu) ** 2 for y in g) / len(g))
        out.append((x - mu) / (sd + 1e-4))
    return out


def check_context(cfg: TrainConfig, tasks, tokenizer: Any, context: int | None, where: str) -> None:
    """Refuse (``TrainInputError``) a model whose context cannot hold the most compact revision
    prompt (or, for ``retry``, the first prompt) of some train task plus ``max_completion_length``."""
    from codeself.agent import build_revision_prompt
    from codeself.prompts import build_prompt

    if not context:
        return
    worst = (0, None)
    for t in tasks:
        first = build_prompt(t, "completion")
        text = first if cfg.revision_prompt == "retry" or cfg.max_turns == 1 else build_revision_prompt(
            t, first, {"code": ""}, f"Your code passed 0 of {len(t.public_tests)} public tests (status: failed).",
            "completion", include_attempt=False)
        n = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        worst = max(worst, (n, t.task_id))
    if worst[0] + cfg.max_completion_length > context:
        raise TrainInputError(
            f"{where}: context of {context} tokens cannot hold task {worst[1]}'s revision prompt "
            f"({worst[0]} tokens even without the previous attempt) plus --max-completion-length "
            f"{cfg.max_completion_length}; use a model with a longer context (codeself-nano: --model nano "
            "builds one with 640 positions)")


def train_feedback(
    cfg: TrainConfig,
    *,
    train_tasks,
    heldout_tasks=None,
    model_path: Path,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Run multi-turn training with feedback in the loop; returns ``D/final``. See the module docstring."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codeself.agent import run_agent
    from codeself.io import JsonlAppender
    from codeself.training.config import latest_checkpoint
    from codeself.training.metrics import clean, group_metrics
    from codeself.training.ppo import (
        _gae,
        _logprobs_entropy,
        _value_head,
        heldout_eval,
        save_checkpoint,
        write_tensorboard,
    )
    from codeself.training.trl_trainers import truncate_metrics

    torch.set_num_threads(cfg.threads)
    out = Path(cfg.output_dir)
    ckpt = latest_checkpoint(out) if resume else None
    torch.manual_seed(cfg.seed)
    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(ckpt if ckpt is not None else model_path, dtype=torch.float32)
    ppo = cfg.algo == "ppo"
    vhead = _value_head(model.config.hidden_size) if ppo else None
    popt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    vopt = torch.optim.AdamW(vhead.parameters(), lr=cfg.value_lr, weight_decay=0.0) if ppo else None
    order = list(range(len(train_tasks)))
    random.Random(cfg.seed).shuffle(order)
    pos, start = 0, 0
    metrics_path = out / "metrics.jsonl"
    traces_path = out / "traces.jsonl"
    if ckpt is not None:
        st = torch.load(ckpt / "feedback_state.pt", weights_only=False)
        popt.load_state_dict(st["policy_opt"])
        if ppo:
            vhead.load_state_dict(st["value_head"])
            vopt.load_state_dict(st["value_opt"])
        pos, start = st["pos"], st["step"]
        torch.set_rng_state(st["torch_rng"])
        truncate_metrics(metrics_path, start)
        _truncate_traces(traces_path, start)
    else:
        metrics_path.unlink(missing_ok=True)
        traces_path.unlink(missing_ok=True)

    tb = None
    if cfg.report_to == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        tb = SummaryWriter(log_dir=str(out / "tensorboard"))
    writer = JsonlAppender(metrics_path)
    tracer = JsonlAppender(traces_path) if cfg.trace_episodes else None
    t_run = time.time()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.max_steps, initial=start, desc=f"feedback-{cfg.algo}", unit="step")

    def save(step: int) -> None:
        save_checkpoint(out, step, model, tok, {"policy_opt": popt.state_dict(),
                                                "value_head": vhead.state_dict() if ppo else None,
                                                "value_opt": vopt.state_dict() if ppo else None, "pos": pos,
                                                "step": step, "torch_rng": torch.get_rng_state()},
                        "feedback_state.pt")

    max_tokens = 16_384  # padded tokens per forward pass
    for step in range(start + 1, cfg.max_steps + 1):
        t0 = time.time()
        batch_tasks = []
        for _ in range(cfg.prompts_per_step):
            if pos >= len(order):
                pos = 0
            batch_tasks.append(train_tasks[order[pos]])
            pos += 1
        # distinct tasks per step (a task drawn twice in one step would merge its groups)
        batch_tasks = list({t.task_id: t for t in batch_tasks}.values())
        backend = PolicyBackend(model, tok, batch_size=cfg.generation_batch_size)
        t_loop = time.time()
        records = run_agent(batch_tasks, backend, agent_config(cfg, step), progress=False)
        gen_s = backend.seconds
        # everything the loop did besides generating: parsing, the public-test runs, the feedback
        # messages and the final gradings (whose result is the reward)
        reward_s = max(0.0, time.time() - t_loop - gen_s)
        rewards = [episode_reward(r, cfg.reward) for r in records]
        rec: dict[str, Any] = {"step": step, "algo": f"feedback-{cfg.algo}", "revision_prompt": cfg.revision_prompt}
        rec.update(group_metrics([float("nan") if x is None else x for x in rewards], [r["task_id"] for r in records]))
        rec.update(episode_metrics(records, cfg.max_turns))
        statuses: dict[str, int] = {}
        for r in records:
            s = r["final"].get("status") or "unknown"
            statuses[s] = statuses.get(s, 0) + 1
        for k, v in sorted(statuses.items()):
            rec[f"status_{k}"] = v / len(records)
        advantages = group_advantages(records, rewards) if not ppo else [0.0 if x is not None else None for x in rewards]
        rows = _rows(records, backend, advantages)
        rec["n_turns"] = sum(len(r["turns"]) for r in records)
        rec["programs_sampled"] = rec["n_turns"]
        rec["completion_length"] = (sum(len(c) for _, c, *_ in rows) / len(rows)) if rows else None
        mbs = _minibatches(rows, max_tokens) if rows else []
        stats: dict[str, list[float]] = {"pg": [], "ent": [], "vf": [], "kl": [], "clip": []}
        model.train()
        if rows and not ppo:
            # every episode weighs the same, however many turns (tokens) it took: an episode's rows
            # share the weight 1 / (its completion tokens · the number of episodes)
            ep_tok: dict[int, int] = {}
            for _, c, _, e, *_ in rows:
                ep_tok[e] = ep_tok.get(e, 0) + len(c)
            n_ep = len(ep_tok)
            popt.zero_grad(set_to_none=True)
            for mb in mbs:
                ids, att, tmask = _pad([rows[i] for i in mb], tok.pad_token_id)
                a = torch.tensor([rows[i][2] for i in mb], dtype=torch.float32)[:, None]
                w = torch.tensor([1.0 / (ep_tok[rows[i][3]] * n_ep) for i in mb], dtype=torch.float32)[:, None]
                logp, ent, _ = _logprobs_entropy(model, ids, att, cfg.temperature)
                ratio = (logp - logp.detach()).exp()  # 1, with the gradient of log π
                loss = (-(a * ratio) * tmask * w).sum()
                loss.backward()
                stats["pg"].append(float(loss.detach()))
                stats["ent"].append(float((ent.detach() * tmask).sum() / tmask.sum().clamp(min=1)))
            gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            popt.step()
            rec["grad_norm"] = float(gn)
        elif rows:
            stats.update(_ppo_update(cfg, model, vhead, popt, vopt, rows, rewards, mbs, tok.pad_token_id,
                                     _logprobs_entropy, _gae, step))
        rec["adv_abs_mean_rows"] = sum(abs(r[2]) for r in rows) / len(rows) if rows and not ppo else None

        def mean(xs):
            return sum(xs) / len(xs) if xs else None

        rec.update({"loss": (sum(stats["pg"]) if not ppo else mean(stats["pg"])) if stats["pg"] else None, "entropy": mean(stats["ent"]), "learning_rate": cfg.lr})
        if ppo:
            rec.update({"value_loss": mean(stats["vf"]), "approx_kl": mean(stats["kl"]), "kl": mean(stats["kl"]),
                        "clip_frac": mean(stats["clip"]), "clip_ratio": mean(stats["clip"])})
        step_s = time.time() - t0
        rec["time_s"] = step_s
        rec["generate_s"] = gen_s
        rec["reward_s"] = reward_s
        rec["sandbox_s"] = reward_s
        rec["reward_share"] = rec["reward_s"] / step_s
        rec["sandbox_share"] = rec["sandbox_s"] / step_s
        rec.update(heldout_eval(cfg, model, tok, heldout_tasks, step))
        rec["elapsed_s"] = time.time() - t_run
        rec = clean(rec)
        writer.write(rec)
        if tracer is not None:
            for r in _sampled_traces(records, cfg, step):
                tracer.write(r)
        write_tensorboard(tb, rec, step)
        if cfg.save_every and step % cfg.save_every == 0:
            save(step)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(reward=f"{rec.get('reward_mean') or 0:.3f}", turns=f"{rec.get('turns_mean') or 0:.2f}")
    writer.close()
    if tracer is not None:
        tracer.close()
    if tb is not None:
        tb.close()
    if bar is not None:
        bar.close()
    final = out / "final"
    model.save_pretrained(final)
    tok.save_pretrained(final)
    (out / "train_done.json").write_text(json.dumps({"steps": cfg.max_steps, "final": str(final)}) + "\n")
    return final


def _ppo_update(cfg, model, vhead, popt, vopt, rows, rewards, mbs, pad_id, logprobs_entropy, gae, step):
    """PPO over the turns of the step (see the module docstring); returns the per-minibatch stats."""
    import torch

    # pass 1: old log-probs and values of every row; the value at each row's first completion token
    old: dict[int, tuple[Any, Any]] = {}
    start_v: dict[tuple[int, int], float] = {}
    with torch.no_grad():
        for mb in mbs:
            ids, att, tmask = _pad([rows[i] for i in mb], pad_id)
            lp, _, v = logprobs_entropy(model, ids, att, cfg.temperature, vhead)
            for j, i in enumerate(mb):
                old[i] = (lp[j], v[j])
                p = len(rows[i][0]) - 1
                start_v[(rows[i][3], rows[i][4])] = float(v[j, p])
    # terminal value per row: the reward for the last turn, the next turn's start value otherwise
    term = []
    for _p, _c, _, e, ti, last in rows:
        nxt = start_v.get((e, ti + 1))
        term.append(float(rewards[e]) if last or nxt is None else nxt)
    # pass 2: GAE per minibatch, whitening over every completion token of the step
    adv_rows: dict[int, Any] = {}
    ret_rows: dict[int, Any] = {}
    for mb in mbs:
        ids, att, tmask = _pad([rows[i] for i in mb], pad_id)
        vals = torch.stack([_fit(old[i][1], tmask.shape[1]) for i in mb])
        r = torch.tensor([term[i] for i in mb])
        adv, ret = gae(r, vals, tmask, cfg.gamma, cfg.gae_lambda)
        for j, i in enumerate(mb):
            adv_rows[i], ret_rows[i] = adv[j], ret[j]
    # each row's completion tokens sit at target positions len(prompt)-1 … len(prompt)+len(completion)-2
    alla = torch.cat([adv_rows[i][len(rows[i][0]) - 1: len(rows[i][0]) + len(rows[i][1]) - 1]
                      for i in range(len(rows))])
    a_mean = alla.mean()
    a_std = alla.std(unbiased=False)
    stats: dict[str, list[float]] = {"pg": [], "ent": [], "vf": [], "kl": [], "clip": []}
    g = random.Random(cfg.seed * 7 + step)
    for _ in range(cfg.ppo_epochs):
        order = list(mbs)
        g.shuffle(order)
        for mb in order:
            ids, att, tmask = _pad([rows[i] for i in mb], pad_id)
            T = tmask.shape[1]
            old_lp = torch.stack([_fit(old[i][0], T) for i in mb])
            old_v = torch.stack([_fit(old[i][1], T) for i in mb])
            adv = (torch.stack([_fit(adv_rows[i], T) for i in mb]) - a_mean) / (a_std + 1e-8) * tmask
            ret = torch.stack([_fit(ret_rows[i], T) for i in mb])
            m = tmask
            nm = m.sum().clamp(min=1)
            logp, ent, v = logprobs_entropy(model, ids, att, cfg.temperature, vhead)
            ratio = (logp - old_lp).exp()
            pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range))
            pg_loss = (pg * m).sum() / nm
            v_clip = old_v + (v - old_v).clamp(-cfg.clip_range, cfg.clip_range)
            vf_loss = (0.5 * torch.max((v - ret) ** 2, (v_clip - ret) ** 2) * m).sum() / nm
            loss = pg_loss + cfg.vf_coef * vf_loss
            popt.zero_grad(set_to_none=True)
            vopt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            torch.nn.utils.clip_grad_norm_(vhead.parameters(), 1.0)
            popt.step()
            vopt.step()
            with torch.no_grad():
                lr_ = logp - old_lp
                stats["kl"].append(float((((lr_.exp() - 1) - lr_) * m).sum() / nm))
                stats["clip"].append(float((((ratio - 1).abs() > cfg.clip_range).float() * m).sum() / nm))
                stats["pg"].append(float(pg_loss))
                stats["vf"].append(float(vf_loss))
                stats["ent"].append(float((ent * m).sum() / nm))
    return stats


def _fit(x, T: int):
    """A 1-D tensor cut or zero-padded to length ``T`` (rows padded in different minibatches)."""
    import torch

    if x.shape[0] >= T:
        return x[:T]
    return torch.cat([x, torch.zeros(T - x.shape[0], dtype=x.dtype)])


def _sampled_traces(records: list[dict[str, Any]], cfg: TrainConfig, step: int) -> list[dict[str, Any]]:
    """The step's episodes written to ``D/traces.jsonl`` (see the module docstring)."""
    keep = records if cfg.trace_episodes < 0 else [r for r in records if r["sample_id"] == 0][: cfg.trace_episodes]
    out = []
    for r in keep:
        out.append({**r, "sample_id": (step - 1) * cfg.group_size + int(r["sample_id"]), "train_step": step,
                    "episode_sample": r["sample_id"]})
    return out


def _truncate_traces(path: Path, keep_through: int) -> None:
    """Drop traces of steps after ``keep_through`` (a resumed run re-does those steps)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("train_step", 0) <= keep_through:
                keep.append(line)
        except json.JSONDecodeError:
            continue
    path.write_text("".join(x + "\n" for x in keep))
