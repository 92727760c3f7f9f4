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

# name -> module that defines it (imported on first access)
_LAZY = {
    "Result": "codeself.sandbox.result",
    "TestOutcome": "codeself.sandbox.result",
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
