"""Choose study settings on *validation* compositions, never on the held-out split.

``codeself train select --grid lr=5e-5,1e-4,2e-4,4e-4 --seeds 101,102 --output-dir D`` runs the
default study protocol with ``holdout="validation"`` (:mod:`codeself.training.study`) for every
combination of grid values and seeds, each in ``D/<setting>-seed<S>/``, and picks one setting by a
rule fixed *before* any result is seen:

1. the most seeds whose validation study is ``significant`` by the study's own verdict rule
   (:mod:`codeself.training.verdict`: greedy pass@1 up with exact McNemar p < ``alpha`` **and** the
   sampled-pass@1 difference with its 95% cluster-bootstrap CI above 0);
2. then the highest mean lower bound of that CI over seeds (a robust effect, not a lucky one);
3. then the highest mean greedy pass@1 difference;
4. then the first setting in grid order.

``D/selection.json`` keeps every run's numbers, the rule and the choice; ``D/selection.md`` is the
table; ``D/chosen.toml`` is the chosen setting, usable as ``codeself study --config D/chosen.toml``.
Finished studies are reused (a study directory with the same configuration returns its verdict), so
an interrupted selection resumes where it stopped.

Guaranteed: the validation protocol generates no held-out composition (``run_study`` checks it and raises), so
the selection never sees the held-out split. Not guaranteed: that a setting chosen on validation
compositions with the validation protocol's smaller train set (482 instead of 600 ``arith``
compositions) is the best one for the held-out protocol — that is what the held-out study then tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, fields
from itertools import product
from pathlib import Path
from typing import Any

from codeself.training.config import TrainInputError
from codeself.training.study import StudyConfig, check_config, check_run_dir
from codeself.training.verdict import DEFAULT_ALPHA, is_significant
from codeself.training.verdict import RULE as VERDICT_RULE

#: Settings a grid may not vary: they define the protocol or the run, not the training recipe.
FIXED = ("seed", "output_dir", "holdout", "arm", "family", "n_heldout", "eval_samples", "n_bootstrap",
         "alpha", "model_root", "workers", "temperature")

RULE = (f"most seeds significant ({VERDICT_RULE}); then highest mean sampled-CI lower "
        "bound; then highest mean greedy difference; then first in grid order")


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["lr=5e-5,1e-4", "max_steps=50"]`` → ``{"lr": [5e-05, 0.0001], "max_steps": [50]}``.

    Values are converted to the :class:`StudyConfig` field's type; unknown, fixed or repeated keys
    and unparsable values raise ``TrainInputError`` naming the item.
    """
    types = {f.name: f.type for f in fields(StudyConfig)}
    defaults = asdict(StudyConfig())
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, vals = item.partition("=")
        key = key.strip()
        if not sep or not key or not vals.strip():
            raise TrainInputError(f"--grid {item!r}: expected KEY=V1,V2,…")
        if key not in types:
            raise TrainInputError(f"--grid {item!r}: unknown study setting {key!r} "
                                  f"(known: {', '.join(sorted(types))})")
        if key in FIXED:
            raise TrainInputError(f"--grid {item!r}: {key!r} defines the protocol, not the recipe; it cannot be selected")
        if key in grid:
            raise TrainInputError(f"--grid {item!r}: {key!r} given twice")
        kind = type(defaults[key])
        out = []
        for raw in vals.split(","):
            raw = raw.strip()
            try:
                if kind is bool:
                    if raw.lower() not in ("true", "false"):
                        raise ValueError(raw)
                    out.append(raw.lower() == "true")
                else:
                    out.append(kind(raw))
            except ValueError:
                raise TrainInputError(f"--grid {item!r}: {raw!r} is not a valid {kind.__name__} for {key!r}") from None
        if len(set(out)) != len(out):
            raise TrainInputError(f"--grid {item!r}: repeated value")
        grid[key] = out
    if not grid:
        raise TrainInputError("--grid: give at least one KEY=V1,V2,… to choose among")
    return grid


def setting_name(setting: dict[str, Any]) -> str:
    """Directory-safe name of a setting, e.g. ``lr0.0001`` or ``lr5e-05-max_steps100``."""
    return "-".join(f"{k}{v!r}" if isinstance(v, float) else f"{k}{v}" for k, v in setting.items())


