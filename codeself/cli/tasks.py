"""`codeself tasks …` commands."""

from __future__ import annotations

import typer

app = typer.Typer(help="Prepare, validate, inspect, generate and audit task files.", no_args_is_help=True)
