"""The study's verdict rule, defined once: when does a study count as an improvement?

A study is ``significant`` only if **all** hold:

1. held-out greedy pass@1 went **up** (trained > baseline) — the exact McNemar test is two-sided, so a
   small p alone also fires when training made the model worse;
2. the exact McNemar p on the paired greedy outcomes is below ``alpha`` (fixed before the run;
   ``StudyConfig.alpha``, 0.01 by default);
3. the sampled pass@1 difference (trained − baseline) is positive;
4. the lower bound of its 95% cluster-bootstrap CI is above 0.

``run_study`` stores the result in ``verdict.json`` as ``significant`` next to the ``alpha`` it used.
Every reader (the notebook's study table, ``codeself train select``, ``codeself bench study``, the
reproducibility kit) calls :func:`is_significant`, which returns that stored flag; a file written
before the rule was stored with its ``alpha`` (no ``alpha`` key) is judged again by :func:`significant`,
because its flag may come from an older rule that did not check the greedy direction.

Pure Python, no heavy imports: views and the CLI import it cheaply.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The McNemar threshold a verdict without a recorded ``alpha`` was judged with (StudyConfig's default).
DEFAULT_ALPHA = 0.01

#: The rule in one line, for tables and selection files.
RULE = "greedy pass@1 up with exact McNemar p < alpha, and sampled pass@1 difference and its 95% CI lower bound > 0"


def significant(baseline_pass_at_1: float, trained_pass_at_1: float, mcnemar_p: float,
                sampled_diff: float, ci_low: float, alpha: float = DEFAULT_ALPHA) -> bool:
    """The verdict rule (see the module docstring): greedy up, McNemar p < ``alpha``, sampled diff > 0
    and its CI lower bound > 0."""
    return bool(trained_pass_at_1 > baseline_pass_at_1 and mcnemar_p < alpha
                and sampled_diff > 0 and ci_low > 0)


def judge(v: Mapping[str, Any], alpha: float | None = None) -> bool:
    """Apply :func:`significant` to a verdict dict (``verdict.json`` or a selection run); ``alpha``
    defaults to the verdict's own ``alpha``, else :data:`DEFAULT_ALPHA`."""
    a = v.get("alpha", DEFAULT_ALPHA) if alpha is None else alpha
    return significant(float(v["baseline_pass_at_1"]), float(v["trained_pass_at_1"]), float(v["mcnemar_p"]),
                       float(v["sampled_diff"]), float(v["sampled_diff_ci"][0]), float(a))


def is_significant(v: Mapping[str, Any]) -> bool:
    """The stored ``significant`` flag of a verdict written under this rule (it records ``alpha``);
    for an older verdict, the rule applied to its numbers."""
    if "significant" in v and "alpha" in v:
        return bool(v["significant"])
    return judge(v)


def read_verdicts(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The verdicts in ``path``: one study's ``verdict.json`` (a list of one), or a JSONL file of
    verdicts, one per line (the bundled ``data/examples/study_verdicts.jsonl``)."""
    p = Path(path)
    text = p.read_text()
    if p.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [json.loads(text)]
