"""CodeSelf: a notebook-first research workbench for execution-feedback RL on Python coding tasks.

The public API is listed in ``__all__``. Heavy dependencies (torch, transformers, trl, ray, vllm)
are imported lazily by the stages that need them, so tasks, the sandbox and the statistics work
without importing them.
"""

from __future__ import annotations

import importlib
from typing import Any

from codeself.io import DataError, Problem
from codeself.tasks import Task, assign_splits, load_tasks

__version__ = "0.1.0"

# name -> module that defines it (imported on first access, so `import codeself` stays light)
_LAZY = {
    # tasks
    "from_humaneval": "codeself.datasets",
    "from_mbpp": "codeself.datasets",
    "from_evalplus": "codeself.datasets",
    "validate": "codeself.tasks",
    "validate_files": "codeself.tasks",
    "write_tasks": "codeself.tasks",
    "generate_family": "codeself.families",
    # sandbox
    "Result": "codeself.sandbox.result",
    "TestOutcome": "codeself.sandbox.result",
    "SandboxConfig": "codeself.sandbox.config",
    "run": "codeself.sandbox",
    "run_many": "codeself.sandbox",
    "evaluate_calls": "codeself.sandbox",
    # audit
    "audit_tasks": "codeself.audit",
    "exclude_weak": "codeself.audit",
    # generation, rollouts, rewards, evaluation, statistics
    "build_prompt": "codeself.prompts",
    "parse_code": "codeself.parsing",
    "get_backend": "codeself.models",
    "generate_rollouts": "codeself.rollouts",
    "read_rollouts": "codeself.rollouts",
    "rollouts_frame": "codeself.rollouts",
    "reward_v0_correctness": "codeself.rewards",
    "make_trl_reward": "codeself.rewards",
    "pass_at_k": "codeself.evaluation",
    "evaluate_rollouts": "codeself.evaluation",
    "compare_rollouts": "codeself.evaluation",
    "mcnemar_exact": "codeself.stats",
    "mcnemar_midp": "codeself.stats",
    "sign_test": "codeself.stats",
    "paired_bootstrap_ci": "codeself.stats",
    "cluster_bootstrap_ci": "codeself.stats",
    "wilson_interval": "codeself.stats",
    "tasks_needed": "codeself.stats",
    # training and the study
    "build_nano": "codeself.training.nano",
    "ensure_nano": "codeself.training.nano",
    "run_training": "codeself.training.runner",
    "run_study": "codeself.training.study",
    # agent
    "run_agent": "codeself.agent",
    "read_traces": "codeself.agent",
    # notebooks, widgets, reports
    "TaskBrowser": "codeself.widgets",
    "RolloutExplorer": "codeself.widgets",
    "TraceViewer": "codeself.widgets",
    "export_notebooks": "codeself.reports.export",
}

__all__ = [
    "DataError",
    "Problem",
    "Task",
    "assign_splits",
    "load_tasks",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'codeself' has no attribute {name!r}")
