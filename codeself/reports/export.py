"""Export notebooks to self-contained static HTML reports with frozen manifests.

``export_notebook`` runs one notebook in a subprocess (``codeself.reports.runner``: for a marimo
notebook ``sys.argv`` = the notebook arguments and ``app.run()``; for a Jupyter ``.ipynb`` every cell
in a kernel, arguments in ``$CODESELF_NOTEBOOK_ARGS``, see ``codeself.reports.jupyter``), then writes ``OUT/NAME.html`` and ``OUT/NAME.manifest.json``
and refreshes ``OUT/index.html``.

Guarantees:
- the HTML is one file with no JavaScript and no ``http(s)://`` resource reference (charts are inline
  SVG, tables HTML, external links are shown as text, never loaded); ``check_offline`` enforces this
  before anything is written, and the size limit (default 2 MB) too;
- the manifest is embedded in the HTML (``<script type="application/json" id="codeself-manifest">``)
  identical to the JSON file except ``report.sha256``, which is null in the embedded copy (a file
  cannot contain its own hash);
- nothing is written for a notebook that fails (its error names the notebook and the failing cell's
  traceback); files are written atomically and the manifest is made read-only (frozen);
- secrets are masked (see ``codeself.reports.manifest``).

Not guaranteed: that a notebook reads only the inputs it lists in ``inputs_read`` — the manifest
records what the notebook declares.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeself.io import DataError, Problem, atomic_write_text, sha256_file, sha256_text
from codeself.reports import manifest as mf

MAX_REPORT_BYTES = 2 * 1024 * 1024
DEFAULT_NOTEBOOK_DIR = Path("notebooks")


class ReportError(RuntimeError):
    """A notebook could not be exported. ``str(e)`` names the notebook and the cause in one line per
    failed notebook; ``detail`` holds the notebook's traceback (for a log or a debugger, not the user)."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


@dataclass
class ExportResult:
    name: str
    html_path: Path
    manifest_path: Path
    bytes: int
    seconds: float
    charts: int
    tables: int
    manifest: dict[str, Any]


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def discover_notebooks(directory: Path = DEFAULT_NOTEBOOK_DIR, *, jupyter: bool = True) -> list[Path]:
    """The marimo notebooks ``NN_name.py`` in ``directory`` (sorted), then (``jupyter``) its Jupyter
    notebooks ``*.ipynb`` (sorted)."""
    found = sorted(p for p in directory.glob("[0-9][0-9]_*.py") if "marimo.App" in p.read_text(encoding="utf-8"))
    return found + (sorted(directory.glob("*.ipynb")) if jupyter else [])


# ------------------------------------------------------------------------------ offline checks
_EXTERNAL_REF = re.compile(
    r"""(?:\b(?:src|href|xlink:href|action|poster|data|srcset|formaction|background)\s*=\s*["']?\s*(?:https?:)?//)"""
    r"""|(?:url\(\s*["']?\s*(?:https?:)?//)|(?:@import\s+["']?(?:https?:)?//)""",
    re.I,
)


def external_references(text: str) -> list[str]:
    """Every attribute, ``url()`` or ``@import`` in ``text`` that would load from the network."""
    return [text[max(0, m.start() - 40): m.end() + 60] for m in _EXTERNAL_REF.finditer(text)]


def _delink(fragment: str) -> str:
    """Make untrusted HTML static: drop scripts/iframes/links, show external links as text."""
    fragment = re.sub(r"<script\b[^>]*>.*?</script\s*>", "", fragment, flags=re.I | re.S)
    fragment = re.sub(r"<(iframe|object|embed)\b[^>]*>.*?</\1\s*>", "", fragment, flags=re.I | re.S)
    fragment = re.sub(r"<(link|base|meta)\b[^>]*>", "", fragment, flags=re.I)
    fragment = re.sub(r"\son\w+\s*=\s*(\"[^\"]*\"|'[^']*')", "", fragment, flags=re.I)

    def anchor(m: re.Match) -> str:
        url, text = m.group(2), m.group(3)
        shown = html.escape(html.unescape(url))
        return f'<span class="ext-link">{text} <span class="url">⟨{shown}⟩</span></span>'

    fragment = re.sub(r"<a\b[^>]*?\bhref\s*=\s*([\"'])((?:https?:)?//[^\"']*)\1[^>]*>(.*?)</a\s*>", anchor,
                      fragment, flags=re.I | re.S)
    # Any remaining network reference (e.g. <img src="https://…">) is neutralised.
    return re.sub(r"""(\b(?:src|href|xlink:href|srcset|poster|action)\s*=\s*["']?)\s*(?:https?:)?//""",
                  r"\1#blocked:", fragment, flags=re.I)


