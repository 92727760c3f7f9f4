"""Charts (altair) over *aggregated* frames, and the equal-width binning they draw.

Every chart function takes an already-aggregated polars frame (a few hundred rows at most) and
embeds only that; no chart embeds raw rollout rows, so altair's 5,000-row limit is never hit and
exported reports stay small (``chart_rows`` counts what a chart embeds). Not guaranteed: styling.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import polars as pl


def histogram(values: pl.Series | Sequence[float], *, bins: int = 20, lo: float | None = None,
              hi: float | None = None, name: str = "value") -> pl.DataFrame:
    """Equal-width histogram as a frame ``bin_start, bin_end, count`` (nulls dropped).

    The last bin is closed on the right, so ``hi`` itself is counted. ``bins`` rows at most.
    """
    s = pl.Series(name, values) if not isinstance(values, pl.Series) else values.rename(name)
    s = s.drop_nulls().cast(pl.Float64)
    if s.len() == 0:
        return pl.DataFrame(schema={"bin_start": pl.Float64, "bin_end": pl.Float64, "count": pl.UInt32})
    lo = float(s.min()) if lo is None else lo
    hi = float(s.max()) if hi is None else hi
    if hi <= lo:
        hi = lo + 1.0
    width = (hi - lo) / bins
    frame = s.to_frame().filter((pl.col(name) >= lo) & (pl.col(name) <= hi))
    idx = _bin_index(pl.col(name), lo, width, bins).alias("bin")
    counts = frame.select(idx).group_by("bin").agg(pl.len().alias("count"))
    full = pl.DataFrame({"bin": list(range(bins))}).join(counts, on="bin", how="left")
    return (full.with_columns(pl.col("count").fill_null(0).cast(pl.UInt32),
                              (lo + pl.col("bin") * width).alias("bin_start"),
                              (lo + (pl.col("bin") + 1) * width).alias("bin_end"))
            .select("bin_start", "bin_end", "count").sort("bin_start"))


#: decimals the bin position is rounded to before flooring, so a value on a bin edge (0.1 on a 0.1
#: grid starting at -1) lands in the bin it starts, whatever the last bit of the division says
BIN_DECIMALS = 9


def _bin_index(col: pl.Expr, lo: float, width: float, bins: int) -> pl.Expr:
    """Equal-width bin of ``col`` on ``[lo, lo + bins * width]``; the last bin is closed on the right."""
    return ((col - lo) / width).round(BIN_DECIMALS).floor().clip(0, bins - 1).cast(pl.Int64)


def _alt():
    import altair as alt

    return alt


def bar_chart(df: pl.DataFrame, x: str, y: str, *, color: str | None = None, title: str = "",
              sort: Sequence[str] | None = None, width: int = 360, height: int = 200):
    alt = _alt()
    enc: dict[str, Any] = {"x": alt.X(f"{x}:N", sort=list(sort) if sort else None, title=x),
                           "y": alt.Y(f"{y}:Q", title=y), "tooltip": list(df.columns)}
    if color:
        enc["color"] = alt.Color(f"{color}:N")
    return alt.Chart(df).mark_bar().encode(**enc).properties(
        title=title, width=width, height=height)


def hist_chart(df: pl.DataFrame, *, x_title: str = "value", title: str = "", color: str | None = None,
               width: int = 360, height: int = 180):
    """A histogram from ``histogram()`` / ``reward_histograms()`` output (pre-binned)."""
    alt = _alt()
    enc: dict[str, Any] = {"x": alt.X("bin_start:Q", bin="binned", title=x_title), "x2": "bin_end:Q",
                           "y": alt.Y("count:Q", title="count"), "tooltip": list(df.columns)}
    if color:
        enc["color"] = alt.Color(f"{color}:N", legend=None)
        return (alt.Chart(df).mark_bar(opacity=0.85).encode(**enc)
                .properties(width=width, height=height // 2)
                .facet(row=alt.Row(f"{color}:N", title=None)).properties(title=title))
    return alt.Chart(df).mark_bar().encode(**enc).properties(title=title, width=width, height=height)


def line_chart(df: pl.DataFrame, *, x: str = "step", y: str = "value", color: str = "run",
               facet: str | None = "metric", title: str = "", width: int = 260, height: int = 150,
               columns: int = 3):
    """Lines from a long frame (``metrics_long``), one panel per metric."""
    alt = _alt()
    keys = [k for k in (color, facet) if k and k in df.columns]
    per_series = int(df.group_by(keys).len()["len"].max() or 0) if keys and df.height else df.height
    base = alt.Chart(df).mark_line(point=per_series <= 60).encode(
        x=alt.X(f"{x}:Q"), y=alt.Y(f"{y}:Q", scale=alt.Scale(zero=False)), color=alt.Color(f"{color}:N"),
        tooltip=list(df.columns)).properties(width=width, height=height)
    if facet:
        return base.facet(facet=alt.Facet(f"{facet}:N", title=None), columns=columns).resolve_scale(
            y="independent").properties(title=title)
    return base.properties(title=title)


def scatter_chart(df: pl.DataFrame, x: str, y: str, *, color: str | None = None, title: str = "",
                  width: int = 320, height: int = 260):
    """Points (one per task) with the y = x diagonal: above it the candidate did better."""
    alt = _alt()
    enc: dict[str, Any] = {"x": alt.X(f"{x}:Q", scale=alt.Scale(domain=[0, 1])),
                           "y": alt.Y(f"{y}:Q", scale=alt.Scale(domain=[0, 1])), "tooltip": list(df.columns)}
    if color:
        enc["color"] = alt.Color(f"{color}:N")
    pts = alt.Chart(df).mark_circle(size=60, opacity=0.8).encode(**enc)
    diag = alt.Chart(pl.DataFrame({"a": [0.0, 1.0]})).mark_line(color="#999", strokeDash=[4, 4]).encode(
        x="a:Q", y="a:Q")
    return (diag + pts).properties(title=title, width=width, height=height)


def ci_chart(df: pl.DataFrame, *, x: str = "setting", title: str = "", width: int = 360, height: int = 220):
    """Sampled pass@1 difference with its 95% CI per ``x`` value and seed, and the zero line: a CI
    wholly above the line is an improvement."""
    alt = _alt()
    order = list(dict.fromkeys(df[x].to_list()))
    base = alt.Chart(df).encode(x=alt.X(f"{x}:N", sort=order, title=x), xOffset="seed:N",
                                color=alt.Color("seed:N"), tooltip=list(df.columns))
    bars = base.mark_rule(strokeWidth=2).encode(y=alt.Y("ci_low:Q", title="sampled pass@1 difference (95% CI)"),
                                                y2="ci_high:Q")
    pts = base.mark_point(filled=True, size=50).encode(y="sampled_diff:Q")
    zero = alt.Chart(pl.DataFrame({"zero": [0.0]})).mark_rule(color="#999", strokeDash=[4, 4]).encode(y="zero:Q")
    return (bars + pts + zero).properties(title=title, width=width, height=height)


def chart_rows(chart) -> int:
    """Number of data rows embedded in an altair chart (what ends up in HTML/JSON exports)."""
    spec = chart.to_dict()
    n = 0
    for ds in (spec.get("datasets") or {}).values():
        n += len(ds)
    data = spec.get("data") or {}
    n += len(data.get("values") or [])
    return n


def to_json_records(df: pl.DataFrame) -> list[dict[str, Any]]:
    """Frame rows as JSON-safe dicts (for widgets)."""
    return json.loads(df.write_json())
