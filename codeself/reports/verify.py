"""Re-check a report against its frozen manifest.

``verify_manifest`` re-hashes the report HTML, checks that the manifest embedded in it equals the
JSON file (except ``report.sha256``/``report.bytes``, which cannot be inside the file they hash),
re-hashes the notebook and every input, and lists each difference in words ("input X: sha256 …
recorded, … now; rows 6 → 7"). Differences in the environment (Python, packages, git commit) are
reported as notes, not failures: they explain a difference, they are not one.

With ``rerun=True`` the notebook is executed again with the recorded arguments, from the recorded
working directory (nothing is written: the original report stays as it is), and its key numbers are
compared: strings, ints and
bools exactly, floats within ``rtol``/``atol``. Arguments masked at export time cannot be replayed;
pass them again with ``notebook_args``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeself.io import DataError, Problem, sha256_file
from codeself.reports import manifest as mf


@dataclass
class Verification:
    manifest: str
    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.differences


def load_manifest(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise DataError(Problem(str(path), None, None, "manifest file does not exist"))
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise DataError(Problem(str(path), getattr(e, "lineno", None), None, f"not valid JSON: {e}")) from None
    if not isinstance(m, dict):
        raise DataError(Problem(str(path), 1, None, "a manifest must be a JSON object"))
    for key in ("schema_version", "report", "notebook", "inputs", "key_numbers"):
        if key not in m:
            raise DataError(Problem(str(path), None, key, "missing required manifest field"))
    if m["schema_version"] != mf.SCHEMA_VERSION:
        raise DataError(Problem(str(path), None, "schema_version",
                                f"unsupported schema {m['schema_version']!r} (this CodeSelf reads {mf.SCHEMA_VERSION!r})"))
    return m


def embedded_manifest(html_text: str) -> dict[str, Any] | None:
    m = re.search(r'<script type="application/json" id="codeself-manifest">(.*?)</script>', html_text, re.S)
    return json.loads(m.group(1)) if m else None


def resolve_root(manifest_path: Path, root: str | Path | None) -> Path:
    if root is not None:
        return Path(root)
    return mf.git_root(manifest_path.resolve().parent) or Path.cwd()


def _diff_dict(a: dict, b: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        if k not in a:
            out.append(f"{prefix}{k}: only in the report's embedded copy")
        elif k not in b:
            out.append(f"{prefix}{k}: missing from the report's embedded copy")
        elif isinstance(a[k], dict) and isinstance(b[k], dict):
            out += _diff_dict(a[k], b[k], f"{prefix}{k}.")
        elif a[k] != b[k]:
            out.append(f"{prefix}{k}: {json.dumps(a[k])[:80]} in the JSON file, {json.dumps(b[k])[:80]} in the report")
    return out


def _check_file(label: str, path: Path, entry: dict[str, Any], v: Verification) -> None:
    v.checked += 1
    if not path.is_file():
        v.differences.append(f"{label} {entry['path']}: missing (looked for {path})")
        return
    size, sha = path.stat().st_size, sha256_file(path)
    if sha == entry["sha256"] and size == entry.get("size", size):
        return
    msg = f"{label} {entry['path']}: content changed (sha256 {entry['sha256'][:12]}… recorded, {sha[:12]}… now"
    if entry.get("size") is not None and size != entry["size"]:
        msg += f"; size {entry['size']:,} → {size:,} bytes"
    if "rows" in entry or "schema" in entry:
        now = mf.describe_table(path)
        if now.get("rows") != entry.get("rows"):
            msg += f"; rows {entry.get('rows')} → {now.get('rows')}"
        if now.get("schema") != entry.get("schema"):
            old_s, new_s = entry.get("schema") or {}, now.get("schema") or {}
            added = sorted(set(new_s) - set(old_s))
            removed = sorted(set(old_s) - set(new_s))
            changed = sorted(k for k in set(old_s) & set(new_s) if old_s[k] != new_s[k])
            msg += f"; schema changed (added {added}, removed {removed}, retyped {changed})"
    v.differences.append(msg + ")")


def compare_numbers(old: dict[str, Any], new: dict[str, Any], rtol: float = 1e-9, atol: float = 0.0) -> list[str]:
    """Differences between two key-number dicts (floats compared with a tolerance)."""
    out = []
    for k in sorted(set(old) | set(new)):
        if k not in new:
            out.append(f"key number {k}: recorded {old[k]!r}, absent on re-run")
        elif k not in old:
            out.append(f"key number {k}: new on re-run ({new[k]!r})")
        else:
            a, b = old[k], new[k]
            if isinstance(a, float) or isinstance(b, float):
                if (isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool)
                        and not isinstance(b, bool) and math.isclose(a, b, rel_tol=rtol, abs_tol=atol)):
                    continue
            elif a == b and type(a) is type(b):
                continue
            out.append(f"key number {k}: recorded {a!r}, re-run gives {b!r}")
    return out


def verify_manifest(manifest_path: str | Path, *, root: str | Path | None = None, rerun: bool = False,
                    notebook_args: list[str] | None = None, rtol: float = 1e-9, atol: float = 0.0,
                    timeout: float = 900.0) -> Verification:
    """Check a report and its inputs against ``manifest_path``; see the module docstring."""
    manifest_path = Path(manifest_path)
    m = load_manifest(manifest_path)
    v = Verification(str(manifest_path))
    base = resolve_root(manifest_path, root)

    # 1. the report file and its embedded manifest
    html_path = manifest_path.parent / m["report"]["html_file"]
    v.checked += 1
    if not html_path.is_file():
        v.differences.append(f"report {html_path}: missing")
    else:
        sha = sha256_file(html_path)
        if sha != m["report"]["sha256"]:
            v.differences.append(f"report {html_path.name}: content changed (sha256 {m['report']['sha256'][:12]}… "
                                 f"recorded, {sha[:12]}… now; {m['report'].get('bytes')} → {html_path.stat().st_size} bytes)")
        try:
            emb = embedded_manifest(html_path.read_text(encoding="utf-8", errors="replace"))
        except ValueError as e:
            emb = None
            v.differences.append(f"report {html_path.name}: embedded manifest is not valid JSON ({e})")
        if emb is None:
            v.differences.append(f"report {html_path.name}: no embedded manifest (<script id=\"codeself-manifest\">)")
        else:
            expect = json.loads(json.dumps(m))
            expect["report"]["sha256"] = None
            expect["report"]["bytes"] = None
            for d in _diff_dict(expect, emb):
                v.differences.append(f"report {html_path.name}: embedded manifest differs: {d}")

    # 2. the notebook and every input
    nb = m["notebook"]
    _check_file("notebook", base / nb["path"], nb, v)
    for entry in m["inputs"]:
        _check_file("input", base / entry["path"], entry, v)

    # 3. environment (notes only)
    env = m.get("environment", {})
    cur = mf.environment()
    if env.get("python") and env["python"] != cur["python"]:
        v.notes.append(f"Python {env['python']} recorded, {cur['python']} now")
    rec_pk, cur_pk = m.get("packages", {}), mf.packages()
    changed = [f"{k} {rec_pk[k]} → {cur_pk.get(k, 'absent')}" for k in rec_pk if cur_pk.get(k) != rec_pk[k]]
    if changed:
        v.notes.append(f"{len(changed)} package versions differ: " + ", ".join(changed[:8]) + (" …" if len(changed) > 8 else ""))
    git = m.get("git") or {}
    now_git = mf.git_info(base) or {}
    if git.get("commit") and now_git.get("commit") and git["commit"] != now_git["commit"]:
        v.notes.append(f"git commit {git['commit'][:12]} recorded, {now_git['commit'][:12]} checked out now")
    if git.get("dirty"):
        v.notes.append(f"the report was made from a dirty git tree ({mf.dirty_summary(git)})")

    # 4. re-run
    if rerun:
        from codeself.reports.export import run_notebook

        args = notebook_args if notebook_args is not None else list(m["command"].get("notebook_args", []))
        if any(mf.MASK in a for a in args):
            raise DataError(Problem(str(manifest_path), None, "command.notebook_args",
                                    "arguments were masked at export (secrets); pass them again after `--`"))
        rec_cwd = m["command"].get("cwd") or "."
        cwd = Path(rec_cwd) if Path(rec_cwd).is_absolute() else base / rec_cwd
        result = run_notebook((base / nb["path"]).resolve(), args, timeout=timeout, cwd=cwd if cwd.is_dir() else base)
        for d in compare_numbers(m["key_numbers"], result["key_numbers"], rtol=rtol, atol=atol):
            v.differences.append(f"re-run: {d}")
        if result["verdict_lines"] != m.get("verdict_lines"):
            v.notes.append("re-run: verdict lines differ in wording")
        v.checked += 1
    return v
