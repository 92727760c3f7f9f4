"""``codeself bench study``: finished study directories side by side (every arm) against the study's
targets: wall time of a study from scratch and the GRPO reward share of a training step; beside it the
monitor table (``codeself.training.study.monitor_table``: reward vs monitor pass rates, hack rates).

Reads each ``verdict.json``; ``wall_s`` is the invocation that wrote the verdict (a resumed study
counts only its last part); ``timings_s`` inside each verdict splits it into build, evaluations and
training.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from codeself.training.config import TrainInputError
from codeself.training.study import STUDY_ARMS, monitor_table, verdict_table
from codeself.training.verdict import is_significant

#: issue 5: a study from scratch within 15 minutes on the 2-core machine
TARGET_WALL_S = 15 * 60
#: issue 5: the sandboxed reward is at most 10% of a GRPO step
TARGET_REWARD_SHARE = 0.10


def summarize_studies(run_dirs: list[str | os.PathLike]) -> dict[str, Any]:
    """The side-by-side table and one row per study (see the module docstring)."""
    verdicts = []
    for d in run_dirs:
        f = Path(d) / "verdict.json"
        if not f.is_file():
            raise TrainInputError(f"{d}: no verdict.json (study not finished?)")
        v = json.loads(f.read_text())
        v["run_dir"] = str(d)
        verdicts.append(v)
    order = {a: i for i, a in enumerate(STUDY_ARMS)}
    verdicts.sort(key=lambda v: (order.get(v["arm"], len(order)), v["seed"]))
    rows = [{"run_dir": v["run_dir"], "seed": v["seed"], "arm": v["arm"], "wall_s": v.get("wall_s_this_invocation"),
             "timings_s": v.get("timings_s"), "reward_share_mean": v.get("reward_share_mean"),
             "grpo_step_s_mean": v.get("grpo_step_s_mean"), "significant": is_significant(v)} for v in verdicts]
    return {"table": verdict_table(verdicts), "monitor_table": monitor_table(verdicts), "rows": rows, "verdicts": verdicts,
            "target_wall_s": TARGET_WALL_S, "target_reward_share": TARGET_REWARD_SHARE}
