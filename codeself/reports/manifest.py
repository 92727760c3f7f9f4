"""The frozen report manifest: what produced a report, pinned precisely enough to re-check it.

A manifest is written once per export (atomically, then made read-only) and never edited
afterwards. It records: schema version; UTC start/end; the command line and notebook arguments
(secrets masked); the notebook's sha256; git commit, branch, dirty flag and the sha256 of the diff;
Python, OS, CPU count, GPU/driver when present; every installed package version; seeds; every input
file read (path, size, sha256; for tables the schema and row count); run ids; key numbers and
verdict lines; the report's own sha256.

Secrets: environment variables are recorded only from ``ENV_ALLOWLIST`` (and even then never when
the name looks secret); argument values after a secret-looking flag (``--token``, ``--api-key``,
``--password`` …) or that look like a credential (``sk-…``, ``hf_…``, ``ghp_…``, AWS keys, JWTs,
``user:pass@`` in URLs) are replaced by ``MASK``. The exporter also scrubs those values, and the
values of secret-named environment variables, from the report HTML.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from codeself.io import sha256_file, sha256_text

SCHEMA_VERSION = "codeself.report-manifest/1"
MASK = "***MASKED***"

ENV_ALLOWLIST = (
    "PYTHONHASHSEED", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TOKENIZERS_PARALLELISM",
    "CUDA_VISIBLE_DEVICES", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TZ", "LANG",
    "LC_ALL", "SOURCE_DATE_EPOCH", "CUBLAS_WORKSPACE_CONFIG", "RAY_ADDRESS_SET",
)
ENV_ALLOW_PREFIXES = ("CODESELF_",)
_SECRET_NAME = re.compile(r"(token|secret|passw|passphrase|api[_-]?key|access[_-]?key|private[_-]?key|credential|"
                          r"auth(?!or)|cookie|bearer|(^|[_-])key($|[_-]))", re.I)
_SECRET_VALUE = re.compile(
    r"(?<![A-Za-z0-9_-])(sk-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{8,}|gh[pousr]_[A-Za-z0-9]{10,}|github_pat_[A-Za-z0-9_]{10,}|"
    r"glpat-[A-Za-z0-9_-]{10,}|xox[abprs]-[A-Za-z0-9-]{8,}|AKIA[0-9A-Z]{16}|"
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|(?<=Bearer )[A-Za-z0-9._~+/=-]{8,}|"
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----)"
)
_URL_CRED = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<cred>[^/@\s:]+:[^/@\s]+)@", re.I)

TABLE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".tsv", ".gz")


# ------------------------------------------------------------------------------------- secrets
def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name.lstrip("-")))


def mask_args(args: list[str]) -> tuple[list[str], set[str]]:
    """Mask secret values in a command line; returns ``(masked_args, secret_values_found)``."""
    masked: list[str] = []
    secrets: set[str] = set()
    mask_next = False
    for a in args:
        if mask_next and not a.startswith("--"):
            secrets.add(a)
            masked.append(MASK)
            mask_next = False
            continue
        mask_next = False
        if a.startswith("-") and "=" in a:
            flag, val = a.split("=", 1)
            if is_secret_name(flag) and val:
                secrets.add(val)
                masked.append(f"{flag}={MASK}")
                continue
        elif a.startswith("-") and is_secret_name(a):
            masked.append(a)
            mask_next = True
            continue
        masked.append(a)
    out = []
    for a in masked:
        for m in _SECRET_VALUE.finditer(a):
            secrets.add(m.group(0))
        for m in _URL_CRED.finditer(a):
            secrets.add(m.group("cred"))
        a = _SECRET_VALUE.sub(MASK, a)
        a = _URL_CRED.sub(lambda m: f"{m.group('scheme')}{MASK}@", a)
        out.append(a)
    return out, secrets


def env_secret_values(min_len: int = 6) -> set[str]:
    """Values of environment variables whose names look secret (scrubbed from every output)."""
    return {v for k, v in os.environ.items()
            if is_secret_name(k) and len(v) >= min_len and not os.path.exists(v)}


def scrub(text: str, secrets: set[str]) -> str:
    """Replace every secret value (longest first) and every credential-looking string by ``MASK``."""
    for s in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(s, MASK)
    text = _SECRET_VALUE.sub(MASK, text)
    return _URL_CRED.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


def scrub_obj(obj: Any, secrets: set[str]) -> Any:
    if isinstance(obj, str):
        return scrub(obj, secrets)
    if isinstance(obj, list):
        return [scrub_obj(x, secrets) for x in obj]
    if isinstance(obj, dict):
        return {scrub(str(k), secrets): scrub_obj(v, secrets) for k, v in obj.items()}
    return obj


def allowed_env() -> dict[str, str]:
    return {k: v for k, v in sorted(os.environ.items())
            if (k in ENV_ALLOWLIST or k.startswith(ENV_ALLOW_PREFIXES)) and not is_secret_name(k)}


# -------------------------------------------------------------------------------- environment
def _run(cmd: list[str], cwd: str | Path | None = None, binary: bool = False) -> Any:
    try:
        p = subprocess.run(cmd, cwd=cwd, capture_output=True, timeout=30, text=not binary)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.returncode == 0 else None


def git_root(path: str | Path) -> Path | None:
    p = Path(path).resolve()
    out = _run(["git", "rev-parse", "--show-toplevel"], cwd=p if p.is_dir() else p.parent)
    return Path(out.strip()) if out else None


def git_info(path: str | Path) -> dict[str, Any] | None:
    """Commit, branch, dirty flag, sha256 of ``git diff HEAD`` and the untracked files (not ignored)."""
    root = git_root(path)
    if root is None:
        return None
    commit = (_run(["git", "rev-parse", "HEAD"], cwd=root) or "").strip() or None
    branch = (_run(["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=root) or "").strip() or None
    diff = _run(["git", "diff", "HEAD", "--binary"], cwd=root, binary=True) or b""
    status = _run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root) or ""
    modified = [line[3:] for line in status.splitlines() if line and not line.startswith("??")]
    untracked = [line[3:] for line in status.splitlines() if line.startswith("??")]
    return {
        "commit": commit,
        "branch": branch,
        "dirty": bool(modified or untracked),
        "diff_sha256": sha256_text(diff) if diff else None,
        "modified_files": modified[:500],
        "untracked_files": untracked[:500],
    }


def dirty_summary(git: dict[str, Any]) -> str:
    """One plain sentence on what made a recorded git tree dirty, for notes and report pages.

    Names the counts, the sha256 of ``git diff HEAD`` only when there was a diff (it is null when the
    tree was dirty only through untracked files), and the first untracked/modified files."""
    mod, new = list(git.get("modified_files") or []), list(git.get("untracked_files") or [])
    parts = [f"{len(mod)} modified, {len(new)} untracked file(s)"]
    if git.get("diff_sha256"):
        parts.append(f"git diff HEAD sha256 {git['diff_sha256'][:12]}")
    files = [*mod, *new]
    if files:
        parts.append("e.g. " + ", ".join(files[:3]) + (" …" if len(files) > 3 else ""))
    return "; ".join(parts)


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def gpu_info() -> list[dict[str, str]] | None:
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
    if not out:
        return None
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        gpus.append(dict(zip(("name", "driver_version", "memory_total"), parts, strict=False)))
    return gpus or None


@functools.lru_cache(maxsize=1)
def packages() -> dict[str, str]:
    """Every installed distribution (normalised name → version) in this interpreter's environment."""
    pk: dict[str, str] = {}
    for d in metadata.distributions():
        name = d.metadata.get("Name")
        if name:
            pk[re.sub(r"[-_.]+", "-", name).lower()] = d.version
    return dict(sorted(pk.items()))


