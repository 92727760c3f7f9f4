"""codeself.paths: one module decides where files live; a wheel carries every bundled file."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile

import pytest

from codeself import paths

BUNDLED = {"data/examples": paths.EXAMPLES, "data/tasks.example.jsonl": paths.EXAMPLE_TASKS,
           "reports/kit": paths.KIT_DIR, "widgets": paths.WIDGETS_DIR}


def test_checkout_resolves_bundled_files_in_place():
    assert (paths.REPO_ROOT / "pyproject.toml").is_file()
    for rel, p in BUNDLED.items():
        assert p == paths.REPO_ROOT / rel and p.exists(), rel
    assert paths.RUNS == paths.REPO_ROOT / "data" / "runs"
    assert paths.bundled("data/examples/metrics.jsonl").is_file()


def test_the_wheel_config_names_every_bundled_path():
    cfg = tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())
    force = cfg["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert force == {rel: f"codeself/{paths.BUNDLED_IN_WHEEL}/{rel}" for rel in BUNDLED}


def test_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("CODESELF_DATA_DIR", str(tmp_path / "d"))
    assert paths.data_dir() == tmp_path / "d"
    monkeypatch.delenv("CODESELF_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert paths.data_dir() == paths.REPO_ROOT / "data"  # no ./data here: the checkout's
    (tmp_path / "data").mkdir()
    assert str(paths.data_dir()) == "data"


@pytest.mark.slow
def test_a_wheel_install_finds_the_examples_kit_and_widgets(tmp_path):
    """Build the wheel, install it outside the checkout, and resolve every bundled file from it."""
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "whl"),
                        str(paths.REPO_ROOT)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    (wheel,) = (tmp_path / "whl").glob("codeself-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in ("data/tasks.example.jsonl", "data/examples/rollouts.baseline.jsonl", "data/examples/selection.json",
                "reports/kit/methodology.md", "widgets/codeself.css"):
        assert f"codeself/_bundled/{rel}" in names, rel
    target = tmp_path / "site"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    code = ("import codeself.paths as p\n"
            "from codeself.views.inputs import EXAMPLE_FILES\n"
            "from codeself.reports.kit import KIT_DIR, TEMPLATES\n"
            "assert p.__file__.startswith(sys.argv[1]), p.__file__\n"
            "assert all(f.is_file() and f.is_relative_to(sys.argv[1]) for f in EXAMPLE_FILES.values())\n"
            "assert all((KIT_DIR / t).is_file() for t in TEMPLATES), KIT_DIR\n"
            "assert (p.WIDGETS_DIR / 'codeself.css').is_file()\n")
    p = subprocess.run([sys.executable, "-c", "import sys\n" + code, str(target)], capture_output=True, text=True,
                       cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
