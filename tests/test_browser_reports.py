"""Exported reports render offline from disk in headless Debian chromium (Playwright).

Every request that is not ``file:`` or ``data:`` is aborted and recorded; the tests assert that
there was none, that no page error occurred, that the charts rendered with a real size, and that
the embedded manifest equals the JSON file (up to the report's own hash, which it cannot contain).
Uses the ``page`` fixture of tests/conftest.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codeself.reports import discover_notebooks, export_notebook, export_notebooks

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "report_notebook.py"

pytestmark = pytest.mark.browser


def open_offline(page, html_path: Path) -> dict:
    """Open ``html_path`` via file:// with the network cut; returns what was blocked and what failed."""
    blocked: list[str] = []
    errors: list[str] = []
    failed: list[str] = []

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(html_path.resolve().as_uri(), wait_until="load")
    return {"blocked": blocked, "errors": errors, "failed": failed}


def check_report(page, html_path: Path, manifest_path: Path, min_charts: int) -> None:
    seen = open_offline(page, html_path)
    assert seen["blocked"] == [], f"external requests from {html_path.name}: {seen['blocked']}"
    assert seen["errors"] == [] and seen["failed"] == [], seen
    charts = page.locator("figure.codeself-chart svg")
    assert charts.count() >= min_charts
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box and box["width"] > 20 and box["height"] > 20, f"chart {i} of {html_path.name} has no size"
        assert charts.nth(i).locator("path, rect, line, circle, symbol, text").count() > 3
    assert page.locator("#key-numbers .number").count() >= 1
    embedded = page.evaluate("JSON.parse(document.getElementById('codeself-manifest').textContent)")
    on_disk = json.loads(manifest_path.read_text())
    assert embedded["report"]["sha256"] is None
    on_disk["report"]["sha256"] = on_disk["report"]["bytes"] = None
    assert embedded == on_disk
    # the manifest panel shows the same JSON to a reader
    shown = json.loads(page.locator("#manifest-pretty").text_content())
    assert shown == embedded


def test_fixture_report_renders_offline(page, tmp_path, artifacts_dir):
    res = export_notebook(FIXTURE, tmp_path / "reports", ["--tasks", str(REPO / "data" / "tasks.example.jsonl")])
    check_report(page, res.html_path, res.manifest_path, min_charts=2)
    assert page.locator("table.codeself-table").count() >= 2
    assert "Fixture report" in page.locator("h1").all_text_contents()
    page.screenshot(path=str(artifacts_dir / "report_fixture.png"), full_page=True)
    # the index opens offline too and links the report
    seen = open_offline(page, tmp_path / "reports" / "index.html")
    assert seen["blocked"] == [] and seen["errors"] == []
    assert page.locator('a[href="report_notebook.html"]').count() == 1


@pytest.mark.slow
def test_every_project_notebook_exports_and_renders_offline(page, tmp_path, artifacts_dir):
    notebooks = discover_notebooks(REPO / "notebooks")
    if not notebooks:
        pytest.fail("no notebooks/NN_*.py found")
    results = export_notebooks(notebooks, tmp_path / "reports", jobs=2, progress=False)
    for res in results:
        assert res.bytes <= 2 * 1024 * 1024, f"{res.name}: {res.bytes} bytes"
        check_report(page, res.html_path, res.manifest_path, min_charts=res.charts)
    shutil.copy(results[0].html_path, artifacts_dir / f"{results[0].name}.html")
