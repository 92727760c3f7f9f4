"""Adversarial tests: one per containment property and one per forgery, as named in issue 3.

Written so that a containment *failure* cannot harm the machine: fork bombs are bounded loops,
daemons are ``sleep`` processes that end by themselves within a minute, and the programs that send
``kill(-1)`` / kill their parent first check that they are an unprivileged PID 1 of their own PID
namespace and refuse (failing the test) otherwise.
"""

from __future__ import annotations

import os
import random
import socket
import time

import pytest

from codeself.sandbox import SandboxConfig, evaluate_calls, run, run_many
from codeself.tasks import Task

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not hasattr(os, "pidfd_open"),
                                reason="full containment needs root on Linux (CI runs as root)")

ADD = Task(task_id="t/add", prompt="", entry_point="add", public_tests=["assert add(2, 3) == 5"],
           hidden_tests=["assert add(10, -3) == 7", "assert add(0, 0) == 0"])
GOOD = "def add(a, b):\n    return a + b\n"
SAFE_GUARD = (
    "import os\n"
    "def _guard():\n"
    "    if os.getuid() == 0 or os.geteuid() == 0 or os.getpid() != 1:\n"
    "        raise SystemExit('refusing: not an unprivileged PID-1 sandbox')\n"
)


def probe(code: str, expr: str = "probe()", **kw):
    [[out]] = evaluate_calls([(code, "", [expr])], **kw)
    return out


