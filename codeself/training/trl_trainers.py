"""GRPO and RLOO through TRL, with sandbox rewards, per-step metrics and held-out evaluation.

``train(cfg)`` runs ``trl.GRPOTrainer`` (``cfg.algo == "grpo"``) or ``trl.RLOOTrainer``
(``"rloo"``) on the *train* split of ``cfg.tasks``, rewarding completions with
:class:`codeself.training.metrics.SandboxReward` (which delegates to
:func:`codeself.rewards.make_trl_reward`). One optimiser step = ``batch_size`` completions =
``batch_size / group_size`` prompts × ``group_size`` samples (``steps_per_generation=1``, no
gradient accumulation). CPU settings follow the field notes: ``use_cpu`` when no GPU,
``bf16=False``, ``gradient_checkpointing=False``, one torch thread.

Checkpoints (``checkpoint-N``, every ``save_every`` steps) carry the optimiser, scheduler and RNG
state; re-running the same command resumes from the newest one and drops metrics records of steps
after it (they are recomputed), so ``metrics.jsonl`` never holds a step twice.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codeself.training.config import TrainConfig


def _dataset(tasks, prompt_fn):
    from datasets import Dataset

    return Dataset.from_list([{"prompt": prompt_fn(t), "task_id": t.task_id} for t in tasks])


@contextlib.contextmanager
def reporting_env(report_to: str, out: Path) -> Iterator[None]:
    """While training: point the ``--report-to`` backend at the run directory, offline, so nothing
    tries the network (``WANDB_MODE=offline``, ``WANDB_DIR=D``; trackio's local store in
    ``D/trackio``; tensorboard event files in ``D/tensorboard``). Variables already set in the
    environment win; the environment is restored afterwards (two runs in one process never share a
    log directory)."""
    import os

    want = {
        "tensorboard": {"TENSORBOARD_LOGGING_DIR": str(out / "tensorboard")},
        "wandb": {"WANDB_MODE": "offline", "WANDB_DIR": str(out), "WANDB_SILENT": "true"},
        "trackio": {"TRACKIO_DIR": str(out / "trackio"), "HF_HUB_OFFLINE": "1"},
    }.get(report_to, {})
    added = [k for k in want if k not in os.environ]
    for k in added:
        os.environ[k] = want[k]
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def write_by_task(path: Path, step: int, by_task: dict[str, Any]) -> None:
    """Append one ``hack_rate_by_task.jsonl`` line: ``{"step", "tasks": {task_id: {n, hacks, hack_rate}}}``."""
    from codeself.io import JsonlAppender

    with JsonlAppender(path) as w:
        w.write({"step": step, "tasks": by_task})


def make_callback(run, metrics_path: Path, reward, *, eval_fn=None, algo: str = "grpo", start_step: int = 0,
                  report: bool = False):
    """A ``TrainerCallback`` that writes one metrics record per step (see :mod:`.metrics`).

    With ``report`` the record's numbers are also added to TRL's logs as ``codeself/<field>``, so the
    ``report_to`` backends (which log after this callback: it is placed first) show them too."""
    from transformers import TrainerCallback

    from codeself.io import JsonlAppender
    from codeself.training.metrics import clean

    class _MetricsCallback(TrainerCallback):
        def __init__(self):
            self.t_step = None
            self.t_run = time.time()
            self.pending: dict[str, Any] = {}
            self.writer = JsonlAppender(metrics_path)
            self.report = report

        def on_step_begin(self, args, state, control, **kw):
            self.t_step = time.time()

        def on_step_end(self, args, state, control, model=None, **kw):
            step_s = time.time() - (self.t_step or time.time())
            rec: dict[str, Any] = {"step": state.global_step, "algo": algo, "time_s": step_s}
            rec.update(reward.take())
            rec["sandbox_share"] = rec["sandbox_s"] / step_s if step_s > 0 else None
            rec["reward_share"] = rec["reward_s"] / step_s if step_s > 0 else None
            if eval_fn is not None and model is not None:
                due = run.eval_every and (state.global_step % run.eval_every == 0)
                if due or state.global_step == run.max_steps:
                    rec.update(eval_fn(model, state.global_step))
            self.pending = rec

        def on_log(self, args, state, control, logs=None, **kw):
            if not self.pending or logs is None or "train_runtime" in logs:
                return
            rec = self.pending
            logs_in = logs
            logs = dict(logs)
            m = {
                "kl": logs.get("kl"),
                "entropy": logs.get("entropy"),
                "clip_ratio": logs.get("clip_ratio/region_mean"),
                "completion_length": logs.get("completions/mean_length"),
                "completion_clipped_ratio": logs.get("completions/clipped_ratio"),
                "loss": logs.get("loss"),
                "learning_rate": logs.get("learning_rate"),
                "grad_norm": logs.get("grad_norm"),
                "trl_reward": logs.get("reward"),
                "trl_frac_reward_zero_std": logs.get("frac_reward_zero_std"),
            }
            rec.update({k: v for k, v in m.items() if v is not None})
            rec["elapsed_s"] = time.time() - self.t_run
            rec = clean(rec)
            self.writer.write(rec)
            if getattr(reward, "monitored", False):
                write_by_task(metrics_path.with_name("hack_rate_by_task.jsonl"), rec["step"], reward.by_task)
            if report:
                for k, v in rec.items():
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step" and k not in m:
                        logs_in[f"codeself/{k}"] = v
            self.pending = {}

        def on_train_end(self, args, state, control, **kw):
            self.writer.close()

    return _MetricsCallback()


def _train_trl(trainer_cls, cb, ckpt, **kw):
    """Build the TRL trainer and train, resuming from ``ckpt`` when given. When reporting, our callback
    goes first (it adds ``codeself/<field>`` to the logs the reporting callbacks then write); without,
    the callback order is TRL's, as before."""
    trainer = trainer_cls(**kw)
    if cb.report:
        handler = trainer.callback_handler
        handler.callbacks.remove(cb)
        handler.callbacks.insert(0, cb)
    trainer.train(resume_from_checkpoint=str(ckpt) if ckpt is not None else None)
    return trainer


