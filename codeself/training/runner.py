"""One entry point for ``codeself train grpo|rloo|ppo``: validate everything, then train.

Order matters: every check that can fail on bad input (task file, train split, group/batch
arithmetic, model directory, run directory) runs before any model is built or loaded.
"""

from __future__ import annotations

from pathlib import Path

from codeself.training.config import (
    TrainConfig,
    TrainInputError,
    check_causal_lm,
    check_inputs,
    prepare_run_dir,
    run_identity,
)


def run_training(cfg: TrainConfig, *, progress: bool = True) -> Path:
    """Validate inputs, prepare (or resume) the run directory and train. Returns ``D/final``."""
    from codeself.io import sha256_file
    from codeself.tasks import load_tasks

    if not cfg.output_dir:
        raise TrainInputError("--output-dir is required")
    if not Path(cfg.tasks).is_file():
        raise TrainInputError(f"--tasks {cfg.tasks}: file not found")
    tasks = load_tasks(cfg.tasks)  # DataError names file, line and field
    train_tasks = check_inputs(cfg, tasks)
    heldout = [t for t in tasks if t.split == "test"]
    model_path = None if cfg.model == "nano" else check_causal_lm(cfg.model)
    if cfg.use_vllm:
        import importlib.util

        if cfg.algo == "ppo":
            raise TrainInputError("--use-vllm: the PPO trainer generates with transformers only")
        if importlib.util.find_spec("vllm") is None:
            raise TrainInputError("--use-vllm: vLLM is not installed (GPU only: pip install 'codeself[vllm]')")
    if cfg.audit:
        from codeself.audit.report import load_weak_task_ids

        load_weak_task_ids(cfg.audit)  # a bad audit file fails here, before any compute (DataError)
    identity = run_identity(cfg, tasks_sha256=sha256_file(cfg.tasks))
    _, resuming = prepare_run_dir(cfg, identity)
    if model_path is None:
        from codeself.training.nano import ensure_nano

        model_path = ensure_nano(progress=progress)
    if cfg.algo == "ppo":
        from codeself.training.ppo import train_ppo

        return train_ppo(cfg, train_tasks=train_tasks, heldout_tasks=heldout, model_path=model_path,
                         resume=resuming, progress=progress)
    from codeself.training.trl_trainers import train

    return train(cfg, train_tasks=train_tasks, heldout_tasks=heldout, model_path=model_path,
                 resume=resuming, progress=progress)
