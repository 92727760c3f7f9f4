"""codeself-nano: the embedded default model, built here because no weights can be downloaded.

``build_nano`` makes a ~0.8M-parameter ``LlamaForCausalLM`` (a ``transformers`` config) with a
character-level tokenizer made by ``tokenizers`` (WordLevel over single characters, wrapped in
``PreTrainedTokenizerFast``), warm-starts it by supervised training on the *train* split of a
declared family (:mod:`codeself.families`, default ``arith``) and saves it with ``save_pretrained``;
it reloads with the ``Auto`` classes like any local Hugging Face model.

Deliberately imperfect — and why that is a fair test
----------------------------------------------------
In the default arm, 60% (``flaw_share``) of the demonstrations whose answer needs parentheses (a
multiply after an add or subtract, e.g. ``(x+8)*8-6``) are written *without* them
(``x+8*8-6``) — a common human precedence slip, so the warm start learns a realistic, documented
habit. Everything used to *measure* is untouched: prompts, public and hidden tests, and the held-out
split (different compositions, never seen in training) are exactly the family's. Practice with
sandbox feedback can only help by making the model write programs that pass the tests. The
``control`` arm builds the same model from clean demonstrations (``flaw_share=0``), so a study can
show what feedback adds beyond supervised training on correct code (see ``codeself study --arm``).

``holdout="validation"`` builds the warm start for a validation protocol (``codeself train select``):
its demonstrations also avoid the family's validation compositions, so a setting chosen on them is
chosen on compositions the model never saw (cached as ``nano-seed{S}[-control]-validation``).

Guaranteed: same ``(seed, arm, config)`` → identical weights on the same torch build (one CPU
thread, seeded data order and init). Not guaranteed: identical weights across torch versions or
thread counts.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from codeself.prompts import build_prompt

#: Default cache directory of ``ensure_nano`` (relative to the current directory).
DEFAULT_NANO_DIR = Path("data/models/nano")
ARMS = ("default", "control")
CARD_NAME = "codeself_nano.json"
#: where ``codeself train feedback --model nano`` caches its warm start (:func:`feedback_nano_config`)
FEEDBACK_NANO_DIR = Path("data/models/nano-feedback")
#: the feedback warm start's context: a revision prompt (previous attempt + feedback + task) is ~520
#: characters, one token each, plus the completion
FEEDBACK_MAX_POSITIONS = 640


@dataclass
class NanoConfig:
    """Everything that determines a codeself-nano build (stored in ``codeself_nano.json``)."""

    seed: int = 0                 # data order, flawed-demonstration draw, initial weights
    arm: str = "default"          # "default" (flawed demonstrations) or "control" (clean)
    family: str = "arith"         # the declared family whose train split is the SFT data
    n_train: int = 600            # SFT demonstrations (train split only; one per train composition)
    holdout: str = "test"         # "validation": demonstrations avoid the family's validation compositions too
    flaw_share: float = 0.6       # share of parenthesis-needing demonstrations written without them
    sft_steps: int = 200          # optimiser steps
    batch_size: int = 64
    lr: float = 2e-3              # peak learning rate, cosine decay after a short warmup
    warmup_steps: int = 20
    weight_decay: float = 0.0
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 344
    max_positions: int = 256
    revision_demos: bool = False  # also demonstrate the revision format (the feedback study's warm start)

    def effective_flaw_share(self) -> float:
        return 0.0 if self.arm == "control" else self.flaw_share

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NanoConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown nano config field(s): {', '.join(sorted(unknown))}")
        return cls(**d)


# --------------------------------------------------------------------------------------- tokenizer
SPECIAL_TOKENS = ("<pad>", "<eos>", "<unk>")
CHARS = tuple(chr(i) for i in range(32, 127)) + ("\n",)


def build_tokenizer(max_length: int = 256):
    """Character-level ``PreTrainedTokenizerFast``: one token per printable ASCII char or newline.

    ``<pad>`` (id 0), ``<eos>`` (id 1), ``<unk>`` (id 2); padding on the left (generation).
    Tabs and non-ASCII characters map to ``<unk>``.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate((*SPECIAL_TOKENS, *CHARS))}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>",
        model_max_length=max_length, padding_side="left",
    )
    tok.padding_side = "left"
    return tok


def format_prompt(task) -> str:
    """The text the model is conditioned on: the task prompt (signature + docstring) + starter code.

    This is the ``completion`` template (HumanEval style): the model continues with the body.
    """
    return build_prompt(task, template="completion")


def demonstration(task, *, flawed: bool) -> str:
    """The SFT target for a family task: the canonical body, or the parenthesis-dropping slip."""
    from codeself.families import arith_expression

    return f"    return {arith_expression(task.metadata['steps'], parens=not flawed)}\n"


