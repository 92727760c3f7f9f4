"""codeself.io: located errors, atomic writes, append-and-flush writers."""

import json

import pytest

from codeself.io import DataError, JsonlAppender, Problem, atomic_writer, read_jsonl


def test_read_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n{"a": 2\n{"a": 3}\n')
    with pytest.raises(DataError) as e:
        read_jsonl(p)
    assert e.value.problems[0].line == 2
    assert str(p) in str(e.value) and ":2:" in str(e.value)


def test_read_jsonl_skip_invalid_reports_every_bad_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'{"a": 1}\n[1, 2]\n\xff\xfe\n{"a": 4}\n')
    recs, probs = read_jsonl(p, skip_invalid=True)
    assert [ln for ln, _ in recs] == [1, 4]
    assert [pr.line for pr in probs] == [2, 3]
    assert "UTF-8" in probs[1].message


def test_missing_empty_and_directory(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="empty"):
        read_jsonl(tmp_path / "e.jsonl")
    with pytest.raises(DataError, match="directory"):
        read_jsonl(tmp_path)


def test_truncated_tail_is_tolerated_only_when_asked(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"a": 1}\n{"a": 2}\n{"a": ')
    with pytest.raises(DataError, match="truncated"):
        read_jsonl(p)
    recs, probs = read_jsonl(p, tolerate_truncated_tail=True)
    assert len(recs) == 2 and probs[0].line == 3 and probs[0].kind == "truncated"
    with pytest.raises(ValueError, match="kind"):
        Problem("f", 1, None, "m", kind="typo")


def test_atomic_writer_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.jsonl"
    with pytest.raises(RuntimeError), atomic_writer(target) as f:
        f.write("partial")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_appender_cuts_truncated_tail_and_keeps_valid_records(tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text('{"i": 0}\n{"i": 1}\n{"i": ')
    with JsonlAppender(p) as w:
        w.write({"i": 2})
    lines = p.read_text().splitlines()
    assert [json.loads(x)["i"] for x in lines] == [0, 1, 2]


def test_atomic_writer_gives_ordinary_permissions(tmp_path):
    import os

    target = tmp_path / "out.txt"
    with atomic_writer(target) as f:
        f.write("x")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask
