"""The logic behind the notebooks, widgets and dashboards: input resolution, polars filters and
aggregations, and small altair charts built from *aggregated* frames.

Notebooks stay thin: every number a notebook shows is computed here, where tests reach it.

Guarantees:
- Every chart function takes an already-aggregated polars frame (a few hundred rows at most) and
  embeds only that; no chart here embeds raw rollout rows, so altair's 5,000-row limit is never hit
  and exported reports stay small.
- ``filter_rollouts`` / ``dashboard_view`` are pure polars expressions over a flat rollout frame
  (the columns of ``codeself.rollouts.rollouts_frame``); they never mutate their input.
- ``resolve_input`` never guesses silently: an explicit argument that does not exist is an error
  (``FileNotFoundError`` naming the argument and the path); with no argument it falls back to the
  bundled example and says so, naming the command that makes a real run.

Not guaranteed: the charts' exact styling; the pure-Python ``naive_*`` functions exist only as the
benchmark baseline of ``codeself bench notebooks``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from codeself.io import DataError, Problem, read_jsonl
from codeself.training.verdict import is_significant

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "data" / "examples"
RUNS = REPO_ROOT / "data" / "runs"

#: bundled example data each notebook falls back to (committed by the producing helpers)
EXAMPLE_FILES = {
    "tasks": REPO_ROOT / "data" / "tasks.example.jsonl",
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

#: The range of ``codeself.rewards.reward_v0_correctness``: 1.0 for a pass down to -1.0 for a parse
#: failure or a rejected program (syntax errors -0.5). Reward charts and filters cover at least this;
#: they widen to the data when a total goes further (a quality term can take it below -1).
REWARD_RANGE = (-1.0, 1.0)

STATUS_ORDER = (
    "passed", "failed", "syntax_error", "import_error", "runtime_error", "timeout", "memory",
    "crashed", "infra_error", "rejected",
)


# ---------------------------------------------------------------------------------------------
# Inputs


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


def notebook_args() -> dict[str, Any]:
    """The notebook's CLI arguments (``mo.cli_args()``), or ``{}`` outside a marimo runtime.

    ``pytest notebook.py`` calls test cells (and their ancestors) with no marimo context, where
    ``mo.cli_args()`` raises; there the notebook's defaults (the bundled examples) apply.
    """
    import marimo as mo

    try:
        return dict(mo.cli_args())
    except Exception as e:  # ContextNotInitializedError lives in a private marimo module
        if type(e).__name__ != "ContextNotInitializedError":
            raise
        return {}


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


# ---------------------------------------------------------------------------------------------
# Tasks


def tasks_frame(tasks: Iterable[Any]) -> pl.DataFrame:
    """One row per task: id, split, source, test counts, prompt size, whether a solution exists."""
    rows = []
    for t in tasks:
        rows.append({
            "task_id": t.task_id,
            "split": t.split or "unassigned",
            "source": t.source,
            "entry_point": t.entry_point,
            "n_public": len(t.public_tests),
            "n_hidden": len(t.hidden_tests),
            "n_tests": len(t.public_tests) + len(t.hidden_tests),
            "prompt_chars": len(t.prompt),
            "prompt_lines": t.prompt.count("\n") + 1,
            "has_solution": t.canonical_solution is not None,
        })
    schema = {"task_id": pl.String, "split": pl.String, "source": pl.String, "entry_point": pl.String,
              "n_public": pl.Int64, "n_hidden": pl.Int64, "n_tests": pl.Int64, "prompt_chars": pl.Int64,
              "prompt_lines": pl.Int64, "has_solution": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


def task_counts(df: pl.DataFrame) -> pl.DataFrame:
    """Task counts by source and split (long format, sorted)."""
    return (df.group_by("source", "split").agg(pl.len().alias("tasks"))
            .sort("source", "split"))


def histogram(values: pl.Series | Sequence[float], *, bins: int = 20, lo: float | None = None,
              hi: float | None = None, name: str = "value") -> pl.DataFrame:
    """Equal-width histogram as a frame ``bin_start, bin_end, count`` (nulls dropped).

    The last bin is closed on the right, so ``hi`` itself is counted. ``bins`` rows at most.
    """
    s = pl.Series(name, values) if not isinstance(values, pl.Series) else values.rename(name)
    s = s.drop_nulls().cast(pl.Float64)
    if s.len() == 0:
        return pl.DataFrame(schema={"bin_start": pl.Float64, "bin_end": pl.Float64, "count": pl.UInt32})
    lo = float(s.min()) if lo is None else lo
    hi = float(s.max()) if hi is None else hi
    if hi <= lo:
        hi = lo + 1.0
    width = (hi - lo) / bins
    frame = s.to_frame().filter((pl.col(name) >= lo) & (pl.col(name) <= hi))
    idx = _bin_index(pl.col(name), lo, width, bins).alias("bin")
    counts = frame.select(idx).group_by("bin").agg(pl.len().alias("count"))
    full = pl.DataFrame({"bin": list(range(bins))}).join(counts, on="bin", how="left")
    return (full.with_columns(pl.col("count").fill_null(0).cast(pl.UInt32),
                              (lo + pl.col("bin") * width).alias("bin_start"),
                              (lo + (pl.col("bin") + 1) * width).alias("bin_end"))
            .select("bin_start", "bin_end", "count").sort("bin_start"))


def leakage_findings(tasks: Sequence[Any], *, file: str = "<tasks>") -> pl.DataFrame:
    """Leakage and integrity findings of ``codeself.tasks.validate`` as a frame
    (``task_id, field, kind, message``). ``kind`` is ``leak`` for hidden-test leakage into the
    prompt, starter code or public tests, ``duplicate`` for duplicate ids, else ``integrity``."""
    from codeself.tasks import validate

    rows = []
    for p in validate(list(tasks), file=file):
        kind = "leak" if p.message.startswith("leak of") else ("duplicate" if "duplicate" in p.message else "integrity")
        rows.append({"task_id": p.task_id, "field": p.field, "kind": kind, "message": p.message})
    return pl.DataFrame(rows, schema={"task_id": pl.String, "field": pl.String, "kind": pl.String,
                                      "message": pl.String})


def task_record(task: Any) -> dict[str, Any]:
    """The JSON-able view of one task the task browser shows (prompt, public and hidden tests)."""
    return {
        "task_id": task.task_id, "entry_point": task.entry_point, "split": task.split or "",
        "source": task.source, "prompt": task.prompt, "starter_code": task.starter_code or "",
        "setup_code": task.setup_code or "", "public_tests": list(task.public_tests),
        "hidden_tests": list(task.hidden_tests),
        "canonical_solution": task.canonical_solution or "",
    }


def read_audit(path: str | os.PathLike) -> pl.DataFrame:
    """audit.jsonl (from ``codeself tasks audit``) as a flat frame, one row per task."""
    records, _ = read_jsonl(path)
    rows = []
    for line, r in records:
        if "task_id" not in r:
            raise DataError(Problem(str(path), line, "task_id", "missing required field"))
        rows.append({
            "task_id": r["task_id"], "status": r.get("status"), "reason": r.get("reason"),
            "mutants_made": r.get("mutants_made"), "confirmed_wrong": r.get("confirmed_wrong"),
            "accepted_by_public": r.get("accepted_by_public"), "accepted_by_all": r.get("accepted_by_all"),
            "weak": r.get("weak"), "public_weak": r.get("public_weak"),
        })
    return pl.DataFrame(rows, infer_schema_length=None)


# ---------------------------------------------------------------------------------------------
# Sandbox results / rollouts


def results_frame(results: Sequence[Any]) -> pl.DataFrame:
    """Flat frame of sandbox ``Result`` objects (or their dicts): one row per execution."""
    rows = []
    for r in results:
        d = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        rows.append({
            "task_id": d["task_id"], "sample_id": None if d.get("sample_id") is None else str(d["sample_id"]),
            "status": d["status"], "passed": bool(d["passed"]), "phase": d.get("phase"),
            "public_passed": d.get("public_passed", 0), "public_total": d.get("public_total", 0),
            "hidden_passed": d.get("hidden_passed", 0), "hidden_total": d.get("hidden_total", 0),
            "duration_s": float(d.get("duration_s") or 0.0),
            "exec_duration_s": float(d.get("exec_duration_s") or 0.0),
            "n_scan": len(d.get("scan") or []),
        })
    schema = {"task_id": pl.String, "sample_id": pl.String, "status": pl.String, "passed": pl.Boolean,
              "phase": pl.String, "public_passed": pl.Int64, "public_total": pl.Int64,
              "hidden_passed": pl.Int64, "hidden_total": pl.Int64, "duration_s": pl.Float64,
              "exec_duration_s": pl.Float64, "n_scan": pl.Int64}
    return pl.DataFrame(rows, schema=schema)


def tests_frame(results: Sequence[Any]) -> pl.DataFrame:
    """Per-test outcomes of sandbox results: task_id, sample_id, kind, index, passed, status, error."""
    rows = []
    for r in results:
        d = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        for t in d.get("tests") or []:
            rows.append({"task_id": d["task_id"],
                         "sample_id": None if d.get("sample_id") is None else str(d["sample_id"]),
                         "kind": t["kind"], "index": t["index"], "passed": t["passed"], "status": t["status"],
                         "error_type": t.get("error_type"), "error_message": t.get("error_message"),
                         "duration_s": float(t.get("duration_s") or 0.0)})
    schema = {"task_id": pl.String, "sample_id": pl.String, "kind": pl.String, "index": pl.Int64,
              "passed": pl.Boolean, "status": pl.String, "error_type": pl.String,
              "error_message": pl.String, "duration_s": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def scan_frame(results: Sequence[Any]) -> pl.DataFrame:
    """Security-scan findings of sandbox results, one row per finding."""
    rows = []
    for r in results:
        d = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        for f in d.get("scan") or []:
            rows.append({"task_id": d["task_id"], "rule": str(f.get("rule")), "line": f.get("line"),
                         "severity": str(f.get("severity")), "message": str(f.get("message"))})
    return pl.DataFrame(rows, schema={"task_id": pl.String, "rule": pl.String, "line": pl.Int64,
                                      "severity": pl.String, "message": pl.String})


def status_counts(df: pl.DataFrame, by: Sequence[str] = ()) -> pl.DataFrame:
    """Counts per status (optionally per group), statuses in the contract's order, with shares."""
    keys = [*by, "status"]
    out = df.group_by(keys).agg(pl.len().alias("count"))
    total = pl.col("count").sum().over(list(by)) if by else pl.col("count").sum()
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    out = out.with_columns((pl.col("count") / total).round(4).alias("share"),
                           pl.col("status").replace_strict(order, default=len(order),
                                                           return_dtype=pl.Int64).alias("_o"))
    return out.sort([*by, "_o"]).drop("_o")