@functools.lru_cache(maxsize=1)
def _machine() -> dict[str, Any]:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        affinity = None
    return {
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "gpu": gpu_info(),
    }


def environment() -> dict[str, Any]:
    """Python, OS, CPU, GPU (cached per process) and the allowlisted environment variables (read now)."""
    return {**_machine(), "env": allowed_env()}


# ----------------------------------------------------------------------------------- inputs
def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "object"}.get(type(v), "other")


def describe_table(path: Path) -> dict[str, Any]:
    """Schema and row count of a table file (JSONL/JSON/Parquet/CSV); ``{}`` for other files."""
    suffix = path.suffix.lower()
    gz = suffix == ".gz"
    if gz:
        suffix = Path(path.stem).suffix.lower()
    try:
        if suffix == ".jsonl":
            schema: dict[str, set[str]] = {}
            rows = invalid = 0
            import gzip

            opener = gzip.open if gz else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        invalid += 1
                        continue
                    rows += 1
                    if isinstance(obj, dict):
                        for k, v in obj.items():
                            schema.setdefault(k, set()).add(_json_type(v))
            out: dict[str, Any] = {"format": "jsonl.gz" if gz else "jsonl", "rows": rows,
                                   "schema": {k: "|".join(sorted(t)) for k, t in schema.items()}}
            if invalid:
                out["invalid_lines"] = invalid
            return out
        if gz:
            return {}
        if suffix == ".json":
            obj = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(obj, list):
                keys: dict[str, set[str]] = {}
                for r in obj:
                    if isinstance(r, dict):
                        for k, v in r.items():
                            keys.setdefault(k, set()).add(_json_type(v))
                return {"format": "json", "rows": len(obj), "schema": {k: "|".join(sorted(t)) for k, t in keys.items()}}
            if isinstance(obj, dict):
                return {"format": "json", "rows": 1, "schema": {k: _json_type(v) for k, v in obj.items()}}
            return {"format": "json"}
        if suffix in (".parquet", ".csv", ".tsv"):
            import polars as pl

            lf = (pl.scan_parquet(path) if suffix == ".parquet"
                  else pl.scan_csv(path, separator="\t" if suffix == ".tsv" else ","))
            schema = lf.collect_schema()
            rows = lf.select(pl.len()).collect().item()
            return {"format": suffix[1:], "rows": int(rows), "schema": {k: str(v) for k, v in schema.items()}}
    except Exception as e:  # noqa: BLE001 - the hash is what verify relies on; record why no schema
        return {"format": suffix.lstrip("."), "table_error": f"{type(e).__name__}: {e}"}
    return {}


