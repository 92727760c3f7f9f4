"""The declared task family: determinism, splits held out by composition, tests that catch the slip."""

from __future__ import annotations

import pytest

from codeself.families import FAMILIES, arith_expression, generate_family


def _run(code: str, tests: list[str]) -> bool:
    ns: dict = {}
    try:
        exec(code, ns)
        for t in tests:
            exec(t, ns)
    except Exception:
        return False
    return True


def test_generate_is_deterministic_and_ids_unique():
    a = generate_family("arith", n=300, seed=3)
    b = generate_family("arith", n=300, seed=3)
    assert [t.to_dict() for t in a] == [t.to_dict() for t in b]
    assert len({t.task_id for t in a}) == 300 and len({t.canonical_solution for t in a}) == 300
    c = generate_family("arith", n=300, seed=4)
    assert [t.prompt for t in a] != [t.prompt for t in c]
    with pytest.raises(ValueError, match="compositions"):
        FAMILIES["arith"].generate(10, 1000, seed=0)


def test_heldout_split_is_by_composition():
    fam = FAMILIES["arith"]
    tasks = generate_family("arith", n=700, seed=0)
    train = {t.metadata["composition"] for t in tasks if t.split == "train"}
    test = {t.metadata["composition"] for t in tasks if t.split == "test"}
    assert train and test and not (train & test)
    assert test <= {"-".join(c) for c in fam.heldout}
    # the same compositions are held out for every seed
    other = {t.metadata["composition"] for t in generate_family("arith", n=700, seed=9) if t.split == "test"}
    assert other <= {"-".join(c) for c in fam.heldout}
    # and the held-out compositions include ones that need parentheses
    assert any(t.metadata["needs_parens"] for t in tasks if t.split == "test")


def test_canonical_passes_and_dropped_parentheses_fail():
    tasks = generate_family("arith", n=120, seed=1)
    needing = informative = 0
    for t in tasks:
        tests = t.public_tests + t.hidden_tests
        assert len(t.public_tests) == 2 and len(t.hidden_tests) == 3
        assert _run(t.canonical_solution, tests), t.task_id
        assert not any(h in t.prompt for h in t.hidden_tests)
        informative += len({x.rsplit("==", 1)[1] for x in tests}) >= 3   # no constant answer passes
        if t.metadata["needs_parens"]:
            needing += 1
            sig = t.prompt.splitlines()[0]
            slip = f"{sig}\n    return {arith_expression(t.metadata['steps'], parens=False)}\n"
            assert not _run(slip, tests), t.task_id
    assert needing > 10
    assert informative >= 0.97 * len(tasks)


def test_expression_rule():
    assert arith_expression(["add", "mul", "sub"]) == "(x+a)*b-c"
    assert arith_expression(["add", "mul", "sub"], parens=False) == "x+a*b-c"
    assert arith_expression(["mul", "add"]) == "x*a+b"
    assert arith_expression(["sub", "add", "floordiv", "mod"]) == "(x-a+b)//c%d"


def test_unknown_family_and_bad_n():
    with pytest.raises(KeyError, match="known: arith"):
        generate_family("nope", n=3, seed=0)
    with pytest.raises(ValueError):
        generate_family("arith", n=0, seed=0)


def test_explicit_split_sizes():
    tasks = FAMILIES["arith"].generate(50, 20, seed=2)
    assert sum(t.split == "train" for t in tasks) == 50
    assert sum(t.split == "test" for t in tasks) == 20


def test_default_protocol_is_pinned():
    """The held-out study's tasks must not move when the family gains features (runs stay comparable)."""
    import hashlib
    import json

    tasks = FAMILIES["arith"].generate(600, 155, seed=1)
    blob = json.dumps([[t.task_id, t.prompt, t.public_tests, t.hidden_tests, t.split] for t in tasks])
    assert hashlib.sha256(blob.encode()).hexdigest() == (
        "f2a28b6d09df178d94d603c9266a8cd372465252b931896946842ac6705b287a")


def test_validation_protocol_never_touches_heldout_compositions():
    from codeself.io import DataError

    fam = FAMILIES["arith"]
    assert len(fam.validation) == 120 and not fam.validation & fam.heldout
    train_pool, eval_pool = fam.pools("validation")
    assert set(eval_pool) == set(fam.validation) and len(train_pool) == 757 - 155 - 120
    assert not set(train_pool) & (fam.heldout | fam.validation)
    tasks = fam.generate(len(train_pool), len(eval_pool), seed=7, holdout="validation")
    steps = {t.task_id: tuple(t.metadata["steps"]) for t in tasks}
    assert not set(steps.values()) & fam.heldout
    assert {t.split for t in tasks} == {"train", "validation"}
    assert {steps[t.task_id] for t in tasks if t.split == "validation"} == set(fam.validation)
    assert not {steps[t.task_id] for t in tasks if t.split == "train"} & fam.validation
    # the default protocol still trains on the validation compositions (they are train compositions)
    default = {tuple(t.metadata["steps"]) for t in fam.generate(602, 0, seed=7)}
    assert default >= fam.validation
    with pytest.raises(ValueError, match="holdout"):
        fam.generate(1, 1, seed=0, holdout="dev")
    with pytest.raises(DataError, match="482 train compositions"):
        fam.generate(483, 0, seed=0, holdout="validation")
    mixed = generate_family("arith", n=100, seed=2, holdout="validation")
    assert {t.split for t in mixed} == {"train", "validation"}
    assert sum(t.split == "validation" for t in mixed) == round(100 * 120 / 602)
