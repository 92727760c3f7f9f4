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
#: ``--report-to``: where the trainers also send their metrics (TRL's ``report_to``; PPO: tensorboard)
REPORT_TO = ("none", "tensorboard", "trackio", "wandb")
#: the Python module each ``--report-to`` backend needs
REPORT_MODULES = {"tensorboard": "tensorboard", "trackio": "trackio", "wandb": "wandb"}
#: settings added after runs existed: left out of a run's identity while at their default, so a run
#: directory made before them still resumes (see :func:`run_identity`)
LATER_DEFAULTS = {"reward": "partial", "reward_tests": "all", "audit": "", "skip_uniform_groups": False,
                  "report_to": "none", "protocol": "single-turn", "max_turns": 3, "revision_prompt": "feedback",
                  "policy": "last", "trace_episodes": 8, "generation_batch_size": 64}
#: ``protocol``: one attempt per sample (``train grpo|rloo|ppo``) or the feedback loop (``train feedback``)
PROTOCOLS = ("single-turn", "feedback")
#: the algorithms ``codeself train feedback`` runs (codeself.training.feedback)
FEEDBACK_ALGOS = ("grpo", "ppo")


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
    # rewards and the hacking monitor (codeself.rewards; metrics in codeself.training.metrics)
    reward: str = "partial"          # partial | binary | fraction | weighted
    reward_tests: str = "all"        # which tests pay the reward; the others are monitor tests
    audit: str = ""                  # audit.jsonl: report the share of each step's prompts it flags weak
    skip_uniform_groups: bool = False  # PPO only: leave groups whose rewards are all equal out of the update
    report_to: str = "none"          # none | tensorboard | trackio | wandb (offline)
    # training with feedback in the loop (codeself.training.feedback; `codeself train feedback`)
    protocol: str = "single-turn"    # single-turn | feedback
    max_turns: int = 3               # attempts per episode (feedback protocol)
    revision_prompt: str = "feedback"  # feedback | retry (the control arm: no feedback text)
    policy: str = "last"             # which attempt is submitted and paid (codeself.agent.POLICIES)
    trace_episodes: int = 8          # episodes per step written to D/traces.jsonl (-1: all, 0: none)
    generation_batch_size: int = 64  # requests per model.generate call in the feedback loop
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


def run_identity(cfg: TrainConfig, **extra: Any) -> dict[str, Any]:
    """What makes two runs the same run: the config minus volatile fields (output dir, workers,
    logging backend) and minus later settings still at their default (``LATER_DEFAULTS``)."""
    d = {**cfg.to_dict(), "output_dir": None, "workers": None, **extra}
    for k, v in LATER_DEFAULTS.items():
        if d.get(k) == v or k == "report_to":
            d.pop(k, None)
    return d