def demonstrations(cfg: NanoConfig) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """``[(prompt, completion)]`` for SFT and a summary (counts, flawed share) for the model card."""
    from codeself.families import FAMILIES

    tasks = FAMILIES[cfg.family].generate(cfg.n_train, 0, cfg.seed, holdout=cfg.holdout)
    rng = random.Random(f"nano-flaws:{cfg.seed}")
    share = cfg.effective_flaw_share()
    pairs: list[tuple[str, str]] = []
    n_need = n_flawed = 0
    for t in tasks:
        need = bool(t.metadata.get("needs_parens"))
        flawed = need and rng.random() < share
        n_need += need
        n_flawed += flawed
        pairs.append((format_prompt(t), demonstration(t, flawed=flawed)))
    n_rev = 0
    if cfg.revision_demos:
        rev = revision_demonstrations(tasks, cfg)
        n_rev = len(rev)
        pairs.extend(rev)
    summary = {
        "n_revision_demonstrations": n_rev,
        "n_demonstrations": len(pairs),
        "n_needing_parentheses": n_need,
        "n_flawed": n_flawed,
        "flaw_share": share,
        "train_task_ids_first": tasks[0].task_id if tasks else None,
    }
    return pairs, summary


def revision_demonstrations(tasks, cfg: NanoConfig) -> list[tuple[str, str]]:
    """Revision-format demonstrations for the feedback study's warm start (``revision_demos``).

    One per train task whose answer needs parentheses: the *prompt* is exactly the revision prompt
    the self-debug loop builds (``codeself.agent.build_revision_prompt``, completion template) after
    the slipped program failed its public tests — its feedback made by ``build_feedback`` from a real
    public-only sandbox run — and the *target* is drawn from the same flawed distribution as a first
    attempt: the slip again with probability ``flaw_share``, else the correct body, independently of
    the feedback. So the warm start learns to read and answer the revision format, but not to *use*
    the feedback (a revision is no more likely to be right than a first attempt). Hidden tests are
    never read (the run is ``tests="public"``).
    """
    from codeself.agent import AgentConfig, build_feedback, build_revision_prompt
    from codeself.attempts import run_attempts

    need = [t for t in tasks if t.metadata.get("needs_parens")]
    if not need:
        return []
    rng = random.Random(f"nano-revision-flaws:{cfg.seed}")
    share = cfg.effective_flaw_share()
    slips = [demonstration(t, flawed=True) for t in need]
    runs = run_attempts([(t, c, None, str(i)) for i, (t, c) in enumerate(zip(need, slips, strict=True))],
                        tests="public", progress=False)
    acfg = AgentConfig()
    out = []
    for t, slip, at in zip(need, slips, runs, strict=True):
        res = at.result.to_dict() if at.executed else None
        if res is None or res.get("status") == "passed":
            continue  # a slip that passes the public tests would never be revised
        turn = {"code": at.code, "parse_status": at.parse_status, "parse_reason": at.parsed.reason,
                "completion": slip}
        fb = build_feedback(t, turn, res, acfg)
        prompt = build_revision_prompt(t, format_prompt(t), turn, fb, "completion")
        out.append((prompt, demonstration(t, flawed=rng.random() < share)))
    return out


# ------------------------------------------------------------------------------------------- model
def make_model(cfg: NanoConfig, vocab_size: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    mc = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_layers,
        num_attention_heads=cfg.num_heads,
        num_key_value_heads=cfg.num_heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=None,
    )
    return LlamaForCausalLM(mc)


def _encode_pairs(tok, pairs: list[tuple[str, str]]):
    """Right-padded input ids, attention mask and labels (loss on the completion + eos only)."""
    import torch

    seqs, labs = [], []
    for p, c in pairs:
        pi = tok(p, add_special_tokens=False)["input_ids"]
        ci = tok(c, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        seqs.append(pi + ci)
        labs.append([-100] * len(pi) + ci)
    n = max(map(len, seqs))
    ids = torch.full((len(seqs), n), tok.pad_token_id, dtype=torch.long)
    att = torch.zeros((len(seqs), n), dtype=torch.long)
    lab = torch.full((len(seqs), n), -100, dtype=torch.long)
    for i, (s, lb) in enumerate(zip(seqs, labs, strict=True)):
        ids[i, : len(s)] = torch.tensor(s)
        att[i, : len(s)] = 1
        lab[i, : len(lb)] = torch.tensor(lb)
    return ids, att, lab


def sft(model, tok, pairs, cfg: NanoConfig, *, progress: bool = True, log=None) -> list[float]:
    """Plain supervised fine-tuning: AdamW, linear warmup then cosine decay. Returns the losses.

    Revision demonstrations (prompts that start with the revision header) are ~4× longer than first
    attempts, so they form their own bucket: every third step draws ``batch_size // 4`` of them
    instead of ``batch_size`` first-attempt pairs (a batch is padded only to its own width).
    """
    import torch

    ids, att, lab = _encode_pairs(tok, pairs)
    rev = torch.tensor([p.startswith("# A previous attempt") for p, _ in pairs])
    buckets = [torch.nonzero(~rev).flatten(), torch.nonzero(rev).flatten()]
    g = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return cfg.lr * (step + 1) / cfg.warmup_steps
        frac = (step - cfg.warmup_steps) / max(1, cfg.sft_steps - cfg.warmup_steps)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * frac))

    model.train()
    losses: list[float] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.sft_steps, desc=f"nano SFT (seed {cfg.seed}, {cfg.arm})", unit="step")
    for step in range(cfg.sft_steps):
        if len(buckets[1]) and step % 3 == 2:
            pool, size = buckets[1], max(1, cfg.batch_size // 4)
        else:
            pool, size = buckets[0] if len(buckets[0]) else buckets[1], cfg.batch_size
        idx = pool[torch.randint(0, len(pool), (size,), generator=g)]
        b_att = att[idx]
        width = int(b_att.sum(1).max())
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        out = model(input_ids=ids[idx, :width], attention_mask=b_att[:, :width], labels=lab[idx, :width])
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(out.loss.detach()))
        if bar is not None:
            bar.update(1)
            if step % 25 == 0:
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if log is not None and (step % 50 == 0 or step == cfg.sft_steps - 1):
            log(step, losses[-1])
    if bar is not None:
        bar.close()
    model.eval()
    return losses