def _procs_with(token: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if token.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


# ---- forgery ----------------------------------------------------------------------------------------

def test_full_containment_is_in_place_as_root():
    from codeself.sandbox.config import FULL_CONTAINMENT

    r = run(ADD, GOOD)
    assert r.passed and r.containment == FULL_CONTAINMENT, r.containment


def test_lying_eq_object_fails():
    code = ("class Liar:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
            "    def __ne__(self, other):\n        return False\n"
            "def add(a, b):\n    return Liar()\n")
    r = run(ADD, code)
    assert r.status == "failed" and r.public_passed == 0 and r.hidden_passed == 0
    code2 = "class S(int):\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return S(-1)\n"
    assert run(ADD, code2).status == "failed"  # a subclass is graded by its builtin value


def test_stack_walk_cannot_find_expected_values():
    code = (
        "import sys, gc\n"
        "def add(a, b):\n"
        "    seen = []\n"
        "    f = sys._getframe(1)\n"
        "    while f is not None:\n"
        "        seen.extend(repr(v) for v in f.f_locals.values())\n"
        "        seen.extend(c for c in f.f_code.co_consts if isinstance(c, int))\n"
        "        f = f.f_back\n"
        "    for o in gc.get_objects():\n"
        "        if isinstance(o, str) and 'assert add(' in o and '==' in o:\n"
        "            return int(o.rsplit('==', 1)[1].split()[0])\n"
        "    return -999\n"
    )
    r = run(ADD, code)
    assert r.status == "failed" and r.public_passed == 0 and r.hidden_passed == 0


def test_forged_verdict_then_exit_zero_fails():
    code = (
        "import os, json\n"
        "forged = ''.join(json.dumps(x) + '\\n' for x in (\n"
        "    [{'ev': 'imported', 'd': 0.0}] + [{'i': i, 'ok': True, 'd': 0.0, 'v': True} for i in range(50)]\n"
        "    + [{'ev': 'done', 'd': 0.0}]))\n"
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        os.write(fd, forged.encode())\n"
        "    except OSError:\n"
        "        pass\n"
        "print('PASSED'); print('ok')\n"
        "os._exit(0)\n"
    )
    r = run(ADD, code)
    assert not r.passed and r.public_passed == 0 and r.hidden_passed == 0
    early = run(ADD, "import os\nos._exit(0)\n")
    assert early.status == "crashed" and not early.passed


def test_result_channel_survives_monkeypatching():
    code = (
        "import json, pickle, marshal, builtins, sys\n"
        "json.dumps = json.loads = lambda *a, **k: 'FORGED'\n"
        "pickle.dumps = marshal.dumps = lambda *a, **k: b'FORGED'\n"
        "builtins.print = lambda *a, **k: None\n"
        "builtins.repr = builtins.str = lambda *a, **k: 'FORGED'\n"
        "builtins.len = lambda *a: 0\n"
        "builtins.isinstance = lambda *a: True\n"
        "sys.stdout = sys.stderr = None\n"
        "sys.modules['json'] = None\n"
        "def add(a, b):\n    return a + b\n"
    )
    r = run(ADD, code)
    assert r.status == "passed", r.error
    assert run(ADD, code.replace("return a + b", "return a - b")).status == "failed"


# ---- containment ------------------------------------------------------------------------------------

def test_memory_limit():
    task = Task(task_id="t/m", prompt="", entry_point="f", public_tests=["assert f() == 1"], hidden_tests=[])
    r = run(task, "def f():\n    x = bytearray(600 * 2**20)\n    return 1\n", memory_mb=256)
    assert r.status == "memory", (r.status, r.error)
    assert run(task, "def f():\n    x = bytearray(100 * 2**20)\n    return 1\n", memory_mb=256).passed


def test_cpu_time_limit():
    task = Task(task_id="t/c", prompt="", entry_point="f", public_tests=["assert f() == 1"], hidden_tests=[])
    t0 = time.perf_counter()
    r = run(task, "def f():\n    while True:\n        pass\n", cpu_time_s=1.0, timeout_s=20.0)
    assert r.status == "timeout" and "CPU" in r.error
    assert time.perf_counter() - t0 < 15


def test_fork_bomb_is_bounded_and_reaped():
    token = f"{random.randint(10, 50)}.{random.randint(10**8, 10**9)}"
    code = (
        "import os\n"
        "def probe():\n"
        "    n = 0\n"
        "    for _ in range(200):\n"  # bounded even if the limit failed
        "        try:\n"
        "            pid = os.fork()\n"
        "        except OSError:\n"
        "            break\n"
        "        if pid == 0:\n"
        f"            os.execv('/bin/sleep', ['sleep', '{token}'])\n"
        "        n += 1\n"
        "    return n\n"
    )
    out = probe(code, max_procs=16)
    assert out.ok, out.error_message
    assert 0 < out.decoded() < 16
    deadline = time.time() + 5
    while _procs_with(token) and time.time() < deadline:
        time.sleep(0.1)
    assert _procs_with(token) == []


@pytest.mark.parametrize("setsid", [False, True], ids=["double-fork", "setsid"])
def test_daemons_die_with_the_program(setsid):
    token = f"{random.randint(10, 50)}.{random.randint(10**8, 10**9)}"
    code = (
        "import os, time\n"
        "def probe():\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        + ("        os.setsid()\n" if setsid else "")
        + "        if os.fork() == 0:\n"
        f"            os.execv('/bin/sleep', ['sleep', '{token}'])\n"
        "        os._exit(0)\n"
        "    os.waitpid(pid, 0)\n"
        "    time.sleep(0.3)\n"
        "    return 'spawned'\n"
    )
    out = probe(code)
    assert out.ok and out.decoded() == "spawned", out.error_message
    deadline = time.time() + 5
    while _procs_with(token) and time.time() < deadline:
        time.sleep(0.1)
    assert _procs_with(token) == []


def test_killing_parent_and_kill_minus_one_cost_only_their_own_verdict():
    code = SAFE_GUARD + (
        "import signal\n"
        "def probe():\n"
        "    _guard()\n"
        "    out = {}\n"
        "    for name, target in (('parent', os.getppid()), ('all', -1), ('group', 0)):\n"
        "        try:\n"
        "            os.kill(target, signal.SIGKILL)\n"
        "            out[name] = 'sent'\n"
        "        except OSError as e:\n"
        "            out[name] = type(e).__name__\n"
        "    servers = []\n"  # the fork servers are visible in the host's /proc: try to kill them
        "    for pid in os.listdir('/proc'):\n"
        "        if not pid.isdigit():\n"
        "            continue\n"
        "        try:\n"
        "            cmd = open('/proc/%s/cmdline' % pid, 'rb').read()\n"
        "        except OSError:\n"
        "            continue\n"
        "        if b'codeself.sandbox.server' in cmd:\n"
        "            try:\n"
        "                os.kill(int(pid), signal.SIGKILL)\n"
        "                servers.append('killed')\n"
        "            except OSError as e:\n"
        "                servers.append(type(e).__name__)\n"
        "    out['servers'] = sorted(set(servers))\n"
        "    return out\n"
    )
    jobs = [(GOOD, "", ["add(1, 2)"]), (code, "", ["probe()"]), (GOOD, "", ["add(2, 2)"]),
            (code, "", ["probe()"]), (GOOD, "", ["add(3, 2)"]), (GOOD, "", ["add(4, 2)"])]
    outs = evaluate_calls(jobs, workers=2)
    assert [o[0].decoded() for o in outs[0::2]] == [3, 4, 5] and outs[5][0].decoded() == 6
    for o in (outs[1][0], outs[3][0]):
        assert o.ok, o.error_message
        res = o.decoded()
        # no /proc in the program's view: the servers cannot even be found (and were they found, they
        # are outside its PID namespace and another uid)
        assert "killed" not in res["servers"] and set(res["servers"]) <= {"ProcessLookupError", "PermissionError"}, res
        assert res["parent"] in ("sent", "ProcessLookupError", "PermissionError")
    results = run_many([(ADD, GOOD)] * 4, workers=2, progress=False)
    assert all(r.passed for r in results)


def test_sigterm_ignored_still_times_out():
    code = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "def add(a, b):\n    time.sleep(60)\n")
    t0 = time.perf_counter()
    r = run(ADD, code, timeout_s=1.5)
    assert r.status == "timeout" and time.perf_counter() - t0 < 10


