"""`codeself tasks …` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Prepare, validate, inspect, generate and audit task files.", no_args_is_help=True)


# --- commands implemented in other stage modules, registered here -------------------------------
from codeself.cli.audit import audit as _audit  # noqa: E402

app.command("audit")(_audit)
