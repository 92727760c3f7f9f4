"""Turn marimo cell outputs into static, self-contained HTML fragments (no JavaScript, no network).

What is converted (everything else falls back to ``_repr_html_`` / ``_mime_`` / ``repr``):

- altair charts (``alt.Chart`` and every compound chart, ``mo.ui.altair_chart``, vega-lite inside
  ``mo.as_html``) → inline SVG rendered by ``vl_convert`` (vega runs in Rust, nothing is fetched);
- polars / pandas DataFrames and Series, ``mo.ui.table`` → HTML ``<table>`` (first ``max_rows`` rows,
  with a note giving the full row count);
- ``mo.md`` and every other ``mo.Html`` → its HTML, with marimo's custom elements
  (``<marimo-table>``, ``<marimo-tex>``, ``<marimo-callout-output>``, ``<marimo-stat>``, …) rewritten to
  plain HTML; interactive widgets (sliders, dropdowns, …) become a note with the value they had at
  export time;
- ``mo.hstack`` / ``mo.vstack`` → flex boxes of the rendered children;
- matplotlib figures → inline SVG.

Not guaranteed: pixel-identical look to the live marimo app; widgets are not interactive; outputs
written with ``mo.output.append`` are not returned by ``app.run()`` and therefore not exported (make
the object the cell's last expression instead).
"""

from __future__ import annotations

import html
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

_chart_ids = itertools.count(1)


@dataclass
class Rendered:
    """An HTML fragment plus what it contains (counted for the report summary and the tests)."""

    html: str
    charts: int = 0
    tables: int = 0
    notes: list[str] = field(default_factory=list)

    def __add__(self, other: Rendered) -> Rendered:
        return Rendered(self.html + other.html, self.charts + other.charts, self.tables + other.tables,
                        self.notes + other.notes)


# ----------------------------------------------------------------------------------------- charts
def _uniquify_svg_ids(svg: str, prefix: str) -> str:
    """Prefix every ``id`` in an SVG so several inline charts cannot collide (clip paths, gradients)."""
    ids = set(re.findall(r'\sid="([^"]+)"', svg))
    if not ids:
        return svg
    for old in sorted(ids, key=len, reverse=True):
        new = f"{prefix}-{old}"
        svg = svg.replace(f'id="{old}"', f'id="{new}"')
        svg = svg.replace(f"url(#{old})", f"url(#{new})")
        svg = svg.replace(f'href="#{old}"', f'href="#{new}"')
    return svg


def vegalite_svg(spec: dict[str, Any]) -> str:
    """Render a vega-lite spec (a dict with inline data) to an SVG string fit for inlining in HTML."""
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(spec)
    # Namespace declarations are not needed for inline SVG in HTML5; dropping them keeps the report
    # free of any http(s) string in attributes.
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg, count=0)
    return _uniquify_svg_ids(svg, f"c{next(_chart_ids)}")


def _chart_figure(svg: str, title: str | None = None) -> Rendered:
    cap = f"<figcaption>{html.escape(title)}</figcaption>" if title else ""
    return Rendered(f'<figure class="codeself-chart" data-kind="vega-lite">{svg}{cap}</figure>', charts=1)


def altair_to_html(chart: Any) -> Rendered:
    import altair as alt

    # Charts are meant to be aggregated already (FIELD-NOTES); lifting the 5,000-row guard here only
    # affects the SVG size, which the exporter checks against its size limit.
    with alt.data_transformers.disable_max_rows():
        spec = chart.to_dict()
    fig = _chart_figure(vegalite_svg(spec))
    if '"url"' in json.dumps(spec.get("data", {})):
        fig.notes.append("a chart reads its data from a URL, which a static report does not load (chart drawn empty)")
    return fig


# ----------------------------------------------------------------------------------------- tables
def _fmt(v: Any) -> str:
    if v is None:
        return '<span class="null">null</span>'
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return f"{v:.6g}"
    if isinstance(v, (list, dict, tuple)):
        s = json.dumps(v, default=str)
        return html.escape(s if len(s) <= 200 else s[:197] + "…")
    s = str(v)
    return html.escape(s if len(s) <= 400 else s[:397] + "…")