def plan(base: dict[str, Any], grid: dict[str, list[Any]], seeds: list[int], output_dir: Path) -> list[StudyConfig]:
    """Every (setting, seed) validation study, setting-major, each checked before any compute
    (settings, and that no study directory already holds a different run)."""
    if not seeds:
        raise TrainInputError("--seeds: give at least one seed")
    if len(set(seeds)) != len(seeds):
        raise TrainInputError(f"--seeds {seeds}: repeated seed")
    bad = sorted(set(base) & {"seed", "output_dir", "holdout"})
    if bad:
        raise TrainInputError(f"base config sets {', '.join(bad)}: the selection sets these itself")
    cfgs = []
    keys = list(grid)
    for values in product(*(grid[k] for k in keys)):
        setting = dict(zip(keys, values, strict=True))
        for seed in seeds:
            d = {**base, **setting, "seed": seed, "holdout": "validation",
                 "output_dir": str(output_dir / f"{setting_name(setting)}-seed{seed}")}
            try:
                cfg = StudyConfig.from_dict(d, source="selection")
            except TypeError as e:
                raise TrainInputError(f"selection: {e}") from None
            check_config(cfg)
            check_run_dir(cfg)  # a directory holding another run is refused now, not hours later
            cfgs.append(cfg)
    return cfgs


def _run_one(cfg: StudyConfig, log_dir: Path, in_process: bool) -> dict[str, Any]:
    """Run one validation study (in this process, or as ``python -m codeself.cli study``)."""
    from codeself.io import atomic_write_json
    from codeself.training.study import run_study

    d = Path(cfg.output_dir)
    if in_process or (d / "verdict.json").is_file():  # a finished study is returned as measured
        return run_study(cfg, progress=False, log=lambda m: None)
    cfg_file = log_dir / f"{d.name}.json"
    atomic_write_json(cfg_file, {"config": asdict(cfg)})
    log = log_dir / f"{d.name}.log"
    with log.open("w") as fh:
        proc = subprocess.run([sys.executable, "-m", "codeself.cli", "study", "--config", str(cfg_file)],
                              stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "TQDM_DISABLE": "1"})
    if proc.returncode != 0 or not (d / "verdict.json").is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        raise TrainInputError(f"validation study {d} failed (exit {proc.returncode}); see {log}:\n" + "\n".join(tail))
    return json.loads((d / "verdict.json").read_text())


