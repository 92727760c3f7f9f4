"""codeself.widgets: Python-side state, filtering through polars, and two-way trait sync."""

from __future__ import annotations

from codeself.paths import EXAMPLE_TASKS
from codeself.tasks import load_task_map
from codeself.widgets import WIDGETS_DIR, RolloutExplorer, TaskBrowser, TraceViewer


def _tasks():
    return load_task_map(EXAMPLE_TASKS)


def _records(tasks):
    add = tasks["example/add"]
    return [
        {"task_id": "example/add", "sample_id": 0, "code": add.canonical_solution, "reward": 1.0,
         "result": {"task_id": "example/add", "passed": True, "status": "passed", "public_passed": 1,
                    "public_total": 1, "hidden_passed": 3, "hidden_total": 3,
                    "tests": [{"index": 0, "kind": "public", "passed": True, "status": "passed"}]}},
        {"task_id": "example/add", "sample_id": 1, "code": "def add(a, b):\n    return a - b\n", "reward": 0.25,
         "result": {"task_id": "example/add", "passed": False, "status": "failed", "public_passed": 0,
                    "public_total": 1, "hidden_passed": 1, "hidden_total": 3, "stdout": "hi",
                    "tests": [{"index": 0, "kind": "public", "passed": False, "status": "failed",
                               "error_type": "AssertionError", "error_message": "-1 != 5"}]}},
        {"task_id": "example/reverse_words", "sample_id": 0, "code": None, "parse_status": "no_code", "reward": 0.0,
         "result": {"task_id": "example/reverse_words", "passed": False, "status": "syntax_error"}},
    ]


def test_front_end_files_exist_and_export_render():
    for name in ("task_browser.js", "rollout_explorer.js", "trace_viewer.js"):
        src = (WIDGETS_DIR / name).read_text()
        assert "export default { render }" in src
        assert "http" not in src  # no CDN imports: works offline in JupyterLab and marimo
    assert (WIDGETS_DIR / "codeself.css").read_text().count(".cs-widget") > 5


def test_task_browser_selection_and_query_sync():
    tasks = _tasks()
    w = TaskBrowser(list(tasks.values()))
    assert w.selected.task_id == w.tasks[0]["task_id"]
    # what the front-end does on a click: set the synced trait
    w.set_state({"selected_task_id": "example/count_vowels"})
    assert w.selected is tasks["example/count_vowels"]
    assert w.get_state()["selected_task_id"] == "example/count_vowels"
    w.query = "VOWEL"
    assert w.matching() == ["example/count_vowels"]
    rec = next(r for r in w.tasks if r["task_id"] == "example/add")
    assert rec["hidden_tests"] == tasks["example/add"].hidden_tests


def test_rollout_explorer_filters_in_python_and_pages():
    tasks = _tasks()
    w = RolloutExplorer(_records(tasks), tasks=tasks, page_size=1)
    assert w.n_total == 3 and w.n_matching == 3 and len(w.rows) == 1
    assert [o["status"] for o in w.status_options] == ["passed", "failed", "syntax_error"]
    w.set_state({"status_filter": ["failed", "syntax_error"]})  # as the UI's checkboxes do
    assert w.n_matching == 2
    w.set_state({"task_query": "add"})
    assert w.n_matching == 1 and w.rows[0]["status"] == "failed"
    w.status_filter = []
    w.task_query = ""
    w.reward_min, w.reward_max = 0.2, 0.5
    assert w.filtered["reward"].to_list() == [0.25]


def test_rollout_explorer_detail_shows_code_and_failing_test():
    tasks = _tasks()
    w = RolloutExplorer(_records(tasks), tasks=tasks)
    key = next(r["key"] for r in w.rows if r["status"] == "failed")
    w.set_state({"selected_key": key})
    assert w.selected["sample_id"] == 1
    d = w.detail
    assert d["code"].startswith("def add") and d["stdout"] == "hi"
    assert d["failing"]["test"] == tasks["example/add"].public_tests[0]
    assert d["failing"]["error_message"] == "-1 != 5"
    none_key = next(r["key"] for r in w.rows if r["status"] == "syntax_error")
    w.selected_key = none_key
    assert w.detail["code"] == "" and w.detail["failing"]["status"] == "syntax_error"


def test_trace_viewer_selection():
    traces = [
        {"task_id": "t1", "turns": [{"code": "a", "status": "failed"}, {"code": "b", "status": "passed", "passed": True}]},
        {"task_id": "t2", "turns": [{"code": "x", "status": "timeout"}]},
    ]
    w = TraceViewer(traces)
    assert w.selected["task_id"] == "t1"
    w.set_state({"selected_trace": 1, "selected_turn": 0})
    assert w.selected["task_id"] == "t2" and w.selected_turn_record["status"] == "timeout"
    assert w.traces[0]["turns"][1]["diff"].count("+b") == 1