# ------------------------------------------------------------------------------------- the page
CSS = """
:root{--fg:#1d232a;--muted:#5b6673;--line:#d9dee4;--bg:#fff;--soft:#f5f7f9;--warn:#fff4d6;--warnline:#e0b64a}
*{box-sizing:border-box}body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:1100px;margin:0 auto;padding:24px 28px 60px}
header h1{margin:0 0 4px;font-size:26px}header .meta{color:var(--muted);font-size:13px}
.warning{background:var(--warn);border:1px solid var(--warnline);border-radius:6px;padding:10px 14px;margin:14px 0}
.panel{border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:16px 0;background:var(--soft)}
.panel h2{font-size:16px;margin:0 0 8px}
.numbers{display:flex;flex-wrap:wrap;gap:10px}.number{background:#fff;border:1px solid var(--line);border-radius:6px;padding:8px 12px;min-width:120px}
.number .v{font-size:20px;font-weight:600}.number .k{color:var(--muted);font-size:12px}
ul.verdict li{margin:2px 0}
section.cell{margin:18px 0;overflow-x:auto}
figure.codeself-chart{margin:8px 0;overflow-x:auto}figure.codeself-chart svg{max-width:100%;height:auto}
.table-wrap{display:inline-block;max-width:100%;vertical-align:top;overflow-x:auto;max-height:520px;overflow-y:auto;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse;font-size:13px}th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);position:sticky;top:0}th small{color:var(--muted);font-weight:400}
.table-note,.note{color:var(--muted);font-size:12px;margin:4px 8px}.null{color:var(--muted)}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:8px 10px;overflow-x:auto;font-size:12px}
code{font-size:90%}.widget-note{color:var(--muted);font-style:italic}.url{color:var(--muted);font-size:12px}
.callout{border-left:4px solid var(--warnline);background:var(--soft);padding:8px 12px;margin:8px 0}
.stat{display:inline-block;border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin:4px}
.stat-value{font-size:20px;font-weight:600}.stat-label{color:var(--muted);font-size:12px}
details summary{cursor:pointer;font-weight:600}
table.dataframe thead tr:nth-child(2) td{color:var(--muted);font-size:11px;background:var(--soft)}
footer{color:var(--muted);font-size:12px;margin-top:40px;border-top:1px solid var(--line);padding-top:8px}
"""


def _embed_json(obj: Any) -> str:
    """JSON safe to place inside a <script> element (``<``, ``>``, ``&`` as \\u escapes)."""
    s = json.dumps(obj, indent=1, ensure_ascii=False)
    return s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _fmt_number(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _short(h: str | None) -> str:
    return (h or "")[:12]


def build_page(title: str, blocks: list[dict[str, Any]], manifest: dict[str, Any]) -> str:
    git = manifest.get("git") or {}
    warn = ""
    if git.get("dirty"):
        warn = (f'<div class="warning" id="dirty-warning"><strong>Warning: the git tree was dirty</strong> '
                f"when this report was made ({html.escape(mf.dirty_summary(git))}). The commit alone does not "
                "reproduce it.</div>")
    elif not git:
        warn = '<div class="warning" id="dirty-warning"><strong>Warning:</strong> not made from a git checkout.</div>'
    numbers = "".join(
        f'<div class="number"><div class="v">{html.escape(_fmt_number(v))}</div><div class="k">{html.escape(k)}</div></div>'
        for k, v in manifest["key_numbers"].items()
    ) or '<p class="note">(none)</p>'
    verdict = "".join(f"<li>{html.escape(v)}</li>" for v in manifest["verdict_lines"]) or "<li>(none)</li>"
    inputs_rows = "".join(
        f"<tr><td><code>{html.escape(e['path'])}</code></td><td>{e['size']:,}</td>"
        f"<td><code>{html.escape(_short(e['sha256']))}</code></td><td>{e.get('rows', '')}</td>"
        f"<td>{html.escape(', '.join(f'{k}:{t}' for k, t in (e.get('schema') or {}).items()))}</td></tr>"
        for e in manifest["inputs"]
    )
    body = "".join(f'<section class="cell" data-output="{b["index"]}">{_delink(b["html"])}</section>' for b in blocks)
    nb = manifest["notebook"]
    embedded = _embed_json(manifest)
    pretty = html.escape(json.dumps(manifest, indent=2, ensure_ascii=False))
    seeds = html.escape(json.dumps(manifest.get("seeds"), ensure_ascii=False))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="codeself report export">
<title>{html.escape(title)} — CodeSelf report</title>
<style>{CSS}</style></head>
<body><main>
<header><h1>{html.escape(title)}</h1>
<div class="meta">notebook <code>{html.escape(nb['path'])}</code> (sha256 <code>{_short(nb['sha256'])}</code>) ·
made {html.escape(manifest['started_utc'])} UTC · commit <code>{html.escape(_short(git.get('commit')))}</code>
on {html.escape(str(git.get('branch')))} · seeds <code>{seeds}</code></div></header>
{warn}
<div class="panel" id="key-numbers"><h2>Key numbers</h2><div class="numbers">{numbers}</div></div>
<div class="panel" id="verdict"><h2>Verdict</h2><ul class="verdict">{verdict}</ul></div>
<div id="outputs">{body}</div>
<div class="panel" id="inputs"><h2>Inputs read</h2><div class="table-wrap"><table>
<thead><tr><th>path</th><th>bytes</th><th>sha256</th><th>rows</th><th>schema</th></tr></thead>
<tbody>{inputs_rows}</tbody></table></div></div>
<div class="panel" id="manifest-panel"><details><summary>Manifest (frozen; <code>{html.escape(manifest['report']['manifest_file'])}</code>)</summary>
<pre id="manifest-pretty">{pretty}</pre></details></div>
<script type="application/json" id="codeself-manifest">{embedded}</script>
<footer>Static report: no JavaScript, no network. Check it with
<code>codeself report verify {html.escape(manifest['report']['manifest_file'])}</code>.</footer>
</main></body></html>
"""


# ------------------------------------------------------------------------------------- export
def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    env.setdefault("MPLBACKEND", "Agg")
    # Tables that marimo renders through polars' own HTML repr (inside mo.hstack/vstack) show up
    # to 100 rows and long strings instead of polars' terminal defaults.
    env.setdefault("POLARS_FMT_MAX_ROWS", "100")
    env.setdefault("POLARS_FMT_MAX_COLS", "40")
    env.setdefault("POLARS_FMT_STR_LEN", "200")
    return env


def run_notebook(notebook: Path, args: list[str], *, max_rows: int = 100, timeout: float = 900.0,
                 cwd: Path | None = None) -> dict[str, Any]:
    """Run ``notebook`` in a child interpreter; returns the runner's result dict or raises ReportError."""
    with tempfile.TemporaryDirectory(prefix="codeself-report-") as tmp:
        result_path = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "codeself.reports.runner", str(notebook), str(result_path), str(max_rows), *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_child_env(),
                                  cwd=cwd)
        except subprocess.TimeoutExpired as e:
            raise ReportError(f"{notebook}: did not finish within {timeout:.0f} s") from e
        result = json.loads(result_path.read_text()) if result_path.exists() else None
    if result is None or not result.get("ok"):
        detail = (result or {}).get("traceback") or proc.stderr[-4000:]
        msg = (result or {}).get("error") or f"exit code {proc.returncode}"
        raise ReportError(f"{notebook}: notebook failed: {msg}", detail=detail.rstrip())
    result["stderr_tail"] = proc.stderr[-2000:]
    return result


