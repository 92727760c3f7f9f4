"""The sandbox: fast, contained, tamper-proof execution of generated code against tests.

**Guaranteed** when the sandbox runs as root on Linux (CI and the project machines):

* every program runs in its own process forked from a warm server, as PID 1 of a fresh PID
  namespace (so when it ends or is killed, every descendant dies — double-forked and ``setsid``
  daemons included, and ``kill(-1)`` reaches only its own processes) and a fresh IPC namespace, in
  an empty network namespace (no interface but a down loopback: no network at all; one per server,
  whose jobs run one at a time), as an unprivileged uid private to its server, with no groups and
  ``no_new_privs``;
* limits: CPU time (RLIMIT_CPU), wall clock (SIGKILL from the server), address space (RLIMIT_AS,
  default 1 GiB) per process and the same amount for the whole process tree (memory cgroup),
  processes (RLIMIT_NPROC, enforced because the uid is not root, and a pids cgroup), file size
  (RLIMIT_FSIZE), open files, no core dumps;
* the only writable place is a private scratch dir on a per-server tmpfs (``/tmp``, ``/var/tmp``,
  ``/run/lock``, ``/dev/shm`` are private or read-only; everything else is not writable by the
  uid); ``/root`` and ``/home`` are hidden; the environment is scrubbed; stdin is ``/dev/null``;
  stdout/stderr are drained concurrently and capped (``output_cap_bytes``), invalid UTF-8 replaced;
* expected values never enter the child for tests of the form ``assert EXPR`` (see
  :mod:`codeself.sandbox.grading`): the child returns plain values through a pipe, the parent
  compares with exact types (:mod:`codeself.sandbox.values`), and every test must report or fail;
* one program's crash, kill, timeout or limit costs only its own verdict; ``infra_error`` is
  reserved for faults of the harness itself.

**Not guaranteed**:

* tests of other shapes run in the child and a malicious program can forge their verdict
  (``TestOutcome.graded_in_parent=False``; ``Result.tamper_proof_share`` says how much of a grade
  is tamper-proof);
* files readable by any user (e.g. a world-readable ``tasks.jsonl`` with hidden tests) are
  readable by the program — keep such files under a ``hide_paths`` directory;
* the kernel is shared (no seccomp filter, no VM): a kernel exploit escapes;
* without root: no namespaces, no uid drop (RLIMIT_NPROC is then per *your* user), descendants are
  killed by process group only — a ``setsid`` daemon can survive; network is not blocked.
  ``Result.containment`` records the mode that was used.
"""

from __future__ import annotations

from codeself.sandbox.api import CallOutcome, evaluate_calls, imap, run, run_many
from codeself.sandbox.config import SandboxConfig
from codeself.sandbox.pool import close_pools
from codeself.sandbox.result import PHASES, STATUSES, Result, TestOutcome
from codeself.sandbox.scan import scan

__all__ = [
    "PHASES", "STATUSES", "CallOutcome", "Result", "SandboxConfig", "TestOutcome", "close_pools",
    "evaluate_calls", "imap", "run", "run_many", "scan",
]