def score(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The rule's keys for one setting's validation verdicts."""
    n = len(runs)
    return {
        "n_significant": sum(is_significant(v) for v in runs),
        "mean_ci_low": sum(v["sampled_diff_ci"][0] for v in runs) / n,
        "mean_greedy_diff": sum(v["greedy_diff"] for v in runs) / n,
        "n_seeds": n,
    }


def choose(candidates: list[dict[str, Any]]) -> int:
    """Index of the chosen candidate (see the module's rule); ties go to the earlier one."""
    best = 0
    for i, c in enumerate(candidates):
        a, b = c["score"], candidates[best]["score"]
        if (a["n_significant"], a["mean_ci_low"], a["mean_greedy_diff"]) > (
                b["n_significant"], b["mean_ci_low"], b["mean_greedy_diff"]):
            best = i
    return best


def run_selection(
    grid: dict[str, list[Any]],
    seeds: list[int],
    output_dir: str | os.PathLike,
    *,
    base: dict[str, Any] | None = None,
    jobs: int = 1,
    progress: bool = True,
    log=print,
) -> dict[str, Any]:
    """Run the grid on validation compositions and choose a setting; returns ``selection.json``'s dict.

    ``jobs`` > 1 runs that many studies at once, each in its own process (one torch thread each; on
    2 cores ``jobs=2`` roughly halves the wall time). ``jobs=1`` runs them in this process.
    """
    from codeself.io import atomic_write_json, atomic_write_text

    if jobs < 1:
        raise TrainInputError(f"jobs={jobs}: must be >= 1")
    out = Path(output_dir)
    cfgs = plan(dict(base or {}), grid, seeds, out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    verdicts: dict[str, dict[str, Any]] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(cfgs), desc="validation studies", unit="study")

    def one(cfg: StudyConfig) -> tuple[str, dict[str, Any]]:
        v = _run_one(cfg, out, in_process=jobs == 1)
        if bar is not None:
            bar.update(1)
        log(f"{Path(cfg.output_dir).name}: greedy {v['baseline_pass_at_1']:.3f} → {v['trained_pass_at_1']:.3f} "
            f"(p = {v['mcnemar_p']:.2g}), sampled {v['sampled_diff']:+.3f} "
            f"[{v['sampled_diff_ci'][0]:+.3f}, {v['sampled_diff_ci'][1]:+.3f}]")
        return cfg.output_dir, v

    try:
        if jobs == 1:
            for cfg in cfgs:
                k, v = one(cfg)
                verdicts[k] = v
        else:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                for k, v in pool.map(one, cfgs):
                    verdicts[k] = v
    finally:
        if bar is not None:
            bar.close()

    keys = list(grid)
    candidates = []
    for values in product(*(grid[k] for k in keys)):
        setting = dict(zip(keys, values, strict=True))
        runs = []
        for cfg in cfgs:
            if all(getattr(cfg, k) == v for k, v in setting.items()):
                v = verdicts[cfg.output_dir]
                runs.append({"seed": cfg.seed, "run_dir": cfg.output_dir, **{k: v[k] for k in (
                    "n_tasks", "n_train", "baseline_pass_at_1", "trained_pass_at_1", "greedy_diff", "mcnemar_p",
                    "sampled_diff", "sampled_diff_ci", "reward_share_mean")},
                    "alpha": v.get("alpha", DEFAULT_ALPHA), "significant": is_significant(v),
                    "wall_s": v.get("wall_s_this_invocation")})
        candidates.append({"setting": setting, "runs": runs, "score": score(runs)})
    best = choose(candidates)
    chosen = candidates[best]["setting"]
    result = {
        "holdout": "validation",
        "grid": grid,
        "seeds": seeds,
        "base": dict(base or {}),
        "rule": RULE,
        "candidates": candidates,
        "chosen": chosen,
        "chosen_index": best,
        "wall_s": round(time.time() - t0, 1),
    }
    atomic_write_json(out / "selection.json", result)
    atomic_write_text(out / "selection.md", selection_table(result) + "\n")
    atomic_write_text(out / "chosen.toml", "".join(f"{k} = {_toml(v)}\n" for k, v in {**(base or {}), **chosen}.items()))
    return result


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    return repr(v)


def selection_table(sel: dict[str, Any]) -> str:
    """Markdown: one row per (setting, seed), the setting's score, and the choice."""
    rows = ["| setting | seed | greedy before → after | McNemar p | sampled diff [95% CI] | significant |",
            "|---|---|---|---|---|---|"]
    for i, c in enumerate(sel["candidates"]):
        name = ", ".join(f"{k}={v}" for k, v in c["setting"].items()) + (" **(chosen)**" if i == sel["chosen_index"] else "")
        for r in c["runs"]:
            lo, hi = r["sampled_diff_ci"]
            rows.append(f"| {name} | {r['seed']} | {r['baseline_pass_at_1']:.3f} → {r['trained_pass_at_1']:.3f} "
                        f"| {r['mcnemar_p']:.2g} | {r['sampled_diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] "
                        f"| {'yes' if is_significant(r) else 'no'} |")
    s = sel["candidates"][sel["chosen_index"]]["score"]
    rows.append("")
    rows.append(f"Rule: {sel['rule']}. Chosen: {', '.join(f'{k}={v}' for k, v in sel['chosen'].items())} "
                f"({s['n_significant']}/{s['n_seeds']} seeds significant, mean CI lower bound {s['mean_ci_low']:+.3f}).")
    return "\n".join(rows)


def read_selection(path: str | os.PathLike) -> dict[str, Any]:
    """A ``selection.json`` written by :func:`run_selection` (``candidates`` with their ``runs``,
    ``chosen_index``, ``chosen``, ``rule``, ``seeds``)."""
    return json.loads(Path(path).read_text())
