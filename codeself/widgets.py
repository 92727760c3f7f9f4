"""anywidget components shared by the Jupyter and marimo notebooks.

Each class is a plain ``anywidget.AnyWidget`` whose front-end lives in ``widgets/*.js`` (+ the
shared ``widgets/codeself.css``); no CDN, no build step. In JupyterLab display the widget; in marimo
wrap it: ``mo.ui.anywidget(TaskBrowser(tasks))``. State syncs both ways through traitlets:

- ``TaskBrowser``: ``query`` and ``selected_task_id`` (``.selected`` is the ``Task``).
- ``RolloutExplorer``: filters ``status_filter``, ``task_query``, ``reward_min``, ``reward_max``
  (set them from Python or the UI); Python filters with polars (``codeself.views.rewards.filter_rollouts``)
  and sends one page of ``rows``; ``selected_key`` → ``detail`` (code + first failing test);
  ``.selected`` is the full rollout record, ``.filtered`` the matching polars frame.
- ``TraceViewer``: ``selected_trace`` and ``selected_turn``; ``.selected`` is the normalised trace.

Guaranteed: filtering happens in Python, so what the widget shows is what ``.filtered`` returns;
no logic lives only in JavaScript except the task browser's list search (``query`` is synced, and
``TaskBrowser.matching()`` applies the same rule in Python).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import anywidget
import polars as pl
import traitlets

from codeself.paths import WIDGETS_DIR
from codeself.views.charts import to_json_records
from codeself.views.datasets import task_record
from codeself.views.rewards import filter_rollouts
from codeself.views.sandbox import STATUS_ORDER, failing_test
from codeself.views.traces import normalize_trace

_CSS = WIDGETS_DIR / "codeself.css"


class TaskBrowser(anywidget.AnyWidget):
    """Browse tasks: a searchable list; prompt / public tests / hidden tests side by side."""

    _esm = WIDGETS_DIR / "task_browser.js"
    _css = _CSS

    tasks = traitlets.List(traitlets.Dict()).tag(sync=True)
    query = traitlets.Unicode("").tag(sync=True)
    selected_task_id = traitlets.Unicode("").tag(sync=True)

    def __init__(self, tasks: Sequence[Any], *, selected: str | None = None, **kwargs: Any) -> None:
        records = [task_record(t) for t in tasks]
        self._by_id = {t.task_id: t for t in tasks}
        first = selected if selected is not None else (records[0]["task_id"] if records else "")
        super().__init__(tasks=records, selected_task_id=first, **kwargs)

    @property
    def selected(self) -> Any | None:
        """The selected ``Task`` (None when nothing is selected)."""
        return self._by_id.get(self.selected_task_id)

    def matching(self) -> list[str]:
        """Task ids the list shows for the current ``query`` (case-insensitive, id or prompt)."""
        q = self.query.lower()
        return [r["task_id"] for r in self.tasks if not q or q in r["task_id"].lower() or q in r["prompt"].lower()]


class RolloutExplorer(anywidget.AnyWidget):
    """Explore rollouts or sandbox results: filter by status, task and reward; see the code next to
    the first failing test. Records carrying a ``file`` label (notebook 03 adds the run's label) get
    a file column.

    ``filters_visible=False`` hides the widget's own filter controls: a notebook whose charts have
    their own controls passes those controls' values with ``set_filters`` — one filter state, so the
    explorer lists exactly the rollouts the charts count (``filtered`` = ``filter_rollouts`` of the
    same values)."""

    _esm = WIDGETS_DIR / "rollout_explorer.js"
    _css = _CSS

    status_options = traitlets.List(traitlets.Dict()).tag(sync=True)
    status_filter = traitlets.List(traitlets.Unicode()).tag(sync=True)
    task_query = traitlets.Unicode("").tag(sync=True)
    reward_min = traitlets.Float(None, allow_none=True).tag(sync=True)
    reward_max = traitlets.Float(None, allow_none=True).tag(sync=True)
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    n_matching = traitlets.Int(0).tag(sync=True)
    n_total = traitlets.Int(0).tag(sync=True)
    selected_key = traitlets.Unicode("").tag(sync=True)
    detail = traitlets.Dict().tag(sync=True)
    filters_visible = traitlets.Bool(True).tag(sync=True)

    def __init__(self, records: Sequence[Mapping[str, Any]], *, tasks: Mapping[str, Any] | None = None,
                 page_size: int = 200, **kwargs: Any) -> None:
        """``records``: rollout records (``read_rollouts``) or ``Result`` dicts / objects.
        ``tasks``: ``{task_id: Task}`` to show the failing test's source text."""
        recs = [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in records]
        self._records = {self._key(i): r for i, r in enumerate(recs)}
        self._tasks = dict(tasks or {})
        self._page_size = page_size
        self._batching = False
        self._frame = self._flatten(recs)
        counts = self._frame.group_by("status").agg(pl.len().alias("count"))
        order = {s: i for i, s in enumerate(STATUS_ORDER)}
        opts = sorted(counts.to_dicts(), key=lambda d: (order.get(d["status"], 99), d["status"]))
        super().__init__(status_options=opts, n_total=self._frame.height, **kwargs)
        self.observe(self._refilter, names=["status_filter", "task_query", "reward_min", "reward_max"])
        self.observe(self._reselect, names=["selected_key"])
        self._refilter()

    @staticmethod
    def _key(i: int) -> str:
        return f"r{i}"

    @staticmethod
    def _flatten(recs: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
        rows = []
        for i, r in enumerate(recs):
            res = r.get("result", r) or {}
            rows.append({
                "key": RolloutExplorer._key(i), "file": None if r.get("file") is None else str(r["file"]),
                "task_id": r.get("task_id", res.get("task_id")),
                "sample_id": None if r.get("sample_id", res.get("sample_id")) is None
                else str(r.get("sample_id", res.get("sample_id"))),
                "status": res.get("status", "unknown"), "passed": bool(res.get("passed", False)),
                "reward": r.get("reward"),  # None for plain sandbox results (no reward computed)
                "public_passed": res.get("public_passed", 0), "public_total": res.get("public_total", 0),
                "hidden_passed": res.get("hidden_passed", 0), "hidden_total": res.get("hidden_total", 0),
            })
        schema = {"key": pl.String, "file": pl.String, "task_id": pl.String, "sample_id": pl.String, "status": pl.String,
                  "passed": pl.Boolean, "reward": pl.Float64, "public_passed": pl.Int64,
                  "public_total": pl.Int64, "hidden_passed": pl.Int64, "hidden_total": pl.Int64}
        return pl.DataFrame(rows, schema=schema)

    @property
    def filtered(self) -> pl.DataFrame:
        """The rows matching the current filters (all of them, not just the page shown)."""
        return filter_rollouts(self._frame, statuses=self.status_filter or None,
                                         task_query=self.task_query or None,
                                         reward_min=self.reward_min, reward_max=self.reward_max)

    @property
    def selected(self) -> dict[str, Any] | None:
        """The selected record (the rollout dict as given), or None."""
        return self._records.get(self.selected_key)

    def set_filters(self, *, statuses: Sequence[str] | None = None, task_query: str | None = None,
                    reward_min: float | None = None, reward_max: float | None = None) -> None:
        """Set every filter at once (one refilter), with ``filter_rollouts``' meaning of each value."""
        self._batching = True
        try:
            self.status_filter = list(statuses or [])
            self.task_query = task_query or ""
            self.reward_min = reward_min
            self.reward_max = reward_max
        finally:
            self._batching = False
        self._refilter()

    def _refilter(self, change: Any = None) -> None:
        if self._batching:
            return
        df = self.filtered
        self.n_matching = df.height
        self.rows = to_json_records(df.head(self._page_size))

    def _reselect(self, change: Any = None) -> None:
        rec = self.selected
        if rec is None:
            self.detail = {}
            return
        res = rec.get("result", rec) or {}
        tid = rec.get("task_id", res.get("task_id"))
        self.detail = {
            "key": self.selected_key, "task_id": tid, "sample_id": rec.get("sample_id", res.get("sample_id")),
            "status": res.get("status"), "reward": rec.get("reward"),
            "code": rec.get("code") or "", "parse_status": rec.get("parse_status"),
            "failing": failing_test(rec, self._tasks.get(tid)),
            "stdout": (res.get("stdout") or "")[:4000], "stderr": (res.get("stderr") or "")[:4000],
        }


class TraceViewer(anywidget.AnyWidget):
    """Browse self-debug traces turn by turn, with a diff between consecutive attempts."""

    _esm = WIDGETS_DIR / "trace_viewer.js"
    _css = _CSS

    traces = traitlets.List(traitlets.Dict()).tag(sync=True)
    selected_trace = traitlets.Int(0).tag(sync=True)
    selected_turn = traitlets.Int(0).tag(sync=True)

    def __init__(self, traces: Sequence[Mapping[str, Any]], **kwargs: Any) -> None:
        """``traces``: agent trace records (one per task episode, see ``codeself.views.traces.normalize_trace``)."""
        super().__init__(traces=[normalize_trace(t) for t in traces], **kwargs)

    @property
    def selected(self) -> dict[str, Any] | None:
        """The selected (normalised) trace, or None."""
        if 0 <= self.selected_trace < len(self.traces):
            return self.traces[self.selected_trace]
        return None

    @property
    def selected_turn_record(self) -> dict[str, Any] | None:
        t = self.selected
        if t is None or not t["turns"]:
            return None
        return t["turns"][min(self.selected_turn, len(t["turns"]) - 1)]
