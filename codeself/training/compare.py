"""``codeself train compare``: training curves side by side and the final held-out comparison.

For each run directory ``D`` (``run.json``, ``metrics.jsonl``, ``final/``): the curves (reward,
informative share, entropy, held-out pass@1, step time, reward share) as a Markdown table sampled
every ``every`` steps, an SVG chart next to the report (``<report>.curves.svg``) when altair and
vl-convert are available, and — on one common set of held-out tasks, with one sampling seed for all
runs — greedy and sampled pass@1 of every final model, each run paired against the first with the
exact McNemar test and the cluster-bootstrap 95% CI (:mod:`codeself.stats`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codeself.training.config import TrainInputError

CURVE_FIELDS = ("reward_mean", "informative_share", "entropy", "heldout_greedy_pass_at_1",
                "heldout_sampled_pass_at_1", "time_s", "reward_share")


def read_run(d: Path) -> dict[str, Any]:
    from codeself.io import read_jsonl

    d = Path(d)
    if not (d / "metrics.jsonl").is_file():
        raise TrainInputError(f"{d}: no metrics.jsonl (not a training run directory)")
    if not (d / "run.json").is_file():
        raise TrainInputError(f"{d}: no run.json (not a training run directory)")
    recs, _ = read_jsonl(d / "metrics.jsonl", tolerate_truncated_tail=True, allow_empty=True)
    run = json.loads((d / "run.json").read_text())
    return {"dir": d, "name": d.name, "config": run.get("config", {}), "metrics": [o for _, o in recs]}


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def compare_runs(runs: list[Path], output: Path, *, tasks: Path | None = None, samples: int = 8, seed: int = 0,
                 every: int = 10) -> dict[str, Any]:
    """Write the Markdown report; returns the final comparison numbers."""
    if len(runs) < 1:
        raise TrainInputError("--runs needs at least one run directory")
    data = [read_run(r) for r in runs]
    names = [r["name"] for r in data]
    if len(set(names)) != len(names):
        names = [str(r["dir"]) for r in data]
    lines = ["# Training runs compared", ""]
    lines.append("| run | algo | model | steps | group | batch | lr | seed |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for n, r in zip(names, data, strict=True):
        c = r["config"]
        lines.append(f"| {n} | {c.get('algo')} | {c.get('model')} | {len(r['metrics'])} | {c.get('group_size')} "
                     f"| {c.get('batch_size')} | {c.get('lr')} | {c.get('seed')} |")
    for field in CURVE_FIELDS:
        steps = sorted({m["step"] for r in data for m in r["metrics"] if m.get(field) is not None})
        if not steps:
            continue
        if not field.startswith("heldout"):
            steps = [s for s in steps if s % every == 0 or s == 1 or s == steps[-1]]
        lines += ["", f"## {field}", "", "| step | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for s in steps:
            row = []
            for r in data:
                v = next((m.get(field) for m in r["metrics"] if m["step"] == s), None)
                row.append(_fmt(v))
            lines.append(f"| {s} | " + " | ".join(row) + " |")
    svg = _chart(data, names, output)
    if svg:
        lines += ["", f"![curves]({svg.name})"]

    final = _final_comparison(data, names, tasks, samples, seed)
    if final:
        lines += ["", "## Final held-out comparison", "",
                  f"{final['n_tasks']} held-out tasks, greedy + {samples} samples per task, sampling seed {seed}; "
                  f"each run paired with **{names[0]}**.", "",
                  "| run | greedy pass@1 | sampled pass@1 | b (lost) | c (gained) | exact McNemar p | sampled diff [95% CI] |",
                  "|---|---|---|---|---|---|---|"]
        for row in final["rows"]:
            ci = row.get("sampled_diff_ci")
            lines.append(
                f"| {row['run']} | {row['greedy_pass_at_1']:.3f} | {row['sampled_pass_at_1']:.3f} | {_fmt(row.get('b'))} "
                f"| {_fmt(row.get('c'))} | {_fmt(row.get('mcnemar_p'))} | "
                + (f"{row['sampled_diff']:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "(reference)") + " |")
    from codeself.io import atomic_write_text

    atomic_write_text(output, "\n".join(lines) + "\n")
    return final or {}


def _chart(data, names, output: Path) -> Path | None:
    try:
        import altair as alt
        import polars as pl
        import vl_convert
    except ImportError:  # pragma: no cover - all are project dependencies
        return None
    rows = [{"run": n, "step": m["step"], "metric": f, "value": m[f]}
            for n, r in zip(names, data, strict=True) for m in r["metrics"]
            for f in ("reward_mean", "informative_share", "entropy", "heldout_greedy_pass_at_1")
            if m.get(f) is not None]
    if not rows:
        return None
    df = pl.DataFrame(rows)
    chart = (alt.Chart(df.to_pandas() if hasattr(df, "to_pandas") else df).mark_line(point=False)
             .encode(x="step:Q", y="value:Q", color="run:N")
             .properties(width=260, height=160).facet(facet="metric:N", columns=2)
             .resolve_scale(y="independent"))
    svg_path = output.with_name(output.stem + ".curves.svg")
    svg_path.write_text(vl_convert.vegalite_to_svg(chart.to_json()))
    return svg_path


def _final_comparison(data, names, tasks_path: Path | None, samples: int, seed: int) -> dict[str, Any] | None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codeself.stats import cluster_bootstrap_ci, mcnemar_exact, paired_table
    from codeself.tasks import load_tasks
    from codeself.training.evaluate import evaluate_model

    finals = [r["dir"] / "final" for r in data]
    missing = [str(f) for f in finals if not (f / "config.json").is_file()]
    if missing:
        raise TrainInputError(f"no final model in: {', '.join(missing)} (run not finished?)")
    tp = tasks_path or Path(data[0]["config"].get("tasks", ""))
    if not tp.is_file():
        raise TrainInputError(f"held-out tasks {tp}: file not found (pass --tasks)")
    heldout = [t for t in load_tasks(tp) if t.split == "test"]
    if not heldout:
        raise TrainInputError(f"{tp}: no task has split 'test' for the final held-out comparison")
    torch.set_num_threads(1)
    evs = []
    max_len = int(data[0]["config"].get("max_completion_length") or 48)
    for f in finals:
        tok = AutoTokenizer.from_pretrained(f)
        model = AutoModelForCausalLM.from_pretrained(f, dtype=torch.float32)
        evs.append(evaluate_model(model, tok, heldout, n_samples=samples, temperature=1.0, seed=seed,
                                  max_new_tokens=max_len))
    rows = []
    for i, (n, ev) in enumerate(zip(names, evs, strict=True)):
        row: dict[str, Any] = {"run": n, "greedy_pass_at_1": ev["greedy_pass_at_1"],
                               "sampled_pass_at_1": ev["sampled_pass_at_1"]}
        if i > 0:
            t = paired_table(evs[0]["greedy"], ev["greedy"])
            diff, lo, hi = cluster_bootstrap_ci(evs[0]["sampled"], ev["sampled"], seed=seed)
            row.update(b=t["b"], c=t["c"], mcnemar_p=mcnemar_exact(t["b"], t["c"]), sampled_diff=diff,
                       sampled_diff_ci=[lo, hi])
        rows.append(row)
    return {"n_tasks": len(heldout), "rows": rows}
