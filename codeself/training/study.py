"""The default study: does practice with sandboxed test feedback improve codeself-nano on held-out
compositions of its declared task family?

Protocol (``run_study``), every artefact in the run directory:

1. ``tasks.jsonl`` — ``n_train`` train tasks and ``n_heldout`` held-out (``test``) tasks of the
   family for the seed; held-out tasks use compositions no train task uses.
2. codeself-nano for ``(seed, arm)`` built or reused (``data/models/nano-seed{S}[-control]``).
3. ``baseline_eval.json`` — the warm start on the held-out tasks: greedy (1 per task) and sampled
   (``eval_samples`` per task, temperature ``temperature``) completions, run in the sandbox; the
   records themselves are ordinary rollout files: ``heldout/baseline.greedy.jsonl`` and
   ``heldout/baseline.sampled.jsonl`` (``heldout/tasks.jsonl`` holds the evaluated tasks in order).
4. ``grpo/`` — GRPO on the train split with sandbox rewards (``grpo/metrics.jsonl``).
5. ``trained_eval.json`` — the same evaluation (same tasks, same sampling seed) of the trained model,
   ``heldout/trained.greedy.jsonl`` and ``heldout/trained.sampled.jsonl``.
6. ``verdict.json`` / ``verdict.md`` — exact McNemar test on the paired greedy outcomes
   (``codeself.stats.mcnemar_exact``), the cluster-bootstrap 95% CI of the sampled pass@1
   difference (``codeself.stats.cluster_bootstrap_ci``, tasks resampled), and the
   reward-computation share of the GRPO step time.

The held-out evaluation is the documented flow (``codeself.training.evaluate``): with ``S = seed +
1000003`` and ``L = max_completion_length``, ``codeself rollouts generate --tasks D/heldout/tasks.jsonl
--backend hf --model M --device cpu --final --seed S --max-new-tokens L --batch-size 8`` with
``--samples-per-task 1 --temperature 0`` (greedy) or ``--samples-per-task eval_samples --temperature
T`` (sampled) writes the same records for model ``M`` (the warm start, or ``D/grpo/final``), and
``codeself compare --final`` on the two greedy files gives the verdict's ``paired_table`` and
``mcnemar_p``; on the two sampled files (``--seed seed --n-resamples n_bootstrap``) its
``sampled_diff`` and ``sampled_diff_ci``. (``compare`` drops ``infra_error`` samples, which the
verdict counts as failures and reports in ``infra_errors``.)

The evaluation settings are fixed before training and never depend on its outcome; the held-out
tasks are never trained on, and neither the warm start's flaw nor any other choice touches them.

``holdout="validation"`` (``codeself study --holdout validation``) runs the same protocol on the
family's *validation* compositions instead: train and warm start use only train compositions outside
the validation set (up to ``n_train``; 482 for ``arith``), evaluation uses the validation set (up to
``n_heldout``; 120), and no held-out composition is generated at all. That is what settings are
chosen on (``codeself train select``), so the held-out verdict is never part of a choice.
``study.json`` keeps the fully resolved configuration: ``codeself study --config D/study.json``
(or the same command with ``--output-dir D``) re-runs or resumes the study from the directory alone.
"""

from __future__ import annotations

import json
import os
import time
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from codeself.training.config import TrainInputError
from codeself.training.verdict import DEFAULT_ALPHA, is_significant, judge, significant


@dataclass
class StudyConfig:
    """Every setting of the default study (all settable from ``--config study.toml``)."""

    seed: int = 1
    arm: str = "default"               # "default" (flawed warm start) or "control" (clean demonstrations)
    output_dir: str = ""               # default: data/runs/study-seed{S}[-control]
    family: str = "arith"
    n_train: int = 600                 # train tasks (SFT demonstrations and GRPO prompts; 1 per composition)
    n_heldout: int = 155               # held-out tasks (every held-out composition of the family)
    holdout: str = "test"              # "test": evaluate on held-out compositions; "validation": train on
                                       # train compositions outside the validation set, evaluate on it
                                       # (for choosing settings: `codeself train select`)
    model_root: str = "data/models"    # where codeself-nano builds are cached
    sft_steps: int = 200
    flaw_share: float = 0.6
    max_steps: int = 50                # GRPO steps
    group_size: int = 8
    prompts_per_step: int = 16
    lr: float = 1e-4                   # chosen on validation compositions (data/examples/selection.md)
    beta: float = 0.0
    temperature: float = 1.0           # rollout and sampled-evaluation temperature
    max_completion_length: int = 48
    eval_samples: int = 8              # sampled completions per held-out task (before and after)
    eval_every: int = 25               # monitoring evaluation during training…
    eval_tasks: int = 40               # …on the first N held-out tasks (does not enter the verdict)
    save_every: int = 25
    workers: int | None = None
    n_bootstrap: int = 10000
    alpha: float = DEFAULT_ALPHA       # McNemar threshold of the verdict rule (codeself.training.verdict)
    reward: str = "partial"            # the GRPO reward variant (codeself.rewards: partial | binary | fraction | weighted)

    def resolved_output_dir(self) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        return Path("data/runs") / (f"study-seed{self.seed}" + ("" if self.arm == "default" else f"-{self.arm}")
                                    + ("" if self.holdout == "test" else f"-{self.holdout}"))

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "<config>") -> StudyConfig:
        names = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise TrainInputError(f"{source}: unknown study setting(s): {', '.join(unknown)} "
                                  f"(known: {', '.join(sorted(names))})")
        return cls(**d)


