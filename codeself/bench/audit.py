"""``codeself bench audit``: the test-strength audit of all of HumanEval, timed, against a process-per-test
audit measured in the same run; the target is named once, below."""

from __future__ import annotations

import os
import random
from typing import Any

from codeself.audit.mutants import sample_mutants
from codeself.audit.pipeline import DEFAULT_MUTANTS, audit_tasks
from codeself.audit.report import summarize

#: the target: the test-strength audit of all of HumanEval (on 2 cores) within this many seconds
TARGET_S = 180.0


def bench_audit(mutants: int = DEFAULT_MUTANTS, seed: int = 0, workers: int | None = None,
                baseline_processes: int = 40, progress: bool = True) -> dict[str, Any]:
    """Audit all of HumanEval and time it; compare with a process-per-test audit, measured here.

    The baseline runs ``baseline_processes`` real ``python -c`` processes (each: a mutant program
    plus one test of its task, as a process-per-test audit would), ``workers`` at a time, and
    extrapolates their mean cost to the number of processes such an audit of the same work needs
    (one per reference/mutant call evaluated and one per test run on a confirmed-wrong mutant).
    """
    import subprocess
    import sys
    import time
    from concurrent.futures import ThreadPoolExecutor

    from codeself.datasets import from_humaneval

    n_workers = workers or os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    tasks = from_humaneval()
    load_s = time.perf_counter() - t0
    stats: dict[str, Any] = {}
    t0 = time.perf_counter()
    records = audit_tasks(tasks, mutants=mutants, seed=seed, workers=workers, progress=progress, stats=stats)
    audit_s = time.perf_counter() - t0
    load_after = os.getloadavg()[0]
    summary = summarize(records)

    # baseline: a sample of (mutant, test) processes, deterministic for the seed
    by_id = {t.task_id: t for t in tasks}
    rng = random.Random(f"codeself-audit-bench:{seed}")
    audited = [r for r in records if r["status"] == "audited"]
    sample: list[str] = []
    for r in rng.sample(audited, min(len(audited), baseline_processes)):
        t = by_id[r["task_id"]]
        ms, _ = sample_mutants(t.canonical_solution or "", 1, seed=seed, key=t.task_id)
        tests = [*t.public_tests, *t.hidden_tests]
        if ms and tests:
            sample.append("\n".join([ms[0].code, t.setup_code, rng.choice(tests)]))

    def one(program: str) -> float:
        start = time.perf_counter()
        try:
            subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=10, check=False)
        except subprocess.TimeoutExpired:
            pass
        return time.perf_counter() - start

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=n_workers) as ex:
        list(ex.map(one, sample))
    sample_wall = time.perf_counter() - t0
    per_process = sample_wall * n_workers / max(1, len(sample))
    processes = sum((2 + r["mutants_made"]) * r["inputs"]["used"]
                    + r["confirmed_wrong"] * (r["public_tests"] + r["hidden_tests"]) for r in audited)
    baseline_s = per_process * processes / n_workers
    return {
        "tasks": len(tasks), "mutants": mutants, "seed": seed, "workers": n_workers,
        "load_humaneval_s": round(load_s, 2), "audit_s": round(audit_s, 2), "stages": stats,
        "target_s": TARGET_S, "meets_target": audit_s <= TARGET_S,
        "load_before": load_before, "load_after": load_after, "cpus": os.cpu_count(),
        "baseline_sample": len(sample), "baseline_per_process_ms": round(1000 * per_process, 1),
        "baseline_processes": processes, "baseline_estimate_s": round(baseline_s, 1),
        "speedup": round(baseline_s / audit_s, 1) if audit_s > 0 else None,
        "summary": summary,
    }
