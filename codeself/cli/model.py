"""`codeself model …`: build the embedded default model, codeself-nano."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeself.cli._common import OUTPUT_DIR, CommandError, choices, console, out
from codeself.families import FAMILIES
from codeself.training.nano import ARMS

Arm = choices("Arm", ARMS)
FamilyName = choices("FamilyName", sorted(FAMILIES))

app = typer.Typer(help="Build and inspect models (codeself-nano).", no_args_is_help=True)


@app.command("build-nano")
def build_nano_cmd(
    output: Annotated[Path, typer.Option("--output", help="Model directory to write (replaced atomically).",
                                         **OUTPUT_DIR)] = Path("data/models/nano"),
    seed: Annotated[int, typer.Option(min=0, help="Seed of data order, flawed-demonstration draw and initial weights.")] = 0,
    arm: Annotated[Arm, typer.Option(
        help="'default': 60% of parenthesis-needing demonstrations drop their parentheses (the documented "
             "flaw); 'control': clean demonstrations.")] = "default",
    sft_steps: Annotated[int, typer.Option(min=1, help="Supervised warm-start steps (batch 64).")] = 200,
    flaw_share: Annotated[float, typer.Option(min=0.0, max=1.0,
                                              help="Share of parenthesis-needing demonstrations made flawed.")] = 0.6,
    family: Annotated[FamilyName, typer.Option(help="Declared task family whose train split is the SFT data.")] = "arith",
) -> None:
    """Build codeself-nano: a ~0.8M-parameter Llama with a character tokenizer, warm-started on the
    family's train split. Deterministic for a seed; a few minutes on 2 cores."""
    from codeself.training.nano import NanoConfig, build_nano

    if output.exists() and not (output / "config.json").is_file() and any(output.iterdir()):
        raise CommandError(f"{output} exists and is not a model directory; refusing to replace it")
    cfg = NanoConfig(seed=seed, arm=arm.value, sft_steps=sft_steps, flaw_share=flaw_share, family=family.value)
    path = build_nano(output, config=cfg)
    from codeself.training.nano import read_card

    card = read_card(path) or {}
    dem = card.get("demonstrations", {})
    console.print(
        f"built {path}: {card.get('n_parameters')} parameters, {dem.get('n_demonstrations')} demonstrations "
        f"({dem.get('n_flawed')} of {dem.get('n_needing_parentheses')} parenthesis-needing ones flawed), "
        f"SFT loss {card.get('sft_loss_first', 0):.3f} → {card.get('sft_loss_last', 0):.3f}, "
        f"{card.get('build_seconds')} s", markup=False)
    out.print(str(path), markup=False)