def read_study_file(path: str | os.PathLike) -> dict[str, Any]:
    """The settings a study file holds: a TOML file (its ``[study]`` table, or the top level) or a
    run directory's ``study.json`` (its ``config``). Raises ``TrainInputError`` naming the file."""
    p = Path(path)
    if not p.is_file():
        raise TrainInputError(f"{p}: config file not found")
    try:
        if p.suffix == ".json":
            base = json.loads(p.read_text()).get("config", {})
        else:
            with p.open("rb") as f:
                base = tomllib.load(f)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TrainInputError(f"{p}: {e}") from None
    return base.get("study", base)


def load_config(path: str | os.PathLike | None, overrides: dict[str, Any]) -> StudyConfig:
    """Defaults < TOML (or JSON: a run directory's ``study.json``) file < explicit overrides."""
    base = read_study_file(path) if path is not None else {}
    merged = {**base, **{k: v for k, v in overrides.items() if v is not None}}
    cfg = StudyConfig.from_dict(merged, source=str(path or "<options>"))
    check_config(cfg)
    return cfg


def check_config(cfg: StudyConfig) -> None:
    from codeself.families import FAMILIES, HOLDOUTS

    if cfg.holdout not in HOLDOUTS:
        raise TrainInputError(f"holdout={cfg.holdout!r}: use one of {', '.join(HOLDOUTS)}")
    if cfg.arm not in ("default", "control"):
        raise TrainInputError(f"arm={cfg.arm!r}: use 'default' or 'control'")
    from codeself.rewards import REWARDS

    if cfg.reward not in REWARDS:
        raise TrainInputError(f"--reward {cfg.reward!r}: use one of {', '.join(REWARDS)}")
    if cfg.family not in FAMILIES:
        raise TrainInputError(f"family={cfg.family!r}: known families: {', '.join(sorted(FAMILIES))}")
    for name in ("n_train", "n_heldout", "max_steps", "group_size", "prompts_per_step", "sft_steps"):
        if getattr(cfg, name) < 1:
            raise TrainInputError(f"{name}={getattr(cfg, name)}: must be >= 1")
    if cfg.group_size < 2:
        raise TrainInputError(f"group_size={cfg.group_size}: needs at least 2 completions per prompt")
    if cfg.eval_samples < 1:
        raise TrainInputError(f"eval_samples={cfg.eval_samples}: the sampled comparison needs >= 1")


def _identity(cfg: StudyConfig) -> dict[str, Any]:
    d = asdict(cfg)
    for volatile in ("output_dir", "workers"):
        d.pop(volatile)
    return d


def check_run_dir(cfg: StudyConfig) -> bool:
    """``True`` if the run directory holds this same study (resume or report it), ``False`` if it is
    new or empty; raises ``TrainInputError`` if it holds another run or unrelated files."""
    d = cfg.resolved_output_dir()
    study_json = d / "study.json"
    if study_json.is_file():
        old = json.loads(study_json.read_text())
        # a study written before a setting existed ran with that setting's default
        old_ident = {**_identity(StudyConfig()), **old.get("identity", {})}
        ident = _identity(cfg)
        if old_ident != ident:
            diff = sorted(k for k in set(ident) | set(old_ident) if ident.get(k) != old_ident.get(k))
            raise TrainInputError(f"{d} already holds another run (differs in: {', '.join(diff)}); "
                                  f"choose a new --output-dir")
        return True
    if d.exists() and any(d.iterdir()):
        raise TrainInputError(f"{d} is not empty and holds no study.json; choose a new --output-dir")
    return False