def to_polars(obj: Any):
    """Best-effort conversion of table-like objects to a polars DataFrame (None if not table-like)."""
    import polars as pl

    if isinstance(obj, pl.DataFrame):
        return obj
    if isinstance(obj, pl.Series):
        return obj.to_frame()
    mod = type(obj).__module__
    if mod.startswith("pandas"):
        import pandas as pd

        if isinstance(obj, pd.Series):
            obj = obj.to_frame()
        if isinstance(obj, pd.DataFrame):
            frame = obj.reset_index() if not isinstance(obj.index, pd.RangeIndex) else obj
            frame.columns = [str(c) for c in frame.columns]
            return pl.from_pandas(frame)
    if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
        return pl.DataFrame(obj, infer_schema_length=None, strict=False)
    if isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
        return pl.DataFrame(obj, strict=False)
    return None


def table_html(frame: Any, max_rows: int = 100) -> Rendered:
    """An HTML table of the first ``max_rows`` rows of a polars frame, headed by name and dtype."""
    n = frame.height
    head = frame.head(max_rows)
    cols = head.columns
    dtypes = [str(t) for t in head.dtypes]
    parts = ['<div class="table-wrap"><table class="codeself-table"><thead><tr>']
    parts += [f'<th title="{html.escape(t)}">{html.escape(c)}<br><small>{html.escape(t)}</small></th>'
              for c, t in zip(cols, dtypes, strict=True)]
    parts.append("</tr></thead><tbody>")
    for row in head.iter_rows():
        parts.append("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>")
    parts.append("</tbody></table>")
    shown = f"{min(n, max_rows)} of {n} rows" if n > max_rows else f"{n} rows"
    parts.append(f'<p class="table-note">{shown} × {len(cols)} columns</p></div>')
    return Rendered("".join(parts), tables=1)


def rows_html(rows: list[dict[str, Any]], max_rows: int = 100) -> Rendered:
    frame = to_polars(rows) if rows else None
    if frame is None:
        return Rendered('<p class="table-note">(empty table)</p>', tables=1)
    return table_html(frame, max_rows)


# ------------------------------------------------------------------------- marimo custom elements
_POLARS_TABLE = re.compile(
    r"<small>shape: \((\d+), (\d+)\)</small><table border=\"1\" class=\"dataframe\"><thead><tr>(.*?)</tr>"
    r"<tr>(.*?)</tr></thead><tbody>(.*?)</tbody></table>", re.S)


def _restyle_polars(m: re.Match) -> str:
    """polars' ``_repr_html_`` table → the report's table style (dtype under the name, unquoted strings)."""
    n_rows, n_cols = int(m.group(1)), int(m.group(2))
    names = re.findall(r"<th>(.*?)</th>", m.group(3), re.S)
    dtypes = re.findall(r"<td>(.*?)</td>", m.group(4), re.S)
    head = "".join(f"<th>{n}<br><small>{t}</small></th>" for n, t in zip(names, dtypes, strict=False))
    body = re.sub(r"<td>&quot;(.*?)&quot;</td>", r"<td>\1</td>", m.group(5), flags=re.S)
    body = body.replace("<td>null</td>", '<td><span class="null">null</span></td>')
    shown = body.count("<tr>")
    note = f"{n_rows} rows" if shown >= n_rows else f"{n_rows} rows (polars shows the first and last)"
    return (f'<div class="table-wrap"><table class="codeself-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table><p class="table-note">{note} × {n_cols} columns</p></div>')


def _clean_foreign_html(text: str) -> str:
    """Drop ``<style>`` blocks of third-party HTML reprs (polars/pandas) and restyle their tables."""
    text = re.sub(r"<style\b[^>]*>.*?</style\s*>", "", text, flags=re.I | re.S)
    text = _POLARS_TABLE.sub(_restyle_polars, text)
    return re.sub(r'<table\s+(?:border="1"\s+)?class="dataframe"', '<table class="codeself-table dataframe"', text)


