"""Training settings, checked before any compute, and the run directory contract.

A run directory ``D`` holds ``run.json`` (the resolved :class:`TrainConfig` plus the task file's
hash), ``metrics.jsonl`` (one JSON object per optimiser step, see :mod:`codeself.training.metrics`),
checkpoints (``checkpoint-N/``) and ``final/`` (the trained model, ``save_pretrained``). Starting a
run in a directory that holds a *different* run is refused; the *same* run resumes from its newest
checkpoint.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from codeself.tasks import Task

ALGOS = ("grpo", "rloo", "ppo")


class TrainInputError(ValueError):
    """Bad training input, raised before any compute (the CLI prints it and exits 1)."""


@dataclass
class TrainConfig:
    """Settings of one training run (``codeself train grpo|rloo|ppo``)."""

    algo: str = "grpo"               # grpo | rloo (TRL) | ppo (codeself.training.ppo)
    tasks: str = ""                  # task JSONL; the train split is practised on
    model: str = "nano"              # "nano" (built on first use) or a local HF causal-LM directory
    output_dir: str = ""
    group_size: int = 8              # completions per prompt (GRPO/RLOO group; PPO samples per prompt)
    batch_size: int = 128            # completions per optimiser step; must be a multiple of group_size
    max_steps: int = 100
    lr: float = 2e-4                 # constant learning rate
    beta: float = 0.0                # KL coefficient to the initial policy (0: no reference model)
    temperature: float = 1.0         # sampling temperature of the rollouts
    max_completion_length: int = 48  # tokens (characters for codeself-nano)
    lora: bool = False               # train LoRA adapters (PEFT) instead of all weights
    lora_r: int = 16
    use_vllm: bool = False           # TRL's vLLM generation (GPU only; never required)
    seed: int = 0
    eval_every: int = 25             # held-out evaluation every N steps (and at the last step); 0: never
    eval_samples: int = 8            # sampled completions per held-out task at each evaluation
    eval_tasks: int = 0              # cap on held-out tasks evaluated during training (0: all)
    save_every: int = 10             # checkpoint every N steps
    workers: int | None = None       # sandbox workers (None: the sandbox's default)
    threads: int = 1                 # torch threads (1 is fastest for small models on 2 cores)
    # PPO only
    ppo_epochs: int = 1
    ppo_minibatches: int = 2
    clip_range: float = 0.2
    vf_coef: float = 0.5
    gae_lambda: float = 0.95
    gamma: float = 1.0
    value_lr: float = 1e-3

    @property
    def prompts_per_step(self) -> int:
        return self.batch_size // self.group_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise TrainInputError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**d)


def check_causal_lm(path: str | os.PathLike) -> Path:
    """Raise ``TrainInputError`` unless ``path`` is a local HF causal-LM directory (config only).

    Delegates to :func:`codeself.generation.resolve_model`, and also rejects a config without
    ``architectures`` whose ``model_type`` has no causal-LM class in ``transformers``.
    """
    from codeself.generation import BackendError, resolve_model

    try:
        p = resolve_model(str(path))
    except BackendError as e:
        raise TrainInputError(f"--model {path}: {e}") from None
    obj = json.loads((p / "config.json").read_text())
    if not obj.get("architectures"):
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        if obj.get("model_type") not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
            raise TrainInputError(
                f"{p / 'config.json'}: field 'model_type'={obj.get('model_type')!r} is not a causal language model"
            )
    return p


def check_inputs(cfg: TrainConfig, tasks: list[Task]) -> list[Task]:
    """Validate settings and tasks; return the train split. Raises ``TrainInputError``."""
    if cfg.algo not in ALGOS:
        raise TrainInputError(f"algo {cfg.algo!r}: use one of {ALGOS}")
    if cfg.group_size < 2:
        raise TrainInputError(f"group_size={cfg.group_size}: needs at least 2 completions per prompt")
    if cfg.batch_size % cfg.group_size:
        raise TrainInputError(
            f"group_size={cfg.group_size} does not divide batch_size={cfg.batch_size} "
            f"(completions per step must be whole groups)"
        )
    if cfg.max_steps < 1:
        raise TrainInputError(f"max_steps={cfg.max_steps}: must be >= 1")
    if cfg.lr <= 0:
        raise TrainInputError(f"lr={cfg.lr}: must be > 0")
    train = [t for t in tasks if t.split == "train"]
    if not train:
        splits = sorted({str(t.split) for t in tasks})
        raise TrainInputError(
            f"{cfg.tasks}: no task has split 'train' (found splits: {', '.join(splits) or 'none'}); "
            f"set 'split' in the task file (codeself tasks split …)"
        )
    return train


def prepare_run_dir(cfg: TrainConfig, identity: dict[str, Any]) -> tuple[Path, bool]:
    """Create or reopen ``cfg.output_dir``. Returns ``(dir, resuming)``.

    ``identity`` is what makes two runs the same run (config minus volatile fields, task hash,
    model). A directory holding ``run.json`` with a different identity, or any other non-empty
    directory without ``run.json``, is refused.
    """
    from codeself.io import atomic_write_json

    d = Path(cfg.output_dir)
    run_json = d / "run.json"
    if run_json.is_file():
        old = json.loads(run_json.read_text())
        if old.get("identity") != identity:
            diff = sorted(
                k for k in set(old.get("identity", {})) | set(identity)
                if old.get("identity", {}).get(k) != identity.get(k)
            )
            raise TrainInputError(
                f"{d} already holds another run (differs in: {', '.join(diff)}); choose a new --output-dir"
            )
        return d, True
    if d.exists() and any(d.iterdir()):
        raise TrainInputError(f"{d} is not empty and holds no run.json; choose a new --output-dir")
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_json, {"identity": identity, "config": cfg.to_dict()})
    return d, False


def latest_checkpoint(d: str | os.PathLike) -> Path | None:
    cks = []
    for p in Path(d).glob("checkpoint-*"):
        try:
            cks.append((int(p.name.split("-", 1)[1]), p))
        except ValueError:
            continue
    return max(cks)[1] if cks else None