def test_segfault_is_a_crash_and_the_batch_continues():
    seg = "import ctypes\ndef add(a, b):\n    return ctypes.string_at(0)\n"
    results = run_many([(ADD, seg), (ADD, GOOD)], workers=1, progress=False)
    assert results[0].status == "crashed" and "signal 11" in results[0].error
    assert results[1].passed


def test_file_size_limit():
    code = ("def probe():\n    try:\n        with open('big', 'wb') as f:\n"
            "            f.write(b'x' * (3 * 2**20))\n        return 'wrote'\n"
            "    except OSError as e:\n        return e.errno\n")
    out = probe(code, config=SandboxConfig(max_file_mb=1))
    assert out.ok and out.decoded() == 27  # EFBIG


def test_network_is_blocked():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    code = (
        "import socket\n"
        "def probe():\n"
        "    out = []\n"
        f"    for host, port in (('127.0.0.1', {port}), ('1.1.1.1', 53), ('8.8.8.8', 443)):\n"
        "        try:\n"
        "            socket.create_connection((host, port), timeout=2).close()\n"
        "            out.append('connected')\n"
        "        except OSError as e:\n"
        "            out.append(type(e).__name__)\n"
        "    return out\n"
    )
    try:
        out = probe(code)
    finally:
        srv.close()
    assert out.ok, out.error_message
    assert "connected" not in out.decoded()


def test_scratch_dir_is_the_only_writable_place():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (
        "import os\n"
        "def probe():\n"
        "    res = {}\n"
        f"    for d in ('.', '/tmp', '/var/tmp', '/dev/shm', '/run/lock', '/', '/etc', {repo!r}, os.path.expanduser('~')):\n"
        "        p = os.path.join(d, 'codeself_probe_file')\n"
        "        try:\n"
        "            with open(p, 'w') as f:\n"
        "                f.write('x')\n"
        "            res[d] = 'written'\n"
        "            if d != '.':\n"
        "                os.unlink(p)\n"
        "        except OSError as e:\n"
        "            res[d] = type(e).__name__\n"
        "    res['cwd'] = os.getcwd()\n"
        "    res['uid'] = os.getuid()\n"
        "    return res\n"
    )
    out = probe(code)
    assert out.ok, out.error_message
    res = out.decoded()
    assert res["."] == "written"
    assert res["uid"] != 0
    # the program's scratch is /tmp itself (or /scratch when Python lives under /tmp, as in a CI clone
    # there): a tmpfs of its own, gone with it
    from codeself.sandbox.rootfs import scratch_path

    assert res["cwd"] == scratch_path(), res
    written = sorted(d for d, v in res.items() if v == "written" and d not in (".", res["cwd"]))
    assert written in ([], [os.path.expanduser("~")]), res
    for d in ("/var/tmp", "/dev/shm", "/run/lock", "/", "/etc"):
        assert res[d] != "written", (d, res)
    assert not os.path.exists(os.path.join(repo, "codeself_probe_file"))


def test_environment_is_scrubbed():
    os.environ["CODESELF_FAKE_SECRET"] = "hunter2-not-a-real-secret"
    try:
        code = (
            "import os\n"
            "def probe():\n"
            "    seen = dict(os.environ)\n"
            "    try:\n"
            "        proc = open('/proc/self/environ', 'rb').read().decode(errors='replace')\n"
            "    except OSError as e:\n"
            "        proc = type(e).__name__\n"
            "    try:\n"
            f"        parent = open('/proc/{os.getpid()}/environ', 'rb').read().decode(errors='replace')\n"
            "    except OSError as e:\n"
            "        parent = type(e).__name__\n"
            "    return [seen, proc, parent]\n"
        )
        # a fresh pool (its servers start after the secret was planted)
        out = probe(code, config=SandboxConfig(scratch_mb=65))
    finally:
        del os.environ["CODESELF_FAKE_SECRET"]
    assert out.ok, out.error_message
    seen, proc, parent = out.decoded()
    assert "CODESELF_FAKE_SECRET" not in seen and "hunter2" not in proc and "hunter2" not in parent
    assert set(seen) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE"}


def test_stdin_is_closed():
    code = ("import sys\ndef probe():\n    try:\n        input()\n        return 'read'\n"
            "    except EOFError:\n        return ['EOF', sys.stdin.read()]\n")
    out = probe(code)
    assert out.ok and out.decoded() == ["EOF", ""]