def failing_test(record: Mapping[str, Any], task: Any | None) -> dict[str, Any] | None:
    """The first failing test of a rollout (or Result dict) with its text and error, else None.

    ``record`` is a rollout record (with ``result``) or a Result dict. With ``task`` the test's
    source text is filled in from ``public_tests`` / ``hidden_tests``.
    """
    res = record.get("result", record) or {}
    for t in res.get("tests") or []:
        if not t.get("passed"):
            text = None
            if task is not None:
                pool = task.public_tests if t.get("kind") == "public" else task.hidden_tests
                if 0 <= int(t.get("index", -1)) < len(pool):
                    text = pool[int(t["index"])]
            return {"kind": t.get("kind"), "index": t.get("index"), "status": t.get("status"),
                    "error_type": t.get("error_type"), "error_message": t.get("error_message"),
                    "test": text}
    if res.get("status") not in (None, "passed"):
        return {"kind": None, "index": None, "status": res.get("status"),
                "error_type": res.get("status"), "error_message": res.get("error"), "test": None}
    return None


def filter_rollouts(df: pl.DataFrame | pl.LazyFrame, *, statuses: Sequence[str] | None = None,
                    task_query: str | None = None, reward_min: float | None = None,
                    reward_max: float | None = None, keep_null_reward: bool = True) -> pl.DataFrame:
    """Rows matching every given filter.

    ``statuses``: keep these statuses (None or empty = all). ``task_query``: case-sensitive
    substring of ``task_id``. ``reward_min/max``: inclusive bounds on ``reward``; rows whose reward
    is null (excluded infra errors) are kept only when no bound is given or ``keep_null_reward``
    and the bounds span the full range, never silently scored.
    """
    lf = df.lazy() if isinstance(df, pl.DataFrame) else df
    lf = lf.filter(_filter_expr(statuses, task_query, reward_min, reward_max, keep_null_reward))
    return lf.collect()


