"""One entry point for ``codeself train grpo|rloo|ppo|feedback``: validate everything, then train.

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
    feedback = cfg.protocol == "feedback"
    if feedback and model_path is not None:
        from codeself.training.feedback import check_context

        check_context(cfg, train_tasks, *_tokenizer_and_context(model_path), where=f"--model {cfg.model}")
    identity = run_identity(cfg, tasks_sha256=sha256_file(cfg.tasks))
    _, resuming = prepare_run_dir(cfg, identity)
    if model_path is None:
        from codeself.training.nano import ensure_nano

        if feedback:  # the feedback loop needs a warm start that reads revision prompts (640 positions)
            from codeself.training.nano import FEEDBACK_NANO_DIR, feedback_nano_config

            model_path = ensure_nano(FEEDBACK_NANO_DIR, config=feedback_nano_config(), progress=progress)
        else:
            model_path = ensure_nano(progress=progress)
    if feedback:
        from codeself.training.feedback import train_feedback

        return train_feedback(cfg, train_tasks=train_tasks, heldout_tasks=heldout, model_path=model_path,
                              resume=resuming, progress=progress)
    if cfg.algo == "ppo":
        from codeself.training.ppo import train_ppo

        return train_ppo(cfg, train_tasks=train_tasks, heldout_tasks=heldout, model_path=model_path,
                         resume=resuming, progress=progress)
    from codeself.training.trl_trainers import train

    return train(cfg, train_tasks=train_tasks, heldout_tasks=heldout, model_path=model_path,
                 resume=resuming, progress=progress)


def _tokenizer_and_context(path: Path):
    """The tokenizer and the context length (``max_position_embeddings``) of a model directory,
    without loading its weights."""
    import json

    from transformers import AutoTokenizer

    ctx = json.loads((Path(path) / "config.json").read_text()).get("max_position_embeddings")
    return AutoTokenizer.from_pretrained(path), ctx if isinstance(ctx, int) else None
