"""Prompt templates, the code parser and the generation backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeself.generation import (
    BackendError,
    GenerationRequest,
    get_backend,
    parse_code,
    resolve_model,
)
from codeself.io import DataError
from codeself.prompts import build_prompt
from codeself.tasks import Task, load_tasks

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "tasks.example.jsonl"


@pytest.fixture(scope="module")
def tasks():
    return load_tasks(EXAMPLES)


def _task() -> Task:
    return Task(
        task_id="t/add",
        prompt='def add(a, b):\n    """Return a + b."""\n',
        entry_point="add",
        public_tests=["assert add(1, 2) == 3"],
        hidden_tests=["assert add(40, 2) == 42  # HIDDEN-MARKER", "assert add(-1, 1) == 0"],
        canonical_solution="def add(a, b):\n    return a + b\n",
    )


@pytest.mark.parametrize("template", ["completion", "chat"])
@pytest.mark.parametrize("show", [False, True])
def test_hidden_tests_never_in_prompt(template, show, tasks):
    t = _task()
    p = build_prompt(t, template, show_public_tests=show)
    assert "HIDDEN-MARKER" not in p and "add(40, 2)" not in p and "add(-1, 1)" not in p
    assert ("add(1, 2) == 3" in p) == show
    for task in tasks:
        p = build_prompt(task, template, show_public_tests=show)
        for h in task.hidden_tests:
            assert h not in p


def test_completion_template_is_prompt_plus_starter():
    t = _task()
    assert build_prompt(t) == t.prompt
    t.starter_code = "    # start here\n"
    assert build_prompt(t, "completion") == t.prompt + t.starter_code
    # showing public tests keeps the prompt a valid Python prefix
    shown = build_prompt(t, "completion", show_public_tests=True)
    assert shown.endswith(t.prompt + t.starter_code)
    compile(shown + "    return a + b\n", "<p>", "exec")


def test_chat_template_has_instruction_and_fence():
    p = build_prompt(_task(), "chat", show_public_tests=True)
    assert p.startswith("Complete the following Python function")
    assert "```python\ndef add(a, b):" in p
    with pytest.raises(ValueError, match="unknown template"):
        build_prompt(_task(), "nope")


def _runs_correctly(code: str) -> bool:
    ns: dict = {}
    exec(code, ns)  # noqa: S102 - trusted test snippets
    return ns["add"](40, 2) == 42


@pytest.mark.parametrize(
    "completion,how",
    [
        ("```python\ndef add(a, b):\n    return a + b\n```", None),
        ("Sure! Here you go:\n\n```py\ndef add(a, b):\n    return a + b\n```\nThis adds two numbers.", None),
        ("```\ndef add(a, b):\n    return a + b\n```", None),
        ("```python\ndef add(a, b):\n    return a + b\n", None),  # unterminated fence (max tokens)
        ("def add(a, b):\n    return a + b\n", None),  # bare code
        ("    return a + b\n", "continuation"),  # continues the def line / docstring
        ("    return a + b\n\ndef other():\n    return 1 +\n", "continuation"),  # junk after the body
        ("    return a + b\n\n\nif __name__ == '__main__':\n    print(add(", "continuation"),
        ("The answer is simple.\ndef add(a, b):\n    return a + b\nThat's it, it returns the sum.", "prose"),
        ("```python\n    return a + b\n```", "combined"),  # fenced body only
        ("```text\nsome output\n```\n```python\ndef helper(x):\n    return x\n```\n```python\ndef add(a, b):\n    return helper(a) + b\n```",
         None),
    ],
)
def test_parse_ok(completion, how):
    t = _task()
    parsed = parse_code(completion, t)
    assert parsed.status == "ok", parsed
    assert _runs_correctly(parsed.code)
    if how == "continuation":
        assert parsed.code.startswith(t.prompt)
    if how == "prose":
        assert "That's it" not in parsed.code and "The answer" not in parsed.code


def test_parse_continues_an_open_def_line():
    t = _task()
    t.prompt = "def add(a, b"
    parsed = parse_code("):\n    return a + b\n", t)
    assert parsed.status == "ok" and parsed.code.startswith("def add(a, b):")
    assert _runs_correctly(parsed.code)


def test_parse_multiple_blocks_prefers_entry_point_block():
    comp = "```python\nimport math\n```\nthen\n```python\ndef add(a, b):\n    return a + b\n```"
    parsed = parse_code(comp, _task())
    assert parsed.status == "ok" and "def add" in parsed.code


@pytest.mark.parametrize(
    "completion,status",
    [
        ("", "empty"),
        ("   \n\t\n", "empty"),
        (None, "empty"),
        ("I cannot help with that request, sorry.", "no_code"),
        ("```python\ndef add(a, b)\n    return a + b\n```", "syntax_error"),
        ("    return a +* b\n", "syntax_error"),
    ],
)
def test_parse_failures_have_status_and_reason(completion, status):
    parsed = parse_code(completion, _task())
    assert parsed.status == status
    assert parsed.reason
    if status in ("empty", "no_code"):
        assert parsed.code is None
    else:
        assert parsed.code is not None  # the sandbox reports the syntax error on the best candidate


def test_parse_compiles_without_entry_point_is_ok_with_reason():
    parsed = parse_code("```python\ndef plus(a, b):\n    return a + b\n```", _task())
    assert parsed.status == "ok" and "entry point" in parsed.reason


def test_canonical_solutions_parse_ok(tasks):
    for t in tasks:
        parsed = parse_code(f"```python\n{t.canonical_solution}```", t)
        assert parsed.status == "ok" and parsed.code.strip() == t.canonical_solution.strip()


def test_static_backend_file_order(tmp_path, tasks):
    f = tmp_path / "static.jsonl"
    lines = [{"task_id": "example/add", "completion": f"c{i}"} for i in range(3)]
    lines.insert(1, {"task_id": "example/reverse_words", "completion": "r0"})
    f.write_text("".join(json.dumps(x) + "\n" for x in lines))
    b = get_backend("static", model=f)
    assert b.model_id == "static:static.jsonl" and len(b.model_hash) == 64
    out = b.generate([GenerationRequest("example/add", "p", n=2), GenerationRequest("example/reverse_words", "p")])
    assert out == [["c0", "c1"], ["r0"]]
    assert b.generate([GenerationRequest("example/add", "p", n=1, sample_ids=[2])]) == [["c2"]]
    with pytest.raises(BackendError, match="has 1 completion line"):
        b.generate([GenerationRequest("example/reverse_words", "p", n=2)])


def test_static_backend_bad_lines_named(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"task_id": "a", "completion": "x"}\n{"task_id": "b"}\n')
    with pytest.raises(DataError) as e:
        get_backend("static", model=f)
    assert "bad.jsonl:2" in str(e.value) and "completion" in str(e.value)


def test_mock_backend_deterministic_and_configurable(tasks):
    tm = {t.task_id: t for t in tasks}
    reqs = [GenerationRequest(t, "p", n=20) for t in tm]
    a = get_backend("mock", tasks=tm, correctness=0.5, seed=1).generate(reqs)
    b = get_backend("mock", tasks=tm, correctness=0.5, seed=1).generate(reqs)
    assert a == b
    all_right = get_backend("mock", tasks=tm, correctness=1.0).generate(reqs)
    all_wrong = get_backend("mock", tasks=tm, correctness=0.0).generate(reqs)
    for t, row in zip(tm.values(), all_right, strict=True):
        assert all(t.canonical_solution in c for c in row)
    for t, row in zip(tm.values(), all_wrong, strict=True):
        assert not any(t.canonical_solution in c for c in row)
    share = sum(tm[r.task_id].canonical_solution in c for r, row in zip(reqs, a, strict=True) for c in row) / 120
    assert 0.3 < share < 0.7


def test_get_backend_errors(tmp_path):
    with pytest.raises(BackendError, match="unknown backend"):
        get_backend("gpt9")
    with pytest.raises(BackendError, match="needs --model"):
        get_backend("static")
    with pytest.raises(BackendError, match="needs --model"):
        get_backend("hf")
    with pytest.raises(BackendError, match="does not exist"):
        resolve_model(tmp_path / "nope")
    (tmp_path / "m").mkdir()
    with pytest.raises(BackendError, match="no config.json"):
        resolve_model(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"]}))
    with pytest.raises(BackendError, match="not a causal language model"):
        resolve_model(tmp_path / "m")


def test_vllm_missing_is_clear():
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm installed")
    except ImportError:
        pass
    with pytest.raises(BackendError, match=r"pip install 'codeself\[vllm\]'"):
        get_backend("vllm", model="whatever")


def make_tiny_llama(path: Path, seed: int = 0) -> Path:
    """A randomly initialised ~50k-parameter Llama with a char-level tokenizer built by `tokenizers`."""
    import string

    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    chars = list(dict.fromkeys(string.printable))
    vocab = {t: i for i, t in enumerate(["<pad>", "<eos>", "<unk>", *chars])}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                      pad_token_id=0, eos_token_id=1, bos_token_id=None)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    pytest.importorskip("transformers")
    return make_tiny_llama(tmp_path_factory.mktemp("tiny") / "llama")


def test_hf_backend_batched_sampling(tiny_llama, tasks):
    b = get_backend("hf", model=tiny_llama, batch_size=4)
    assert b.model_id == str(tiny_llama) and len(b.model_hash) == 64
    reqs = [GenerationRequest(t.task_id, build_prompt(t), n=3, temperature=1.0, top_p=0.95,
                              max_new_tokens=8, seed=5) for t in tasks[:3]]
    out1 = b.generate(reqs)
    out2 = b.generate(reqs)
    assert [len(r) for r in out1] == [3, 3, 3]
    assert out1 == out2  # seeded
    assert all(isinstance(c, str) for row in out1 for c in row)
    assert len({c for row in out1 for c in row}) > 1  # sampling, not one repeated string
    greedy = b.generate([GenerationRequest(tasks[0].task_id, build_prompt(tasks[0]), n=2, max_new_tokens=8)])
    assert greedy[0][0] == greedy[0][1]
    # the raw completions go through the parser without crashing, whatever they are
    for t, row in zip(tasks[:3], out1, strict=True):
        for c in row:
            assert parse_code(c, t).status in ("ok", "empty", "no_code", "syntax_error")


def test_hf_chat_requests_use_the_tokenizer_chat_template(tiny_llama):
    from transformers import AutoTokenizer

    from codeself.generation import _render

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    req = GenerationRequest("t", "Write add.", chat=True)
    assert _render(tok, req) == "Write add."  # no chat template: the prompt as is
    tok.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}<assistant>"
    assert _render(tok, req) == "<user>Write add.<assistant>"
    assert _render(tok, GenerationRequest("t", "def f():", chat=False)) == "def f():"


def test_one_hf_generation_function_for_loaded_and_in_memory_models(tiny_llama, tasks):
    """A model in memory (a trainer's policy, the study's evaluation) generates exactly what the
    hf backend loaded from its directory generates: both are hf_generate."""
    from codeself.generation import HFBackend, hf_generate

    b = get_backend("hf", model=tiny_llama, batch_size=2, device="cpu")
    reqs = [GenerationRequest(t.task_id, build_prompt(t), n=2, temperature=1.0, max_new_tokens=6, seed=3,
                              sample_ids=[0, 1]) for t in tasks[:3]]
    loaded = b.generate(reqs)
    b.model.train()  # a policy mid-training: evaluated in eval mode, left in training mode
    mem = HFBackend.from_model(b.model, b.tokenizer, model_id="policy", batch_size=2)
    assert mem.generate(reqs) == loaded and b.model.training
    assert hf_generate(b.model, b.tokenizer, reqs, batch_size=2) == loaded
    # the batches are part of the seeding: other batches, other samples (documented, not an accident)
    assert hf_generate(b.model, b.tokenizer, reqs, batch_size=3) != loaded


def test_nano_is_resolved_above_generation(tmp_path, monkeypatch):
    """generation takes model directories; codeself.models resolves the name "nano" (built by
    training on first use), so generation never imports training."""
    import codeself.training.nano as nano
    from codeself import generation, models

    fake = tmp_path / "nano"
    fake.mkdir()
    (fake / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}')
    calls = []
    monkeypatch.setattr(nano, "ensure_nano", lambda *a, **k: calls.append(1) or str(fake))
    assert models.resolve_model("nano") == fake and calls == [1]
    assert models.resolve_model(fake) == fake and calls == [1]  # a path is only checked
    with pytest.raises(generation.BackendError, match="codeself.models"):
        generation.resolve_model("nano")
    with pytest.raises(generation.BackendError, match="codeself.models"):
        generation.get_backend("nano")
