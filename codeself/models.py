"""Models by name: ``"nano"`` (CodeSelf's own small model, built and cached on first use by
:mod:`codeself.training.nano`) or a path to any local Hugging Face causal-LM directory.

This is the one place that knows how ``nano`` comes to exist, so that generation never imports
training: :mod:`codeself.generation` takes model *directories*, and the CLI, the agent and the
trainers resolve names here first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from codeself import generation


def resolve_model(spec: str | os.PathLike | None) -> Path:
    """``"nano"`` → the built (or now built) codeself-nano directory; a path → checked as a local
    Hugging Face causal-LM directory (:func:`codeself.generation.resolve_model`)."""
    if spec is not None and str(spec) == "nano":
        from codeself.training.nano import ensure_nano

        return Path(ensure_nano())
    return generation.resolve_model(spec)


def get_backend(name: str, model: str | os.PathLike | None = None, **kw: Any) -> generation.Backend:
    """:func:`codeself.generation.get_backend`, with ``nano`` resolved to its directory first."""
    if name in ("nano", "vllm") and (model is None or str(model) == "nano"):
        model = resolve_model("nano")
    elif name == "hf" and model is not None and str(model) == "nano":
        model = resolve_model("nano")
    return generation.get_backend(name, model, **kw)
