"""``codeself bench reports``: wall time of exporting every notebook, and each report's size.

Baseline measured in the same run: marimo's own ``marimo export html`` of the same notebooks with
the same parallelism — which executes the notebooks too, but whose HTML loads its JavaScript from
a CDN (blank offline); the bench counts those network references to show the difference.
Targets: all notebooks ≤ 90 s on 2 cores, each report ≤ 2 MB. Wall time depends on what else runs
on the machine, so the bench also prints the CPU seconds of the child processes (user + sys) and
the load average before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from codeself.reports.export import (
    MAX_REPORT_BYTES,
    discover_notebooks,
    export_notebooks,
    external_references,
)

TARGET_S = 90.0


def _marimo_export(nb: Path, out: Path, args: list[str]) -> dict[str, Any]:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "marimo", "export", "html", str(nb), "-o", str(out), "-f"]
    if args:
        cmd += ["--", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    dt = time.perf_counter() - t0
    text = out.read_text(encoding="utf-8", errors="replace") if out.exists() else ""
    return {"seconds": dt, "bytes": len(text.encode()), "ok": proc.returncode == 0 and bool(text),
            "external_refs": len(external_references(text))}


def bench_reports(notebooks: list[Path] | None = None, jobs: int = 2, baseline: bool = True,
                  notebook_args: list[str] | None = None) -> dict[str, Any]:
    notebooks = notebooks or discover_notebooks()
    if not notebooks:
        raise FileNotFoundError("no notebooks/NN_*.py to benchmark")
    import resource

    def cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    # Warm the page cache for the imports both sides need, so neither pays the cold start alone.
    subprocess.run([sys.executable, "-c", "import marimo, polars, altair, vl_convert, codeself.reports.render"],
                   check=False, capture_output=True)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="codeself-bench-reports-") as tmp:
        c0 = cpu()
        t0 = time.perf_counter()
        results = export_notebooks(notebooks, Path(tmp) / "reports", notebook_args, jobs=jobs, progress=True,
                                   command_line=["codeself", "bench", "reports"])
        total = time.perf_counter() - t0
        total_cpu = cpu() - c0
        rows = [{"name": r.name, "seconds": r.seconds, "bytes": r.bytes, "charts": r.charts, "tables": r.tables,
                 "external_refs": len(external_references(r.html_path.read_text(encoding="utf-8")))}
                for r in results]
        base_rows: list[dict[str, Any]] = []
        base_total = base_cpu = None
        if baseline:
            c1 = cpu()
            t1 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                futs = [pool.submit(_marimo_export, nb, Path(tmp) / "marimo" / f"{nb.stem}.html", list(notebook_args or []))
                        for nb in notebooks]
                base_rows = [{"name": nb.stem, **f.result()} for nb, f in zip(notebooks, futs, strict=True)]
            base_total = time.perf_counter() - t1
            base_cpu = cpu() - c1
    return {
        "notebooks": len(notebooks), "jobs": jobs, "total_s": total, "rows": rows, "cpu_s": total_cpu,
        "baseline_total_s": base_total, "baseline_cpu_s": base_cpu, "baseline_rows": base_rows,
        "load_before": load_before, "load_after": os.getloadavg()[0], "cpus": os.cpu_count(),
        "target_s": TARGET_S, "max_bytes": MAX_REPORT_BYTES,
        "meets_time": total <= TARGET_S, "meets_size": all(r["bytes"] <= MAX_REPORT_BYTES for r in rows),
    }