def _filter_expr(statuses, task_query, reward_min, reward_max, keep_null_reward) -> pl.Expr:
    expr = pl.lit(True)
    if statuses:
        expr = expr & pl.col("status").cast(pl.String).is_in(list(statuses))
    if task_query:
        expr = expr & pl.col("task_id").cast(pl.String).str.contains(task_query, literal=True)
    if reward_min is not None or reward_max is not None:
        r = pl.col("reward")
        cond = pl.lit(True)
        if reward_min is not None:
            cond = cond & (r >= reward_min)
        if reward_max is not None:
            cond = cond & (r <= reward_max)
        expr = expr & (cond | (r.is_null() & pl.lit(bool(keep_null_reward))))
    return expr


@dataclass
class DashboardView:
    """What one filter change recomputes: counts, pass rate, status table, reward histogram."""

    n_rows: int
    n_tasks: int
    pass_rate: float | None
    mean_reward: float | None
    status: pl.DataFrame
    reward_hist: pl.DataFrame
    compute_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def reward_range(values: pl.Series | Sequence[float | None] | None = None) -> tuple[float, float]:
    """``REWARD_RANGE`` widened to include every non-null value given (the x range of reward charts
    and the bounds of a reward filter)."""
    lo, hi = REWARD_RANGE
    if values is None:
        return lo, hi
    s = values if isinstance(values, pl.Series) else pl.Series("reward", list(values), dtype=pl.Float64)
    s = s.drop_nulls()
    if s.len():
        lo, hi = min(lo, float(s.min())), max(hi, float(s.max()))  # type: ignore[arg-type]
    return lo, hi


#: decimals the bin position is rounded to before flooring, so a value on a bin edge (0.1 on a 0.1
#: grid starting at -1) lands in the bin it starts, whatever the last bit of the division says
BIN_DECIMALS = 9


def _bin_index(col: pl.Expr, lo: float, width: float, bins: int) -> pl.Expr:
    """Equal-width bin of ``col`` on ``[lo, lo + bins * width]``; the last bin is closed on the right."""
    return ((col - lo) / width).round(BIN_DECIMALS).floor().clip(0, bins - 1).cast(pl.Int64)


def _bin_index_py(value: float, lo: float, width: float, bins: int) -> int:
    """``_bin_index`` for one Python float (the pure-Python benchmark baseline)."""
    return min(bins - 1, max(0, math.floor(round((value - lo) / width, BIN_DECIMALS))))


def dashboard_view(df: pl.DataFrame, *, statuses: Sequence[str] | None = None, task_query: str | None = None,
                   reward_min: float | None = None, reward_max: float | None = None,
                   bins: int = 20) -> DashboardView:
    """Filter a rollout frame and aggregate everything a dashboard shows, in one polars pass.

    Needs columns ``task_id, status, passed, reward``. ``compute_ms`` is the wall time of this call.
    The reward histogram has ``bins`` equal bins over ``reward_range`` of the whole frame (so the
    x axis does not move while the filters change): every scored reward is counted, negative ones too.
    """
    t0 = time.perf_counter()
    lo, hi = reward_range(df["reward"])
    width = (hi - lo) / bins
    lf = df.lazy().filter(_filter_expr(statuses, task_query, reward_min, reward_max, True))
    summary, status, hist = pl.collect_all([
        lf.select(pl.len().alias("n"), pl.col("task_id").n_unique().alias("tasks"),
                  pl.col("passed").cast(pl.Float64).mean().alias("pass_rate"),
                  pl.col("reward").mean().alias("mean_reward")),
        lf.group_by("status").agg(pl.len().alias("count")),
        lf.filter(pl.col("reward").is_not_null())
          .select(_bin_index(pl.col("reward"), lo, width, bins).alias("bin"))
          .group_by("bin").agg(pl.len().alias("count")),
    ])
    s = summary.row(0, named=True)
    status = status.with_columns(pl.col("status").cast(pl.String))
    order = {k: i for i, k in enumerate(STATUS_ORDER)}
    status = (status.with_columns(pl.col("status").replace_strict(order, default=len(order),
                                                                  return_dtype=pl.Int64).alias("_o"))
              .sort("_o").drop("_o"))
    hist = (pl.DataFrame({"bin": list(range(bins))}).join(hist, on="bin", how="left")
            .with_columns(pl.col("count").fill_null(0), (lo + pl.col("bin") * width).alias("bin_start"),
                          (lo + (pl.col("bin") + 1) * width).alias("bin_end"))
            .select("bin_start", "bin_end", "count"))
    ms = (time.perf_counter() - t0) * 1000
    return DashboardView(n_rows=int(s["n"]), n_tasks=int(s["tasks"]),
                         pass_rate=None if s["pass_rate"] is None else float(s["pass_rate"]),
                         mean_reward=None if s["mean_reward"] is None else float(s["mean_reward"]),
                         status=status, reward_hist=hist, compute_ms=ms)


