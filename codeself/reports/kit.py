"""Fill the reproducibility kit (``reports/kit/*.md``) from exported manifests, a run and task files.

``fill_kit`` reads the templates, replaces ``{{name}}`` placeholders with values it can establish
and writes the filled documents (plus ``kit-values.json`` with every value used) to ``output_dir``.
Sources: ``RUN/verdict.json`` (``verdict.*``), ``RUN/study.json`` (``config.*``), the model
directory named by the verdict (``model.*``: files with size and sha256), task files
(``dataset.*``), and every ``*.manifest.json`` in the reports directory, each verified
(``check.*``). A placeholder with no value becomes ``_(not recorded)_``; nothing is invented.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from codeself.io import atomic_write_json, atomic_write_text, sha256_file
from codeself.paths import KIT_DIR
from codeself.training.verdict import is_significant

TEMPLATES = {
    "methodology.md": "methodology.md",
    "reproducibility-checklist.md": "reproducibility-checklist.md",
    "model-card-template.md": "model-card.md",
    "dataset-card-template.md": "dataset-card.md",
    "limitations-and-safety.md": "limitations-and-safety.md",
}
MISSING = "_(not recorded)_"
_PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")


def _fmt(v: Any) -> str:
    if v is None:
        return MISSING
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list) and all(isinstance(x, float) for x in v):
        return "[" + ", ".join(f"{x:+.4g}" for x in v) + "]"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def _flatten(prefix: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {f"{prefix}.{k}": v for k, v in obj.items()}


def run_values(run_dir: Path) -> dict[str, Any]:
    vals: dict[str, Any] = {"run_dir": str(run_dir)}
    vp = run_dir / "verdict.json"
    if vp.is_file():
        verdict = json.loads(vp.read_text())
        vals.update(_flatten("verdict", verdict))
        vals["verdict.significant"] = is_significant(verdict)
        model = verdict.get("model")
        if model and Path(model).is_dir():
            mdir = Path(model)
            files = sorted(p for p in mdir.rglob("*") if p.is_file())
            vals["model.path"] = str(mdir)
            vals["model.name"] = mdir.name
            vals["model.files"] = "\n".join(f"  - `{p.relative_to(mdir)}` {p.stat().st_size:,} bytes, "
                                            f"sha256 `{sha256_file(p)}`" for p in files) or MISSING
            cfg = mdir / "config.json"
            if cfg.is_file():
                c = json.loads(cfg.read_text())
                vals["model.base"] = f"{c.get('model_type', '?')} ({c.get('architectures', ['?'])[0]})"
    sp = run_dir / "study.json"
    if sp.is_file():
        vals.update(_flatten("config", json.loads(sp.read_text())))
    return vals


def dataset_values(task_files: list[Path]) -> dict[str, Any]:
    from codeself.tasks import load_tasks, validate

    tasks = load_tasks([str(p) for p in task_files])
    splits = Counter(t.split or "none" for t in tasks)
    try:
        findings = len(validate(tasks))
    except Exception as e:  # noqa: BLE001 - the card says why it has no number
        findings = f"validation failed: {e}"
    return {
        "dataset.name": ", ".join(p.stem for p in task_files),
        "dataset.files": ", ".join(f"`{p}` (sha256 `{sha256_file(p)[:16]}…`)" for p in task_files),
        "dataset.n_tasks": len(tasks),
        "dataset.sources": ", ".join(f"{k} {v}" for k, v in sorted(Counter(t.source for t in tasks).items())),
        "dataset.splits": ", ".join(f"{k} {v}" for k, v in sorted(splits.items())),
        "dataset.median_public": statistics.median(len(t.public_tests) for t in tasks) if tasks else None,
        "dataset.median_hidden": statistics.median(len(t.hidden_tests) for t in tasks) if tasks else None,
        "dataset.no_hidden": sum(1 for t in tasks if not t.hidden_tests),
        "dataset.with_solution": sum(1 for t in tasks if t.canonical_solution),
        "dataset.validate_findings": findings,
    }


def check_values(reports_dir: Path, vals: dict[str, Any]) -> dict[str, Any]:
    from codeself.reports.verify import verify_manifest

    manifests = sorted(reports_dir.glob("*.manifest.json"))
    if not manifests:
        return {"reports": f"none found in `{reports_dir}`"}
    ms = [json.loads(p.read_text()) for p in manifests]
    verifs = [verify_manifest(p) for p in manifests]

    def mark(ok: bool, detail: str) -> str:
        return f"[{'x' if ok else ' '}] {detail}"

    commits = {(m.get("git") or {}).get("commit") for m in ms}
    dirty = [p.name for p, m in zip(manifests, ms, strict=True) if (m.get("git") or {}).get("dirty")]
    bad = [f"{v.manifest}: {len(v.differences)} difference(s)" for v in verifs if not v.ok]
    out = {
        "reports": ", ".join(f"`{p.name}`" for p in manifests),
        "check.commit": mark(None not in commits, f"commits {', '.join(sorted(str(c)[:12] for c in commits))}"),
        "check.clean": mark(not dirty, "all clean" if not dirty else f"dirty: {', '.join(dirty)}"),
        "check.environment": mark(all(m.get("environment") and m.get("packages") for m in ms),
                                  f"{len(ms[0].get('packages', {}))} packages, Python {ms[0]['environment'].get('python')}"),
        "check.seeds": mark(all(m.get("seeds") for m in ms),
                            "seeds in every manifest" if all(m.get("seeds") for m in ms) else "some notebooks record no seed"),
        "check.inputs": mark(all(all(e.get("sha256") for e in m["inputs"]) for m in ms),
                             f"{sum(len(m['inputs']) for m in ms)} input files hashed"),
        "check.verify": mark(not bad, "verify passes for every report" if not bad else "; ".join(bad)),
        "check.rerun": "[ ] run `codeself report verify … --rerun`",
        "check.secrets": mark(True, f"allowlisted env; {sum(bool(m['command'].get('masked')) for m in ms)} report(s) had masked arguments"),
    }
    if "config.alpha" in vals:
        out["check.alpha"] = mark(True, f"α = {vals['config.alpha']} in study.json")
        out["check.config"] = mark(True, "study.json present")
        out["check.heldout"] = mark(True, "held-out compositions fixed by seed in study.json")
    if "verdict.infra_errors" in vals:
        out["check.infra"] = mark(True, f"{vals['verdict.infra_errors']} infrastructure errors excluded")
    return out


def fill(template: str, vals: dict[str, Any]) -> str:
    def sub(m: re.Match) -> str:
        key = m.group(1)
        if key.startswith("check."):
            return _fmt(vals.get(key, "[ ] (check by hand)"))
        return _fmt(vals.get(key))

    return _PLACEHOLDER.sub(sub, template)


def fill_kit(reports_dir: Path = Path("reports"), run_dir: Path | None = None, task_files: list[Path] | None = None,
             output_dir: Path = Path("reports/kit-filled"), templates_dir: Path = KIT_DIR) -> list[Path]:
    """Write the filled kit documents; returns their paths (see the module docstring)."""
    from codeself.io import DataError, Problem

    if run_dir is not None and not Path(run_dir).is_dir():
        raise DataError(Problem(str(run_dir), None, None, "run directory does not exist"))
    vals: dict[str, Any] = {}
    if run_dir is not None:
        vals.update(run_values(Path(run_dir)))
    task_files = list(task_files or [])
    if not task_files and run_dir is not None and (Path(run_dir) / "tasks.jsonl").is_file():
        task_files = [Path(run_dir) / "tasks.jsonl"]
    if task_files:
        vals.update(dataset_values(task_files))
    vals.update(check_values(Path(reports_dir), vals))
    written = []
    for src, dst in TEMPLATES.items():
        path = Path(templates_dir) / src
        if not path.is_file():
            raise DataError(Problem(str(path), None, None, "kit template missing"))
        target = Path(output_dir) / dst
        atomic_write_text(target, fill(path.read_text(encoding="utf-8"), vals))
        written.append(target)
    atomic_write_json(Path(output_dir) / "kit-values.json", vals)
    written.append(Path(output_dir) / "kit-values.json")
    return written
