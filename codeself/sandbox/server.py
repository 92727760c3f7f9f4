"""The warm fork server: one long-lived process per pool worker, started as
``python -m codeself.sandbox.server``. It never runs untrusted code itself.

Start-up (as root): an empty network namespace (no interface but a down loopback) and a private
mount namespace for the server and its children, with a fresh tmpfs
on ``/tmp`` (mode 0711; holds one scratch dir per program), empty read-only tmpfs over the other
world-writable places (``/var/tmp``, ``/run/lock``, ``/dev/shm``) and over ``hide_paths``; the
Python installation is bound back read-only if it lived under a hidden path. Then it imports the
harness (:mod:`codeself.sandbox.child`) and the preimport list, calls ``gc.freeze()`` and answers
jobs, one JSON line in, one JSON line out.

Per job (pre-forked: the next child is made right after each reply and waits for its job on a
pipe): ``unshare(CLONE_NEWPID)`` (affects only the next child), ``fork()``, ``setns`` back. The
child is PID 1 of a fresh PID namespace: when it exits or is killed, the kernel kills every process
in it — double-forked and ``setsid`` daemons included. The child then enters a fresh IPC
namespace (SysV objects die with it), sets rlimits, scrubs the environment and drops to the server's uid (see
:func:`codeself.sandbox.child.contain`). The server drains stdout, stderr and the result pipe
concurrently (capped), enforces the wall clock with ``SIGKILL`` and reports what it saw.
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import importlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time

from codeself.sandbox import child as _child

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
UID_SPAN = 1 << 16

_libc = ctypes.CDLL(None, use_errno=True)


def _ends_with_done(buf: bytearray) -> bool:
    tail = bytes(buf[-256:]).rstrip(b"\n")
    return tail.rsplit(b"\n", 1)[-1].startswith(b'{"ev":"done"')


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(_libc.mount(src.encode() if src else None, dst.encode(), fstype.encode() if fstype else None,
                       flags, data.encode() if data else None), f"mount {dst}")


def _python_paths() -> list[str]:
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    for p in sys.path:
        if p and os.path.isdir(p):
            paths.add(os.path.realpath(p))
    return sorted(paths)


def setup_mounts(scratch_mb: int, hide_paths: list[str]) -> str:
    """Enter a private mount namespace and lay out the filesystem view; returns the scratch base."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    hidden = [os.path.realpath(p) for p in hide_paths if os.path.isdir(p)]
    hidden_files = [os.path.realpath(p) for p in hide_paths if os.path.isfile(p)]
    # Python dirs under a hidden path must stay readable: stage them before hiding.
    expose = [p for p in _python_paths() if any(p == h or p.startswith(h + "/") for h in hidden)]
    expose = [p for p in expose if not any(p != q and p.startswith(q + "/") for q in expose)]
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(scratch_mb)}m,mode=0711")
    stage = "/tmp/.stage"
    os.mkdir(stage, 0o700)
    staged = []
    for i, p in enumerate(expose):
        s = f"{stage}/{i}"
        os.mkdir(s)
        _mount(p, s, None, MS_BIND | MS_REC, None)
        staged.append((s, p))
    for p in ("/var/tmp", "/run/lock", "/dev/shm", *hidden):
        if os.path.isdir(p):
            _mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
    for s, p in staged:
        os.makedirs(p, exist_ok=True)
        _mount(s, p, None, MS_BIND | MS_REC, None)
        _mount(None, p, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
        _check(_libc.umount2(s.encode(), MNT_DETACH), f"umount {s}")
    for p in ("/var/tmp", "/run/lock", "/dev/shm", *hidden):
        if os.path.isdir(p):
            _mount(None, p, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
    for f in hidden_files:  # e.g. the task file holding hidden tests: an empty read-only file over it
        _mount("/dev/null", f, None, MS_BIND, None)
        _mount(None, f, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    shutil.rmtree(stage, ignore_errors=True)
    return "/tmp"


class Server:
    def __init__(self, index: int, settings: dict) -> None:
        self.index = index
        self.root = os.geteuid() == 0
        self.ns = bool(settings.get("namespaces", True)) and self.root
        self.uid = self.gid = None
        if self.root:
            # a uid private to this server (several pools, e.g. of different users' runs, never share
            # one: RLIMIT_NPROC and file ownership stay per server)
            self.uid = self.gid = int(settings.get("uid_base", 64000)) + os.getpid() % UID_SPAN
        self.mount_ns = False
        if self.ns:
            try:
                self.base = setup_mounts(int(settings.get("scratch_mb", 64)), list(settings.get("hide_paths", [])))
                self.mount_ns = True
            except OSError as e:
                print(f"codeself sandbox: mount namespace unavailable ({e}); using a scratch dir", file=sys.stderr)
                self.base = tempfile.mkdtemp(prefix="codeself-sbx-")
        else:
            self.base = tempfile.mkdtemp(prefix="codeself-sbx-")
        os.chmod(self.base, 0o711) if not self.mount_ns else None
        self.pid_ns_fd = None
        self.net_ns = False
        if self.ns:
            # one empty network namespace for this server and all its children (no interface but a
            # down loopback). Jobs of one server run one at a time and every process of a job is dead
            # before the next starts (PID namespace), so nothing live is shared through it.
            try:
                _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
                self.net_ns = True
            except OSError as e:
                print(f"codeself sandbox: network namespace unavailable ({e})", file=sys.stderr)
            try:
                self.pid_ns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY)
                _check(_libc.unshare(CLONE_NEWPID), "unshare(CLONE_NEWPID)")
                _check(_libc.setns(self.pid_ns_fd, CLONE_NEWPID), "setns")
            except OSError as e:
                print(f"codeself sandbox: PID namespaces unavailable ({e})", file=sys.stderr)
                self.pid_ns_fd = None
        self.counter = 0
        self.pending: dict | None = None
        self.ready: dict | None = None
        self.cgroups = self._make_cgroups() if self.ns else {}
        self._cg_values: dict[str, str] = {}
        self._oom_kills = self._read_oom_kills()
        for mod in settings.get("preimport", []):
            try:
                importlib.import_module(mod)
            except Exception:  # noqa: BLE001 - a missing optional module is not fatal
                pass

    def _make_cgroups(self) -> dict[str, str]:
        """A memory and a pids cgroup (v1) per server, joined by the server so that each program (run
        one at a time) inherits it: the whole process tree of a program is bounded (RLIMIT_AS and
        RLIMIT_NPROC bound single processes / the uid)."""
        out: dict[str, str] = {}
        try:
            own = {}
            with open("/proc/self/cgroup") as f:
                for line in f:
                    _, ctrls, path = line.rstrip("\n").split(":", 2)
                    for c in ctrls.split(","):
                        own[c] = path
            for ctrl in ("memory", "pids"):
                root = f"/sys/fs/cgroup/{ctrl}"
                if ctrl not in own or not os.path.isdir(root):
                    continue
                path = f"{root}{own[ctrl].rstrip('/')}/codeself-sbx-{os.getpid()}"
                os.mkdir(path)
                out[ctrl] = path
                # the server joins; every program forked from it is then a member at no per-program cost
                with open(f"{path}/cgroup.procs", "w") as f:
                    f.write("0")
        except OSError as e:
            print(f"codeself sandbox: cgroups unavailable ({e}); per-process rlimits only", file=sys.stderr)
        if out:
            atexit.register(self._remove_cgroups)
        return out

    def _remove_cgroups(self) -> None:
        for path in self.cgroups.values():
            try:  # leave the cgroup first (a cgroup with members cannot be removed)
                with open(f"{os.path.dirname(path)}/cgroup.procs", "w") as f:
                    f.write("0")
                os.rmdir(path)
            except OSError:
                pass

    def _cg_set(self, ctrl: str, name: str, value: str) -> None:
        key = f"{ctrl}/{name}"
        if ctrl in self.cgroups and self._cg_values.get(key) != value:
            try:
                with open(f"{self.cgroups[ctrl]}/{name}", "w") as f:
                    f.write(value)
                self._cg_values[key] = value
            except OSError as e:
                print(f"codeself sandbox: cannot set {key}={value} ({e})", file=sys.stderr)

    def _read_oom_kills(self) -> int:
        if "memory" not in self.cgroups:
            return 0
        try:
            with open(f"{self.cgroups['memory']}/memory.oom_control") as f:
                for line in f:
                    if line.startswith("oom_kill "):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    @property
    def mode(self) -> str:
        if self.pid_ns_fd is not None and self.net_ns:
            return "namespaces+uid" if self.uid is not None else "namespaces"
        return "uid+rlimits" if self.uid is not None else "rlimits"

    def spawn(self) -> None:
        """Pre-fork the next program process: contained (namespaces, uid, cgroups, environment) and
        blocked reading its job from a pipe, so that fork and containment are off the critical path."""
        if self.ready is not None:
            return
        self.counter += 1
        scratch = os.path.join(self.base, f"w{self.index}-{self.counter}")
        os.mkdir(scratch, 0o700)
        if self.uid is not None:
            os.chown(scratch, self.uid, self.gid)
        r_out, w_out = os.pipe()
        r_err, w_err = os.pipe()
        r_res, w_res = os.pipe()
        r_job, w_job = os.pipe()
        in_ns = False
        if self.pid_ns_fd is not None:
            in_ns = _libc.unshare(CLONE_NEWPID) == 0
        pid = os.fork()
        if pid == 0:  # ---- child
            try:
                _child.child_main(None, {"stdout": w_out, "stderr": w_err, "result": w_res, "job": r_job},
                                  scratch=scratch, uid=self.uid, gid=self.gid, new_ipc=in_ns)
            finally:
                os._exit(71)
        if in_ns:
            _check(_libc.setns(self.pid_ns_fd, CLONE_NEWPID), "setns back")
        for fd in (w_out, w_err, w_res, r_job):
            os.close(fd)
        self.ready = {"pid": pid, "in_ns": in_ns, "scratch": scratch, "r_out": r_out, "r_err": r_err,
                      "r_res": r_res, "w_job": w_job, "pidfd": os.pidfd_open(pid)}

    def discard_ready(self) -> None:
        c, self.ready = self.ready, None
        if c is None:
            return
        self._kill(c["pid"], c["in_ns"])
        os.waitpid(c["pid"], 0)
        for fd in (c["r_out"], c["r_err"], c["r_res"], c["w_job"], c["pidfd"]):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(c["scratch"], ignore_errors=True)

    def handle(self, job: dict) -> dict:
        limits = job["limits"]
        # the server itself is a member (small, and never the OOM killer's choice: programs have
        # oom_score_adj 1000): allow it 64 MiB and one process on top of the program's limits
        self._cg_set("memory", "memory.limit_in_bytes", str((int(limits["memory_mb"]) + 64) << 20))
        self._cg_set("pids", "pids.max", str(int(limits["max_procs"]) + 2))
        self.spawn()
        c, self.ready = self.ready, None
        pid, in_ns, scratch, pidfd = c["pid"], c["in_ns"], c["scratch"], c["pidfd"]
        r_out, r_err, r_res = c["r_out"], c["r_err"], c["r_res"]
        t0 = time.perf_counter()
        data = json.dumps(job).encode()
        try:  # the child reads while we write; if it died in containment, its record says why
            view = memoryview(data)
            while len(view):
                view = view[os.write(c["w_job"], view):]
        except OSError:
            pass
        os.close(c["w_job"])
        caps = {r_out: int(limits["output_cap"]), r_err: int(limits["output_cap"]), r_res: int(limits["result_cap"])}
        bufs: dict[int, bytearray] = {r_out: bytearray(), r_err: bytearray(), r_res: bytearray()}
        totals = {r_out: 0, r_err: 0, r_res: 0}
        poller = select.poll()
        for fd in (r_out, r_err, r_res, pidfd):
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        open_fds = {r_out, r_err, r_res}
        deadline = t0 + float(limits["timeout_s"])
        status = None
        exit_t = None
        timed_out = False
        grace = 1.0
        early = False
        while open_fds or status is None:
            now = time.perf_counter()
            if status is None and not timed_out and now >= deadline:
                self._kill(pid, in_ns)
                timed_out = True
            if status is not None and now >= exit_t + grace:
                break
            if status is None:
                wait = (deadline - now) if not timed_out else 1.0
            else:
                wait = exit_t + grace - now
            for fd, _ev in poller.poll(max(0.0, wait) * 1000 + 1):
                if fd == pidfd:
                    _, status = os.waitpid(pid, 0)
                    exit_t = time.perf_counter()
                    poller.unregister(pidfd)
                    if not in_ns:  # no namespace: kill what is left of the process group
                        try:
                            os.killpg(pid, signal.SIGKILL)
                        except OSError:
                            pass
                    continue
                try:
                    data = os.read(fd, 1 << 16)
                except OSError:
                    data = b""
                if not data:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                totals[fd] += len(data)
                room = caps[fd] - len(bufs[fd])
                if room > 0:
                    bufs[fd] += data[:room]
            if status is None and not open_fds and not timed_out and _ends_with_done(bufs[r_res]):
                # the harness reported "done" and closed its pipes: answer now, reap the process
                # (and its PID namespace) right after the reply is sent, before the next job
                early = True
                break
        for fd in (r_out, r_err, r_res) if early else (r_out, r_err, r_res, pidfd):
            try:
                os.close(fd)
            except OSError:
                pass
        wall = (exit_t or time.perf_counter()) - t0
        if early:
            self.pending = {"pid": pid, "pidfd": pidfd, "deadline": deadline, "scratch": scratch, "in_ns": in_ns}
        else:
            shutil.rmtree(scratch, ignore_errors=True)
        # the result lines are untrusted text: the caller parses them defensively
        lines = bytes(bufs[r_res]).decode("utf-8", "replace").split("\n")
        exit_code = sig = None
        if status is not None:
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
            else:
                exit_code = os.waitstatus_to_exitcode(status)
        oom = False
        if "memory" in self.cgroups and sig == signal.SIGKILL and not timed_out:
            kills = self._read_oom_kills()
            oom, self._oom_kills = kills > self._oom_kills, kills
        return {
            "lines": [x for x in lines if x],
            "result_overflow": totals[r_res] > caps[r_res],
            "stdout": bytes(bufs[r_out]).decode("utf-8", "replace"),
            "stderr": bytes(bufs[r_err]).decode("utf-8", "replace"),
            "stdout_bytes": totals[r_out], "stderr_bytes": totals[r_err],
            "exit_code": exit_code, "signal": sig, "timed_out": timed_out, "wall_s": wall, "oom_killed": oom,
            "containment": self.mode if in_ns or self.pid_ns_fd is None else "degraded",
        }

    def reap_pending(self) -> None:
        """Wait for the previous program (which already reported "done") to be gone, within its
        deadline (then SIGKILL); remove its scratch dir. Called after each reply."""
        p, self.pending = self.pending, None
        if not p:
            return
        ready, _, _ = select.select([p["pidfd"]], [], [], max(0.0, p["deadline"] - time.perf_counter()))
        if not ready:
            self._kill(p["pid"], p["in_ns"])
        os.waitpid(p["pid"], 0)
        if not p["in_ns"]:
            try:
                os.killpg(p["pid"], signal.SIGKILL)
            except OSError:
                pass
        os.close(p["pidfd"])
        shutil.rmtree(p["scratch"], ignore_errors=True)

    def _kill(self, pid: int, in_ns: bool) -> None:
        for f in ((lambda: os.kill(pid, signal.SIGKILL)) if in_ns else (lambda: os.killpg(pid, signal.SIGKILL)),
                  lambda: os.kill(pid, signal.SIGKILL)):
            try:
                f()
            except OSError:
                pass


def main() -> None:
    settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    index = int(settings.get("index", 0))
    job_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pool owns our lifetime (EOF on stdin = exit)
    for k in [k for k in os.environ if k not in ("PATH", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE")]:
        del os.environ[k]  # started with a scrubbed env already; drop PYTHONPATH/PYTHONHASHSEED too
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    try:
        server = Server(index, settings)
    except Exception as e:  # noqa: BLE001
        os.write(proto, (json.dumps({"ready": False, "error": f"{type(e).__name__}: {e}"}) + "\n").encode())
        return
    gc.collect()
    gc.freeze()
    reader = job_in
    os.write(proto, (json.dumps({"ready": True, "mode": server.mode, "uid": server.uid, "pid": os.getpid(),
                                 "mount_ns": server.mount_ns}) + "\n").encode())
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = reader.read(1 << 20)
            if not chunk:
                server.reap_pending()
                server.discard_ready()
                return
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        job = json.loads(line)
        try:
            reply = server.handle(job)
        except Exception as e:  # noqa: BLE001 - reported as infra_error by the pool
            reply = {"infra_error": f"{type(e).__name__}: {e}"}
        data = (json.dumps(reply) + "\n").encode()
        view = memoryview(data)
        while len(view):
            view = view[os.write(proto, view):]
        try:
            server.reap_pending()
            server.spawn()
        except Exception as e:  # noqa: BLE001 - retried by handle(); a persistent failure becomes infra_error
            print(f"codeself sandbox: could not prepare the next program process ({e})", file=sys.stderr)


if __name__ == "__main__":
    main()
