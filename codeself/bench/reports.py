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
                  notebook_args: list[str] | None = None, rounds: int = 1) -> dict[str, Any]:
    """Time ``rounds`` exports of every notebook and, interleaved, the marimo baseline.

    With ``rounds=2`` the order is codeself, marimo, marimo, codeself (ABBA), which cancels a load
    that drifts linearly during the bench; per-notebook numbers are from the first codeself round.
    """
    import resource

    notebooks = notebooks or discover_notebooks(jupyter=False)  # the baseline is marimo's exporter
    if not notebooks:
        raise FileNotFoundError("no notebooks/NN_*.py to benchmark")

    def cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    # Warm the page cache for the imports both sides need, so neither pays the cold start alone.
    subprocess.run([sys.executable, "-c", "import marimo, polars, altair, vl_convert, codeself.reports.render"],
                   check=False, capture_output=True)
    load_before = os.getloadavg()[0]
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    rows: list[dict[str, Any]] = []
    base_rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="codeself-bench-reports-") as tmp:

        def run_ours(k: int) -> None:
            c0, t0 = cpu(), time.perf_counter()
            results = export_notebooks(notebooks, Path(tmp) / f"reports{k}", notebook_args, jobs=jobs, progress=True,
                                       command_line=["codeself", "bench", "reports"])
            ours.append((time.perf_counter() - t0, cpu() - c0))
            if not rows:
                rows.extend({"name": r.name, "seconds": r.seconds, "bytes": r.bytes, "charts": r.charts,
                             "tables": r.tables,
                             "external_refs": len(external_references(r.html_path.read_text(encoding="utf-8")))}
                            for r in results)

        def run_theirs(k: int) -> None:
            c0, t0 = cpu(), time.perf_counter()
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                futs = [pool.submit(_marimo_export, nb, Path(tmp) / f"marimo{k}" / f"{nb.stem}.html",
                                    list(notebook_args or [])) for nb in notebooks]
                got = [{"name": nb.stem, **f.result()} for nb, f in zip(notebooks, futs, strict=True)]
            theirs.append((time.perf_counter() - t0, cpu() - c0))
            if not base_rows:
                base_rows.extend(got)

        for k in range(max(1, rounds)):
            first_ours = k % 2 == 0
            for side in ((run_ours, run_theirs) if first_ours else (run_theirs, run_ours)):
                if side is run_theirs and not baseline:
                    continue
                side(k)

    def mean(xs: list[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    total = mean([w for w, _ in ours])
    return {
        "notebooks": len(notebooks), "jobs": jobs, "rounds": max(1, rounds), "rows": rows,
        "total_s": total, "cpu_s": mean([c for _, c in ours]), "total_s_each": [w for w, _ in ours],
        "baseline_total_s": mean([w for w, _ in theirs]), "baseline_cpu_s": mean([c for _, c in theirs]),
        "baseline_total_s_each": [w for w, _ in theirs], "baseline_rows": base_rows,
        "load_before": load_before, "load_after": os.getloadavg()[0], "cpus": os.cpu_count(),
        "target_s": TARGET_S, "max_bytes": MAX_REPORT_BYTES,
        "meets_time": max(w for w, _ in ours) <= TARGET_S,
        "meets_size": all(r["bytes"] <= MAX_REPORT_BYTES for r in rows),
    }
