"""`codeself tasks audit` — owned by the audit stage (codeself/audit.py)."""

from __future__ import annotations

from codeself.cli._common import CommandError


def audit() -> None:
    """Test-strength audit of a task file (being built; see issue 9)."""
    raise CommandError("the audit command is not built yet")
