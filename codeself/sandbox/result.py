"""The result of executing one program against one task's tests: the contract every later stage
(rewards, rollouts, evaluation, agent, audit, notebooks) reads. Field names are a public contract.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Every status a Result can have. ``infra_error`` is a fault of the harness, never of the program:
#: callers must surface and exclude it, never score it as 0. ``rejected`` means the security scan
#: refused to run the code under ``scan_policy="block"``.
STATUSES = (
    "passed",         # every public and hidden test passed
    "failed",         # ran; at least one test failed (assertion / wrong value)
    "syntax_error",   # the code does not compile
    "import_error",   # module-level code raised (ImportError or any other exception)
    "runtime_error",  # ran; no wrong answer, but a test raised a non-assertion exception
    "timeout",        # CPU-time or wall-clock limit hit
    "memory",         # address-space limit hit (MemoryError / allocation failure)
    "crashed",        # the process died abnormally (signal, segfault, early exit, broken channel)
    "infra_error",    # the sandbox itself failed; not the program's fault
    "rejected",       # refused by the security scan (scan_policy="block")
)

#: Phases in order. ``Result.phase`` is the last phase that was reached.
PHASES = ("syntax", "import", "public", "hidden", "done")


@dataclass
class TestOutcome:
    """Outcome of one test string."""

    index: int                      # position within its list (public_tests or hidden_tests)
    kind: str                       # "public" | "hidden"
    passed: bool
    status: str = "passed"          # passed | failed | error | timeout | memory | crashed | not_run
    error_type: str | None = None   # e.g. "AssertionError", "ValueError", "Mismatch"
    error_message: str | None = None
    duration_s: float = 0.0
    graded_in_parent: bool = False  # graded outside the program's process (always, since issue 13)
    judge_verdicts: dict[str, bool] | None = None  # stdin tests: the verdict of every named judge

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Result:
    """One execution's verdict. ``passed`` is True iff every public and hidden test passed."""

    task_id: str
    passed: bool
    status: str
    sample_id: int | str | None = None
    phase: str = "syntax"
    public_passed: int = 0
    public_total: int = 0
    hidden_passed: int = 0
    hidden_total: int = 0
    tests: list[TestOutcome] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0          # wall time of the whole execution, as seen by the parent
    #                                  (sandbox: preparation + fork-to-exit + grading, queueing excluded)
    exec_duration_s: float = 0.0     # time spent in the program itself (import + tests) in the child
    scan: list[dict[str, Any]] = field(default_factory=list)  # {"rule", "line", "severity", "message"}
    error: str | None = None         # a short explanation for non-passing statuses
    tamper_proof_share: float = 0.0  # share of tests graded outside the program's process (1.0)
    # added by the sandbox (issue 3):
    stdout_truncated: bool = False   # stdout was longer than SandboxConfig.output_cap_bytes
    stderr_truncated: bool = False   # stderr was longer than SandboxConfig.output_cap_bytes
    containment: str | None = None   # the layers in place, FULL_CONTAINMENT as root (see README)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        d = dict(d)
        d["tests"] = [t if isinstance(t, TestOutcome) else TestOutcome(**t) for t in d.get("tests", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})