def _eval_record(ev: dict[str, Any]) -> dict[str, Any]:
    return {k: ev[k] for k in ("n_tasks", "greedy_pass_at_1", "sampled_pass_at_1", "statuses",
                               "n_infra_errors", "seconds", "greedy", "sampled", "greedy_completions")}


def run_study(cfg: StudyConfig, *, progress: bool = True, log=print) -> dict[str, Any]:
    """Run (or resume) the study; returns the verdict dict (also written to ``verdict.json``).

    A finished study (same configuration, ``verdict.json`` present) is returned as measured.
    """
    check_config(cfg)
    d = cfg.resolved_output_dir()
    ident = _identity(cfg)
    if check_run_dir(cfg) and (d / "verdict.json").is_file():
        # finished: report it as measured, do not overwrite its timings
        return json.loads((d / "verdict.json").read_text())

    import torch

    from codeself.families import FAMILIES
    from codeself.generation import HFBackend
    from codeself.io import atomic_write_json, atomic_write_text, write_jsonl_atomic
    from codeself.tasks import write_tasks
    from codeself.training.config import TrainConfig
    from codeself.training.evaluate import EVAL_BATCH_SIZE, evaluate_backend
    from codeself.training.nano import NanoConfig, ensure_nano, nano_dir_for
    from codeself.training.trl_trainers import train

    t_start = time.time()
    d.mkdir(parents=True, exist_ok=True)
    cfg_dict = asdict(cfg)
    cfg_dict["output_dir"] = str(d)
    atomic_write_json(d / "study.json", {"identity": ident, "config": cfg_dict})
    timings: dict[str, float] = {}
    torch.set_num_threads(1)

    # 1. tasks
    fam = FAMILIES[cfg.family]
    n_train, n_eval = cfg.n_train, cfg.n_heldout
    if cfg.holdout != "test":  # the validation protocol has fewer compositions: use all it has, up to the asks
        train_pool, eval_pool = fam.pools(cfg.holdout)
        n_train, n_eval = min(n_train, len(train_pool)), min(n_eval, len(eval_pool))
    tasks = fam.generate(n_train, n_eval, cfg.seed, holdout=cfg.holdout)
    train_tasks = [t for t in tasks if t.split == "train"]
    heldout = [t for t in tasks if t.split == cfg.holdout]
    write_tasks(d / "tasks.jsonl", tasks)
    train_comps = {t.metadata["composition"] for t in train_tasks}
    # explicit checks, not asserts: they must hold under `python -O` too
    if train_comps & {t.metadata["composition"] for t in heldout}:
        raise RuntimeError("an evaluated composition is also a train composition")
    if cfg.holdout != "test" and {t.metadata["composition"] for t in tasks} & {"-".join(c) for c in fam.heldout}:
        raise RuntimeError("the validation protocol generated a held-out composition")

    # 2. model
    t0 = time.time()
    ncfg = NanoConfig(seed=cfg.seed, arm=cfg.arm, family=cfg.family, n_train=n_train, holdout=cfg.holdout,
                      sft_steps=cfg.sft_steps, flaw_share=cfg.flaw_share)
    nano = ensure_nano(nano_dir_for(cfg.seed, cfg.arm, cfg.model_root, cfg.holdout), config=ncfg,
                       progress=progress)
    timings["build_nano_s"] = time.time() - t0
    log(f"model: {nano} ({timings['build_nano_s']:.0f} s)")

    eval_kw = dict(n_samples=cfg.eval_samples, temperature=cfg.temperature, seed=cfg.seed + 1_000_003,
                   max_new_tokens=cfg.max_completion_length, workers=cfg.workers)
    hd = d / "heldout"
    hd.mkdir(exist_ok=True)
    write_tasks(hd / "tasks.jsonl", heldout)  # exactly the evaluated tasks, in order: `--tasks` of the CLI flow

    def evaluate(path: Path, name: str) -> dict[str, Any]:
        f = d / f"{name}_eval.json"
        files = {mode: hd / f"{name}.{mode}.jsonl" for mode in ("greedy", "sampled")}
        if f.is_file() and all(p.is_file() for p in files.values()):
            return json.loads(f.read_text())
        t1 = time.time()
        backend = HFBackend(path, device="cpu", dtype="float32", batch_size=EVAL_BATCH_SIZE)
        ev = evaluate_backend(backend, heldout, batch_size=EVAL_BATCH_SIZE, **eval_kw)
        for mode, p in files.items():
            write_jsonl_atomic(p, ev["records"][mode])
        ev = _eval_record(ev)
        ev["model"] = str(path)
        atomic_write_json(f, ev)
        timings[f"{name}_eval_s"] = time.time() - t1
        log(f"{name}: greedy pass@1 {ev['greedy_pass_at_1']:.3f}, sampled pass@1 {ev['sampled_pass_at_1']:.3f}")
        return ev

    # 3. baseline
    base = evaluate(nano, "baseline")

    # 4. GRPO
    t0 = time.time()
    tcfg = TrainConfig(
        algo="grpo", tasks=str(d / "tasks.jsonl"), model=str(nano), output_dir=str(d / "grpo"),
        group_size=cfg.group_size, batch_size=cfg.group_size * cfg.prompts_per_step, max_steps=cfg.max_steps,
        lr=cfg.lr, beta=cfg.beta, temperature=cfg.temperature, max_completion_length=cfg.max_completion_length,
        seed=cfg.seed, eval_every=cfg.eval_every, eval_samples=cfg.eval_samples, eval_tasks=cfg.eval_tasks,
        save_every=cfg.save_every, workers=cfg.workers, reward=cfg.reward,
    )
    final = d / "grpo" / "final"
    if not (d / "grpo" / "train_done.json").is_file():
        from codeself.training.config import prepare_run_dir, run_identity

        _, resuming = prepare_run_dir(tcfg, run_identity(tcfg))
        final = train(tcfg, train_tasks=train_tasks, heldout_tasks=heldout, model_path=nano,
                      resume=resuming, progress=progress)
    timings["grpo_s"] = time.time() - t0

    # 5. trained
    trained = evaluate(final, "trained")

    # 6. statistics
    stat = heldout_comparison(base, trained, n_bootstrap=cfg.n_bootstrap, seed=cfg.seed)
    table, p, diff, (lo, hi) = stat["paired_table"], stat["mcnemar_p"], stat["sampled_diff"], stat["sampled_diff_ci"]
    metrics = [json.loads(x) for x in (d / "grpo" / "metrics.jsonl").read_text().splitlines() if x.strip()]
    shares = [m["reward_share"] for m in metrics if m.get("reward_share") is not None]
    sb = [m["sandbox_share"] for m in metrics if m.get("sandbox_share") is not None]
    step_t = [m["time_s"] for m in metrics if m.get("time_s") is not None]
    needs = {t.task_id: bool(t.metadata.get("needs_parens")) for t in heldout}

    def rate(ev: dict[str, Any], flag: bool) -> float | None:
        ids = [k for k, v in needs.items() if v == flag]
        return sum(ev["greedy"][k] for k in ids) / len(ids) if ids else None

    verdict = {
        "seed": cfg.seed,
        "arm": cfg.arm,
        "family": cfg.family,
        "holdout": cfg.holdout,
        "n_train": len(train_tasks),
        "n_tasks": len(heldout),
        "baseline_pass_at_1": base["greedy_pass_at_1"],
        "trained_pass_at_1": trained["greedy_pass_at_1"],
        "greedy_diff": trained["greedy_pass_at_1"] - base["greedy_pass_at_1"],
        "paired_table": table,
        "mcnemar_p": p,
        "baseline_sampled_pass_at_1": base["sampled_pass_at_1"],
        "trained_sampled_pass_at_1": trained["sampled_pass_at_1"],
        "sampled_diff": diff,
        "sampled_diff_ci": [lo, hi],
        "eval_samples": cfg.eval_samples,
        "greedy_by_needs_parens": {
            "baseline": {"needs": rate(base, True), "no_needs": rate(base, False)},
            "trained": {"needs": rate(trained, True), "no_needs": rate(trained, False)},
        },
        "grpo_steps": len(metrics),
        "grpo_step_s_mean": sum(step_t) / len(step_t) if step_t else None,
        "reward_share_mean": sum(shares) / len(shares) if shares else None,
        "sandbox_share_mean": sum(sb) / len(sb) if sb else None,
        "infra_errors": base["n_infra_errors"] + trained["n_infra_errors"],
        "heldout_rollouts": {f"{name}_{mode}": f"heldout/{name}.{mode}.jsonl"
                             for name in ("baseline", "trained") for mode in ("greedy", "sampled")},
        "alpha": cfg.alpha,
        "significant": significant(base["greedy_pass_at_1"], trained["greedy_pass_at_1"], p, diff, lo, cfg.alpha),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "wall_s_this_invocation": round(time.time() - t_start, 1),
        "model": str(nano),
    }
    verdict["verdict"] = plain_verdict(verdict)
    atomic_write_json(d / "verdict.json", verdict)
    atomic_write_text(d / "verdict.md", verdict_table([verdict]) + "\n\n" + verdict["verdict"] + "\n")
    return verdict