def check_monitor_inputs(cfg: TrainConfig, train: list[Task]) -> None:
    """Check ``reward``, ``reward_tests``, ``audit``, ``skip_uniform_groups`` and ``report_to``
    (before any compute). Raises ``TrainInputError`` naming the option."""
    import importlib.util

    from codeself.rewards import REWARD_TESTS, REWARDS

    if cfg.reward not in REWARDS:
        raise TrainInputError(f"--reward {cfg.reward!r}: use one of {', '.join(REWARDS)}")
    if cfg.reward_tests not in REWARD_TESTS:
        raise TrainInputError(f"--reward-tests {cfg.reward_tests!r}: use one of {', '.join(REWARD_TESTS)}")
    if cfg.reward_tests in ("public", "hidden"):
        attr = f"{cfg.reward_tests}_tests"
        missing = [t.task_id for t in train if not getattr(t, attr)]
        if missing:
            raise TrainInputError(
                f"--reward-tests {cfg.reward_tests}: {len(missing)} of {len(train)} train task(s) have no "
                f"{cfg.reward_tests} tests (e.g. {', '.join(missing[:3])}); nothing would pay their reward"
            )
    if cfg.audit and not Path(cfg.audit).is_file():
        raise TrainInputError(f"--audit {cfg.audit}: file not found")
    if cfg.skip_uniform_groups and cfg.algo != "ppo":
        raise TrainInputError(
            "--skip-uniform-groups: only the PPO trainer can leave groups out of its update; in TRL's "
            "GRPO/RLOO a group whose rewards are all equal already gets advantage 0 (its share is "
            "frac_reward_zero_std in metrics.jsonl)"
        )
    if cfg.report_to not in REPORT_TO:
        raise TrainInputError(f"--report-to {cfg.report_to!r}: use one of {', '.join(REPORT_TO)}")
    mod = REPORT_MODULES.get(cfg.report_to)
    if mod is not None and importlib.util.find_spec(mod) is None:
        raise TrainInputError(f"--report-to {cfg.report_to}: the '{mod}' package is not installed "
                              f"(pip install {mod})")
    if cfg.report_to in ("trackio", "wandb") and cfg.algo == "ppo":
        raise TrainInputError(f"--report-to {cfg.report_to}: the PPO trainer writes tensorboard only "
                              "(use --report-to tensorboard or none)")


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
    check_monitor_inputs(cfg, train)
    if cfg.protocol == "feedback":
        check_feedback_inputs(cfg, train)
    elif cfg.protocol != "single-turn":
        raise TrainInputError(f"protocol {cfg.protocol!r}: use one of {', '.join(PROTOCOLS)}")
    return train


def check_feedback_inputs(cfg: TrainConfig, train: list[Task]) -> None:
    """The feedback protocol's own checks (before any compute); raises ``TrainInputError``."""
    from codeself.agent.config import POLICIES, REVISION_PROMPTS

    if cfg.algo not in FEEDBACK_ALGOS:
        raise TrainInputError(f"--algo {cfg.algo!r}: train feedback runs {' or '.join(FEEDBACK_ALGOS)}")
    if not isinstance(cfg.max_turns, int) or cfg.max_turns < 1:
        raise TrainInputError(f"--max-turns {cfg.max_turns!r}: must be an integer >= 1")
    if cfg.revision_prompt not in REVISION_PROMPTS:
        raise TrainInputError(f"--revision-prompt {cfg.revision_prompt!r}: use one of {', '.join(REVISION_PROMPTS)}")
    if cfg.policy not in POLICIES:
        raise TrainInputError(f"--policy {cfg.policy!r}: use one of {', '.join(POLICIES)}")
    if cfg.reward_tests != "all":
        raise TrainInputError("--reward-tests: the feedback protocol always pays the hidden tests only "
                              "(the public tests are the feedback)")
    if cfg.lora or cfg.use_vllm or cfg.beta:
        opt = "--lora" if cfg.lora else ("--use-vllm" if cfg.use_vllm else "--beta")
        raise TrainInputError(f"{opt}: not supported by the feedback trainer (full weights, transformers "
                              "generation, no reference model)")
    if cfg.report_to not in ("none", "tensorboard"):
        raise TrainInputError(f"--report-to {cfg.report_to}: the feedback trainer writes tensorboard only")
    no_pub = [t.task_id for t in train if not t.public_tests]
    if no_pub:
        raise TrainInputError(
            f"{cfg.tasks}: {len(no_pub)} of {len(train)} train task(s) have no public tests "
            f"(e.g. {', '.join(no_pub[:3])}): no feedback is possible; give them public tests or drop them "
            "(codeself tasks filter)")
    no_hidden = [t.task_id for t in train if not t.hidden_tests]
    if no_hidden:
        raise TrainInputError(
            f"{cfg.tasks}: {len(no_hidden)} of {len(train)} train task(s) have no hidden tests "
            f"(e.g. {', '.join(no_hidden[:3])}): nothing would pay their reward (it comes from hidden tests only)")


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