def naive_dashboard_view(rows: Sequence[Mapping[str, Any]], *, statuses=None, task_query=None,
                         reward_min=None, reward_max=None, bins: int = 20) -> dict[str, Any]:
    """The same computation as ``dashboard_view`` in plain Python (benchmark baseline only)."""
    keep = set(statuses) if statuses else None
    n = passed = 0
    rsum = 0.0
    rn = 0
    tasks: set[str] = set()
    status: dict[str, int] = {}
    hist = [0] * bins
    lo, hi = reward_range([r["reward"] for r in rows])
    width = (hi - lo) / bins
    for r in rows:
        if keep is not None and r["status"] not in keep:
            continue
        if task_query and task_query not in r["task_id"]:
            continue
        rew = r["reward"]
        if rew is not None and ((reward_min is not None and rew < reward_min)
                                or (reward_max is not None and rew > reward_max)):
            continue
        n += 1
        passed += bool(r["passed"])
        tasks.add(r["task_id"])
        status[r["status"]] = status.get(r["status"], 0) + 1
        if rew is not None:
            rsum += rew
            rn += 1
            hist[_bin_index_py(rew, lo, width, bins)] += 1
    return {"n_rows": n, "n_tasks": len(tasks), "pass_rate": passed / n if n else None,
            "mean_reward": rsum / rn if rn else None, "status": status, "reward_hist": hist}


