"""Rollout generation (resume, no duplicates), strict/tolerant reading, the polars frame, Parquet
export, and the bad-input paths of `codeself rollouts generate/export`."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from helpers import EX_BASE, EX_CAND, EXAMPLES
from helpers import run_cli as _cli

from codeself.generation import get_backend, static_completions
from codeself.io import write_jsonl_atomic
from codeself.rollouts import (
    FRAME_COLUMNS,
    RolloutError,
    check_known_tasks,
    check_single_backend,
    frame_from_records,
    generate_rollouts,
    read_rollouts,
    rollouts_frame,
)
from codeself.tasks import load_task_map, load_tasks

pytestmark = pytest.mark.usefixtures("isolated_data_dir")


@pytest.fixture(scope="module")
def tasks():
    return load_tasks(EXAMPLES)


@pytest.fixture()
def static_file(tmp_path, tasks):
    f = tmp_path / "static.jsonl"
    write_jsonl_atomic(f, static_completions(tasks, 3, corrupt=0.5, seed=3))
    return f


def _run(tasks, backend, out, n=3, **kw):
    return generate_rollouts(tasks, backend, out, samples_per_task=n, workers=2, timeout=10, progress=False, **kw)


def test_generate_records_and_resume_never_duplicates(tmp_path, tasks, static_file):
    out = tmp_path / "r.jsonl"
    b = get_backend("static", model=static_file)
    s1 = _run(tasks[:3], b, out)
    assert s1["written"] == 9 and s1["skipped"] == 0
    s2 = _run(tasks, b, out)  # more tasks: only the missing ones are generated
    assert s2["written"] == 9 and s2["skipped"] == 9
    s3 = _run(tasks, b, out)
    assert s3["written"] == 0 and s3["skipped"] == 18
    recs = read_rollouts(out)
    assert len(recs) == 18
    assert len({(r["task_id"], r["sample_id"]) for r in recs}) == 18
    r = recs[0]
    for k in ("task_id", "sample_id", "backend", "model_id", "model_hash", "prompt", "completion", "code",
              "parse_status", "parse_reason", "result", "reward", "reward_components", "timings", "seed", "split"):
        assert k in r
    assert r["backend"] == "static" and set(r["timings"]) == {"generate_s", "sandbox_s"}
    # static: sample k of a task is its k-th line, so the record's completion is that line
    lines = [json.loads(x) for x in static_file.read_text().splitlines()]
    per_task = {}
    for x in lines:
        per_task.setdefault(x["task_id"], []).append(x["completion"])
    for rec in recs:
        assert rec["completion"] == per_task[rec["task_id"]][rec["sample_id"]]
        # canonical completions pass; rewards follow the result
        assert (rec["reward"] == 1.0) == rec["result"]["passed"]


def test_resume_after_killed_writer(tmp_path, tasks, static_file):
    out = tmp_path / "r.jsonl"
    b = get_backend("static", model=static_file)
    _run(tasks, b, out)
    full = out.read_text().splitlines(keepends=True)
    before = {(json.loads(x)["task_id"], json.loads(x)["sample_id"]): json.loads(x)["completion"] for x in full}
    # a killed run: 7 complete records and half of the 8th
    out.write_text("".join(full[:7]) + full[7][: len(full[7]) // 2])
    with pytest.warns(UserWarning, match="truncated"):
        assert len(read_rollouts(out)) == 7
    s = _run(tasks, b, out)
    assert s["written"] == 18 - 7 and s["skipped"] == 7
    recs = read_rollouts(out)
    assert len(recs) == 18 and len({(r["task_id"], r["sample_id"]) for r in recs}) == 18
    assert {(r["task_id"], r["sample_id"]): r["completion"] for r in recs} == before


def test_resume_with_other_settings_refuses(tmp_path, tasks, static_file):
    out = tmp_path / "r.jsonl"
    b = get_backend("static", model=static_file)
    _run(tasks[:2], b, out, n=1)
    before = out.read_bytes()
    with pytest.raises(RolloutError) as e:
        _run(tasks[:2], b, out, n=1, seed=9)
    assert "r.jsonl:1" in str(e.value) and "'seed'" in str(e.value)
    assert out.read_bytes() == before


def test_mock_backend_rollouts_and_parse_failures(tmp_path, tasks):
    tm = {t.task_id: t for t in tasks}
    b = get_backend("mock", tasks=tm, correctness=0.5, garbage=0.3, seed=2)
    out = tmp_path / "m.jsonl"
    _run(tasks, b, out, n=4)
    recs = read_rollouts(out)
    no_code = [r for r in recs if r["parse_status"] == "no_code"]
    assert no_code, "garbage completions should produce parse failures"
    for r in no_code:
        assert r["code"] is None and r["reward"] == -1.0
        assert r["result"]["status"] == "syntax_error" and "parser returned no_code" in r["result"]["error"]
        assert r["timings"]["sandbox_s"] == 0.0


def test_hf_backend_full_loop(tmp_path, tasks, capsys):
    from test_generation import make_tiny_llama

    model = make_tiny_llama(tmp_path / "llama")
    b = get_backend("hf", model=model)
    out = tmp_path / "hf.jsonl"
    s = _run(tasks[:2], b, out, n=2, max_new_tokens=16, temperature=1.0)
    assert s["written"] == 4
    recs = read_rollouts(out)
    assert {r["backend"] for r in recs} == {"hf"} and all(r["model_hash"] == b.model_hash for r in recs)
    assert all(r["parse_status"] in ("ok", "empty", "no_code", "syntax_error") for r in recs)
    assert all(r["result"]["status"] != "infra_error" for r in recs)
    # the same through the CLI (train-split tasks only), then evaluate
    tasks_train = tmp_path / "tasks.jsonl"
    tasks_train.write_text("".join(ln for ln in EXAMPLES.read_text().splitlines(keepends=True) if '"test"' not in ln))
    cli_out = tmp_path / "hf_cli.jsonl"
    code, so, se = _cli(["rollouts", "generate", "--tasks", str(tasks_train), "--backend", "hf", "--model", str(model),
                         "-n", "2", "--max-new-tokens", "8", "--device", "cpu", "--output", str(cli_out),
                         "--no-progress", "--limit", "2"], capsys)
    assert code == 0, se
    assert "wrote 4 record(s)" in so and "temperature" not in se
    assert {r["temperature"] for r in read_rollouts(cli_out)} == {0.8}  # several samples: sampling by default
    code, so, se = _cli(["rollouts", "evaluate", "-r", str(cli_out), "-o", str(tmp_path / "ev.md")], capsys)
    assert code == 0, se


def test_read_rollouts_bad_lines_named_and_valid_kept(tmp_path):
    src = EX_BASE.read_text().splitlines(keepends=True)
    bad = tmp_path / "bad.jsonl"
    rec = json.loads(src[2])
    rec["result"]["status"] = "exploded"
    rec2 = json.loads(src[3])
    del rec2["sample_id"]
    bad.write_text(src[0] + src[1] + json.dumps(rec) + "\n" + json.dumps(rec2) + "\n" + "{not json\n" + "".join(src[5:]))
    with pytest.raises(RolloutError) as e:
        read_rollouts(bad)
    msg = str(e.value)
    assert "bad.jsonl:3" in msg and "result.status" in msg
    assert "bad.jsonl:4" in msg and "sample_id" in msg
    assert "bad.jsonl:5" in msg and "malformed JSON" in msg
    problems = []
    kept = read_rollouts(bad, skip_invalid=True, problems=problems)
    assert len(kept) == len(src) - 3 and len(problems) == 3


def test_read_rollouts_duplicates_and_empty(tmp_path):
    lines = EX_BASE.read_text().splitlines(keepends=True)
    dup = tmp_path / "dup.jsonl"
    dup.write_text(lines[0] + lines[1] + lines[0])
    with pytest.raises(RolloutError, match=r"dup.jsonl:3.*duplicate sample 0 of task \(first at line 1\)"):
        read_rollouts(dup)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(Exception, match="empty"):
        read_rollouts(empty)


def test_mixed_backends_and_unknown_tasks(tmp_path):
    a = read_rollouts(EX_BASE, with_lines=True)
    b = read_rollouts(EX_CAND, with_lines=True)
    assert check_single_backend(a, EX_BASE)["backend"] == "static"
    with pytest.raises(RolloutError, match="mixes 2 backends/models"):
        check_single_backend(a + b, "mixed.jsonl")
    tmap = load_task_map(EXAMPLES)
    check_known_tasks(a, tmap, EX_BASE)
    del tmap["example/add"]
    with pytest.raises(RolloutError) as e:
        check_known_tasks(a, tmap, EX_BASE)
    assert "task example/add" in str(e.value) and "unknown task id" in str(e.value) and ":1:" in str(e.value)


def test_frame_fast_path_equals_strict_path(tmp_path):
    fast = rollouts_frame(EX_BASE)
    slow = frame_from_records(read_rollouts(EX_BASE))
    assert fast.columns == list(FRAME_COLUMNS)
    assert fast.equals(slow)
    assert fast.height == 24 and fast["passed"].sum() == sum(r["result"]["passed"] for r in read_rollouts(EX_BASE))


def test_frame_truncated_tail_keeps_valid_and_reports(tmp_path):
    data = EX_BASE.read_bytes()
    t = tmp_path / "t.jsonl"
    t.write_bytes(data[: len(data) - 200])
    problems = []
    with pytest.warns(UserWarning):
        df = rollouts_frame(t, problems=problems)
    assert df.height == 23 and any("truncated" in p.message for p in problems)


def test_frame_bad_middle_line_is_located(tmp_path):
    lines = EX_BASE.read_text().splitlines(keepends=True)
    t = tmp_path / "t.jsonl"
    t.write_text("".join(lines[:4]) + '{"task_id": "x"\n' + "".join(lines[4:]))
    with pytest.raises(Exception) as e:
        rollouts_frame(t)
    assert "t.jsonl:5" in str(e.value)


def test_cli_generate_and_export(tmp_path, capsys, static_file):
    tasks_train = tmp_path / "tasks.jsonl"
    tasks_train.write_text("".join(ln for ln in EXAMPLES.read_text().splitlines(keepends=True) if '"test"' not in ln))
    out = tmp_path / "r.jsonl"
    argv = ["rollouts", "generate", "--tasks", str(tasks_train), "--backend", "static", "--model", str(static_file),
            "--samples-per-task", "3", "--output", str(out), "--seed", "0", "--workers", "2", "--no-progress"]
    code, so, se = _cli(argv, capsys)
    assert code == 0, se
    assert "wrote 12 record(s)" in so
    code, so, _ = _cli(argv, capsys)
    assert code == 0 and "wrote 0 record(s), skipped 12" in so
    pq = tmp_path / "r.parquet"
    code, so, _ = _cli(["rollouts", "export", "--rollouts", str(out), "--output", str(pq)], capsys)
    assert code == 0 and pl.read_parquet(pq).height == 12


def test_cli_generate_refuses_test_split_without_final(tmp_path, capsys, static_file):
    out = tmp_path / "r.jsonl"
    argv = ["rollouts", "generate", "--tasks", str(EXAMPLES), "--backend", "static", "--model", str(static_file),
            "-n", "1", "--output", str(out), "--no-progress", "--workers", "2"]
    code, _, se = _cli(argv, capsys)
    assert code == 1 and "locked test split" in se and "--final" in se
    assert not out.exists()
    code, _, se = _cli(argv + ["--final"], capsys)
    assert code == 0, se
    from codeself.evaluation import read_test_access_log

    log = read_test_access_log()
    assert len(log) == 1 and log[0]["action"] == "generate" and log[0]["n_tasks"] == 2
    assert log[0]["run"] == str(out.resolve()) and log[0]["who"]


def test_cli_generate_static_exhausted_is_clear(tmp_path, capsys, static_file):
    out = tmp_path / "r.jsonl"
    code, _, se = _cli(["rollouts", "generate", "--tasks", str(EXAMPLES), "--backend", "static", "--model",
                        str(static_file), "-n", "5", "--output", str(out), "--final", "--no-progress"], capsys)
    assert code == 1 and "6 task(s) have fewer than 5 completion line(s)" in se and "nothing was generated" in se
    assert not out.exists() or out.stat().st_size == 0


def test_cli_generate_corrupt_existing_output_untouched(tmp_path, capsys, static_file):
    out = tmp_path / "r.jsonl"
    shutil.copy(EX_BASE, out)
    with open(out, "a") as f:
        f.write("garbage line\n")
    before = out.read_bytes()
    code, _, se = _cli(["rollouts", "generate", "--tasks", str(EXAMPLES), "--backend", "static", "--model",
                        str(static_file), "-n", "1", "--output", str(out), "--final", "--no-progress"], capsys)
    assert code == 1 and "r.jsonl:25" in se
    assert out.read_bytes() == before


def test_cli_exclude_tasks(tmp_path, capsys, static_file):
    audit = tmp_path / "audit.jsonl"
    audit.write_text(json.dumps({"task_id": "example/add", "status": "audited", "weak": True}) + "\n"
                     + json.dumps({"task_id": "example/reverse_words", "status": "audited", "weak": False}) + "\n")
    out = tmp_path / "r.jsonl"
    code, so, se = _cli(["rollouts", "generate", "--tasks", str(EXAMPLES), "--backend", "static", "--model",
                         str(static_file), "-n", "1", "--output", str(out), "--final", "--no-progress",
                         "--exclude-tasks", str(audit)], capsys)
    assert code == 0, se
    assert "dropped 1 weak task(s)" in se
    assert "example/add" not in {r["task_id"] for r in read_rollouts(out)}


def test_frame_cache_incremental_and_invalidated(tmp_path, tasks, static_file):
    from codeself.rollouts import frame_cache_dir

    out = tmp_path / "r.jsonl"
    b = get_backend("static", model=static_file)
    _run(tasks[:3], b, out)
    f1 = rollouts_frame(out)
    assert f1.height == 9 and len(list(frame_cache_dir().glob("*.parquet"))) == 1
    assert rollouts_frame(out).equals(f1)  # cache hit
    _run(tasks, b, out)  # resume appends 9 more
    f2 = rollouts_frame(out)
    assert f2.height == 18
    assert f2.equals(frame_from_records(read_rollouts(out)))
    # rewrite the file (different content, same path): the cache must not be trusted
    recs = out.read_text().splitlines(keepends=True)
    out.write_text("".join(reversed(recs[:10])))
    f3 = rollouts_frame(out)
    assert f3.height == 10 and f3.equals(frame_from_records(read_rollouts(out)))
    # a duplicate appended after caching is located by the strict reader, not silently kept
    with open(out, "a") as fh:
        fh.write(recs[0])
    with pytest.raises(RolloutError, match="duplicate sample"):
        rollouts_frame(out)
    assert rollouts_frame(EX_BASE, cache=False).equals(rollouts_frame(EX_BASE))


def test_generate_keeps_the_parquet_analysis_frame_current(tmp_path, tasks, static_file):
    import json

    from codeself.rollouts import frame_cache_dir

    out = tmp_path / "r.jsonl"
    _run(tasks[:2], get_backend("static", model=static_file), out)
    metas = list(frame_cache_dir().glob("*.json"))
    assert len(metas) == 1 and len(list(frame_cache_dir().glob("*.parquet"))) == 1
    assert json.loads(metas[0].read_text())["end"] == out.stat().st_size
    assert rollouts_frame(out).equals(frame_from_records(read_rollouts(out)))


def test_bench_rollouts_small(tmp_path):
    import os

    from codeself.bench.rollouts import bench_rollouts

    env = dict(os.environ)
    r = bench_rollouts(300)
    assert dict(os.environ) == env  # the bench keeps its frame cache in its own temp dir, no env change
    assert r["frames_equal"] and r["n"] == 300
    assert r["baseline_records_per_s"] > 0 and r["cold_records_per_s"] > 0


def test_head_first_layout_and_reader_paths_agree(tmp_path, tasks, static_file):
    from codeself.rollouts import HEAD_MARKER
    from codeself.rollouts.frame import _fast_frame, _head_frame

    out = tmp_path / "r.jsonl"
    _run(tasks, get_backend("static", model=static_file), out, n=2)
    first = out.read_text().splitlines()[0]
    assert first.index('"result"') < first.index('"prompt"') and HEAD_MARKER in first
    strict = frame_from_records(read_rollouts(out))
    assert _head_frame(out).equals(strict)
    # the same records with keys in another order: no marker → the full NDJSON reader, same frame
    shuffled = tmp_path / "s.jsonl"
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    shuffled.write_text("".join(json.dumps(dict(reversed(list(r.items())))) + "\n" for r in rows))
    assert _head_frame(shuffled) is None
    assert _fast_frame(shuffled).equals(strict)
    assert rollouts_frame(shuffled, cache=False).equals(strict)


def test_version1_layout_uses_full_reader(tmp_path):
    """A file in the old key order (result.tests before the result's timings; schema v1) must not be
    read from its heads (the fields after the cut would silently be null)."""
    from codeself.rollouts.frame import _head_frame

    rows = read_rollouts(EX_BASE)
    old = tmp_path / "v1.jsonl"
    lines = []
    for r in rows:
        res = r["result"]
        res = {**{k: res[k] for k in ("task_id", "passed", "status", "sample_id", "phase", "public_passed",
                                       "public_total", "hidden_passed", "hidden_total", "tests")},
               **{k: v for k, v in res.items() if k != "tests"}}
        v1 = {"schema": "codeself.rollout/1", "task_id": r["task_id"], "sample_id": r["sample_id"],
              "backend": r["backend"], "model_id": r["model_id"], "model_hash": r["model_hash"],
              "prompt": r["prompt"], "result": res, "reward": r["reward"], "timings": r["timings"],
              "split": r["split"], "seed": r["seed"], "temperature": r["temperature"],
              "parse_status": r["parse_status"]}
        lines.append(json.dumps(v1) + "\n")
    old.write_text("".join(lines))
    assert _head_frame(old) is None
    assert rollouts_frame(old, cache=False).equals(frame_from_records(read_rollouts(old)))
    assert rollouts_frame(old, cache=False)["reward"].null_count() == 0
