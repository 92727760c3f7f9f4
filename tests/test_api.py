"""The curated public API: every name in ``codeself.__all__`` resolves, and importing the package
(or the tasks, datasets, sandbox and stats stages) pulls in none of the heavy libraries."""

import subprocess
import sys


def test_every_public_name_resolves():
    import codeself

    missing = [n for n in codeself.__all__ if getattr(codeself, n, None) is None]
    assert missing == []


def test_light_stages_do_not_import_heavy_libraries():
    code = (
        "import sys, codeself, codeself.tasks, codeself.datasets, codeself.sandbox, codeself.stats, codeself.cli\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'ray', 'vllm') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
