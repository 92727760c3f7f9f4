"""Bundle reports with everything needed to re-check them into one reproducible tar.gz.

``build_archive`` collects, for every ``*.manifest.json`` in the reports directory: the report HTML,
the manifest, ``index.html``, the notebook, every input file the manifest names (task files,
rollouts, run metrics …), and the non-weight files of each run directory it names
(``…/runs/<id>/``: ``metrics.jsonl``, ``verdict.json``, configs). Model weights (``*.safetensors``,
``*.bin``, ``*.pt`` …, ``checkpoint-*/``, ``models/``) are left out unless ``with_models=True``;
every file left out is listed with the reason.

The archive holds ``ARCHIVE-MANIFEST.json`` at its root (files with size, sha256 and role; what
was excluded and why; git and environment). Members are sorted with fixed owner and mtime, and
gzip's header time is fixed, so the same files give a byte-identical archive. Unpacked, ``codeself
report verify reports/NAME.manifest.json --root .`` works inside it.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from codeself.io import DataError, Problem, atomic_writer, sha256_file
from codeself.reports import manifest as mf
from codeself.reports.verify import load_manifest

ARCHIVE_SCHEMA = "codeself.repro-archive/1"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx", ".h5", ".msgpack", ".npz")
WEIGHT_DIR_PREFIXES = ("checkpoint-", "models", "model", "adapter", "final_model")


def is_weight(path: Path) -> bool:
    if path.suffix.lower() in WEIGHT_SUFFIXES:
        return True
    return any(part.startswith(WEIGHT_DIR_PREFIXES) for part in path.parts[:-1])


def _run_dirs(root: Path, m: dict[str, Any]) -> list[Path]:
    """Run directories a manifest names: ``…/runs/<id>/`` prefixes of its inputs, and ``data/runs/<run_id>``."""
    dirs = [root / "data" / "runs" / rid for rid in m.get("run_ids", []) if (root / "data" / "runs" / rid).is_dir()]
    for entry in m.get("inputs", []):
        parts = Path(entry["path"]).parts
        for i, part in enumerate(parts[:-1]):
            if part == "runs" and i + 1 < len(parts) - 1:
                d = root.joinpath(*parts[: i + 2])
                if d.is_dir() and d not in dirs:
                    dirs.append(d)
    return dirs


def _run_models(root: Path, run_dir: Path) -> list[Path]:
    """Model directories a run names in ``verdict.json`` (``model``) or ``study.json`` (``model_path``)."""
    out = []
    for name, key in (("verdict.json", "model"), ("study.json", "model_path")):
        p = run_dir / name
        if p.is_file():
            try:
                val = json.loads(p.read_text()).get(key)
            except (ValueError, AttributeError):
                continue
            if isinstance(val, str):
                d = Path(val) if Path(val).is_absolute() else root / val
                if d.is_dir() and d not in out:
                    out.append(d)
    return out


def collect_files(reports_dir: Path, root: Path, with_models: bool = False) -> tuple[dict[str, tuple[Path, str]], list[dict]]:
    """``{archive_path: (source_path, role)}`` and the list of excluded files with reasons."""
    manifests = sorted(reports_dir.glob("*.manifest.json"))
    if not manifests:
        raise DataError(Problem(str(reports_dir), None, None, "no *.manifest.json here: run `codeself report export` first"))
    files: dict[str, tuple[Path, str]] = {}
    excluded: list[dict[str, str]] = []

    def add(src: Path, role: str, arc: str | None = None) -> None:
        if arc is None:
            arc = mf.display_path(src, root)
            if Path(arc).is_absolute():
                excluded.append({"path": str(src), "reason": "outside the project root; not portable"})
                return
        if arc in files:
            return
        if not src.is_file():
            excluded.append({"path": arc, "reason": "missing on disk"})
            return
        if is_weight(Path(arc)) and not with_models:
            excluded.append({"path": arc, "reason": "model weights (use --with-models)"})
            return
        files[arc] = (src, role)

    rep_prefix = mf.display_path(reports_dir, root)
    rep_prefix = "reports" if Path(rep_prefix).is_absolute() else rep_prefix
    for mp in manifests:
        m = load_manifest(mp)
        add(mp, "manifest", f"{rep_prefix}/{mp.name}")
        add(reports_dir / m["report"]["html_file"], "report", f"{rep_prefix}/{m['report']['html_file']}")
        add(root / m["notebook"]["path"], "notebook")
        for entry in m["inputs"]:
            add(root / entry["path"], "input")
        for d in _run_dirs(root, m):
            for f in sorted(p for p in d.rglob("*") if p.is_file()):
                add(f, "run")
            for mdir in _run_models(root, d):
                for f in sorted(p for p in mdir.rglob("*") if p.is_file()):
                    if with_models:
                        add(f, "model")
                    else:
                        arc = mf.display_path(f, root)
                        if not any(e["path"] == arc for e in excluded):
                            excluded.append({"path": arc, "reason": "model weights (use --with-models)"})
    index = reports_dir / "index.html"
    if index.is_file():
        add(index, "index", f"{rep_prefix}/index.html")
    return files, excluded


def build_archive(output: str | Path, reports_dir: str | Path = "reports", *, root: str | Path | None = None,
                  with_models: bool = False, command_line: list[str] | None = None) -> dict[str, Any]:
    """Write the archive atomically; returns its ``ARCHIVE-MANIFEST.json`` content (plus ``sha256``)."""
    from codeself.reports.export import utc_now

    reports_dir = Path(reports_dir)
    base = Path(root) if root is not None else (mf.git_root(reports_dir.resolve()) or Path.cwd())
    files, excluded = collect_files(reports_dir, base, with_models)
    masked_cmd, _ = mf.mask_args(list(command_line or []))
    amanifest = {
        "schema_version": ARCHIVE_SCHEMA,
        "created_utc": utc_now(),
        "command": masked_cmd,
        "with_models": with_models,
        "git": mf.git_info(base),
        "environment": mf.environment(),
        "files": [{"path": arc, "role": role, "size": src.stat().st_size, "sha256": sha256_file(src)}
                  for arc, (src, role) in sorted(files.items())],
        "excluded": excluded,
    }
    data = json.dumps(amanifest, indent=2, ensure_ascii=False).encode() + b"\n"

    def info(name: str, size: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = size, 0, 0o644, 0, 0, "", ""
        return ti

    output = Path(output)
    with atomic_writer(output, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info("ARCHIVE-MANIFEST.json", len(data)), io.BytesIO(data))
        for arc, (src, _role) in sorted(files.items()):
            with open(src, "rb") as f:
                tar.addfile(info(arc, src.stat().st_size), f)
    amanifest["sha256"] = sha256_file(output)
    amanifest["bytes"] = output.stat().st_size
    return amanifest
