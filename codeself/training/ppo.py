"""A compact PPO for code generation with sandbox rewards (TRL 1.16 ships no PPO trainer).

One step:

1. **Rollout.** ``batch_size / group_size`` train prompts (seeded shuffle, cycled) × ``group_size``
   sampled completions from the current policy (temperature ``cfg.temperature``).
2. **Reward.** The same sandbox reward as GRPO/RLOO (:class:`codeself.training.metrics.SandboxReward`),
   given once, at the completion's last token (``infra_error`` → the sample is masked out).
3. **Values.** A value head (a 2-layer MLP) reads the policy's last hidden state at every token.
   Its input is *detached*: the critic learns from the policy's features without pulling the
   policy's trunk toward value regression (a learned baseline that cannot harm the policy).
4. **GAE.** Per token ``δ_t = r_t + γ V_{t+1} − V_t`` (``r_t`` = 0 except the terminal reward,
   ``V`` after the last token = 0), ``A_t = Σ (γλ)^k δ_{t+k}``; returns ``R_t = A_t + V_t``;
   advantages are whitened over the batch's completion tokens.
5. **Update.** ``ppo_epochs`` passes over ``ppo_minibatches`` minibatches: clipped surrogate
   ``−min(ρA, clip(ρ, 1±ε)A)`` with ``ρ = π/π_old`` per token, plus ``vf_coef ×`` the clipped value
   loss ``½ max((V−R)², (V_old + clip(V−V_old, ±ε) − R)²)``; AdamW for the policy (``lr``) and
   the value head (``value_lr``); gradients clipped at 1.

Logged per step (on top of the shared fields): ``value_loss``, ``explained_variance``
(``1 − Var[R − V_old] / Var[R]``), ``approx_kl`` (``E[(ρ−1) − log ρ]``, also as ``kl``),
``clip_frac`` (= ``clip_ratio``), ``entropy``, ``value_mean``.

With ``skip_uniform_groups`` a group (the ``group_size`` samples of one prompt) whose rewards are
all equal is left out of the update (its tokens masked from the losses; the count is
``groups_skipped``): unlike GRPO, PPO's value-based advantages are not 0 on such a group, so it
would still move the policy, towards whatever the critic currently mispredicts. With
``report_to="tensorboard"`` every numeric metrics field is also written (``torch.utils.tensorboard``)
to ``D/tensorboard`` as the scalar ``train/codeself/<field>``, the tag TRL runs get.

Checkpoints ``checkpoint-N/`` hold the policy (``save_pretrained``), the value head, both
optimisers, the data order position and the RNG states; a re-run resumes from the newest.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from codeself.training.config import TrainConfig


def _value_head(hidden: int):
    import torch

    return torch.nn.Sequential(torch.nn.Linear(hidden, 64), torch.nn.Tanh(), torch.nn.Linear(64, 1))


def _logprobs_entropy(model, ids, att, temperature: float, value_head=None):
    """Per-token log-prob of ``ids[:, 1:]``, entropy and values (for positions 0..T-2)."""
    import torch

    out = model(input_ids=ids, attention_mask=att, output_hidden_states=value_head is not None)
    logits = out.logits[:, :-1].float() / temperature
    logp_all = torch.log_softmax(logits, dim=-1)
    logp = logp_all.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    ent = -(logp_all.exp() * logp_all).sum(-1)
    values = None
    if value_head is not None:
        h = out.hidden_states[-1][:, :-1].detach()
        values = value_head(h).squeeze(-1)
    return logp, ent, values


def _rollout(model, tok, prompts: list[str], cfg: TrainConfig, gen_seed: int):
    """Sample completions; return ids, attention, completion mask (over positions 1..), texts."""
    import torch

    model.eval()
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(gen_seed)
    with torch.no_grad():
        seq = model.generate(
            **enc, do_sample=True, temperature=cfg.temperature, top_k=0, top_p=1.0,
            max_new_tokens=cfg.max_completion_length, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
        )
    plen = enc["input_ids"].shape[1]
    comp = seq[:, plen:]
    # completion tokens: up to and including the first eos
    is_eos = comp == tok.eos_token_id
    after = (is_eos.cumsum(1) - is_eos.long()) > 0
    cmask = (~after).long()
    if tok.pad_token_id != tok.eos_token_id:
        cmask = cmask * (comp != tok.pad_token_id).long() | (is_eos & ~after).long()
    att = torch.cat([enc["attention_mask"], cmask], dim=1)
    # mask over the shifted targets (positions 1..L-1): only completion tokens count
    tmask = torch.zeros_like(seq[:, 1:], dtype=torch.float32)
    tmask[:, plen - 1 :] = cmask.float()
    texts = tok.batch_decode(comp * cmask + tok.pad_token_id * (1 - cmask), skip_special_tokens=True)
    return seq, att, tmask, texts, cmask.sum(1)


def _gae(rewards, values, mask, gamma: float, lam: float):
    """GAE over each row's masked tokens, terminal reward on the last masked token."""
    import torch

    B, T = mask.shape
    adv = torch.zeros_like(values)
    last = torch.zeros(B)
    next_v = torch.zeros(B)
    # index of the last completion token per row
    idx = torch.arange(T).expand(B, T)
    last_idx = torch.where(mask > 0, idx, torch.full_like(idx, -1)).max(1).values
    for t in range(T - 1, -1, -1):
        m = mask[:, t]
        r_t = torch.where(last_idx == t, rewards, torch.zeros(B))
        delta = r_t + gamma * next_v - values[:, t]
        last = delta + gamma * lam * last
        adv[:, t] = last * m
        # carry only through valid tokens
        next_v = torch.where(m > 0, values[:, t], next_v)
        last = torch.where(m > 0, last, torch.zeros(B)) if t > 0 else last
    returns = adv + values
    return adv * mask, returns * mask


