"""The one parse → run step (codeself.attempts): what runs, what does not, one status vocabulary."""

from __future__ import annotations

from helpers import EXAMPLES

from codeself.attempts import run_attempts, should_run
from codeself.parsing import PARSE_STATUSES, parse_code
from codeself.tasks import load_tasks


def test_parsable_completions_run_in_one_batch_and_the_rest_do_not():
    tasks = {t.task_id: t for t in load_tasks(EXAMPLES)}
    add = tasks["example/add"]
    items = [
        (add, f"```python\n{add.canonical_solution}```", None, 0),       # ok -> runs, passes
        (add, "    return a + b\n", add.prompt, 1),                      # continuation of the prompt
        (add, "```python\ndef add(a, b)\n    return a + b\n```", None, 2),  # syntax_error -> still runs
        (add, "", None, 3),                                              # empty -> not run
        (add, "I am not sure.", None, 4),                                # no_code -> not run
        (add, None, None, 5),                                            # no completion at all
    ]
    batch = run_attempts(items, tests="all", workers=2, timeout=5)
    assert len(batch) == len(items) and batch.sandbox_s > 0
    assert [a.parse_status for a in batch] == ["ok", "ok", "syntax_error", "empty", "no_code", "empty"]
    assert [a.executed for a in batch] == [True, True, True, False, False, False]
    assert batch.n_executed == 3
    assert [a.result.status for a in batch] == ["passed", "passed", "syntax_error", "syntax_error",
                                                 "syntax_error", "syntax_error"]
    # the sandbox itself reported the syntax error (phase and message come from compiling the program)
    assert batch[2].result.error and "not executed" not in batch[2].result.error
    # not run: the parser is named, the task's denominators are kept, the sample id is set
    for a in batch[3:]:
        assert "not executed: parser returned" in a.result.error
        assert a.result.hidden_total == len(add.hidden_tests) and not a.result.passed
    assert [a.result.sample_id for a in batch] == [0, 1, 2, 3, 4, 5]
    # one vocabulary: parse statuses are the parser's, Result statuses carry no parse_ prefix
    assert all(a.parse_status in PARSE_STATUSES for a in batch)
    assert not any(a.result.status.startswith("parse_") for a in batch)


def test_public_tests_only_and_the_run_rule():
    add = next(t for t in load_tasks(EXAMPLES) if t.task_id == "example/add")
    batch = run_attempts([(add, f"```python\n{add.canonical_solution}```", None)], tests="public", workers=1)
    r = batch[0].result
    assert r.passed and r.hidden_total == 0 and r.public_total == len(add.public_tests)
    assert not should_run(parse_code("", add)) and should_run(parse_code("def add(a, b):\n    return a - b\n", add))