def export_notebook(
    notebook: str | Path,
    output_dir: str | Path = "reports",
    notebook_args: list[str] | None = None,
    *,
    command_line: list[str] | None = None,
    max_bytes: int = MAX_REPORT_BYTES,
    max_rows: int = 100,
    timeout: float = 900.0,
    write_index: bool = True,
) -> ExportResult:
    """Export one notebook; see the module docstring for what is guaranteed."""
    notebook = Path(notebook)
    if not notebook.is_file():
        raise DataError(Problem(str(notebook), None, None, "notebook file does not exist"))
    args = list(notebook_args or [])
    out_dir = Path(output_dir)
    name = notebook.stem
    cwd = Path.cwd()
    root = mf.git_root(notebook) or cwd

    t0 = time.perf_counter()
    started = utc_now()
    nb_sha = sha256_file(notebook)
    result = run_notebook(notebook, args, max_rows=max_rows, timeout=timeout)
    finished = utc_now()

    masked_args, secrets = mf.mask_args(args)
    masked_cmd, cmd_secrets = mf.mask_args(list(command_line if command_line is not None else sys.argv))
    secrets |= cmd_secrets | mf.env_secret_values()
    inputs = mf.describe_inputs(result["inputs_read"], root, cwd)
    run_ids = list(dict.fromkeys([*result["run_ids"], *mf.infer_run_ids(inputs)]))
    charts = sum(b["charts"] for b in result["blocks"])
    tables = sum(b["tables"] for b in result["blocks"])
    manifest: dict[str, Any] = {
        "schema_version": mf.SCHEMA_VERSION,
        "export_id": f"{started[:19].replace(':', '').replace('-', '')}-{uuid.uuid4().hex[:8]}",
        "started_utc": started,
        "finished_utc": finished,
        "duration_s": None,
        "command": {"argv": masked_cmd, "notebook_args": masked_args, "cwd": mf.display_path(cwd, root),
                    "masked": masked_args != args or masked_cmd != list(command_line or sys.argv)},
        "notebook": {"path": mf.display_path(notebook, root), "sha256": nb_sha,
                     "size": notebook.stat().st_size},
        "git": mf.git_info(notebook),
        "environment": mf.environment(),
        "packages": mf.packages(),
        "seeds": result["seeds"],
        "inputs": inputs,
        "run_ids": run_ids,
        "key_numbers": result["key_numbers"],
        "verdict_lines": result["verdict_lines"],
        "outputs": {"blocks": len(result["blocks"]), "charts": charts, "tables": tables,
                    "notes": sorted({n for b in result["blocks"] for n in b["notes"]})},
        "report": {"html_file": f"{name}.html", "manifest_file": f"{name}.manifest.json", "sha256": None,
                   "bytes": None},
    }
    manifest = mf.scrub_obj(manifest, secrets)
    title = result.get("title") or name.replace("_", " ")
    blocks = [{**b, "html": mf.scrub(b["html"], secrets)} for b in result["blocks"]]
    manifest["duration_s"] = round(time.perf_counter() - t0, 3)
    page = mf.scrub(build_page(mf.scrub(title, secrets), blocks, manifest), secrets)

    refs = external_references(page)
    if refs:
        raise ReportError(f"{notebook}: the report would reference the network: {refs[:3]}")
    data = page.encode("utf-8")
    if len(data) > max_bytes:
        biggest = sorted(result["blocks"], key=lambda b: -b["bytes"])[:3]
        what = ", ".join(f"output {b['index']} ({b['type']}, {b['bytes'] / 1e6:.2f} MB)" for b in biggest)
        raise ReportError(f"{notebook}: report is {len(data) / 1e6:.2f} MB, over the {max_bytes / 1e6:.2f} MB limit; "
                          f"largest outputs: {what}. Aggregate before charting or show fewer rows.")

    html_path = out_dir / f"{name}.html"
    manifest_path = out_dir / f"{name}.manifest.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(html_path, page)
    html_path.chmod(0o644)
    final = json.loads(json.dumps(manifest))
    final["report"]["sha256"] = sha256_text(data)
    final["report"]["bytes"] = len(data)
    if manifest_path.exists():
        manifest_path.chmod(0o644)
    atomic_write_text(manifest_path, json.dumps(final, indent=2, ensure_ascii=False) + "\n")
    manifest_path.chmod(0o444)
    if write_index:
        write_index_page(out_dir)
    return ExportResult(name, html_path.resolve(), manifest_path.resolve(), len(data), time.perf_counter() - t0, charts, tables, final)


