"""Generation: model backends behind one interface, and the one Hugging Face generation function
(prompt templates live in the leaf :mod:`codeself.prompts`, completion → code in the leaf
:mod:`codeself.parsing`; ``parse_code`` is re-exported here for existing importers).

Backends (``get_backend(name, model=…)``)
    ``hf``     any local Hugging Face causal-LM directory; batched sampling (temperature, top_p,
               max_new_tokens, seed) on CPU or GPU through ``hf_generate``, the one HF
               generation function (also behind every in-memory evaluation in training).
    ``nano``   ``hf`` on codeself-nano (``codeself.training.nano.ensure_nano``; built on first use).
    ``vllm``   vLLM (GPU extra ``codeself[vllm]``), imported lazily; a clear error without it.
    ``static`` ``model=FILE``: replay ``{"task_id", "completion"}`` lines; the lines of one task are
               used in file order, one per sample (sample ``k`` of a task is its ``k``-th line).
               A solutions file (``{"task_id", "code"}`` lines, :mod:`codeself.solutions`) works
               too: each program is replayed as a fenced ```python block, so it parses to itself.
    ``mock``   deterministic, configurable correctness. A test aid only; never a default.

Reproducibility: ``static`` and ``mock`` are deterministic per ``(task_id, sample_id)``; ``hf``
with ``temperature=0`` is greedy and deterministic; with sampling, a batch is seeded from
``(seed, task ids, first sample id)`` so the same command gives the same samples on the same
torch build, but a resumed run re-seeds its batches (statistically equivalent, not bitwise equal).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeself.io import DataError, Problem, read_jsonl, sha256_file, sha256_text
from codeself.parsing import PARSE_STATUSES, ParsedCode, parse_code  # noqa: F401  (re-exported)
from codeself.tasks import Task

BACKENDS = ("hf", "nano", "vllm", "static", "mock")


class BackendError(ValueError):
    """A backend cannot be built or used (missing model, missing extra, exhausted static file)."""


# ---------------------------------------------------------------------------------------------
# requests and backends
# ---------------------------------------------------------------------------------------------


@dataclass
class GenerationRequest:
    """Ask for ``n`` completions of ``prompt`` for task ``task_id``.

    ``sample_ids`` (default ``range(n)``) names the samples; deterministic backends key on them so
    a resumed run asks for exactly the samples still missing.
    """

    task_id: str
    prompt: str
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0
    sample_ids: list[int] | None = None
    chat: bool = False  # the prompt is a chat-template user message (hf applies the tokenizer's chat template)

    def ids(self) -> list[int]:
        ids = list(self.sample_ids) if self.sample_ids is not None else list(range(self.n))
        if len(ids) != self.n:
            raise ValueError(f"request for {self.task_id}: n={self.n} but {len(ids)} sample_ids")
        return ids


class Backend:
    """One interface: ``generate(requests) -> list[list[str]]`` (``n`` completions per request)."""

    name: str = "base"
    model_id: str = ""
    model_hash: str = ""

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:  # pragma: no cover
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "model_id": self.model_id, "model_hash": self.model_hash}


def _seed_int(*parts: Any) -> int:
    h = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "little") & 0x7FFFFFFF


class MockBackend(Backend):
    """Deterministic fake model — a TEST AID, never a default.

    For sample ``k`` of task ``t`` it returns the task's canonical solution (in a fenced block)
    with probability ``correctness`` (a float, or a dict task_id -> float), decided by a hash of
    ``(seed, t, k)``; otherwise a wrong program (``return None`` body) — or, with ``garbage``
    share, prose without code. Needs the tasks (for canonical solutions).
    """

    name = "mock"

    def __init__(self, tasks: dict[str, Task] | Sequence[Task], correctness: float | dict[str, float] = 0.5,
                 garbage: float = 0.0, seed: int = 0):
        self.tasks = tasks if isinstance(tasks, dict) else {t.task_id: t for t in tasks}
        self.correctness = correctness
        self.garbage = garbage
        self.seed = seed
        cfg = {"correctness": correctness, "garbage": garbage, "seed": seed}
        self.model_id = "mock:" + json.dumps(cfg, sort_keys=True)
        self.model_hash = sha256_text(self.model_id)

    def _one(self, task_id: str, k: int) -> str:
        task = self.tasks.get(task_id)
        if task is None:
            raise BackendError(f"mock backend: unknown task {task_id!r}")
        p = self.correctness.get(task_id, 0.0) if isinstance(self.correctness, dict) else self.correctness
        u = random.Random(_seed_int(self.seed, task_id, k)).random()
        if u < p and task.canonical_solution:
            return f"Here is the solution:\n```python\n{task.canonical_solution}```\n"
        if u > 1 - self.garbage:
            return "I am not sure how to solve this task."
        return f"```python\n{task.prompt}    return None\n```"

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        return [[self._one(r.task_id, k) for k in r.ids()] for r in requests]


class StaticBackend(Backend):
    """Replay completions from a JSONL file of ``{"task_id", "completion"}`` lines.

    The lines of one task are used in file order: sample ``k`` of a task is its ``k``-th line
    (0-based). Asking for more samples than a task has lines is an error naming the file and task.
    Extra fields on a line are ignored. A line with ``code`` (a string) and no ``completion`` — a
    solutions file — is replayed as ``"```python\n" + code + "```\n"``.
    """

    name = "static"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        records, _ = read_jsonl(self.path)
        self.lines: dict[str, list[tuple[int, str]]] = {}
        problems = []
        for line, obj in records:
            tid, comp = obj.get("task_id"), obj.get("completion")
            if "completion" not in obj and isinstance(obj.get("code"), str):
                code = obj["code"]
                comp = f"```python\n{code}{'' if code.endswith(chr(10)) or not code else chr(10)}```\n"
            if not isinstance(tid, str) or not tid:
                problems.append(Problem(str(path), line, "task_id", "missing or not a string"))
                continue
            if not isinstance(comp, str):
                problems.append(Problem(str(path), line, "completion",
                                        "missing or not a string (or a solutions line's code)", tid))
                continue
            self.lines.setdefault(tid, []).append((line, comp))
        if problems:
            raise DataError(problems)
        self.model_id = f"static:{self.path.name}"
        self.model_hash = sha256_file(self.path)

    def available(self, task_id: str) -> int:
        return len(self.lines.get(task_id, []))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        out = []
        for r in requests:
            have = self.lines.get(r.task_id, [])
            row = []
            for k in r.ids():
                if k >= len(have):
                    raise BackendError(
                        f"{self.path}: task {r.task_id!r} has {len(have)} completion line(s); "
                        f"sample {k} was requested"
                    )
                row.append(have[k][1])
            out.append(row)
        return out


def _dir_hash(path: Path) -> str:
    """sha256 over (relative name, size, sha256) of every file in a model directory."""
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path).as_posix()
        if rel.startswith(".") or "/." in rel:
            continue
        h.update(f"{rel}\0{f.stat().st_size}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def resolve_model(spec: str | os.PathLike | None) -> Path:
    """Turn ``"nano"`` or a path into a local causal-LM directory (clear ``BackendError`` if not)."""
    if spec is None:
        raise BackendError("no model given: pass --model nano or --model PATH (a local Hugging Face model directory)")
    if str(spec) == "nano":  # built by codeself.training: resolved above this layer
        raise BackendError("'nano' names a model that is built on first use: resolve it with "
                           "codeself.models.resolve_model('nano') (or codeself.models.get_backend)")
    p = Path(spec)
    if not p.exists():
        raise BackendError(f"model directory {p} does not exist")
    if not p.is_dir():
        raise BackendError(f"{p} is a file; expected a Hugging Face model directory (with config.json)")
    cfg_path = p / "config.json"
    if not cfg_path.is_file():
        raise BackendError(f"{p} has no config.json: not a Hugging Face model directory")
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise BackendError(f"{cfg_path}: malformed JSON: {e.msg}") from e
    archs = cfg.get("architectures") or []
    if archs and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        raise BackendError(f"{p} is not a causal language model (architectures: {archs})")
    return p


class HFBackend(Backend):
    """Any local Hugging Face causal-LM directory via ``transformers`` (CPU or GPU).

    Generation is :func:`hf_generate` (batching, tokenisation and seeding are described there);
    ``from_model`` wraps a model already in memory.
    """

    name = "hf"

    def __init__(self, model: str | os.PathLike, *, device: str = "auto", batch_size: int = 8,
                 dtype: str | None = None, name: str = "hf"):
        self.path = resolve_model(model)  # a wrong path fails here, before torch is imported (seconds)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = name
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.batch_size = max(1, int(batch_size))
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        except Exception as e:
            raise BackendError(f"{self.path}: cannot load a tokenizer: {e}") from e
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        kwargs: dict[str, Any] = {}
        if dtype:
            kwargs["dtype"] = getattr(torch, dtype)
        try:
            self.model = AutoModelForCausalLM.from_pretrained(self.path, **kwargs).to(device)
        except Exception as e:
            raise BackendError(f"{self.path}: cannot load a causal LM: {e}") from e
        self.model.eval()
        card = self.path / "codeself_nano.json"
        self.model_id = ("nano:" if card.is_file() and name == "nano" else "") + str(self.path)
        self.model_hash = _dir_hash(self.path)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, model_id: str, model_hash: str = "", name: str = "hf",
                   batch_size: int = 8) -> HFBackend:
        """An ``hf`` backend around a model already in memory (a trainer's policy, the study's
        checkpoints): the same generation (:func:`hf_generate`) as a backend loaded from a directory."""
        self = cls.__new__(cls)
        self.path = None
        self.name = name
        self.model, self.tokenizer = model, tokenizer
        self.device = str(getattr(model, "device", "cpu"))
        self.batch_size = max(1, int(batch_size))
        self.model_id, self.model_hash = model_id, model_hash
        return self

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:
        return hf_generate(self.model, self.tokenizer, requests, batch_size=self.batch_size, device=self.device)


def _render(tokenizer: Any, r: GenerationRequest) -> str:
    """The text fed to the model: a chat request goes through the tokenizer's chat template when it
    has one (instruction-tuned models); otherwise the prompt is used as is."""
    if r.chat and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": r.prompt}],
                                             add_generation_prompt=True, tokenize=False)
    return r.prompt


def hf_generate(model: Any, tokenizer: Any, requests: Sequence[GenerationRequest], *, batch_size: int = 8,
                device: str | None = None, capture: list[Any] | None = None) -> list[list[str]]:
    """The one Hugging Face generation function: ``n`` completions per request.

    Used by the ``hf``/``nano`` backends (``codeself rollouts generate``) and by every in-memory
    evaluation (the study's held-out evaluation, the trainers' monitoring), so a number measured in
    training is reproduced by the documented flow with the same settings.

    - Requests with identical sampling settings are grouped in input order, ``batch_size``
      requests (each with ``n`` return sequences) per ``model.generate`` call.
    - Tokenisation: the tokenizer's defaults (special tokens as the model expects), left padding
      (a pad token falls back to eos); only the newly generated tokens are decoded, specials skipped.
    - Seeding: each group seeds torch's global RNG with ``sha256(seed, the group's task ids, the
      first sample id)`` before generating, so the same requests in the same batches give the same
      samples on the same torch build.
    - ``temperature == 0`` is greedy (decoded once, repeated ``n`` times); otherwise sampling with
      ``temperature``, ``top_p`` and ``top_k=0``.
    - ``capture`` (a trainer's hook): a list that receives, per request, the list of its returned
      sequences as ``(prompt_ids, completion_ids)`` token-id lists — the prompt without padding, the
      completion up to and including its first eos (no padding) — the very tokens sampled, so a
      trainer need not re-tokenise the decoded text.
    The model is put in eval mode for the call and restored afterwards.
    """
    import torch

    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    device = device or str(getattr(model, "device", "cpu"))
    batch_size = max(1, int(batch_size))
    out: list[list[str]] = [[] for _ in requests]
    order = list(range(len(requests)))

    # group requests with identical sampling settings
    def key(i: int):
        r = requests[i]
        return (r.n, r.temperature, r.top_p, r.max_new_tokens)

    order.sort(key=key)
    groups: list[list[int]] = []
    for i in order:
        if groups and key(groups[-1][0]) == key(i) and len(groups[-1]) < batch_size:
            groups[-1].append(i)
        else:
            groups.append([i])
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        for g in groups:
            r0 = requests[g[0]]
            seed = _seed_int(r0.seed, *[requests[i].task_id for i in g], r0.ids()[0] if r0.n else 0)
            torch.manual_seed(seed)
            prompts = [_render(tokenizer, requests[i]) for i in g]
            enc = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
            sampling = r0.temperature > 0
            per = r0.n if sampling else 1  # greedy is deterministic: decode once, repeat n times
            gen_kwargs: dict[str, Any] = {
                "max_new_tokens": r0.max_new_tokens,
                "num_return_sequences": per,
                "pad_token_id": tokenizer.pad_token_id,
            }
            if sampling:
                gen_kwargs.update(do_sample=True, temperature=r0.temperature, top_p=r0.top_p, top_k=0)
            else:
                gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            if tokenizer.eos_token_id is not None:
                gen_kwargs["eos_token_id"] = tokenizer.eos_token_id
            with torch.no_grad():
                seqs = model.generate(**enc, **gen_kwargs)
            new = seqs[:, enc["input_ids"].shape[1]:]
            texts = tokenizer.batch_decode(new, skip_special_tokens=True)
            for j, i in enumerate(g):
                out[i] = texts[j * per:(j + 1) * per] if sampling else [texts[j]] * r0.n
            if capture is not None:
                _capture(capture, g, enc, new, per, sampling, r0.n, tokenizer)
    finally:
        if was_training:
            model.train()
    return out


def _capture(capture: list[Any], group: list[int], enc: Any, new: Any, per: int, sampling: bool, n: int,
             tokenizer: Any) -> None:
    """Fill ``capture[i]`` (see :func:`hf_generate`) for the requests of one generated group."""
    while len(capture) < max(group) + 1:
        capture.append(None)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    for j, i in enumerate(group):
        row = enc["input_ids"][j][enc["attention_mask"][j].bool()].tolist()
        seqs = []
        for k in range(per):
            ids = new[j * per + k].tolist()
            if eos is not None and eos in ids:
                ids = ids[: ids.index(eos) + 1]
            elif pad is not None:
                while ids and ids[-1] == pad:
                    ids.pop()
            seqs.append((row, ids))
        capture[i] = seqs if sampling else seqs * n


class VLLMBackend(Backend):
    """vLLM (GPU extra). Imported lazily; without it a ``BackendError`` says how to install it."""

    name = "vllm"

    def __init__(self, model: str | os.PathLike, **kw: Any):
        try:
            import vllm  # noqa: F401
        except ImportError as e:
            raise BackendError(
                "the vllm backend needs vLLM and a GPU: pip install 'codeself[vllm]' "
                "(on CPU use --backend hf or --backend nano)"
            ) from e
        from vllm import LLM

        self.path = resolve_model(model)
        self.llm = LLM(model=str(self.path), **kw)
        self.model_id = str(self.path)
        self.model_hash = _dir_hash(self.path)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[str]]:  # pragma: no cover - GPU
        from vllm import SamplingParams

        out = []
        for r in requests:
            sp = SamplingParams(n=r.n, temperature=r.temperature, top_p=r.top_p,
                                max_tokens=r.max_new_tokens, seed=_seed_int(r.seed, r.task_id, r.ids()[0]))
            res = self.llm.generate([r.prompt], sp, use_tqdm=False)[0]
            out.append([o.text for o in res.outputs])
        return out


def get_backend(name: str, model: str | os.PathLike | None = None, **kw: Any) -> Backend:
    """Build a backend by name (see the module docstring). ``mock`` needs ``tasks=``."""
    if name == "hf":
        if model is None:
            raise BackendError("--backend hf needs --model PATH (a local Hugging Face model directory)")
        return HFBackend(model, **kw)
    if name == "nano":  # a codeself-nano directory (codeself.models.get_backend resolves the name)
        return HFBackend(resolve_model("nano" if model is None else model), name="nano", **kw)
    if name == "vllm":
        return VLLMBackend(model, **kw)
    if name == "static":
        if model is None:
            raise BackendError("--backend static needs --model FILE (JSONL of {\"task_id\", \"completion\"})")
        return StaticBackend(model)
    if name == "mock":
        if "tasks" not in kw:
            raise BackendError("the mock backend needs tasks=...")
        return MockBackend(**kw)
    raise BackendError(f"unknown backend {name!r} (use one of {BACKENDS})")



# ---------------------------------------------------------------------------------------------
# static completion files (replayed by the static backend)
# ---------------------------------------------------------------------------------------------


def corrupt_program(code: str, seed: int = 0) -> str:
    """A deterministic single-edit bug in ``code``, drawn from the audit's mutation engine
    (:mod:`codeself.audit.mutants`: operators, constants, comparisons, dropped calls, ...), with
    ``return None`` as a last resort. The result compiles; it may still be correct by accident (an
    equivalent mutant) — the sandbox, not this function, decides."""
    from codeself.audit.mutants import sample_mutants

    muts, _n = sample_mutants(code, 1, seed=seed, key="static-corrupt")
    if muts:
        return muts[0].code
    lines = code.rstrip("\n").split("\n")
    for i, ln in enumerate(lines):
        if ln.lstrip().startswith("def "):
            indent = " " * (len(ln) - len(ln.lstrip()) + 4)
            return "\n".join(lines[: i + 1] + [indent + "return None"] + lines[i + 1:]) + "\n"
    return code + "\nNone\n"


def static_completions(tasks: Sequence[Task], samples_per_task: int = 1, *, corrupt: float = 0.0,
                       seed: int = 0, fenced: bool = True) -> list[dict[str, Any]]:
    """``{"task_id", "completion"}`` lines for the static backend from canonical solutions.

    Each sample is the task's canonical solution, or with probability ``corrupt`` (decided by a
    hash of ``(seed, task_id, sample)``) a corrupted copy (``corrupt_program``). Tasks without a
    canonical solution are skipped. Order: task by task, samples in order (file order = sample id).
    """
    rows = []
    for t in tasks:
        if not t.canonical_solution:
            continue
        for k in range(samples_per_task):
            code = t.canonical_solution
            rng = random.Random(_seed_int(seed, t.task_id, k))
            if rng.random() < corrupt:
                code = corrupt_program(code, seed=rng.randrange(1 << 30))
            comp = f"```python\n{code.rstrip()}\n```\n" if fenced else code
            rows.append({"task_id": t.task_id, "completion": comp})
    return rows