def save_checkpoint(out: Path, step: int, model, tok, state: dict[str, Any], state_name: str, keep: int = 2) -> Path:
    """Write ``out/checkpoint-{step}`` atomically (a temp dir renamed into place): the model and
    tokenizer (``save_pretrained``) and the trainer's ``state`` (``torch.save`` to ``state_name``);
    only the newest ``keep`` checkpoints are kept. Used by the PPO and the feedback trainers."""
    import shutil

    import torch

    d = out / f"checkpoint-{step}"
    tmp = out / f".checkpoint-{step}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # a run killed while saving left it half-written
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    torch.save(state, tmp / state_name)
    tmp.rename(d)
    old = sorted((int(p.name.split("-")[1]), p) for p in out.glob("checkpoint-*") if p.name.split("-")[1].isdigit())
    for _, p in old[:-keep]:
        shutil.rmtree(p, ignore_errors=True)
    return d


def heldout_eval(cfg: TrainConfig, model, tok, heldout_tasks, step: int) -> dict[str, Any]:
    """The held-out fields of a metrics record on an evaluation step (every ``eval_every`` steps and
    the last one; empty otherwise): greedy and sampled pass@1 of the policy on the first
    ``eval_tasks`` held-out tasks. Shared by the PPO and the feedback trainers."""
    if not heldout_tasks or not ((cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.max_steps):
        return {}
    from codeself.training.evaluate import evaluate_model

    ev_tasks = heldout_tasks[: cfg.eval_tasks] if cfg.eval_tasks else heldout_tasks
    ev = evaluate_model(model, tok, ev_tasks, n_samples=cfg.eval_samples, temperature=cfg.temperature,
                        seed=cfg.seed + 7919 * step, max_new_tokens=cfg.max_completion_length, workers=cfg.workers)
    return {"heldout_greedy_pass_at_1": ev["greedy_pass_at_1"], "heldout_sampled_pass_at_1": ev["sampled_pass_at_1"],
            "heldout_n": ev["n_tasks"], "eval_s": ev["seconds"]}


def write_tensorboard(tb, rec: dict[str, Any], step: int) -> None:
    """Every numeric field of a metrics record as the scalar ``train/codeself/<field>`` (the tags TRL
    runs get); ``tb`` None: nothing."""
    if tb is None:
        return
    for k, v in rec.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step":
            tb.add_scalar(f"train/codeself/{k}", v, step)
    tb.flush()


def train_ppo(
    cfg: TrainConfig,
    *,
    train_tasks,
    heldout_tasks=None,
    model_path: Path,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Run PPO; returns the directory of the final model (``D/final``). See the module docstring."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codeself.io import JsonlAppender
    from codeself.training.config import latest_checkpoint
    from codeself.training.metrics import SandboxReward, clean
    from codeself.training.nano import format_prompt
    from codeself.training.trl_trainers import truncate_metrics, write_by_task

    torch.set_num_threads(cfg.threads)
    out = Path(cfg.output_dir)
    ckpt = latest_checkpoint(out) if resume else None
    torch.manual_seed(cfg.seed)
    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if cfg.lora:
        # checkpoints hold the adapter only: rebuild base + adapter (trainable) on resume
        from peft import LoraConfig, PeftModel, get_peft_model

        base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        if ckpt is not None:
            model = PeftModel.from_pretrained(base, ckpt, is_trainable=True)
        else:
            model = get_peft_model(base, LoraConfig(r=cfg.lora_r, lora_alpha=2 * cfg.lora_r,
                                                    target_modules="all-linear", task_type="CAUSAL_LM"))
    else:
        model = AutoModelForCausalLM.from_pretrained(ckpt if ckpt is not None else model_path, dtype=torch.float32)
    vhead = _value_head(model.config.hidden_size)
    popt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)
    vopt = torch.optim.AdamW(vhead.parameters(), lr=cfg.value_lr, weight_decay=0.0)
    order = list(range(len(train_tasks)))
    random.Random(cfg.seed).shuffle(order)
    pos = 0
    start = 0
    metrics_path = out / "metrics.jsonl"
    if ckpt is not None:
        st = torch.load(ckpt / "ppo_state.pt", weights_only=False)
        vhead.load_state_dict(st["value_head"])
        popt.load_state_dict(st["policy_opt"])
        vopt.load_state_dict(st["value_opt"])
        pos, start = st["pos"], st["step"]
        torch.set_rng_state(st["torch_rng"])
        truncate_metrics(metrics_path, start)
        truncate_metrics(metrics_path.with_name("hack_rate_by_task.jsonl"), start)
    else:
        metrics_path.unlink(missing_ok=True)
        metrics_path.with_name("hack_rate_by_task.jsonl").unlink(missing_ok=True)

    weak = None
    if cfg.audit:
        from codeself.audit.report import load_weak_task_ids

        weak = load_weak_task_ids(cfg.audit)
    reward = SandboxReward({t.task_id: t for t in train_tasks}, workers=cfg.workers, reward=cfg.reward,
                           reward_tests=cfg.reward_tests, weak=weak)
    tb = None
    if cfg.report_to == "tensorboard":
        from torch.utils.tensorboard import SummaryWriter

        tb = SummaryWriter(log_dir=str(out / "tensorboard"))
    n_prompts = cfg.prompts_per_step
    writer = JsonlAppender(metrics_path)
    t_run = time.time()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.max_steps, initial=start, desc="ppo", unit="step")

    def save(step: int) -> None:
        save_checkpoint(out, step, model, tok, {"value_head": vhead.state_dict(), "policy_opt": popt.state_dict(),
                                                "value_opt": vopt.state_dict(), "pos": pos, "step": step,
                                                "torch_rng": torch.get_rng_state()}, "ppo_state.pt")

    for step in range(start + 1, cfg.max_steps + 1):
        t0 = time.time()
        batch_tasks = []
        for _ in range(n_prompts):
            if pos >= len(order):
                pos = 0
            batch_tasks.append(train_tasks[order[pos]])
            pos += 1
        flat = [t for t in batch_tasks for _ in range(cfg.group_size)]
        prompts = [format_prompt(t) for t in flat]
        seq, att, tmask, texts, clen = _rollout(model, tok, prompts, cfg, gen_seed=cfg.seed * 100003 + step)
        rs = reward(prompts, texts, task_id=[t.task_id for t in flat])
        valid = torch.tensor([r is not None for r in rs], dtype=torch.float32)
        rew = torch.tensor([0.0 if r is None else float(r) for r in rs])
        tmask = tmask * valid[:, None]
        groups_skipped = None
        if cfg.skip_uniform_groups:
            keep = torch.ones(len(rs))
            groups_skipped = 0
            for gi in range(n_prompts):
                sl = slice(gi * cfg.group_size, (gi + 1) * cfg.group_size)
                vals = {float(r) for r in rs[sl] if r is not None}
                if len(vals) <= 1:
                    keep[sl] = 0.0
                    groups_skipped += 1
            tmask = tmask * keep[:, None]
        with torch.no_grad():
            old_logp, _, old_v = _logprobs_entropy(model, seq, att, cfg.temperature, vhead)
        adv, ret = _gae(rew, old_v, tmask, cfg.gamma, cfg.gae_lambda)
        ntok = tmask.sum().clamp(min=1)
        a_mean = (adv * tmask).sum() / ntok
        a_std = (((adv - a_mean) ** 2 * tmask).sum() / ntok).sqrt()
        adv_w = ((adv - a_mean) / (a_std + 1e-8)) * tmask
        ret_var = (((ret - (ret * tmask).sum() / ntok) ** 2) * tmask).sum() / ntok
        resid = ret - old_v
        res_var = (((resid - (resid * tmask).sum() / ntok) ** 2) * tmask).sum() / ntok
        explained = float(1 - res_var / ret_var) if ret_var > 0 else None

        model.train()
        stats: dict[str, list[float]] = {"pg": [], "vf": [], "kl": [], "clip": [], "ent": []}
        B = seq.shape[0]
        mb = max(1, B // cfg.ppo_minibatches)
        g = torch.Generator().manual_seed(cfg.seed * 7 + step)
        for _ in range(cfg.ppo_epochs):
            perm = torch.randperm(B, generator=g)
            for i in range(0, B, mb):
                idx = perm[i : i + mb]
                m = tmask[idx]
                n = m.sum().clamp(min=1)
                logp, ent, v = _logprobs_entropy(model, seq[idx], att[idx], cfg.temperature, vhead)
                ratio = (logp - old_logp[idx]).exp()
                a = adv_w[idx]
                pg = torch.max(-a * ratio, -a * ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range))
                pg_loss = (pg * m).sum() / n
                v_clip = old_v[idx] + (v - old_v[idx]).clamp(-cfg.clip_range, cfg.clip_range)
                vf = 0.5 * torch.max((v - ret[idx]) ** 2, (v_clip - ret[idx]) ** 2)
                vf_loss = (vf * m).sum() / n
                loss = pg_loss + cfg.vf_coef * vf_loss
                popt.zero_grad(set_to_none=True)
                vopt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                torch.nn.utils.clip_grad_norm_(vhead.parameters(), 1.0)
                popt.step()
                vopt.step()
                with torch.no_grad():
                    lr_ = logp - old_logp[idx]
                    stats["kl"].append(float((((lr_.exp() - 1) - lr_) * m).sum() / n))
                    clipped = ((ratio - 1).abs() > cfg.clip_range).float()
                    stats["clip"].append(float((clipped * m).sum() / n))
                    stats["pg"].append(float(pg_loss))
                    stats["vf"].append(float(vf_loss))
                    stats["ent"].append(float((ent * m).sum() / n))
        step_s = time.time() - t0
        rec: dict[str, Any] = {"step": step, "algo": "ppo", "time_s": step_s}
        rec.update(reward.take())
        rec["sandbox_share"] = rec["sandbox_s"] / step_s
        rec["reward_share"] = rec["reward_s"] / step_s

        def mean(xs):
            return sum(xs) / len(xs) if xs else None

        rec.update({
            "loss": mean(stats["pg"]), "value_loss": mean(stats["vf"]), "approx_kl": mean(stats["kl"]),
            "kl": mean(stats["kl"]), "clip_frac": mean(stats["clip"]), "clip_ratio": mean(stats["clip"]),
            "entropy": mean(stats["ent"]), "explained_variance": explained,
            "value_mean": float((old_v * tmask).sum() / ntok), "completion_length": float(clen.float().mean()),
            "learning_rate": cfg.lr,
        })
        if groups_skipped is not None:
            rec["groups_skipped"] = groups_skipped
        rec.update(heldout_eval(cfg, model, tok, heldout_tasks, step))
        rec["elapsed_s"] = time.time() - t_run
        rec = clean(rec)
        writer.write(rec)
        if reward.monitored:
            write_by_task(metrics_path.with_name("hack_rate_by_task.jsonl"), step, reward.by_task)
        write_tensorboard(tb, rec, step)
        if cfg.save_every and step % cfg.save_every == 0:
            save(step)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(reward=f"{rec.get('reward_mean') or 0:.3f}")
    writer.close()
    if tb is not None:
        tb.close()
    if bar is not None:
        bar.close()
    final = out / "final"
    m = model.merge_and_unload() if cfg.lora and hasattr(model, "merge_and_unload") else model
    m.save_pretrained(final)
    tok.save_pretrained(final)
    (out / "train_done.json").write_text(json.dumps({"steps": cfg.max_steps, "final": str(final)}) + "\n")
    return final