def synthetic_rollout_frame(n_rows: int, *, n_tasks: int = 500, seed: int = 0) -> pl.DataFrame:
    """A rollout-shaped frame of ``n_rows`` rows for the dashboard benchmark (not real results).

    Deterministic for a seed. Statuses and rewards follow a plausible mix; reward is null for
    ``infra_error`` rows, as in real rollouts.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    statuses = np.array(["passed", "failed", "syntax_error", "runtime_error", "timeout", "infra_error"])
    probs = np.array([0.45, 0.35, 0.08, 0.08, 0.03, 0.01])
    st = rng.choice(len(statuses), size=n_rows, p=probs)
    task = rng.integers(0, n_tasks, size=n_rows)
    reward = np.where(st == 0, 1.0, np.where(st == 1, rng.uniform(0, 0.9, n_rows).round(2), 0.0))
    df = pl.DataFrame({
        "task_id": pl.Series([f"HumanEval/{i}" for i in range(n_tasks)])[task],
        "sample_id": np.arange(n_rows) % 16,
        "status": statuses[st],
        "passed": st == 0,
        "reward": reward,
    })
    return df.with_columns(pl.when(pl.col("status") == "infra_error").then(None)
                           .otherwise(pl.col("reward")).alias("reward"))


def bench_notebooks(rows: int = 1_000_000, *, repeats: int = 5, seed: int = 0) -> dict[str, Any]:
    """Time a dashboard filter update (``dashboard_view``) over ``rows`` rollout rows against the
    same computation in pure Python over a list of dicts, in the same process.

    Returns medians in ms plus the ratio; the filters are a status multi-select, a task substring
    and a reward range — the three controls of the rollout dashboard.
    """
    import statistics

    df = synthetic_rollout_frame(rows, seed=seed)
    filters = [
        dict(statuses=["passed", "failed"], task_query="HumanEval/1", reward_min=0.2, reward_max=1.0),
        dict(statuses=["failed"], task_query=None, reward_min=0.0, reward_max=0.5),
        dict(statuses=None, task_query="/4", reward_min=None, reward_max=None),
    ]
    polars_ms: list[float] = []
    views = []
    for _ in range(repeats):
        for f in filters:
            v = dashboard_view(df, **f)
            polars_ms.append(v.compute_ms)
            views.append(v)
    py_rows = df.to_dicts()
    naive_ms: list[float] = []
    naive = []
    for f in filters:
        t0 = time.perf_counter()
        naive.append(naive_dashboard_view(py_rows, **f))
        naive_ms.append((time.perf_counter() - t0) * 1000)
    for v, nv in zip(views[: len(filters)], naive, strict=True):
        if v.n_rows != nv["n_rows"] or v.reward_hist["count"].to_list() != nv["reward_hist"]:
            raise AssertionError("polars and pure-Python dashboard views disagree")
    pm = statistics.median(polars_ms)
    nm = statistics.median(naive_ms)
    return {"rows": rows, "repeats": repeats, "filters": len(filters),
            "polars_median_ms": pm, "polars_max_ms": max(polars_ms), "naive_median_ms": nm,
            "speedup": nm / pm if pm else float("inf"), "target_ms": 300.0,
            "meets_target": max(polars_ms) <= 300.0}


# ---------------------------------------------------------------------------------------------
# Rewards


def reward_summary(df: pl.DataFrame, by: Sequence[str] = ("backend",)) -> pl.DataFrame:
    """Per group: rollouts, excluded (null reward), mean reward, pass rate, parser failures."""
    by = [c for c in by if c in df.columns]
    aggs = [pl.len().alias("rollouts"),
            pl.col("reward").is_null().sum().alias("excluded"),
            pl.col("reward").mean().alias("mean_reward"),
            pl.col("passed").cast(pl.Float64).mean().alias("pass_rate")]
    if "parse_status" in df.columns:
        aggs.append((pl.col("parse_status") != "ok").sum().alias("parse_failures"))
    out = df.group_by(by).agg(aggs) if by else df.select(aggs)
    return out.sort(by) if by else out


def reward_histograms(df: pl.DataFrame, by: str, *, bins: int = 20,
                      value_range: tuple[float, float] | None = None) -> pl.DataFrame:
    """Reward histograms per group (long: ``group, bin_start, bin_end, count``), every group on the
    same bins over ``value_range`` (default ``reward_range`` of ``df``: [-1, 1] or wider), so each
    scored reward — negative ones included — is counted once."""
    lo, hi = value_range or reward_range(df["reward"])
    parts = []
    for (g,), sub in df.group_by([by], maintain_order=True):
        h = histogram(sub["reward"], bins=bins, lo=lo, hi=hi, name="reward")
        parts.append(h.with_columns(pl.lit(str(g)).alias("group")))
    if not parts:
        return pl.DataFrame(schema={"group": pl.String, "bin_start": pl.Float64, "bin_end": pl.Float64,
                                    "count": pl.UInt32})
    return pl.concat(parts).select("group", "bin_start", "bin_end", "count")


def partial_credit(df: pl.DataFrame) -> pl.DataFrame:
    """Share of tests passed (public + hidden) vs. full pass: the partial-credit structure.

    Columns: ``tests_passed_share`` bucket (tenths) and counts of rollouts by ``passed``.
    """
    tot = pl.col("public_total") + pl.col("hidden_total")
    share = pl.when(tot > 0).then((pl.col("public_passed") + pl.col("hidden_passed")) / tot).otherwise(0.0)
    return (df.with_columns((share * 10).floor().clip(0, 10).cast(pl.Int64).alias("tenth"))
            .group_by("tenth", "passed").agg(pl.len().alias("rollouts"))
            .with_columns((pl.col("tenth") / 10).alias("tests_passed_share")).drop("tenth")
            .sort("tests_passed_share", "passed"))


def public_hidden_gap(df: pl.DataFrame) -> pl.DataFrame:
    """Per task: share of rollouts passing all public tests vs. all hidden tests, and the gap.

    A large positive gap means solutions overfit the visible tests (or the public tests are weak).
    """
    pub_ok = (pl.col("public_total") > 0) & (pl.col("public_passed") == pl.col("public_total"))
    hid_ok = (pl.col("hidden_total") > 0) & (pl.col("hidden_passed") == pl.col("hidden_total"))
    return (df.group_by("task_id")
            .agg(pl.len().alias("rollouts"), pub_ok.cast(pl.Float64).mean().alias("public_pass"),
                 hid_ok.cast(pl.Float64).mean().alias("hidden_pass"))
            .with_columns((pl.col("public_pass") - pl.col("hidden_pass")).alias("gap"))
            .sort("gap", "task_id", descending=[True, False]))


def per_task(df: pl.DataFrame) -> pl.DataFrame:
    """Per task: rollouts, passes, pass rate, mean reward (drill-down table)."""
    return (df.group_by("task_id")
            .agg(pl.len().alias("rollouts"), pl.col("passed").sum().alias("passes"),
                 pl.col("passed").cast(pl.Float64).mean().alias("pass_rate"),
                 pl.col("reward").mean().alias("mean_reward"))
            .sort("task_id"))


# ---------------------------------------------------------------------------------------------
# Training metrics


METRIC_FIELDS = ("reward_mean", "reward_std", "frac_reward_zero_std", "informative_share", "kl",
                 "entropy", "clip_ratio", "completion_length", "sandbox_share",
                 "heldout_greedy_pass_at_1", "heldout_sampled_pass_at_1")


def read_metrics(path: str | os.PathLike) -> tuple[pl.DataFrame, list[Problem]]:
    """A run's ``metrics.jsonl`` as a frame (one row per step), tolerant of a run still writing.

    A truncated last line (the writer mid-record) is skipped and reported in the problems; every
    other bad line raises ``DataError``. An empty file gives an empty frame.
    """
    records, problems = read_jsonl(path, tolerate_truncated_tail=True, allow_empty=True)
    rows = []
    for line, r in records:
        if "step" not in r:
            raise DataError(Problem(str(path), line, "step", "missing required field"))
        rows.append({k: v for k, v in r.items() if isinstance(v, (int, float, str, bool)) or v is None})
    if not rows:
        return pl.DataFrame(schema={"step": pl.Int64}), problems
    df = pl.DataFrame(rows, infer_schema_length=None)
    num = [c for c, t in df.schema.items() if t.is_numeric() or t == pl.Boolean]
    return df.select(num).with_columns(pl.col("step").cast(pl.Int64)).sort("step"), problems


def metrics_long(frames: Mapping[str, pl.DataFrame], metrics: Sequence[str], *,
                 max_points: int = 400) -> pl.DataFrame:
    """Long frame ``run, step, metric, value`` for charting; each series thinned to ``max_points``
    by step-bucket means (so a 100k-step run still embeds ≤ max_points per line)."""
    parts = []
    for run, df in frames.items():
        cols = [m for m in metrics if m in df.columns]
        if not cols or df.height == 0:
            continue
        d = df.select("step", *cols)
        if d.height > max_points:
            width = math.ceil((d["step"].max() - d["step"].min() + 1) / max_points)
            d = (d.with_columns(((pl.col("step") - d["step"].min()) // width).alias("_b"))
                 .group_by("_b").agg(pl.col("step").max(), *[pl.col(c).mean() for c in cols])
                 .drop("_b").sort("step"))
        long = d.unpivot(index="step", on=cols, variable_name="metric", value_name="value")
        parts.append(long.drop_nulls("value").with_columns(pl.lit(run).alias("run"),
                                                           pl.col("value").cast(pl.Float64)))
    if not parts:
        return pl.DataFrame(schema={"run": pl.String, "step": pl.Int64, "metric": pl.String,
                                    "value": pl.Float64})
    return pl.concat(parts).select("run", "step", "metric", "value")


def metrics_last(frames: Mapping[str, pl.DataFrame], metrics: Sequence[str]) -> pl.DataFrame:
    """Per run: the last step and the last non-null value of each metric."""
    rows = []
    for run, df in frames.items():
        row: dict[str, Any] = {"run": run, "steps": df.height,
                               "last_step": int(df["step"].max()) if df.height else None}
        for m in metrics:
            if m in df.columns:
                s = df[m].drop_nulls()
                row[m] = float(s[-1]) if s.len() else None
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


# ---------------------------------------------------------------------------------------------
# Paired comparison


def per_task_pass(df: pl.DataFrame) -> pl.DataFrame:
    """Per task: samples, passes, pass rate and ``first_pass`` (sample with the smallest
    sample_id passed) — the per-task unit the paired tests use. Rows with null reward
    (infra errors) are excluded, never scored as failures."""
    d = df.filter(pl.col("status") != "infra_error") if "status" in df.columns else df
    if "sample_id" not in d.columns:
        d = d.with_columns(pl.lit(0).alias("sample_id"))
    return (d.sort("task_id", "sample_id")
            .group_by("task_id", maintain_order=True)
            .agg(pl.len().alias("n"), pl.col("passed").sum().alias("c"),
                 pl.col("passed").cast(pl.Float64).mean().alias("rate"),
                 pl.col("passed").first().alias("first_pass"),
                 pl.col("passed").cast(pl.Int8).alias("outcomes")))


def paired_frame(base: pl.DataFrame, cand: pl.DataFrame) -> pl.DataFrame:
    """Inner join of per-task results of two rollout frames on task_id (tasks in both only)."""
    b = per_task_pass(base).rename(lambda c: c if c == "task_id" else f"base_{c}")
    c = per_task_pass(cand).rename(lambda c: c if c == "task_id" else f"cand_{c}")
    out = b.join(c, on="task_id", how="inner").sort("task_id")
    return out.with_columns(
        pl.when(pl.col("base_first_pass") & pl.col("cand_first_pass")).then(pl.lit("both pass"))
        .when(pl.col("base_first_pass")).then(pl.lit("baseline only"))
        .when(pl.col("cand_first_pass")).then(pl.lit("candidate only"))
        .otherwise(pl.lit("both fail")).alias("cell"),
        (pl.col("cand_rate") - pl.col("base_rate")).alias("rate_diff"))


def table_frame(table: Mapping[str, int]) -> pl.DataFrame:
    """The 2×2 paired table as a small frame (rows: baseline, columns: candidate)."""
    return pl.DataFrame({
        "baseline": ["pass", "fail"],
        "candidate pass": [table["a"], table["c"]],
        "candidate fail": [table["b"], table["d"]],
    })


def power_grid(n_tasks_options: Sequence[int], p_pos: float, p_neg: float, alpha: float = 0.05) -> pl.DataFrame:
    """Exact McNemar power for each task count (``codeself.stats.mcnemar_power``)."""
    from codeself import stats

    return pl.DataFrame({"n_tasks": list(n_tasks_options),
                         "power": [float(stats.mcnemar_power(n, p_pos, p_neg, alpha)) for n in n_tasks_options]})


# ---------------------------------------------------------------------------------------------
# Charts (altair, over aggregated frames only)


def _alt():
    import altair as alt

    return alt


def bar_chart(df: pl.DataFrame, x: str, y: str, *, color: str | None = None, title: str = "",
              sort: Sequence[str] | None = None, width: int = 360, height: int = 200):
    alt = _alt()
    enc: dict[str, Any] = {"x": alt.X(f"{x}:N", sort=list(sort) if sort else None, title=x),
                           "y": alt.Y(f"{y}:Q", title=y), "tooltip": list(df.columns)}
    if color:
        enc["color"] = alt.Color(f"{color}:N")
    return alt.Chart(df).mark_bar().encode(**enc).properties(
        title=title, width=width, height=height)


def hist_chart(df: pl.DataFrame, *, x_title: str = "value", title: str = "", color: str | None = None,
               width: int = 360, height: int = 180):
    """A histogram from ``histogram()`` / ``reward_histograms()`` output (pre-binned)."""
    alt = _alt()
    enc: dict[str, Any] = {"x": alt.X("bin_start:Q", bin="binned", title=x_title), "x2": "bin_end:Q",
                           "y": alt.Y("count:Q", title="count"), "tooltip": list(df.columns)}
    if color:
        enc["color"] = alt.Color(f"{color}:N", legend=None)
        return (alt.Chart(df).mark_bar(opacity=0.85).encode(**enc)
                .properties(width=width, height=height // 2)
                .facet(row=alt.Row(f"{color}:N", title=None)).properties(title=title))
    return alt.Chart(df).mark_bar().encode(**enc).properties(title=title, width=width, height=height)


def line_chart(df: pl.DataFrame, *, x: str = "step", y: str = "value", color: str = "run",
               facet: str | None = "metric", title: str = "", width: int = 260, height: int = 150,
               columns: int = 3):
    """Lines from a long frame (``metrics_long``), one panel per metric."""
    alt = _alt()
    keys = [k for k in (color, facet) if k and k in df.columns]
    per_series = int(df.group_by(keys).len()["len"].max() or 0) if keys and df.height else df.height
    base = alt.Chart(df).mark_line(point=per_series <= 60).encode(
        x=alt.X(f"{x}:Q"), y=alt.Y(f"{y}:Q", scale=alt.Scale(zero=False)), color=alt.Color(f"{color}:N"),
        tooltip=list(df.columns)).properties(width=width, height=height)
    if facet:
        return base.facet(facet=alt.Facet(f"{facet}:N", title=None), columns=columns).resolve_scale(
            y="independent").properties(title=title)
    return base.properties(title=title)


def chart_rows(chart) -> int:
    """Number of data rows embedded in an altair chart (what ends up in HTML/JSON exports)."""
    spec = chart.to_dict()
    n = 0
    for ds in (spec.get("datasets") or {}).values():
        n += len(ds)
    data = spec.get("data") or {}
    n += len(data.get("values") or [])
    return n


def to_json_records(df: pl.DataFrame) -> list[dict[str, Any]]:
    """Frame rows as JSON-safe dicts (for widgets)."""
    return json.loads(df.write_json())


# ---------------------------------------------------------------------------------------------
# Agent traces


def code_diff(old: str | None, new: str | None, *, context: int = 2) -> str:
    """Unified diff between two attempts (empty string for the first attempt or no change)."""
    import difflib

    if old is None or new is None or old == new:
        return ""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        "previous", "this turn", n=context))


def normalize_trace(trace: Mapping[str, Any]) -> dict[str, Any]:
    """One agent trace as ``{task_id, final_status, passed, turns: [{code, status, public/hidden
    counts, feedback, diff}]}``; ``diff`` is against the previous turn's code.

    Accepts turns under ``turns`` (or ``attempts``); each turn's verdict under ``result`` (a Result
    dict) or flat ``status``/``passed`` fields.
    """
    turns_in = trace.get("turns", trace.get("attempts")) or []
    turns = []
    prev = None
    for k, u in enumerate(turns_in):
        res = u.get("result") or {}
        code = u.get("code") or ""
        turns.append({
            "turn": u.get("turn", k), "code": code,
            "status": res.get("status", u.get("status", "unknown")),
            "passed": bool(res.get("passed", u.get("passed", False))),
            "public_passed": res.get("public_passed", u.get("public_passed", 0)),
            "public_total": res.get("public_total", u.get("public_total", 0)),
            "hidden_passed": res.get("hidden_passed", u.get("hidden_passed", 0)),
            "hidden_total": res.get("hidden_total", u.get("hidden_total", 0)),
            "feedback": u.get("feedback") or "", "diff": code_diff(prev, code) if k else "",
            "prompt": u.get("prompt") or "", "parse_status": u.get("parse_status") or "",
        })
        prev = code
    final = trace.get("final_status") or (turns[-1]["status"] if turns else "unknown")
    fin = trace.get("final") or {}
    return {"task_id": str(trace.get("task_id", "?")), "sample_id": trace.get("sample_id"),
            "final_status": final, "final_turn": trace.get("final_turn", len(turns) - 1),
            "stop_reason": trace.get("stop_reason") or "",
            "final_hidden": f"{fin.get('hidden_passed', 0)}/{fin.get('hidden_total', 0)}" if fin else "",
            "passed": bool(trace.get("passed", turns[-1]["passed"] if turns else False)), "turns": turns}


def traces_frame(traces: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Per trace: task, turns used, final status, whether it passed, turn of the first pass."""
    rows = []
    for t in traces:
        n = normalize_trace(t)
        first = next((u["turn"] for u in n["turns"] if u["passed"]), None)
        rows.append({"task_id": n["task_id"], "turns": len(n["turns"]), "final_status": n["final_status"],
                     "passed": n["passed"], "first_pass_turn": first})
    return pl.DataFrame(rows, schema={"task_id": pl.String, "turns": pl.Int64, "final_status": pl.String,
                                      "passed": pl.Boolean, "first_pass_turn": pl.Int64})


