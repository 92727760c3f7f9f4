"""``codeself bench sandbox --suite stdio``: stdin/stdout programs × their tests through the sandbox
and, in the same run, through a process-per-test baseline (``python prog.py < input`` with a
timeout, output compared in the parent by the same judge) — what many RL frameworks do.

The suite is generated with a fixed seed: small competitive-programming problems (sum, max, sort,
reverse words, count distinct, prefix sums, gcd of pairs, ...) with 8 tests each and correct
programs written several ways. Reported: wall time of both, the ratio, pass counts, and the median
per-test cost in the sandbox (program wall time / tests, which includes the program's own work and
each test's exec) and per-test overhead (that, minus the program's own measured time).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: targets (issue 16), named once
TARGET_SPEEDUP = 5.0
TARGET_OVERHEAD_MS = 5.0

_PROBLEMS = {
    "sum": (lambda xs: f"{sum(xs)}\n", ["n = int(input())\nprint(sum(map(int, input().split())))\n",
                                         "import sys\nd = sys.stdin.read().split()\nprint(sum(int(x) for x in d[1:]))\n"]),
    "max": (lambda xs: f"{max(xs)}\n", ["input()\nprint(max(map(int, input().split())))\n",
                                         "import sys\nd = list(map(int, sys.stdin.buffer.read().split()))\nprint(max(d[1:]))\n"]),
    "sort": (lambda xs: " ".join(map(str, sorted(xs))) + "\n",
             ["input()\nprint(*sorted(map(int, input().split())))\n",
              "def main():\n    n = int(input())\n    a = sorted(int(x) for x in input().split())\n    print(' '.join(map(str, a)))\n"
              "if __name__ == '__main__':\n    main()\n"]),
    "distinct": (lambda xs: f"{len(set(xs))}\n", ["input()\nprint(len(set(input().split())))\n",
                                                   "n = int(input())\nseen = set()\nfor x in input().split():\n    seen.add(int(x))\nprint(len(seen))\n"]),
    "prefix": (lambda xs: " ".join(str(sum(xs[: i + 1])) for i in range(len(xs))) + "\n",
               ["import itertools\ninput()\nprint(*itertools.accumulate(map(int, input().split())))\n",
                "input()\ns = 0\nout = []\nfor x in map(int, input().split()):\n    s += x\n    out.append(s)\nprint(*out)\n"]),
    "minmax": (lambda xs: f"{min(xs)} {max(xs)}\n", ["input()\na = list(map(int, input().split()))\nprint(min(a), max(a))\n",
                                                      "import sys\nd = sys.stdin.read().split()[1:]\na = [int(x) for x in d]\nsys.stdout.write(f'{min(a)} {max(a)}\\n')\n"]),
}


def make_suite(programs: int = 300, tests: int = 8, seed: int = 0) -> list[tuple[Any, str]]:
    """(task, program) pairs: ``programs`` programs over the problems above, ``tests`` tests each."""
    from codeself.tasks import Task

    rng = random.Random(seed)
    tasks = []
    for name, (answer, _codes) in _PROBLEMS.items():
        cases = []
        for _ in range(tests):
            xs = [rng.randint(-1000, 1000) for _ in range(rng.randint(1, 40))]
            cases.append({"input": f"{len(xs)}\n{' '.join(map(str, xs))}\n", "output": answer(xs)})
        tasks.append(Task(task_id=f"stdio/{name}", prompt="", entry_point="", public_tests=cases[:1],
                          hidden_tests=cases[1:], judge="tokens", time_limit_s=5.0))
    pairs = []
    for k in range(programs):
        t = tasks[k % len(tasks)]
        codes = _PROBLEMS[t.task_id.split("/")[1]][1]
        pairs.append((t, codes[(k // len(tasks)) % len(codes)] + f"# variant {k}\n"))
    return pairs


def _baseline(pairs, workers: int, timeout: float) -> dict[str, Any]:
    from codeself.judges import get

    def one(item) -> tuple[bool, int]:
        task, code = item
        with tempfile.TemporaryDirectory(prefix="codeself-stdio-") as d:
            path = os.path.join(d, "prog.py")
            with open(path, "w") as f:
                f.write(code)
            ok = True
            for t in [*task.public_tests, *task.hidden_tests]:
                try:
                    p = subprocess.run([sys.executable, path], input=t["input"], capture_output=True, text=True,
                                       timeout=timeout, cwd=d)
                    ok = ok and p.returncode == 0 and get(task.judge)(p.stdout, t["output"])
                except subprocess.TimeoutExpired:
                    ok = False
            return ok, len(task.public_tests) + len(task.hidden_tests)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        rows = list(ex.map(one, pairs))
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "n": len(rows), "passed": sum(ok for ok, _ in rows), "tests": sum(n for _, n in rows)}


def bench_stdio(*, programs: int = 300, tests: int = 8, workers: int | None = None, baseline_workers: int = 2,
                timeout: float = 10.0, skip_baseline: bool = False, progress: bool = True) -> dict[str, Any]:
    from codeself.sandbox import SandboxConfig, run_many

    workers = workers or (os.cpu_count() or 1)
    pairs = make_suite(programs, tests)
    cfg = SandboxConfig(timeout_s=timeout, workers=workers)
    run_many(pairs[: workers * 2], workers=workers, progress=False, config=cfg)  # warm servers, outside the clock
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    results = run_many(pairs, workers=workers, progress=progress, config=cfg)
    wall = time.perf_counter() - t0
    n_tests = [r.public_total + r.hidden_total for r in results]
    per_test = sorted(r.duration_s / max(1, n) for r, n in zip(results, n_tests, strict=True))
    over = sorted((r.duration_s - r.exec_duration_s) / max(1, n) for r, n in zip(results, n_tests, strict=True))
    out: dict[str, Any] = {
        "programs": len(pairs), "tests": sum(n_tests), "workers": workers, "baseline_workers": baseline_workers,
        "load_before": load0,
        "sandbox": {"wall_s": wall, "passed": sum(r.passed for r in results), "n": len(results),
                    "statuses": dict(sorted({s: sum(r.status == s for r in results)
                                             for s in {r.status for r in results}}.items())),
                    "per_test_median_ms": statistics.median(per_test) * 1e3,
                    "overhead_per_test_median_ms": statistics.median(over) * 1e3,
                    "containment": results[0].containment if results else None},
    }
    if not skip_baseline:
        out["baseline"] = _baseline(pairs, baseline_workers, timeout)
        out["ratio"] = out["baseline"]["wall_s"] / wall
    out["load_after"] = os.getloadavg()
    return out


def format_stdio(r: dict[str, Any]) -> list[str]:
    s = r["sandbox"]
    lines = [f"stdin/stdout suite: {r['programs']} programs, {r['tests']} tests, load average before "
             f"{r['load_before'][0]:.1f}, after {r['load_after'][0]:.1f}",
             f"  codeself sandbox ({s['containment']}, {r['workers']} workers): {s['wall_s']:.2f} s, "
             f"{s['passed']}/{s['n']} passed {s['statuses']}",
             f"    per test: median {s['per_test_median_ms']:.2f} ms in all, overhead "
             f"{s['overhead_per_test_median_ms']:.2f} ms (target <= {TARGET_OVERHEAD_MS:g} ms: "
             f"{'met' if s['overhead_per_test_median_ms'] <= TARGET_OVERHEAD_MS else 'NOT met'})"]
    if "baseline" in r:
        b = r["baseline"]
        lines.append(f"  process per test (python prog.py < input, {r['baseline_workers']} workers): {b['wall_s']:.2f} s, "
                     f"{b['passed']}/{b['n']} passed")
        lines.append(f"  speed-up x{r['ratio']:.2f} (target >= {TARGET_SPEEDUP:g}: "
                     f"{'met' if r['ratio'] >= TARGET_SPEEDUP else 'NOT met'})")
    return lines
