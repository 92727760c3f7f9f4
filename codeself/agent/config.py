"""The agent's settings: :class:`AgentConfig` and the final-submission policies it names."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: How the final submission is chosen (from public-test results only — never hidden ones).
POLICIES = {
    "last": "the last attempt, whatever its public-test result",
    "first-public-pass": (
        "the first attempt that passes every public test; if none does, the attempt that passed the "
        "most public tests (the earliest among ties), so a revision that made things worse on the "
        "visible tests is not submitted"
    ),
}

#: What a revision request shows the model (see ``AgentConfig.revision_prompt``).
REVISION_PROMPTS = ("feedback", "retry")


@dataclass
class AgentConfig:
    """Settings of one agent run (recorded in every trace record under ``config``)."""

    max_revisions: int = field(default=2, metadata={"help": "Revisions after the first attempt (R); R=0 is single-shot."})
    samples_per_task: int = field(default=1, metadata={"help": "Independent loops per task (N)."})
    seed: int = field(default=0, metadata={"help": "Base seed; each request's seed is derived from (seed, task, sample, turn)."})
    policy: str = field(default="last", metadata={"help": "Final-submission policy: " + "; ".join(f"{k}: {v}" for k, v in POLICIES.items())})
    template: str = field(default="completion", metadata={"help": "Prompt template of prompts.build_prompt: completion | chat."})
    revision_prompt: str = field(default="feedback", metadata={"help": (
        "'feedback': revise from the previous attempt and its feedback; 'retry': ask the first prompt again "
        "(a control arm: the same budget of public-test-filtered attempts without the feedback text; "
        "use a temperature > 0)")})
    show_public_tests: bool = field(default=False, metadata={"help": "Show the public tests in the first prompt (feedback always shows the failing one)."})
    temperature: float | None = field(default=None, metadata={"help": "Sampling temperature; default 0 (greedy) for N=1, 0.8 for N>1."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling top-p."})
    max_new_tokens: int = field(default=256, metadata={"help": "Generation length limit per attempt."})
    timeout_s: float | None = field(default=None, metadata={"help": "Sandbox wall-clock limit per program run (default: the sandbox's)."})
    workers: int | None = field(default=None, metadata={"help": "Sandbox workers (default: the sandbox's)."})
    batch_tasks: int = field(default=8, metadata={"help": "Tasks per chunk; generation is batched across a chunk's samples."})
    feedback_chars: int = field(default=600, metadata={"help": "Cap on the error message in a feedback message."})
    stdout_chars: int = field(default=400, metadata={"help": "Cap on the program's stdout in a feedback message."})

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.max_revisions, int) or self.max_revisions < 0:
            problems.append(f"max_revisions must be an integer >= 0, got {self.max_revisions!r}")
        if not isinstance(self.samples_per_task, int) or self.samples_per_task < 1:
            problems.append(f"samples_per_task must be an integer >= 1, got {self.samples_per_task!r}")
        if self.policy not in POLICIES:
            problems.append(f"policy must be one of {sorted(POLICIES)}, got {self.policy!r}")
        if self.revision_prompt not in REVISION_PROMPTS:
            problems.append(f"revision_prompt must be one of {REVISION_PROMPTS}, got {self.revision_prompt!r}")
        if self.template not in ("completion", "chat"):
            problems.append(f"template must be 'completion' or 'chat', got {self.template!r}")
        if self.temperature is not None and not self.temperature >= 0:
            problems.append(f"temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            problems.append(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if self.timeout_s is not None and not self.timeout_s > 0:
            problems.append(f"timeout_s must be > 0, got {self.timeout_s!r}")
        if self.batch_tasks < 1:
            problems.append(f"batch_tasks must be >= 1, got {self.batch_tasks!r}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def effective_temperature(self) -> float:
        if self.temperature is not None:
            return float(self.temperature)
        return 0.0 if self.samples_per_task == 1 else 0.8

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["temperature"] = self.effective_temperature
        return d