def heldout_comparison(base: dict[str, Any], trained: dict[str, Any], *, n_bootstrap: int, seed: int) -> dict[str, Any]:
    """The verdict's statistics from two held-out evaluations (``evaluate_backend`` results):
    the paired greedy table and its exact McNemar p, and the sampled pass@1 difference with its
    cluster-bootstrap 95% CI (tasks resampled, ``n_bootstrap`` resamples, ``seed``). ``codeself
    compare`` on the evaluations' rollout files gives the same numbers (see the module docstring)."""
    from codeself.stats import cluster_bootstrap_ci, mcnemar_exact, paired_table

    table = paired_table(base["greedy"], trained["greedy"])
    diff, lo, hi = cluster_bootstrap_ci(base["sampled"], trained["sampled"], n_resamples=n_bootstrap, seed=seed)
    return {"paired_table": table, "mcnemar_p": mcnemar_exact(table["b"], table["c"]), "sampled_diff": diff,
            "sampled_diff_ci": [lo, hi]}


def plain_verdict(v: dict[str, Any], alpha: float | None = None) -> str:
    """One sentence for a verdict: improved only if :func:`codeself.training.verdict.is_significant`
    (or, with an explicit ``alpha``, the rule at that threshold) says so; a significant greedy drop
    says WORSE; anything else says no significant improvement, naming what the rule missed."""
    a = v.get("alpha", DEFAULT_ALPHA) if alpha is None else alpha
    ok = is_significant(v) if alpha is None else judge(v, alpha)
    arm = "control arm (clean demonstrations)" if v["arm"] == "control" else "flawed-demonstration warm start"
    where = "held-out" if v.get("holdout", "test") == "test" else v["holdout"]
    lo, hi = v["sampled_diff_ci"]
    before, after, p = v["baseline_pass_at_1"], v["trained_pass_at_1"], v["mcnemar_p"]
    sampled = f"sampled pass@1 {v['sampled_diff']:+.3f}, 95% CI [{lo:+.3f}, {hi:+.3f}]"
    if ok:
        return (f"Seed {v['seed']}, {arm}: practice with sandbox feedback improved {where} greedy pass@1 "
                f"{before:.3f} → {after:.3f} (exact McNemar p = {p:.2g} < {a}); {sampled} excludes 0.")
    if p < a and after < before:
        return (f"Seed {v['seed']}, {arm}: training made {where} greedy pass@1 significantly WORSE — "
                f"{before:.3f} → {after:.3f} (exact McNemar p = {p:.2g}); {sampled}.")
    missed = []
    if not after > before:
        missed.append("greedy pass@1 did not go up")
    elif not p < a:
        missed.append(f"McNemar p is not below {a}")
    if not (v["sampled_diff"] > 0 and lo > 0):
        missed.append("the sampled CI does not lie above 0")
    return (f"Seed {v['seed']}, {arm}: NO significant improvement ({'; '.join(missed) or 'rule not met'}) — "
            f"greedy pass@1 {before:.3f} → {after:.3f} (exact McNemar p = {p:.2g}, threshold {a}); {sampled}.")


def verdict_table(verdicts: list[dict[str, Any]]) -> str:
    """A plain Markdown table of one or more verdicts (e.g. both arms side by side)."""
    head = ("| seed | arm | n tasks | greedy before | greedy after | McNemar p | sampled before | sampled after "
            "| sampled diff [95% CI] | reward share |")
    rows = [head, "|" + "---|" * 10]
    for v in verdicts:
        lo, hi = v["sampled_diff_ci"]
        share = v.get("reward_share_mean")
        rows.append(
            f"| {v['seed']} | {v['arm'] + ('' if v.get('holdout', 'test') == 'test' else ' (' + v['holdout'] + ')')} "
            f"| {v['n_tasks']} | {v['baseline_pass_at_1']:.3f} | {v['trained_pass_at_1']:.3f} "
            f"| {v['mcnemar_p']:.2g} | {v['baseline_sampled_pass_at_1']:.3f} | {v['trained_sampled_pass_at_1']:.3f} "
            f"| {v['sampled_diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] | "
            f"{'' if share is None else f'{share:.1%}'} |"
        )
    return "\n".join(rows)
