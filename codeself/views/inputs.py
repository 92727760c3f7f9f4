"""Notebook inputs: which file each notebook shows, and a sentence saying where it came from.

``resolve_input`` never guesses silently: an explicit argument that does not exist is an error
(``FileNotFoundError`` naming the argument and the path); with no argument it falls back to the
bundled example (``codeself.paths``) and says so, naming the command that makes a real run.
Reading the files is the job of the stage that owns each format, not of this module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeself.paths import EXAMPLE_TASKS, EXAMPLES, REPO_ROOT, RUNS

#: bundled example data each notebook falls back to (committed by the producing helpers)
EXAMPLE_FILES = {
    "tasks": EXAMPLE_TASKS,
    "baseline": EXAMPLES / "rollouts.baseline.jsonl",
    "candidate": EXAMPLES / "rollouts.candidate.jsonl",
    "rollouts": EXAMPLES / "rollouts.baseline.jsonl",
    "metrics": EXAMPLES / "metrics.jsonl",
    "traces": EXAMPLES / "traces.jsonl",
    "audit": EXAMPLES / "audit.jsonl",
}


#: the command that produces each kind of input (shown when a notebook falls back to an example)
MAKE_COMMANDS = {
    "tasks": "codeself tasks prepare --format humaneval --assign-splits --output data/processed/humaneval.jsonl",
    "rollouts": ("codeself rollouts generate --tasks data/tasks.example.jsonl --backend nano -n 4 "
                 "-o data/runs/ID/rollouts.jsonl"),
    "baseline": "codeself rollouts generate --tasks FILE --backend nano -o data/runs/BASE/rollouts.jsonl",
    "candidate": "codeself rollouts generate --tasks FILE --backend hf --model DIR -o data/runs/CAND/rollouts.jsonl",
    "metrics": "codeself train grpo --tasks FILE --output-dir data/runs/ID  (writes data/runs/ID/metrics.jsonl)",
    "traces": ("codeself agent run --tasks FILE --backend nano --trace-output data/runs/ID/traces.jsonl "
               "--report-output data/runs/ID/agent_report.md"),
    "audit": "codeself tasks audit --tasks FILE --output data/runs/ID/audit.jsonl",
}


#: the file a ``--run DIR`` argument points at, per input kind
RUN_FILES = {
    "rollouts": "rollouts.jsonl",
    "metrics": "metrics.jsonl",
    "traces": "traces.jsonl",
    "audit": "audit.jsonl",
    "tasks": "tasks.jsonl",
}


@dataclass
class NotebookInput:
    """One resolved notebook input: where it came from and a sentence saying so."""

    name: str
    path: Path | None
    source: str  # "argument" | "run" | "example" | "missing"
    note: str

    @property
    def exists(self) -> bool:
        return self.path is not None and self.path.is_file()


#: environment variable through which ``codeself report export`` hands a Jupyter notebook its
#: arguments (a JSON list, e.g. ``["--rollouts", "R.jsonl"]``): a kernel has no command line
JUPYTER_ARGS_ENV = "CODESELF_NOTEBOOK_ARGS"


def notebook_args() -> dict[str, Any]:
    """The notebook's CLI arguments: ``mo.cli_args()`` in a marimo notebook; in a Jupyter kernel the
    JSON list in ``$CODESELF_NOTEBOOK_ARGS`` (set by ``codeself report export``), parsed by marimo's own
    rule so both kinds of notebook take the same ``--name value`` flags; else ``{}``.

    ``pytest notebook.py`` calls test cells (and their ancestors) with no marimo context, where
    ``mo.cli_args()`` raises; there, as in an interactive Jupyter session, the notebook's defaults (the
    bundled examples) apply.
    """
    import marimo as mo

    try:
        return dict(mo.cli_args())
    except Exception as e:  # ContextNotInitializedError lives in a private marimo module
        if type(e).__name__ != "ContextNotInitializedError":
            raise
    raw = os.environ.get(JUPYTER_ARGS_ENV)
    if not raw:
        return {}
    from marimo._cli.parse_args import parse_args

    argv = json.loads(raw)
    if not isinstance(argv, list):
        raise ValueError(f"${JUPYTER_ARGS_ENV} must be a JSON list of arguments, got {raw[:80]!r}")
    return dict(parse_args([str(a) for a in argv]))


def cli_value(args: Mapping[str, Any], name: str) -> str | None:
    """A string argument from ``mo.cli_args()`` (``--name value``); None when absent or empty."""
    v = args.get(name)
    if v is None or v == "" or v is True:
        return None
    if isinstance(v, list):
        v = v[-1]
    return str(v)


def resolve_input(args: Mapping[str, Any], name: str, *, example: Path | None = None,
                  make_command: str | None = None) -> NotebookInput:
    """Resolve input ``name`` from notebook CLI args.

    ``--NAME FILE`` wins; else ``--run DIR`` (then ``DIR/<RUN_FILES[name]>``); else the bundled
    example with a note naming ``make_command``. An explicit path that does not exist raises
    ``FileNotFoundError``; a missing example gives ``source="missing"`` (the notebook says so).
    """
    example = example if example is not None else EXAMPLE_FILES.get(name)
    make_command = make_command or MAKE_COMMANDS.get(name, "")
    explicit = cli_value(args, name)
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"--{name} {explicit}: no such file")
        return NotebookInput(name, p.resolve(), "argument", f"`--{name}` = `{p}`")
    run = cli_value(args, "run")
    if run and name in RUN_FILES:
        d = Path(run).expanduser()
        if not d.is_dir():
            raise FileNotFoundError(f"--run {run}: no such directory")
        p = d / RUN_FILES[name]
        if p.is_file():
            return NotebookInput(name, p.resolve(), "run", f"`{p}` (from `--run {run}`)")
    hint = ""
    runs = available_runs(RUN_FILES.get(name, ""))
    if runs:
        hint = " Runs found here: " + ", ".join(f"`{r}`" for r in runs[:5]) + "."
    if example is not None and example.is_file():
        note = (f"No `--{name}` given: showing the bundled example `{_rel(example)}`. "
                f"Make a real one with `{make_command}`.{hint}")
        return NotebookInput(name, example, "example", note)
    note = (f"No `--{name}` given and the bundled example `{_rel(example) if example else '?'}` is "
            f"not in this checkout. Make one with `{make_command}`.{hint}")
    return NotebookInput(name, None, "missing", note)


def available_runs(filename: str, root: Path = RUNS) -> list[str]:
    """Run directories under ``data/runs`` holding ``filename`` (newest first)."""
    if not filename or not root.is_dir():
        return []
    found = [p for p in root.glob(f"*/{filename}") if p.is_file()]
    found.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [_rel(p.parent) for p in found]


def discover_task_files(root: Path = REPO_ROOT, limit: int = 50) -> list[str]:
    """Task files a notebook can offer in a picker (paths relative to ``root``): the bundled
    ``data/tasks.example.jsonl``, ``data/processed/*.jsonl`` and ``data/runs/*/tasks.jsonl``."""
    pats = ["data/tasks.example.jsonl", "data/processed/*.jsonl", "data/runs/*/tasks.jsonl"]
    found: list[str] = []
    for pat in pats:
        for p in sorted(root.glob(pat)):
            if p.is_file() and str(p.relative_to(root)) not in found:
                found.append(str(p.relative_to(root)))
    return found[:limit]


def _rel(p: Path) -> str:
    try:
        return str(Path(p).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(p)


def resolve_many(args: Mapping[str, Any], name: str) -> list[NotebookInput]:
    """Several inputs of one kind: every ``--NAME FILE`` and every ``--run DIR`` (its RUN_FILES
    file), in the order given; with none, ``[resolve_input(args, name)]`` (example fallback)."""
    def as_list(v: Any) -> list[str]:
        if v is None or v == "" or v is True:
            return []
        return [str(x) for x in v] if isinstance(v, list) else [str(v)]

    out: list[NotebookInput] = []
    for f in as_list(args.get(name)):
        out.append(resolve_input({name: f}, name))
    for d in as_list(args.get("run")):
        inp = resolve_input({"run": d}, name)
        if inp.source != "run":
            raise FileNotFoundError(f"--run {d}: no {RUN_FILES[name]} in that directory")
        out.append(inp)
    return out or [resolve_input({}, name)]


def example_rollouts(flags: str) -> list[NotebookInput]:
    """The bundled baseline and candidate rollouts, for a notebook given none of its ``flags``
    (e.g. ``"--rollouts FILE / --run DIR"``); the note names those flags, not another notebook's."""
    out = []
    for name in ("baseline", "candidate"):
        inp = resolve_input({}, name)
        if inp.path is not None:
            inp = NotebookInput("rollouts", inp.path, "example",
                                f"No {flags} given: showing the bundled example `{_rel(inp.path)}`. Make a "
                                f"real one with `{MAKE_COMMANDS['rollouts']}`.")
        out.append(inp)
    return out


