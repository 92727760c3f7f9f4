"""`codeself bench …` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="bench commands", no_args_is_help=True)


@app.command("notebooks")
def notebooks(
    rows: int = typer.Option(1_000_000, help="rollout rows in the benchmark frame"),
    repeats: int = typer.Option(5, help="timed repeats of each of the 3 filter settings"),
    seed: int = typer.Option(0, help="seed of the synthetic rollout frame"),
) -> None:
    """Dashboard filter update over ROWS rollout rows (polars) vs a naive pure-Python filter."""
    from codeself.cli._common import out
    from codeself.dashboard import bench_notebooks

    r = bench_notebooks(rows, repeats=repeats, seed=seed)
    out.print(f"dashboard filter update over {r['rows']:,} rollout rows ({r['filters']} filter settings × {r['repeats']})")
    out.print(f"  polars (codeself.dashboard.dashboard_view): median {r['polars_median_ms']:.1f} ms, max {r['polars_max_ms']:.1f} ms")
    out.print(f"  naive pure-Python filter + aggregate:       median {r['naive_median_ms']:.1f} ms")
    out.print(f"  speedup ×{r['speedup']:.1f}; target ≤ {r['target_ms']:.0f} ms: {'met' if r['meets_target'] else 'NOT met'}")
