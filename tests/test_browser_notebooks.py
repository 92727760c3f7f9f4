"""Real-browser tests: a marimo dashboard and JupyterLab with the widgets, driven by Playwright on
Debian's chromium (fixtures in conftest.py). Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered:\n"
                               + log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    """Stop the server by its PID (its own process group: kernels it started go too)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def test_marimo_dashboard_control_changes_number(page, artifacts_dir, tmp_path):
    port = free_port()
    log = open(tmp_path / "marimo.log", "w")
    proc = subprocess.Popen(
        [str(BIN / "marimo"), "run", str(ROOT / "notebooks" / "01_datasets.py"), "--headless",
         "--host", "127.0.0.1", "--port", str(port), "--no-token", "--no-check"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, tmp_path / "marimo.log")
        page.goto(f"http://127.0.0.1:{port}/")
        shown = page.get_by_text(re.compile(r"^\d+ tasks shown$"))
        shown.wait_for(timeout=90_000)
        before = int(shown.inner_text().split()[0])
        # the dashboard's control: the split dropdown (a native <select>)
        select = page.locator("select").filter(has=page.locator("option", has_text="validation")).first
        select.select_option("validation")
        page.wait_for_function(
            "(n) => [...document.querySelectorAll('*')].some(e => e.children.length === 0 && "
            "/^\\d+ tasks shown$/.test(e.textContent.trim()) && parseInt(e.textContent) !== n)",
            arg=before, timeout=30_000)
        after = int(page.get_by_text(re.compile(r"^\d+ tasks shown$")).inner_text().split()[0])
        assert 0 < after < before
        # the widget rendered and its selection reaches Python
        page.locator(".cs-task-browser li[data-task-id]").nth(1).click()
        picked = page.locator(".cs-task-browser li.cs-selected").get_attribute("data-task-id")
        page.get_by_text(f"Selected in the browser: {picked}").wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts_dir / "marimo_01_datasets.png"))
        # the server lived through the whole interaction (a crash would end it early)
        assert proc.poll() is None, (tmp_path / "marimo.log").read_text()[-3000:]
    finally:
        stop(proc)
        log.close()
    # and no cell raised on the server side while the controls were used
    server_log = (tmp_path / "marimo.log").read_text()
    assert "Traceback" not in server_log, server_log[-3000:]


def test_marimo_training_dashboard_refreshes_live(page, artifacts_dir, tmp_path):
    run = tmp_path / "live"
    run.mkdir()
    metrics = run / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": s, "reward_mean": s / 10}) + "\n" for s in range(1, 4)))
    port = free_port()
    log = open(tmp_path / "marimo.log", "w")
    proc = subprocess.Popen(
        [str(BIN / "marimo"), "run", str(ROOT / "notebooks" / "04_training.py"), "--headless",
         "--host", "127.0.0.1", "--port", str(port), "--no-token", "--no-check", "--", "--run", str(run)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, tmp_path / "marimo.log")
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_text("3 steps").first.wait_for(timeout=90_000)
        # the run keeps writing: two more steps, the second one only half-written
        with metrics.open("a") as f:
            f.write(json.dumps({"step": 4, "reward_mean": 0.4}) + "\n" + '{"step": 5, "rew')
            f.flush()
        page.get_by_text("4 steps").first.wait_for(timeout=30_000)
        page.get_by_text("truncated", exact=False).first.wait_for(timeout=10_000)
        page.screenshot(path=str(artifacts_dir / "marimo_04_training_live.png"))
    finally:
        stop(proc)
        log.close()


def test_marimo_trace_viewer_steps_through_turns(page, artifacts_dir, tmp_path):
    port = free_port()
    log = open(tmp_path / "marimo.log", "w")
    proc = subprocess.Popen(
        [str(BIN / "marimo"), "run", str(ROOT / "notebooks" / "06_traces.py"), "--headless",
         "--host", "127.0.0.1", "--port", str(port), "--no-token", "--no-check"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, tmp_path / "marimo.log")
        page.goto(f"http://127.0.0.1:{port}/")
        viewer = page.locator(".cs-trace-viewer")
        viewer.wait_for(timeout=90_000)
        # pick a trace with at least two turns, then its second turn
        multi = viewer.locator("li[data-trace]").filter(has_text=re.compile(r"^.*[2-9]× "))
        multi.first.click()
        task = multi.first.locator("span").first.inner_text().split(" #")[0]
        viewer.locator("button[data-turn='1']").click()
        viewer.locator("[data-testid=turn-diff]").wait_for(timeout=30_000)
        assert "+++ this turn" in viewer.locator("[data-testid=turn-diff]").inner_text()
        # the selection reached Python: the cell reading viewer.value re-ran
        page.get_by_text(re.compile(rf"Selected: {re.escape(task)}, turn 2")).wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts_dir / "marimo_06_traces.png"))
    finally:
        stop(proc)
        log.close()


