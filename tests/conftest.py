"""Shared pytest fixtures: a real browser (Debian's chromium driven by Playwright) and artefact paths.

``chromium_path`` (session): ``/usr/bin/chromium``, installed with ``apt-get update && apt-get
install -y chromium`` when missing (needs root or passwordless sudo; otherwise the browser tests
fail with the apt output, they are never silently skipped). No Playwright browser download is used.

``browser`` (session): a Playwright ``Browser`` launched from that executable, headless.
``page``: a fresh page (own context, 1280x900) per test, closed afterwards.
``artifacts_dir``: ``tests/artifacts/`` (git-ignored) for screenshots saved by tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def _apt(*args: str) -> subprocess.CompletedProcess:
    cmd = ["apt-get", *args]
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            raise RuntimeError(f"{CHROMIUM} is missing and apt-get needs root (no sudo available)")
        cmd = ["sudo", "-n", *cmd]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)


def ensure_chromium() -> str:
    """Return the path of Debian's chromium, installing the ``chromium`` package when missing."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    for args in (("update",), ("install", "-y", "--no-install-recommends", "chromium")):
        proc = _apt(*args)
        if proc.returncode != 0:
            raise RuntimeError(
                f"apt-get {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            )
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"apt-get install chromium finished but {CHROMIUM} does not exist")
    return CHROMIUM


@pytest.fixture(scope="session")
def chromium_path() -> str:
    return ensure_chromium()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def isolated_data_dir(tmp_path, monkeypatch) -> Path:
    """``CODESELF_DATA_DIR`` in a temp dir: the locked-test-split log never touches ``data/``."""
    d = tmp_path / "datadir"
    monkeypatch.setenv("CODESELF_DATA_DIR", str(d))
    return d
