"""Where files live: the one module that decides.

Two kinds of files:

- **Bundled** files ship with codeself: the example data the notebooks fall back to
  (``data/examples/*``, ``data/tasks.example.jsonl``), the reproducibility kit's templates
  (``reports/kit/*``) and the widgets' front-ends (``widgets/*``). In a source checkout they are at
  the top level of the repository; a wheel carries them inside the package as
  ``codeself/_bundled/<same relative path>`` (``pyproject.toml``,
  ``[tool.hatch.build.targets.wheel.force-include]``), found through ``importlib.resources``.
  :func:`bundled` resolves a relative path either way: the checkout's copy first, else the wheel's.
- **Project** files are made by runs: ``data/runs/``, ``data/processed/``, caches, the test access
  log. They live under :data:`REPO_ROOT` (the source checkout this package runs from, else the
  current directory) and :func:`data_dir`.

Nothing here imports another codeself module (it sits at the bottom of the flow, beside ``io``).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _checkout_root() -> Path | None:
    """The source checkout this package runs from (an editable install or ``PYTHONPATH``), else None."""
    root = PACKAGE_DIR.parent
    return root if (root / "pyproject.toml").is_file() and (root / "codeself").is_dir() else None


#: the source checkout this package runs from; for an installed wheel, the current directory
REPO_ROOT = _checkout_root() or Path.cwd().resolve()
#: the package directory holding the bundled files inside a wheel
BUNDLED_IN_WHEEL = "_bundled"


def bundled(relpath: str) -> Path:
    """A bundled file or directory by its path in the repository (``"data/examples/metrics.jsonl"``,
    ``"reports/kit"``, ``"widgets"``): the checkout's copy when running from one, else the copy a wheel
    carries inside the package. The returned path may not exist (a checkout without that file)."""
    root = _checkout_root()
    if root is not None and (root / relpath).exists():
        return root / relpath
    res = resources.files("codeself").joinpath(BUNDLED_IN_WHEEL, *relpath.split("/"))
    wheel = Path(str(res))  # pip installs wheels unzipped, so this is a real directory
    if wheel.exists() or root is None:
        return wheel
    return root / relpath


#: bundled example data (what a notebook shows before any run exists)
EXAMPLES = bundled("data/examples")
EXAMPLE_TASKS = bundled("data/tasks.example.jsonl")
#: the reproducibility kit's templates (``codeself report kit``)
KIT_DIR = bundled("reports/kit")
#: the anywidget front-ends (``*.js``, ``*.css``)
WIDGETS_DIR = bundled("widgets")
#: run directories (``codeself rollouts generate -o data/runs/ID/...``, studies, selections)
RUNS = REPO_ROOT / "data" / "runs"


def data_dir() -> Path:
    """The project data directory: ``$CODESELF_DATA_DIR``; else ``./data`` if it exists; else the
    ``data/`` directory of the source checkout this package runs from (so a notebook run from
    ``notebooks/`` reads the same access log as a command run from the repository root); else
    ``./data``."""
    env = os.environ.get("CODESELF_DATA_DIR")
    if env:
        return Path(env)
    here = Path("data")
    if here.is_dir():
        return here
    root = _checkout_root()
    if root is not None and (root / "data" / "tasks.example.jsonl").is_file():
        return root / "data"
    return here