def test_jupyterlab_widget_renders_and_reacts(page, artifacts_dir, tmp_path):
    # serve a copy: JupyterLab autosaves, and the committed notebook must stay without outputs
    work = tmp_path / "lab"
    work.mkdir()
    shutil.copy(ROOT / "notebooks" / "rollout_explorer.ipynb", work / "rollout_explorer.ipynb")
    token = secrets.token_hex(16)
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [str(BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
         "--LabApp.news_url=", *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc, tmp_path / "lab.log")
        page.goto(f"http://127.0.0.1:{port}/lab/tree/rollout_explorer.ipynb?token={token}")
        page.locator(".jp-Notebook").first.wait_for(timeout=90_000)
        page.locator(".jp-RenderedMarkdown h1").first.wait_for(timeout=60_000)
        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
        rows = page.locator(".cs-rollout-explorer tr[data-key]")
        try:
            rows.first.wait_for(timeout=120_000)
        finally:
            page.screenshot(path=str(artifacts_dir / "jupyterlab_after_run_all.png"))
        status_cells = page.locator(".cs-rollout-explorer tr[data-key] td:nth-child(3)")

        def shown() -> set[str]:
            return {x.strip() for x in status_cells.all_inner_texts()}

        # Python -> widget: the notebook's last cell sets `explorer.status_filter` from Python
        page.wait_for_function(
            "() => { const c = [...document.querySelectorAll('.cs-rollout-explorer tr[data-key] td:nth-child(3)')];"
            " return c.length > 0 && c.every(e => ['failed', 'runtime_error'].includes(e.textContent.trim())); }",
            timeout=60_000)
        assert page.locator(".cs-rollout-explorer input[data-status=failed]").is_checked()
        # widget -> Python -> widget: tick "passed"; Python re-filters with polars and sends rows back
        page.locator(".cs-rollout-explorer input[data-status=passed]").click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.cs-rollout-explorer tr[data-key] td:nth-child(3)')]"
            ".some(e => e.textContent.trim() === 'passed')", timeout=30_000)
        assert "passed" in shown() and shown() <= {"passed", "failed", "runtime_error"}
        # a click on a row -> Python answers with the code
        rows.first.click()
        code = page.locator(".cs-rollout-explorer [data-testid=rollout-code]")
        code.wait_for(timeout=30_000)
        assert "def " in code.inner_text()
        page.locator(".cs-task-browser").first.wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts_dir / "jupyterlab_rollout_explorer.png"))
    finally:
        stop(proc)
        log.close()


def test_marimo_rewards_explorer_follows_the_charts_filter(page, artifacts_dir, tmp_path):
    """03_rewards: the rollout explorer has no filter controls of its own, lists each rollout's file,
    and a change to the control above the charts changes the explorer's rows to the same set."""
    from playwright.sync_api import expect

    port = free_port()
    log = open(tmp_path / "marimo.log", "w")
    proc = subprocess.Popen(
        [str(BIN / "marimo"), "run", str(ROOT / "notebooks" / "03_rewards.py"), "--headless",
         "--host", "127.0.0.1", "--port", str(port), "--no-token", "--no-check"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, tmp_path / "marimo.log")
        page.goto(f"http://127.0.0.1:{port}/")
        explorer = page.locator(".cs-rollout-explorer")
        explorer.locator("tr[data-key]").first.wait_for(timeout=90_000)
        assert not explorer.locator("[data-testid=task-filter]").is_visible()
        assert explorer.locator("[data-testid=shared-filters]").is_visible()
        files = {x.strip() for x in explorer.locator("td[data-col=file]").all_inner_texts()}
        assert files == {"baseline", "candidate"}, files
        count = explorer.locator("[data-testid=match-count]")
        assert count.inner_text().startswith("48 of 48")
        box = page.locator("input[type=text]").first
        box.fill("example/add")
        box.press("Enter")
        expect(count).not_to_have_text(re.compile(r"^48 of"), timeout=30_000)  # (the widget is in a shadow root)
        n = int(count.inner_text().split()[0])
        tasks = {x.strip() for x in explorer.locator("tr[data-key] td:nth-child(2)").all_inner_texts()}
        assert tasks == {"example/add"} and n == 8, (n, tasks)
        page.get_by_text(re.compile(rf"^{n} rollouts match")).first.wait_for(timeout=30_000)  # the charts' count
        page.get_by_text(f"{n} rollouts in the explorer").wait_for(timeout=30_000)
        page.screenshot(path=str(artifacts_dir / "marimo_03_rewards_explorer.png"))
        assert proc.poll() is None
    finally:
        stop(proc)
        log.close()
    server_log = (tmp_path / "marimo.log").read_text()
    assert "Traceback" not in server_log, server_log[-3000:]