# ---------------------------------------------------------------------------------------------
# Programs to run (sandbox notebook)


def read_programs(path: str | os.PathLike) -> tuple[list[dict[str, Any]], int]:
    """Programs from a solutions or rollout file (:func:`codeself.solutions.read_solutions`, the one
    reader): ``(programs, n_without_code)``; a program without a ``sample_id`` is labelled by its line."""
    from codeself.solutions import read_solutions

    read = read_solutions(path)
    return [{**p, "sample_id": p["line"] if p["sample_id"] is None else p["sample_id"]} for p in read.programs], \
        read.without_code


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


def scatter_chart(df: pl.DataFrame, x: str, y: str, *, color: str | None = None, title: str = "",
                  width: int = 320, height: int = 260):
    """Points (one per task) with the y = x diagonal: above it the candidate did better."""
    alt = _alt()
    enc: dict[str, Any] = {"x": alt.X(f"{x}:Q", scale=alt.Scale(domain=[0, 1])),
                           "y": alt.Y(f"{y}:Q", scale=alt.Scale(domain=[0, 1])), "tooltip": list(df.columns)}
    if color:
        enc["color"] = alt.Color(f"{color}:N")
    pts = alt.Chart(df).mark_circle(size=60, opacity=0.8).encode(**enc)
    diag = alt.Chart(pl.DataFrame({"a": [0.0, 1.0]})).mark_line(color="#999", strokeDash=[4, 4]).encode(
        x="a:Q", y="a:Q")
    return (diag + pts).properties(title=title, width=width, height=height)