_ATTR = re.compile(r"""([\w:-]+)\s*=\s*(?:'([^']*)'|"([^"]*)")""")
_INNERMOST = re.compile(r"<(marimo-[\w-]+)((?:\s[^>]*)?)>((?:(?!<marimo-).)*?)</\1>", re.DOTALL)


def _attrs(raw: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in _ATTR.finditer(raw):
        val = html.unescape(m.group(2) if m.group(2) is not None else m.group(3))
        try:
            out[m.group(1)] = json.loads(val)
        except ValueError:
            out[m.group(1)] = val
    return out


def _maybe_json(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _element(tag: str, attrs: dict[str, Any], inner: str, max_rows: int) -> Rendered:
    """Plain-HTML replacement for one marimo custom element (its inner HTML already converted)."""
    if tag == "marimo-ui-element":
        return Rendered(inner)
    if tag == "marimo-tex":
        tex = html.unescape(inner)
        tex = re.sub(r"^\|\|[\(\[]|\|\|[\)\]]$", "", tex.strip())
        return Rendered(f'<code class="tex">{html.escape(tex)}</code>')
    if tag == "marimo-table":
        data = _maybe_json(attrs.get("data-data"))
        if isinstance(data, list):
            rows = [{k: v for k, v in r.items() if k != "_marimo_row_id"} for r in data if isinstance(r, dict)]
            return rows_html(rows, max_rows)
        total = attrs.get("data-total-rows", "?")
        return Rendered(f'<p class="note">[table of {total} rows whose data marimo keeps in a virtual file; '
                        "return the DataFrame itself as the cell output to export it]</p>",
                        notes=["table data in a marimo virtual file was not exported"])
    if tag in ("marimo-vega",):
        spec = _maybe_json(attrs.get("data-spec"))
        if isinstance(spec, dict) and not isinstance(spec.get("data", {}).get("url", None), str):
            return _chart_figure(vegalite_svg(spec))
        return Rendered('<p class="note">[chart data held in a marimo virtual file was not exported]</p>',
                        notes=["chart with virtual-file data was not exported"])
    if tag == "marimo-mime-renderer":
        return _mime(str(attrs.get("data-mime", "")), _maybe_json(attrs.get("data-data")), max_rows)
    if tag == "marimo-callout-output":
        body = convert_marimo_html(str(attrs.get("data-html", "")), max_rows)
        kind = html.escape(str(attrs.get("data-kind", "neutral")))
        return Rendered(f'<div class="callout callout-{kind}">{body.html}</div>', body.charts, body.tables, body.notes)
    if tag == "marimo-stat":
        val, lab = attrs.get("data-value"), attrs.get("data-label")
        cap = attrs.get("data-caption")
        return Rendered('<div class="stat">'
                        f'<div class="stat-value">{html.escape(str(val))}</div>'
                        f'<div class="stat-label">{html.escape(str(lab or ""))}</div>'
                        + (f'<div class="stat-caption">{html.escape(str(cap))}</div>' if cap else "")
                        + "</div>")
    if tag == "marimo-json-output":
        data = attrs.get("data-json-data")
        return Rendered(f'<pre class="json">{html.escape(json.dumps(data, indent=2, default=str))}</pre>')
    if tag in ("marimo-accordion", "marimo-tabs"):
        labels = attrs.get("data-labels") or attrs.get("data-tabs") or []
        conv = [convert_marimo_html(str(lab), max_rows) for lab in labels]
        head = " · ".join(c.html for c in conv)
        return Rendered(f'<div class="group"><div class="group-labels">{head}</div>{inner}</div>')
    if tag == "marimo-anywidget":
        return Rendered('<span class="widget-note">[interactive widget: not available in a static report; '
                        "<code>codeself report serve NOTEBOOK</code> opens it live]</span>")
    if "data-initial-value" in attrs:
        label = attrs.get("data-label")
        if isinstance(label, str):
            label = html.unescape(re.sub(r"<[^>]+>", "", label)).strip()
        value = json.dumps(attrs.get("data-initial-value"), default=str)
        name = tag.removeprefix("marimo-")
        lab = f" “{html.escape(str(label))}”" if label not in (None, "null", "") else ""
        return Rendered(f'<span class="widget-note">[interactive {html.escape(name)}{lab}; value at export: '
                        f"<code>{html.escape(value)}</code>]</span>{inner}")
    return Rendered(inner)


def convert_marimo_html(text: str, max_rows: int = 100) -> Rendered:
    """Rewrite marimo's custom elements in ``text`` (innermost first) into plain static HTML."""
    total = Rendered("")
    while True:
        m = _INNERMOST.search(text)
        if not m:
            break
        r = _element(m.group(1), _attrs(m.group(2) or ""), m.group(3), max_rows)
        total = total + Rendered("", r.charts, r.tables, r.notes)
        text = text[: m.start()] + r.html + text[m.end():]
    # Self-closing or unbalanced leftovers: drop the tags, keep their content.
    text = re.sub(r"</?marimo-[\w-]+[^>]*>", "", text)
    return Rendered(text, total.charts, total.tables, total.notes)


# ------------------------------------------------------------------------------------ MIME bundles
_BUNDLE_PREFERENCE = ("application/vnd.vegalite", "application/vnd.vega.", "image/svg+xml", "image/png", "image/jpeg",
                      "text/markdown", "text/html", "application/json", "text/plain")


def _altair_html_spec(text: str) -> dict[str, Any] | None:
    """The vega-lite spec inside altair's HTML renderer output (``vegaEmbed`` script), if any."""
    if "vega-embed" not in text or "function(spec, embedOpt)" not in text:
        return None
    m = re.search(r"\}\)\(\s*\{", text[text.index("function(spec, embedOpt)"):])
    if not m:
        return None
    start = text.index("function(spec, embedOpt)") + m.end() - 1
    try:
        spec, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    return spec if isinstance(spec, dict) else None


def _mime(mimetype: str, data: Any, max_rows: int) -> Rendered:
    if mimetype == "application/vnd.marimo+mimebundle":
        bundle = _maybe_json(data)
        if isinstance(bundle, dict):
            for pref in _BUNDLE_PREFERENCE:
                for mt, val in bundle.items():
                    if mt.startswith(pref):
                        return _mime(mt, val, max_rows)
        return Rendered(f"<pre>{html.escape(str(data)[:2000])}</pre>")
    if mimetype.startswith("application/vnd.vegalite") or mimetype.startswith("application/vnd.vega."):
        spec = _maybe_json(data)
        if isinstance(spec, dict):
            import vl_convert as vlc

            if "vega-lite" in str(spec.get("$schema", "")) or mimetype.startswith("application/vnd.vegalite"):
                return _chart_figure(vegalite_svg(spec))
            svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", vlc.vega_to_svg(spec))
            return _chart_figure(_uniquify_svg_ids(svg, f"c{next(_chart_ids)}"))
    if mimetype == "text/html":
        spec = _altair_html_spec(str(data))
        if spec is not None:
            return _chart_figure(vegalite_svg(spec))
        return convert_marimo_html(_clean_foreign_html(str(data)), max_rows)
    if mimetype == "text/markdown":
        import marimo as mo

        return convert_marimo_html(mo.md(str(data)).text, max_rows)
    if mimetype == "image/svg+xml":
        return Rendered(f'<div class="image">{data}</div>')
    if mimetype.startswith("image/"):
        src = str(data)
        if not src.startswith("data:"):
            src = f"data:{mimetype};base64,{src}"
        return Rendered(f'<div class="image"><img alt="" src="{html.escape(src)}"></div>')
    if mimetype == "application/json":
        return Rendered(f'<pre class="json">{html.escape(json.dumps(_maybe_json(data), indent=2, default=str))}</pre>')
    return Rendered(f"<pre>{html.escape(str(data))}</pre>")


# ---------------------------------------------------------------------------------------- dispatch
def render_output(obj: Any, max_rows: int = 100) -> Rendered:
    """Static HTML for one cell output (see the module docstring for what is supported)."""
    if obj is None:
        return Rendered("")
    mod = type(obj).__module__ or ""
    if mod.startswith("altair"):
        import altair as alt

        if isinstance(obj, alt.TopLevelMixin):
            return altair_to_html(obj)
    if mod.startswith("marimo"):
        from marimo._output.hypertext import Html

        widget = getattr(obj, "widget", None)
        if type(obj).__name__ == "anywidget" and widget is not None:
            return Rendered(f'<span class="widget-note">[interactive widget {html.escape(type(widget).__name__)}: '
                            "not available in a static report; <code>codeself report serve NOTEBOOK</code> "
                            "opens it live]</span>")
        chart = getattr(obj, "_chart", None)
        if chart is not None and type(chart).__module__.startswith("altair"):
            return altair_to_html(chart)
        if type(obj).__name__ == "table" and hasattr(obj, "_data"):
            frame = to_polars(obj._data)
            if frame is not None:
                frame = frame.drop("_marimo_row_id", strict=False)
                return table_html(frame, max_rows)
        children = getattr(obj, "_live_children", None)
        if children is not None and isinstance(obj, Html):
            opening = re.match(r"<div[^>]*>", obj.text)
            out = Rendered("")
            for child in children:
                r = render_output(child, max_rows)
                out = out + Rendered(f'<div class="flex-item">{r.html}</div>', r.charts, r.tables, r.notes)
            start = opening.group(0) if opening else '<div style="display:flex;gap:0.5rem">'
            return Rendered(f"{start}{out.html}</div>", out.charts, out.tables, out.notes)
        if isinstance(obj, Html):
            return _mime("text/html", obj.text, max_rows)
    frame = None
    if mod.startswith(("polars", "pandas")):
        if type(obj).__name__ == "LazyFrame":
            return Rendered(f"<pre>LazyFrame (not collected) schema: {html.escape(str(obj.collect_schema()))}</pre>")
        frame = to_polars(obj)
    if frame is not None:
        return table_html(frame, max_rows)
    if mod.startswith("matplotlib"):
        import io

        fig = obj if hasattr(obj, "savefig") else getattr(obj, "figure", None)
        if fig is not None:
            buf = io.StringIO()
            fig.savefig(buf, format="svg", bbox_inches="tight")
            svg = re.sub(r"<\?xml[^>]*>|<!DOCTYPE[^>]*>", "", buf.getvalue())
            svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
            svg = _uniquify_svg_ids(svg, f"m{next(_chart_ids)}")
            return Rendered(f'<figure class="codeself-chart" data-kind="matplotlib">{svg}</figure>', charts=1)
    if isinstance(obj, str):
        return Rendered(f"<pre>{html.escape(obj)}</pre>")
    if isinstance(obj, (int, float, bool)):
        return Rendered(f"<pre>{html.escape(repr(obj))}</pre>")
    if isinstance(obj, (dict, list, tuple)):
        s = json.dumps(obj, indent=2, default=str)
        if len(s) > 20000:
            s = s[:20000] + "\n…"
        return Rendered(f'<pre class="json">{html.escape(s)}</pre>')
    mime = getattr(obj, "_mime_", None)
    if callable(mime):
        try:
            mt, data = mime()
            return _mime(mt, data, max_rows)
        except Exception:  # noqa: BLE001 - fall through to the other protocols
            pass
    for attr, mt in (("_repr_html_", "text/html"), ("_repr_svg_", "image/svg+xml"), ("_repr_png_", "image/png")):
        fn = getattr(obj, attr, None)
        if callable(fn):
            data = fn()
            if data:
                if mt == "image/png" and isinstance(data, bytes):
                    import base64

                    data = base64.b64encode(data).decode()
                return _mime(mt, data, max_rows)
    return Rendered(f"<pre>{html.escape(repr(obj)[:20000])}</pre>")
