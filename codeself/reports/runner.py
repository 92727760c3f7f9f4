"""Child process of the report exporter: run one notebook and write its outputs as JSON.

A marimo notebook (``.py``) runs here as described below; a Jupyter notebook (``.ipynb``) runs in a
kernel driven by ``codeself.reports.jupyter`` and meets the same contract.

Usage (internal): ``python -m codeself.reports.runner NOTEBOOK RESULT.json [notebook args …]``.

The notebook runs with ``sys.argv = [NOTEBOOK, *args]`` (so ``mo.cli_args()`` sees the arguments)
through ``app.run()``; each cell output is converted to static HTML here (the objects cannot leave
this process) and the globals of the report contract are read from the definitions:
``key_numbers`` (dict), ``verdict_lines`` (list of str), ``inputs_read`` (list of paths),
``seeds`` (dict), and optionally ``run_ids`` (list of str) and ``report_title`` (str).
On any failure the result file holds ``{"ok": false, "error": …}`` and the exit code is 1.
"""

from __future__ import annotations

import html
import importlib.util
import json
import math
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

REQUIRED = {"key_numbers": dict, "verdict_lines": list, "inputs_read": list, "seeds": dict}


def _jsonable(v: Any, where: str) -> Any:
    """Plain JSON value for a key number / seed (numpy & friends via ``.item()``; NaN → "nan")."""
    if hasattr(v, "item") and callable(v.item) and not isinstance(v, (list, dict, str)):
        try:
            v = v.item()
        except (TypeError, ValueError):
            pass
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_jsonable(x, where) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x, f"{where}.{k}") for k, x in v.items()}
    raise TypeError(f"{where}: value of type {type(v).__name__} is not a number, string or list")


def load_app(notebook: Path):
    spec = importlib.util.spec_from_file_location(f"_codeself_nb_{notebook.stem}", notebook)
    if spec is None or spec.loader is None:
        raise ImportError(f"{notebook}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "run"):
        raise ValueError(f"{notebook}: no marimo `app` defined (is this a marimo notebook?)")
    return app


def contract(defs: dict[str, Any], notebook: Path | str) -> dict[str, Any]:
    """The report contract's globals from a notebook's definitions, as plain JSON values; raises
    ``ValueError`` naming every missing or mistyped one."""
    problems = []
    found: dict[str, Any] = {}
    for name, typ in REQUIRED.items():
        if name not in defs:
            problems.append(f"{notebook}: global '{name}' is not defined by any cell (report contract)")
        elif not isinstance(defs[name], typ):
            problems.append(f"{notebook}: global '{name}' must be a {typ.__name__}, got {type(defs[name]).__name__}")
        else:
            found[name] = defs[name]
    if problems:
        raise ValueError("\n".join(problems))
    title = defs.get("report_title")
    return {
        "key_numbers": {str(k): _jsonable(v, f"key_numbers.{k}") for k, v in found["key_numbers"].items()},
        "verdict_lines": [str(x) for x in found["verdict_lines"]],
        "inputs_read": [str(p) for p in found["inputs_read"]],
        "seeds": _jsonable(found["seeds"], "seeds"),
        "run_ids": [str(x) for x in defs.get("run_ids", []) or []],
        "title": str(title) if title else None,
    }


def dump_contract(defs: dict[str, Any], path: str, notebook: str) -> None:
    """Called inside a Jupyter kernel after the notebook's cells: write its contract to ``path``."""
    Path(path).write_text(json.dumps(contract(defs, notebook)))


def run(notebook: Path, args: list[str], max_rows: int = 100) -> dict[str, Any]:
    if notebook.suffix == ".ipynb":
        from codeself.reports.jupyter import run_ipynb

        return run_ipynb(notebook, args, max_rows)
    from codeself.reports.render import Rendered, render_output

    sys.argv = [str(notebook), *args]
    t0 = time.perf_counter()
    app = load_app(notebook)
    outputs, defs = app.run()
    t_run = time.perf_counter() - t0

    c = contract(defs, notebook)
    key_numbers, verdict_lines, inputs_read, seeds = c["key_numbers"], c["verdict_lines"], c["inputs_read"], c["seeds"]
    run_ids, title = c["run_ids"], c["title"]

    t1 = time.perf_counter()
    blocks = []
    for i, out in enumerate(outputs):
        try:
            r = render_output(out, max_rows=max_rows)
        except Exception as e:  # noqa: BLE001 - one unrenderable output must not sink the report
            msg = f"output {i} ({type(out).__name__}) could not be rendered statically: {type(e).__name__}: {e}"
            r = Rendered(f'<p class="note render-error">[{html.escape(msg[:500])}]</p>', notes=[msg[:500]])
        if r.html.strip():
            blocks.append({"index": i, "type": type(out).__name__, "html": r.html,
                           "charts": r.html.count('class="codeself-chart"'),
                           "tables": len(re.findall(r"<table\b", r.html)), "notes": r.notes,
                           "bytes": len(r.html.encode())})
    return {
        "ok": True,
        "title": title,
        "blocks": blocks,
        "key_numbers": key_numbers,
        "verdict_lines": verdict_lines,
        "inputs_read": inputs_read,
        "seeds": seeds,
        "run_ids": run_ids,
        "timings": {"run_s": round(t_run, 3), "render_s": round(time.perf_counter() - t1, 3)},
    }


def main(argv: list[str]) -> int:
    notebook, result_path, max_rows, *args = argv
    try:
        result = run(Path(notebook), args, int(max_rows))
        code = 0
    except BaseException as e:  # noqa: BLE001 - report every failure to the parent, located
        if isinstance(e, KeyboardInterrupt):
            raise
        error = getattr(e, "summary", None) or f"{type(e).__name__}: {e}"
        result = {"ok": False, "error": error, "traceback": getattr(e, "detail", None) or traceback.format_exc()}
        code = 1
    Path(result_path).write_text(json.dumps(result, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