def export_notebooks(notebooks: list[Path], output_dir: str | Path = "reports", notebook_args: list[str] | None = None,
                     *, command_line: list[str] | None = None, max_bytes: int = MAX_REPORT_BYTES,
                     jobs: int = 1, progress: bool = True, timeout: float = 900.0) -> list[ExportResult]:
    """Export several notebooks (``jobs`` in parallel), then write the index once.

    Every notebook is attempted; if any fails, the ones that succeeded are kept (each is complete on
    its own) and a ``ReportError`` listing every failure is raised at the end.
    """
    from concurrent.futures import ThreadPoolExecutor

    results: dict[Path, ExportResult] = {}
    errors: list[str] = []

    from codeself.progress import Ticker

    running: list[str] = []
    finished = [0]
    ticker = Ticker("report export", enabled=progress)

    def status() -> None:
        ticker.message = (f"report export: {finished[0]}/{len(notebooks)} done"
                          + (f", running {', '.join(running)}" if running else ""))

    def one(nb: Path) -> ExportResult:
        running.append(nb.name)
        status()
        t0 = time.perf_counter()
        try:
            return export_notebook(nb, output_dir, notebook_args, command_line=command_line, max_bytes=max_bytes,
                                   timeout=timeout, write_index=False)
        finally:
            running.remove(nb.name)
            finished[0] += 1
            status()
            ticker.note(f"  {nb.name}: {time.perf_counter() - t0:.1f} s ({finished[0]}/{len(notebooks)})")

    status()
    with ticker, ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(one, nb): nb for nb in notebooks}
        for fut, nb in futures.items():
            try:
                results[nb] = fut.result()
            except (ReportError, DataError) as e:
                errors.append(str(e))
    if results or Path(output_dir).is_dir():  # a failed first export leaves no new directory behind
        write_index_page(Path(output_dir))
    if errors:
        raise ReportError("\n".join(errors))
    return [results[nb] for nb in notebooks]


# -------------------------------------------------------------------------------------- index
def write_index_page(output_dir: Path) -> Path:
    """(Re)write ``index.html`` listing every report in ``output_dir`` from its manifest."""
    rows = []
    for mp in sorted(output_dir.glob("*.manifest.json")):
        try:
            m = json.loads(mp.read_text(encoding="utf-8"))
        except ValueError:
            continue
        rep = m.get("report", {})
        inputs = "<br>".join(f"<code>{html.escape(e['path'])}</code>" for e in m.get("inputs", [])[:12])
        if len(m.get("inputs", [])) > 12:
            inputs += f"<br>… {len(m['inputs']) - 12} more"
        verdict = "".join(f"<li>{html.escape(v)}</li>" for v in m.get("verdict_lines", []))
        dirty = ' <span class="dirty">dirty tree</span>' if (m.get("git") or {}).get("dirty") else ""
        href = html.escape(rep.get("html_file", ""))
        rows.append(
            f'<tr><td><a href="{href}">{html.escape(mp.name.removesuffix(".manifest.json"))}</a>{dirty}<br>'
            f'<small><a href="{html.escape(mp.name)}">manifest</a></small></td>'
            f"<td>{html.escape(m.get('started_utc', '')[:19].replace('T', ' '))} UTC</td>"
            f"<td>{inputs}</td><td><ul>{verdict}</ul></td></tr>"
        )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CodeSelf reports</title>
<style>{CSS} .dirty{{background:var(--warn);border:1px solid var(--warnline);border-radius:4px;font-size:11px;padding:0 4px}}</style></head>
<body><main><header><h1>CodeSelf reports</h1><div class="meta">{len(rows)} reports · index written {utc_now()[:19]} UTC ·
each report is one static file; check one with <code>codeself report verify NAME.manifest.json</code></div></header>
<table id="report-index"><thead><tr><th>report</th><th>made</th><th>inputs</th><th>verdict</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table></main></body></html>
"""
    path = output_dir / "index.html"
    atomic_write_text(path, page)
    path.chmod(0o644)
    return path