def truncate_metrics(path: Path, keep_through: int) -> None:
    """Keep only records with ``step <= keep_through`` (resume: later steps are recomputed)."""
    from codeself.io import read_jsonl, write_jsonl_atomic

    if not path.exists():
        return
    recs, _ = read_jsonl(path, tolerate_truncated_tail=True, allow_empty=True)
    write_jsonl_atomic(path, [o for _, o in recs if int(o.get("step", 0)) <= keep_through])


def train(
    cfg: TrainConfig,
    *,
    train_tasks,
    heldout_tasks=None,
    model_path: Path,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Run GRPO or RLOO; returns the directory of the final model (``D/final``)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codeself.training.config import latest_checkpoint
    from codeself.training.evaluate import evaluate_model
    from codeself.training.metrics import SandboxReward
    from codeself.training.nano import format_prompt

    torch.set_num_threads(cfg.threads)
    out = Path(cfg.output_dir)
    tok = AutoTokenizer.from_pretrained(model_path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    peft_config = None
    if cfg.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=cfg.lora_r, lora_alpha=2 * cfg.lora_r, target_modules="all-linear", task_type="CAUSAL_LM")

    task_map = {t.task_id: t for t in train_tasks}
    weak = None
    if cfg.audit:
        from codeself.audit.report import load_weak_task_ids

        weak = load_weak_task_ids(cfg.audit)
    reward = SandboxReward(task_map, workers=cfg.workers, reward=cfg.reward, reward_tests=cfg.reward_tests, weak=weak)
    ds = _dataset(train_tasks, format_prompt)
    use_cpu = not torch.cuda.is_available()
    common = dict(
        output_dir=str(out),
        learning_rate=cfg.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        num_generations=cfg.group_size,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        top_k=0,
        top_p=1.0,
        beta=cfg.beta,
        use_cpu=use_cpu,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        logging_steps=1,
        save_strategy="steps",
        save_steps=cfg.save_every,
        save_total_limit=2,
        report_to=cfg.report_to,
        seed=cfg.seed,
        data_seed=cfg.seed,
        disable_tqdm=not progress,
        use_vllm=cfg.use_vllm,
        dataloader_num_workers=0,
    )
    if cfg.algo == "grpo":
        from trl import GRPOConfig, GRPOTrainer

        args = GRPOConfig(**common, loss_type="dapo", scale_rewards="group")
        trainer_cls = GRPOTrainer
    elif cfg.algo == "rloo":
        from trl import RLOOConfig, RLOOTrainer

        args = RLOOConfig(**common)
        trainer_cls = RLOOTrainer
    else:
        raise ValueError(f"train() runs grpo or rloo, not {cfg.algo!r}")

    eval_fn = None
    if heldout_tasks and cfg.eval_every >= 0:
        ev_tasks = heldout_tasks[: cfg.eval_tasks] if cfg.eval_tasks else heldout_tasks

        def eval_fn(m, step):
            ev = evaluate_model(
                m, tok, ev_tasks, n_samples=cfg.eval_samples, temperature=cfg.temperature,
                seed=cfg.seed + 7919 * step, max_new_tokens=cfg.max_completion_length, workers=cfg.workers,
            )
            return {
                "heldout_greedy_pass_at_1": ev["greedy_pass_at_1"],
                "heldout_sampled_pass_at_1": ev["sampled_pass_at_1"],
                "heldout_n": ev["n_tasks"],
                "eval_s": ev["seconds"],
            }

    metrics_path = out / "metrics.jsonl"
    ckpt = latest_checkpoint(out) if resume else None
    if ckpt is not None:
        truncate_metrics(metrics_path, int(ckpt.name.split("-")[1]))
        truncate_metrics(metrics_path.with_name("hack_rate_by_task.jsonl"), int(ckpt.name.split("-")[1]))
    else:
        metrics_path.unlink(missing_ok=True)
        metrics_path.with_name("hack_rate_by_task.jsonl").unlink(missing_ok=True)
    cb = make_callback(cfg, metrics_path, reward, eval_fn=eval_fn, algo=cfg.algo, report=cfg.report_to != "none")
    with reporting_env(cfg.report_to, out):
        trainer = _train_trl(trainer_cls, cb, ckpt, model=model, reward_funcs=[reward], args=args, train_dataset=ds,
                             processing_class=tok, callbacks=[cb], peft_config=peft_config)
    final = out / "final"
    m = trainer.model
    if cfg.lora and hasattr(m, "merge_and_unload"):
        m = m.merge_and_unload()
    m.save_pretrained(final)
    tok.save_pretrained(final)
    (out / "train_done.json").write_text(json.dumps({"steps": trainer.state.global_step, "final": str(final)}) + "\n")
    return final