def run_label(inp: NotebookInput) -> str:
    """A short label for a run: its directory name (or the file stem for a bare file)."""
    if inp.path is None:
        return inp.name
    if inp.source == "example":  # rollouts.baseline.jsonl -> "baseline"; metrics.jsonl -> "example"
        stem = inp.path.stem
        return stem.split(".", 1)[1] if "." in stem else "example"
    if inp.path.name != RUN_FILES.get(inp.name):
        return inp.path.stem
    try:  # data/runs/study-seed1/grpo/metrics.jsonl -> "study-seed1/grpo"
        return str(inp.path.parent.resolve().relative_to(RUNS.resolve()))
    except ValueError:
        return inp.path.parent.name


def study_files(args: Mapping[str, Any], root: Path = RUNS) -> tuple[list[Path], str]:
    """The ``verdict.json`` files of finished studies: every ``--study DIR`` given; else every
    ``<root>/*/verdict.json``; else the bundled ``data/examples/study_verdicts.jsonl`` (the measured
    seeds 1–3 of both arms). Returns ``(files, note)``; a ``--study`` dir without a verdict raises
    ``FileNotFoundError`` naming it."""
    given = args.get("study")
    dirs = [given] if isinstance(given, str) else list(given or [])
    if dirs:
        files = [Path(d) / "verdict.json" for d in dirs]
        for f in files:
            if not f.is_file():
                raise FileNotFoundError(f"{f.parent}: no verdict.json (is the study finished?)")
        return files, f"Studies given with `--study`: {', '.join(map(str, dirs))}."
    files = sorted(root.glob("*/verdict.json")) if root.is_dir() else []
    if files:
        return files, f"Finished studies under `{_rel(root)}`."
    example = EXAMPLES / "study_verdicts.jsonl"
    return [example], (f"No finished study yet: showing the bundled `{_rel(example)}` (seeds 1–3, both arms, "
                       "measured by `codeself study --seed S [--arm control]`).")


def selection_file(args: Mapping[str, Any], root: Path = RUNS) -> tuple[Path, str]:
    """The ``selection.json`` of a settings selection (``codeself train select``): ``--selection DIR``
    (or ``DIR/selection.json``) given; else ``<root>/select/selection.json``; else the bundled
    ``data/examples/selection.json`` (the selection that chose the study's lr). Returns ``(path, note)``;
    an explicit path without a ``selection.json`` raises ``FileNotFoundError`` naming it."""
    given = cli_value(args, "selection")
    if given:
        p = Path(given).expanduser()
        p = p / "selection.json" if p.is_dir() else p
        if not p.is_file():
            raise FileNotFoundError(f"--selection {given}: no selection.json there")
        return p, f"Selection given with `--selection`: `{p}`."
    p = root / "select" / "selection.json"
    if p.is_file():
        return p, f"The selection under `{_rel(p.parent)}`."
    p = EXAMPLES / "selection.json"
    return p, (f"No selection run here: showing the bundled `{_rel(p)}`, made by `codeself train select "
               "--grid lr=5e-5,1e-4,2e-4,4e-4 --seeds 101,102 --jobs 2 --output-dir data/runs/select`.")
