"""Run a Jupyter notebook (``.ipynb``) headless for the report exporter and turn its outputs into
the same blocks and report contract a marimo notebook gives (``codeself.reports.runner``).

- **Arguments**: a kernel has no command line, so the notebook arguments (``-- --rollouts R.jsonl``)
  travel as a JSON list in ``$CODESELF_NOTEBOOK_ARGS``; the notebook reads them with
  ``codeself.views.inputs.notebook_args()`` — the same call, flags and parsing rule as the marimo
  notebooks (without the variable, as in JupyterLab, the bundled examples apply).
- **Execution**: ``nbclient`` runs every code cell in order in a ``python3`` kernel (the interpreter
  running this module) with the current directory as the kernel's; the stored notebook is never
  modified. A cell that raises stops the run: the error is one line (``ename: evalue``), the
  cell's traceback goes to ``detail`` only.
- **Contract**: after the notebook's own cells, one extra cell (not part of the report) calls
  ``runner.dump_contract(globals(), …)``: ``key_numbers``, ``verdict_lines``, ``inputs_read`` and
  ``seeds`` must be notebook globals, exactly as in a marimo notebook.
- **Outputs → HTML**: markdown cells and each output in order; a display bundle is rendered from its
  richest static type (vega-lite → inline SVG, SVG, PNG, HTML, markdown, plain text); a widget
  (``application/vnd.jupyter.widget-view+json``) becomes a note; stdout streams are ``<pre>`` blocks
  (stderr is left out: warnings and progress bars are not results).
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from codeself.views.inputs import JUPYTER_ARGS_ENV

_WIDGET = "application/vnd.jupyter.widget-view+json"
#: a display bundle is rendered from the first of these it holds
_PREFERENCE = ("application/vnd.vegalite", "image/svg+xml", "image/png", "image/jpeg", "text/html",
               "text/markdown", "text/plain")


class NotebookCellError(RuntimeError):
    """A cell raised: ``summary`` is the one line for the user, ``detail`` the cell's traceback."""

    def __init__(self, summary: str, detail: str):
        super().__init__(summary)
        self.summary = summary
        self.detail = detail


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def render_bundle(data: dict[str, Any], max_rows: int = 100):
    """Static HTML for one Jupyter display bundle (``{mimetype: data}``)."""
    from codeself.reports.render import Rendered, _mime

    if _WIDGET in data:
        plain = "".join(data.get("text/plain", "")) if isinstance(data.get("text/plain"), list) else str(
            data.get("text/plain", ""))
        m = re.search(r"([A-Za-z_][\w]*)(?: object at 0x[0-9a-f]+>|\()", plain)
        name = m.group(1) if m else "widget"
        return Rendered(f'<span class="widget-note">[interactive widget {html.escape(name[:80])}: not available in a '
                        "static report; open the notebook in JupyterLab to use it]</span>")
    for pref in _PREFERENCE:
        for mt, val in data.items():
            if mt.startswith(pref):
                text = "".join(val) if isinstance(val, list) else val
                if mt == "text/plain":
                    return Rendered(f"<pre>{html.escape(_strip_ansi(str(text)))}</pre>")
                return _mime(mt, text, max_rows)
    return Rendered("")


def _cell_blocks(nb: Any, max_rows: int) -> list[dict[str, Any]]:
    from codeself.reports.render import Rendered, _mime

    blocks: list[dict[str, Any]] = []

    def add(kind: str, r: Rendered) -> None:
        if r.html.strip():
            blocks.append({"index": len(blocks), "type": kind, "html": r.html,
                           "charts": r.html.count('class="codeself-chart"'),
                           "tables": len(re.findall(r"<table\b", r.html)), "notes": r.notes,
                           "bytes": len(r.html.encode())})

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            add("markdown", _mime("text/markdown", cell.source, max_rows))
            continue
        if cell.cell_type != "code":
            continue
        for o in cell.get("outputs", []):
            kind = o.get("output_type")
            if kind == "stream" and o.get("name") == "stdout":
                add("stdout", Rendered(f"<pre>{html.escape(_strip_ansi(o.get('text', '')))}</pre>"))
            elif kind in ("display_data", "execute_result"):
                try:
                    add(kind, render_bundle(dict(o.get("data", {})), max_rows))
                except Exception as e:  # noqa: BLE001 - one unrenderable output must not sink the report
                    msg = f"an output could not be rendered statically: {type(e).__name__}: {e}"[:500]
                    add(kind, Rendered(f'<p class="note render-error">[{html.escape(msg)}]</p>', notes=[msg]))
    return blocks


def _title(nb: Any, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
            if m:
                return m.group(1).strip()
    return fallback


def run_ipynb(notebook: Path, args: list[str], max_rows: int = 100, *, timeout: float = 900.0) -> dict[str, Any]:
    """Execute ``notebook`` with ``args``; the runner's result dict (see ``codeself.reports.runner``)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(notebook, as_version=4)
    n_own = len(nb.cells)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="codeself-ipynb-") as tmp:
        contract_path = Path(tmp) / "contract.json"
        nb.cells.append(nbformat.v4.new_code_cell(
            "from codeself.reports.runner import dump_contract as _codeself_dump_contract\n"
            f"_codeself_dump_contract(globals(), {str(contract_path)!r}, {str(notebook)!r})"))
        previous = os.environ.get(JUPYTER_ARGS_ENV)
        os.environ[JUPYTER_ARGS_ENV] = json.dumps(list(args))
        try:
            client = NotebookClient(nb, timeout=int(timeout), kernel_name="python3",
                                    resources={"metadata": {"path": str(Path.cwd())}})
            client.execute()
        except CellExecutionError as e:
            line = f"{e.ename}: {_strip_ansi(str(e.evalue))}".splitlines()[0] if e.ename else "a cell failed"
            raise NotebookCellError(line, _strip_ansi(str(e))) from None
        finally:
            if previous is None:
                os.environ.pop(JUPYTER_ARGS_ENV, None)
            else:
                os.environ[JUPYTER_ARGS_ENV] = previous
        c = json.loads(contract_path.read_text())
    t_run = time.perf_counter() - t0
    del nb.cells[n_own:]
    t1 = time.perf_counter()
    blocks = _cell_blocks(nb, max_rows)
    return {
        "ok": True,
        "title": c["title"] or _title(nb, notebook.stem.replace("_", " ")),
        "blocks": blocks,
        "key_numbers": c["key_numbers"],
        "verdict_lines": c["verdict_lines"],
        "inputs_read": c["inputs_read"],
        "seeds": c["seeds"],
        "run_ids": c["run_ids"],
        "timings": {"run_s": round(t_run, 3), "render_s": round(time.perf_counter() - t1, 3)},
    }