def display_path(path: Path, root: Path | None) -> str:
    """Path relative to ``root`` when inside it (portable across clones), else absolute."""
    p = path.resolve()
    if root is not None:
        try:
            return p.relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(p)


def describe_inputs(paths: list[str], root: Path | None, cwd: Path, max_files_per_dir: int = 5000) -> list[dict[str, Any]]:
    """One entry per input file (directories expand to their files); raises for a missing input."""
    from codeself.io import DataError, Problem

    entries: list[dict[str, Any]] = []
    seen: set[Path] = set()
    missing = []
    for raw in paths:
        p = Path(raw)
        p = p if p.is_absolute() else cwd / p
        if not p.exists():
            missing.append(Problem(str(raw), None, "inputs_read", "the notebook lists this input but it does not exist"))
            continue
        files = sorted(f for f in p.rglob("*") if f.is_file())[:max_files_per_dir] if p.is_dir() else [p]
        for f in files:
            rf = f.resolve()
            if rf in seen:
                continue
            seen.add(rf)
            entry = {"path": display_path(f, root), "size": f.stat().st_size, "sha256": sha256_file(f)}
            if f.suffix.lower() in TABLE_SUFFIXES:
                entry.update(describe_table(f))
            entries.append(entry)
    if missing:
        raise DataError(missing)
    return entries


def infer_run_ids(inputs: list[dict[str, Any]]) -> list[str]:
    """Run directories named by the inputs (``…/runs/<id>/…``)."""
    ids = []
    for e in inputs:
        parts = Path(e["path"]).parts
        for i, part in enumerate(parts[:-1]):
            if part == "runs" and i + 1 < len(parts) - 1 and parts[i + 1] not in ids:
                ids.append(parts[i + 1])
    return ids