def build_nano(
    output: str | os.PathLike = DEFAULT_NANO_DIR,
    seed: int = 0,
    arm: str = "default",
    *,
    config: NanoConfig | None = None,
    progress: bool = True,
    overwrite: bool = True,
) -> Path:
    """Build, warm-start and save codeself-nano into ``output`` (written atomically: temp dir + rename).

    Returns the output path. ``config`` overrides every build setting (its ``seed``/``arm`` win
    over the arguments when given). The directory holds the model, the tokenizer and
    ``codeself_nano.json`` (the resolved config, the demonstration summary, the SFT loss curve).
    """
    from codeself.progress import Ticker

    cfg = config or NanoConfig(seed=seed, arm=arm)
    if cfg.arm not in ARMS:
        raise ValueError(f"unknown arm {cfg.arm!r}; use one of {ARMS}")
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists")
    t0 = time.time()
    # the status line comes before torch's import: the SFT bar only starts once the model exists
    with Ticker(f"codeself-nano: building {output} (seed {cfg.seed}, {cfg.arm}): importing torch, "
                "making demonstrations", enabled=progress):
        import torch

        prev_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            tok = build_tokenizer(cfg.max_positions)
            pairs, summary = demonstrations(cfg)
            model = make_model(cfg, len(tok))
        except BaseException:
            torch.set_num_threads(prev_threads)
            raise
    try:
        losses = sft(model, tok, pairs, cfg, progress=progress)
    finally:
        torch.set_num_threads(prev_threads)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        card = {
            "name": "codeself-nano",
            "config": asdict(cfg),
            "n_parameters": sum(p.numel() for p in model.parameters()),
            "demonstrations": summary,
            "sft_loss_first": losses[0] if losses else None,
            "sft_loss_last": losses[-1] if losses else None,
            "sft_loss_every_25": losses[::25],
            "build_seconds": round(time.time() - t0, 2),
            "prompt_template": "completion",
        }
        (tmp / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
        if output.exists():
            shutil.rmtree(output)
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output


def read_card(path: str | os.PathLike) -> dict[str, Any] | None:
    p = Path(path) / CARD_NAME
    if not p.is_file():
        return None
    return json.loads(p.read_text())


def ensure_nano(
    path: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    arm: str = "default",
    config: NanoConfig | None = None,
    progress: bool = True,
) -> Path:
    """The codeself-nano directory, built on first use and cached (default ``data/models/nano``).

    Reuses an existing build only when its stored config equals the requested one; otherwise it
    rebuilds in place. Safe to call from several processes at once: builds of one directory are
    serialised by a lock file beside it (``.NAME.lock``; the waiting caller then reuses the build),
    and the build is written atomically.
    """
    import fcntl

    path = Path(path) if path is not None else DEFAULT_NANO_DIR
    cfg = config or NanoConfig(seed=seed, arm=arm)

    def cached() -> bool:
        card = read_card(path)
        if card is None or not (path / "config.json").is_file():
            return False
        # a card written before a config field existed was built with that field's default
        return {**asdict(NanoConfig()), **card.get("config", {})} == asdict(cfg)

    if cached():
        return path
    # one build at a time per directory: a second command asking for the same model waits, then reuses it
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cached():
            return path
        return build_nano(path, config=cfg, progress=progress)


def feedback_nano_config(seed: int = 0, **kw: Any) -> NanoConfig:
    """The warm start of the feedback protocol: the default (flawed) arm plus revision-format
    demonstrations (:func:`revision_demonstrations`) and a 640-position context."""
    return NanoConfig(seed=seed, revision_demos=True, max_positions=FEEDBACK_MAX_POSITIONS, **kw)


def nano_dir_for(seed: int, arm: str = "default", root: str | os.PathLike = "data/models",
                 holdout: str = "test") -> Path:
    """Cache directory used by the study for one ``(seed, arm[, validation protocol])`` build."""
    suffix = ("" if arm == "default" else f"-{arm}") + ("" if holdout == "test" else f"-{holdout}")
    return Path(root) / f"nano-seed{seed}{suffix}"