def test_huge_and_invalid_utf8_output_is_capped_and_survives():
    code = ("import sys, os\n"
            "sys.stdout.write('y' * (5 * 2**20))\nsys.stdout.flush()\n"
            "os.write(1, b'\\xff\\xfe bad utf8 \\xc3')\n"
            "os.write(2, b'\\x80' * 100)\n" + GOOD)
    r = run(ADD, code, output_cap_bytes=2**16)
    assert r.status == "passed", r.error
    assert len(r.stdout.encode("utf-8")) <= 2**16 * 3 and r.stdout.startswith("y" * 1000)
    assert r.stdout_truncated
    assert "\ufffd" in r.stderr


def test_hidden_paths_and_task_files_are_unreadable(tmp_path):
    secret = tmp_path / "tasks.secret.jsonl"
    secret.write_text('{"hidden": "assert add(2, 2) == 4"}\n')
    secret.chmod(0o644)
    tmp_path.chmod(0o755)
    code = (
        "def probe():\n"
        "    out = {}\n"
        f"    for p in ({str(secret)!r}, '/root/.bashrc', '/root'):\n"
        "        try:\n"
        "            import os\n"
        "            out[p] = os.listdir(p) if os.path.isdir(p) else open(p).read()\n"
        "        except OSError as e:\n"
        "            out[p] = type(e).__name__\n"
        "    import numbers, json\n"  # the Python installation stays importable
        "    return out\n"
    )
    out = probe(code, config=SandboxConfig(hide_paths=("/root", "/home", str(secret))))
    assert out.ok, out.error_message
    res = out.decoded()
    assert "assert" not in str(res[str(secret)])
    assert res["/root/.bashrc"] in ("FileNotFoundError", "PermissionError")
    # only the Python installation (bound back read-only) is visible under /root
    assert res["/root"] == "PermissionError" or set(res["/root"]) <= {".pyenv"}


def test_without_namespaces_grading_and_timeouts_still_work():
    """The non-namespace path (what a non-root user gets, here still with the uid drop)."""
    cfg = SandboxConfig(namespaces=False, timeout_s=2.0)
    results = run_many([(ADD, GOOD), (ADD, "def add(a, b):\n    return a - b\n"),
                        (ADD, "import time\ndef add(a, b):\n    time.sleep(30)\n")], config=cfg, progress=False)
    assert [r.status for r in results] == ["passed", "failed", "timeout"]
    assert {r.containment for r in results} == {"uid+rlimits+seccomp"}


def test_memory_of_the_whole_process_tree_is_bounded():
    # 6 x 200 MiB in separate processes (each within its own 512 MiB address-space limit) exceeds the
    # program's 512 MiB memory cgroup: the OOM killer stops it. (1.2 GB at most if that failed.)
    code = (
        "import os, time\n"
        "def probe():\n"
        "    kids = []\n"
        "    for _ in range(6):\n"
        "        pid = os.fork()\n"
        "        if pid == 0:\n"
        "            try:\n"
        "                x = b'x' * (200 << 20)\n"
        "                time.sleep(3)\n"
        "            finally:\n"
        "                os._exit(0)\n"
        "        kids.append(pid)\n"
        "    return [os.waitpid(k, 0)[1] for k in kids]\n"
    )
    out = probe(code, memory_mb=512)
    # either the OOM killer took some of the children (their status is SIGKILL) or the program itself
    # (reported as Memory, from the cgroup's oom_kill counter) — never "all six finished"
    if out.ok:
        assert any(st == 9 for st in out.decoded()), out
    else:
        assert out.error_type == "Memory", out


def test_forged_infra_error_and_malformed_records_fail_instead():
    # a program must not be able to turn its failure into an (excluded) infra_error, nor crash the
    # caller with records it cannot parse
    code = (
        "import os\n"
        "junk = ['{\"ev\": \"setup_failed\", \"et\": \"OSError\", \"em\": \"x\"}',\n"
        "        '[' * 100000 + ']' * 100000,\n"
        "        '{\"i\": 0, \"ok\": true, \"d\": \"soon\", \"v\": {\"$i\": \"zz\"}}',\n"
        "        '{\"i\": 1, \"ok\": true, \"v\": ' + '{\"$t\": [' * 5000 + ']}' * 5000 + '}']\n"
        "for fd in range(3, 16):\n"
        "    try:\n"
        "        os.write(fd, ('\\n'.join(junk) + '\\n').encode())\n"
        "    except OSError:\n"
        "        pass\n"
        "os._exit(70)\n"
    )
    r = run(ADD, code)
    assert r.status == "crashed" and not r.passed, (r.status, r.error)
    [outs] = evaluate_calls([(code, "", ["add(1, 2)"])])
    assert outs[0].error_type != "InfraError" and not outs[0].ok
