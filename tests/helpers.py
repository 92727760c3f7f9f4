"""Helpers shared by test modules (importable because pytest puts ``tests/`` on ``sys.path``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "data" / "tasks.example.jsonl"
EX_BASE = ROOT / "data" / "examples" / "rollouts.baseline.jsonl"
EX_CAND = ROOT / "data" / "examples" / "rollouts.candidate.jsonl"


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Run ``codeself ARGV`` in-process: ``(exit code, stdout, stderr)``; a non-integer exit is 1."""
    from codeself.cli import main

    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    cap = capsys.readouterr()
    return code, cap.out, cap.err