def comparison_summary(cmp: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``key_numbers`` and ``verdict_lines`` of a ``compare_rollouts`` result (notebook 05)."""
    key_numbers = {
        "n_tasks": cmp["n_tasks"], "pairing": cmp["pairing"],
        "baseline_pass_at_1": round(cmp["baseline_pass_at_1"], 4),
        "candidate_pass_at_1": round(cmp["candidate_pass_at_1"], 4),
        "diff": round(cmp["diff"], 4), "diff_ci_low": round(cmp["diff_ci"][0], 4),
        "diff_ci_high": round(cmp["diff_ci"][1], 4), "mcnemar_p": cmp["mcnemar_p"],
        "mcnemar_midp": cmp["mcnemar_midp"], "b": cmp["table"]["b"], "c": cmp["table"]["c"],
        "wilcoxon_p": cmp["wilcoxon"]["pvalue"], "permutation_p": cmp["permutation"]["pvalue"],
    }
    verdict_lines = [
        f"{cmp['candidate']} vs {cmp['baseline']} on {cmp['n_tasks']} tasks: pass@1 "
        f"{cmp['baseline_pass_at_1']:.3f} → {cmp['candidate_pass_at_1']:.3f} "
        f"(diff {cmp['diff']:+.3f}, 95% CI [{cmp['diff_ci'][0]:+.3f}, {cmp['diff_ci'][1]:+.3f}]).",
        f"Exact McNemar p = {cmp['mcnemar_p']:.4g} ({cmp['table']['c']} "
        f"{'tasks' if cmp['pairing'] == 'greedy' else '(task, sample) pairs'} fixed, "
        f"{cmp['table']['b']} broken; pairing {cmp['pairing']})"
        + ("." if cmp["pairing"] == "greedy" else
           f"; samples of a task are correlated, so the task-level tests decide: Wilcoxon p = "
           f"{cmp['wilcoxon']['pvalue']:.4g}, permutation p = {cmp['permutation']['pvalue']:.4g}."),
    ]
    return key_numbers, verdict_lines


# ---------------------------------------------------------------------------------------------
# study verdicts (04_training): both arms side by side


def study_verdicts(args: Mapping[str, Any], root: Path = RUNS) -> tuple[list[dict[str, Any]], str, list[str]]:
    """The ``verdict.json`` of finished studies: every ``--study DIR`` given; else every
    ``data/runs/*/verdict.json``; else the bundled ``data/examples/study_verdicts.jsonl`` (the
    measured seeds 1–3 of both arms). Returns ``(verdicts, note, paths_read)``; a ``--study`` dir
    without a verdict raises ``FileNotFoundError`` naming it."""
    given = args.get("study")
    dirs = [given] if isinstance(given, str) else list(given or [])
    if dirs:
        files = [Path(d) / "verdict.json" for d in dirs]
        for f in files:
            if not f.is_file():
                raise FileNotFoundError(f"{f.parent}: no verdict.json (is the study finished?)")
        note = f"Studies given with `--study`: {', '.join(map(str, dirs))}."
    else:
        files = sorted(root.glob("*/verdict.json")) if root.is_dir() else []
        note = f"Finished studies under `{_rel(root)}`." if files else ""
    if files:
        verdicts = [json.loads(f.read_text()) for f in files]
        return verdicts, note, [str(f) for f in files]
    example = EXAMPLES / "study_verdicts.jsonl"
    verdicts = [json.loads(line) for line in example.read_text().splitlines() if line.strip()]
    return verdicts, (f"No finished study yet: showing the bundled `{_rel(example)}` (seeds 1–3, both arms, "
                      "measured by `codeself study --seed S [--arm control]`)."), [str(example)]


def verdicts_frame(verdicts: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """One row per study, arms side by side (``holdout``: ``test`` for the held-out study, ``validation``
    for a settings-selection study): greedy before/after with the exact McNemar p, the sampled
    difference with its 95% cluster-bootstrap CI, and whether the target is met: the verdict's
    ``significant`` flag (:func:`codeself.training.verdict.is_significant`)."""
    rows = []
    for v in verdicts:
        lo, hi = v["sampled_diff_ci"]
        rows.append({
            "seed": int(v["seed"]), "arm": str(v.get("arm", "default")),
            "holdout": str(v.get("holdout", "test")), "n_tasks": int(v["n_tasks"]),
            "greedy_before": float(v["baseline_pass_at_1"]), "greedy_after": float(v["trained_pass_at_1"]),
            "mcnemar_p": float(v["mcnemar_p"]), "sampled_diff": float(v["sampled_diff"]),
            "ci_low": float(lo), "ci_high": float(hi),
            "target_met": is_significant(v),
        })
    schema = {"seed": pl.Int64, "arm": pl.Utf8, "holdout": pl.Utf8, "n_tasks": pl.Int64, "greedy_before": pl.Float64,
              "greedy_after": pl.Float64, "mcnemar_p": pl.Float64, "sampled_diff": pl.Float64,
              "ci_low": pl.Float64, "ci_high": pl.Float64, "target_met": pl.Boolean}
    return pl.DataFrame(rows, schema=schema).sort("arm", "seed")


# ---------------------------------------------------------------------------------------------
# settings selection on validation compositions (04_training)


def selection_frame(args: Mapping[str, Any], root: Path = RUNS) -> tuple[pl.DataFrame, str, list[str]]:
    """The validation studies of a settings selection (``codeself train select``), one row per
    (setting, seed): ``--selection DIR`` (or ``DIR/selection.json``) given; else
    ``data/runs/select/selection.json``; else the bundled ``data/examples/selection.json`` (the
    selection that chose the study's lr). Returns ``(frame, note, paths_read)``; an explicit path
    without a ``selection.json`` raises ``FileNotFoundError`` naming it."""
    given = cli_value(args, "selection")
    if given:
        p = Path(given).expanduser()
        p = p / "selection.json" if p.is_dir() else p
        if not p.is_file():
            raise FileNotFoundError(f"--selection {given}: no selection.json there")
        note = f"Selection given with `--selection`: `{p}`."
    else:
        p = root / "select" / "selection.json"
        note = f"The selection under `{_rel(p.parent)}`."
        if not p.is_file():
            p = EXAMPLES / "selection.json"
            note = (f"No selection run here: showing the bundled `{_rel(p)}`, made by `codeself train select "
                    "--grid lr=5e-5,1e-4,2e-4,4e-4 --seeds 101,102 --jobs 2 --output-dir data/runs/select`.")
    sel = json.loads(p.read_text())
    rows = []
    for i, c in enumerate(sel["candidates"]):
        name = ", ".join(f"{k}={v}" for k, v in c["setting"].items())
        for r in c["runs"]:
            lo, hi = r["sampled_diff_ci"]
            rows.append({"setting": name, "seed": int(r["seed"]), "greedy_before": float(r["baseline_pass_at_1"]),
                         "greedy_after": float(r["trained_pass_at_1"]), "mcnemar_p": float(r["mcnemar_p"]),
                         "sampled_diff": float(r["sampled_diff"]), "ci_low": float(lo), "ci_high": float(hi),
                         "significant": is_significant(r), "chosen": i == sel["chosen_index"]})
    schema = {"setting": pl.Utf8, "seed": pl.Int64, "greedy_before": pl.Float64, "greedy_after": pl.Float64,
              "mcnemar_p": pl.Float64, "sampled_diff": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
              "significant": pl.Boolean, "chosen": pl.Boolean}
    chosen = ", ".join(f"{k}={v}" for k, v in sel["chosen"].items())
    note += f" Rule: {sel['rule']}. Chosen: **{chosen}**."
    return pl.DataFrame(rows, schema=schema), note, [str(p)]


def ci_chart(df: pl.DataFrame, *, x: str = "setting", title: str = "", width: int = 360, height: int = 220):
    """Sampled pass@1 difference with its 95% CI per ``x`` value and seed, and the zero line: a CI
    wholly above the line is an improvement."""
    alt = _alt()
    order = list(dict.fromkeys(df[x].to_list()))
    base = alt.Chart(df).encode(x=alt.X(f"{x}:N", sort=order, title=x), xOffset="seed:N",
                                color=alt.Color("seed:N"), tooltip=list(df.columns))
    bars = base.mark_rule(strokeWidth=2).encode(y=alt.Y("ci_low:Q", title="sampled pass@1 difference (95% CI)"),
                                                y2="ci_high:Q")
    pts = base.mark_point(filled=True, size=50).encode(y="sampled_diff:Q")
    zero = alt.Chart(pl.DataFrame({"zero": [0.0]})).mark_rule(color="#999", strokeDash=[4, 4]).encode(y="zero:Q")
    return (bars + pts + zero).properties(title=title, width=width, height=height)
