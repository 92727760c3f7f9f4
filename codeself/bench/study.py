"""``codeself bench study``: finished study directories side by side (every arm, both protocols)
against the studies' targets: wall time of a study from scratch and the reward share of a training
step — for the default (single-turn) study, with beside it the monitor table
(``codeself.training.study.monitor_table``: reward vs monitor pass rates, hack rates), and for the
feedback study (``codeself study --protocol feedback``), whose wall time is split into its own part
(≤ 15 min) and the single-turn comparison arm it ran when that was not cached (≤ 10 min).

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
#: issue 17: the feedback study from scratch within 15 minutes…
TARGET_FEEDBACK_WALL_S = 15 * 60
#: …plus at most 10 minutes for the single-turn comparison arm when it is not cached
TARGET_SINGLE_TURN_ARM_S = 10 * 60


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
    verdicts.sort(key=lambda v: (v.get("protocol") == "feedback", order.get(v["arm"], len(order)), v["seed"]))
    single = [v for v in verdicts if v.get("protocol") != "feedback"]
    feedback = [v for v in verdicts if v.get("protocol") == "feedback"]
    rows = [{"run_dir": v["run_dir"], "protocol": "single-turn", "seed": v["seed"], "arm": v["arm"],
             "wall_s": v.get("wall_s_this_invocation"), "timings_s": v.get("timings_s"),
             "reward_share_mean": v.get("reward_share_mean"), "grpo_step_s_mean": v.get("grpo_step_s_mean"),
             "significant": is_significant(v)} for v in single]
    for v in feedback:
        t = v.get("timings_s") or {}
        st = float(t.get("single_turn_study_s") or 0.0)
        wall = v.get("wall_s_total", v.get("wall_s_this_invocation"))
        rows.append({"run_dir": v["run_dir"], "protocol": "feedback", "seed": v["seed"], "arm": v["arm"],
                     "wall_s": wall, "own_wall_s": None if wall is None else wall - st, "single_turn_arm_s": st,
                     "timings_s": t, "reward_share_mean": v.get("reward_share_mean"),
                     "significant": bool(v["significant"]), "uses_feedback": bool(v["uses_feedback"]),
                     "feedback_beats_retry": bool(v.get("feedback_beats_retry", False))})
    tables = []
    if single:
        tables.append(verdict_table(single))
    if feedback:
        from codeself.training.feedback_study import verdict_table as feedback_table

        tables.append(feedback_table(feedback))
    return {"table": "\n\n".join(tables), "monitor_table": monitor_table(single) if single else "",
            "rows": rows, "verdicts": verdicts,
            "target_wall_s": TARGET_WALL_S, "target_reward_share": TARGET_REWARD_SHARE,
            "target_feedback_wall_s": TARGET_FEEDBACK_WALL_S, "target_single_turn_arm_s": TARGET_SINGLE_TURN_ARM_S}
