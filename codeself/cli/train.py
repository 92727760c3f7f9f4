"""`codeself train grpo|rloo|ppo|feedback|compare|select` and the top-level `codeself study`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeself.cli._common import (
    INPUT_DIR,
    INPUT_FILE,
    OUTPUT_DIR,
    OUTPUT_FILE,
    WORKERS_HELP,
    CommandError,
    check_backend_model,
    choices,
    console,
    out,
    positive,
)
from codeself.families import HOLDOUTS
from codeself.rewards import REWARD_TESTS, REWARDS
from codeself.training.config import REPORT_TO
from codeself.training.study import STUDY_ARMS

StudyArm = choices("StudyArm", STUDY_ARMS)
Holdout = choices("Holdout", HOLDOUTS)
Reward = choices("Reward", REWARDS)
RewardTests = choices("RewardTests", REWARD_TESTS)
ReportTo = choices("ReportTo", REPORT_TO)
REWARD_HELP = ("Reward variant: partial (reward_v0, partial credit; default) | binary (1 iff every reward test "
               "passes) | fraction (share of reward tests passed) | weighted (binary + 0.1 x fraction).")

app = typer.Typer(help="Train with sandbox rewards (GRPO, RLOO via TRL; PPO) and compare runs.",
                  no_args_is_help=True)

TasksOpt = Annotated[Path, typer.Option("--tasks", help="Task JSONL; its 'train' split is practised on, "
                                         "its 'test' split is the periodic held-out evaluation.", **INPUT_FILE)]
ModelOpt = Annotated[str, typer.Option("--model", help="'nano' (built on first use, cached in data/models/nano) "
                                        "or a local Hugging Face causal-LM directory.")]
OutOpt = Annotated[Path, typer.Option("--output-dir", help="Run directory (metrics.jsonl, checkpoints, final/). "
                                       "Re-running the same command resumes; another run's directory is refused.", **OUTPUT_DIR)]


def _train(algo: str, tasks: Path, model: str, output_dir: Path, group_size: int, batch_size: int | None,
           max_steps: int, lr: float | None, lora: bool, use_vllm: bool, seed: int, beta: float, temperature: float,
           eval_every: int, eval_samples: int, eval_tasks: int, save_every: int, workers: int | None,
           max_completion_length: int, reward: str = "partial", reward_tests: str = "all",
           audit: Path | None = None, skip_uniform_groups: bool = False, report_to: str = "none") -> None:
    from codeself.training.config import TrainConfig, TrainInputError
    from codeself.training.runner import run_training

    check_backend_model("hf", model)
    cfg = TrainConfig(
        algo=algo, tasks=str(tasks), model=model, output_dir=str(output_dir), group_size=group_size,
        batch_size=batch_size if batch_size is not None else 16 * group_size, max_steps=max_steps,
        lr=lr if lr is not None else (5e-5 if algo == "ppo" else 2e-4),
        lora=lora, use_vllm=use_vllm, seed=seed, beta=beta, temperature=temperature, eval_every=eval_every,
        eval_samples=eval_samples, eval_tasks=eval_tasks, save_every=save_every, workers=workers,
        max_completion_length=max_completion_length, reward=reward, reward_tests=reward_tests,
        audit=str(audit) if audit else "", skip_uniform_groups=skip_uniform_groups, report_to=report_to,
    )
    try:
        final = run_training(cfg)
    except TrainInputError as e:
        raise CommandError(str(e)) from None
    console.print(f"{algo}: metrics in {output_dir / 'metrics.jsonl'}, model in {final}", markup=False)
    out.print(str(final), markup=False)


def _make(algo: str, doc: str):
    def cmd(
        tasks: TasksOpt,
        output_dir: OutOpt,
        model: ModelOpt = "nano",
        group_size: Annotated[int, typer.Option(min=2, help="Completions per prompt (the group, at least 2).")] = 8,
        batch_size: Annotated[int | None, typer.Option(
            min=1, help="Completions per optimiser step; a multiple of --group-size (default 16 x group size).")] = None,
        max_steps: Annotated[int, typer.Option(min=1, help="Optimiser steps.")] = 100,
        lr: Annotated[float | None, typer.Option(min=0.0, callback=positive,
            help="Constant learning rate (default 2e-4 for GRPO/RLOO, 5e-5 for PPO, which takes several "
                 "minibatch updates per batch and collapsed at 2e-4 in a 10-step run on codeself-nano).")] = None,
        lora: Annotated[bool, typer.Option(help="Train LoRA adapters (PEFT) instead of all weights.")] = False,
        use_vllm: Annotated[bool, typer.Option(help="Generate with vLLM (TRL; GPU only).")] = False,
        seed: Annotated[int, typer.Option(min=0, help="Seed of data order and sampling.")] = 0,
        beta: Annotated[float, typer.Option(min=0.0, help="KL coefficient to the initial policy (0: none).")] = 0.0,
        temperature: Annotated[float, typer.Option(min=0.0, callback=positive,
                                                   help="Sampling temperature of rollouts and sampled eval (> 0).")] = 1.0,
        eval_every: Annotated[int, typer.Option(
            min=0, help="Held-out evaluation every N steps (and at the end); 0: end only.")] = 25,
        eval_samples: Annotated[int, typer.Option(min=1, help="Sampled completions per held-out task per evaluation.")] = 8,
        eval_tasks: Annotated[int, typer.Option(min=0, help="Evaluate on the first N held-out tasks (0: all).")] = 0,
        save_every: Annotated[int, typer.Option(min=1, help="Checkpoint every N steps.")] = 10,
        workers: Annotated[int | None, typer.Option(min=1, help=WORKERS_HELP)] = None,
        max_completion_length: Annotated[int, typer.Option(min=1, help="Max new tokens per completion.")] = 48,
        reward: Annotated[Reward, typer.Option("--reward", help=REWARD_HELP)] = "partial",
        reward_tests: Annotated[RewardTests, typer.Option(
            "--reward-tests", help="Which tests pay the reward: all | public | hidden. The others are monitor "
                                   "tests: run on every completion, never paid; metrics.jsonl gets "
                                   "monitor_pass_rate and hack_rate.")] = "all",
        audit: Annotated[Path | None, typer.Option(
            "--audit", help="audit.jsonl (codeself tasks audit): report the share of each step's prompts it "
                            "flags weak (weak_prompt_share).", **INPUT_FILE)] = None,
        skip_uniform_groups: Annotated[bool, typer.Option(
            "--skip-uniform-groups", help="PPO only: leave groups whose rewards are all equal out of the update "
                                          "(groups_skipped per step). GRPO/RLOO already give them advantage 0.")] = False,
        report_to: Annotated[ReportTo, typer.Option(
            "--report-to", help="Also log to: none | tensorboard (D/tensorboard) | trackio | wandb (offline). "
                                "PPO: none or tensorboard.")] = "none",
    ) -> None:
        _train(algo, tasks, model, output_dir, group_size, batch_size, max_steps, lr, lora, use_vllm, seed, beta,
               temperature, eval_every, eval_samples, eval_tasks, save_every, workers, max_completion_length,
               reward=Reward(reward).value, reward_tests=RewardTests(reward_tests).value, audit=audit,
               skip_uniform_groups=skip_uniform_groups, report_to=ReportTo(report_to).value)

    cmd.__doc__ = doc
    return cmd


app.command("grpo")(_make("grpo", "GRPO (trl.GRPOTrainer) with sandbox rewards; writes D/metrics.jsonl per step."))
app.command("rloo")(_make("rloo", "RLOO (trl.RLOOTrainer) with sandbox rewards; writes D/metrics.jsonl per step."))
app.command("ppo")(_make("ppo", "PPO (codeself's own: value head, GAE, clipped surrogate and value losses)."))


FeedbackAlgo = choices("FeedbackAlgo", ("grpo", "ppo"))
StudyProtocol = choices("StudyProtocol", ("single-turn", "feedback"))
RevisionPrompt = choices("RevisionPrompt", ("feedback", "retry"))
Policy = choices("Policy", ("last", "first-public-pass"))


@app.command("feedback")
def feedback(
    tasks: TasksOpt,
    output_dir: OutOpt,
    model: Annotated[str, typer.Option("--model", help=(
        "'nano' (a warm start that also reads revision prompts: built on first use, cached in "
        "data/models/nano-feedback) or a local Hugging Face causal-LM directory.")) ] = "nano",
    max_turns: Annotated[int, typer.Option("--max-turns", min=1, help=(
        "Attempts per episode (1 = single-turn); after each failed attempt the public-test feedback "
        "becomes part of the next prompt.")) ] = 3,
    revision_prompt: Annotated[RevisionPrompt, typer.Option("--revision-prompt", help=(
        "'feedback': the next prompt shows the previous attempt and its public-test feedback; 'retry' "
        "(the control arm): the first prompt again — same attempts and public-test filtering, no feedback "
        "text.")) ] = "feedback",
    policy: Annotated[Policy, typer.Option("--policy", help=(
        "Which attempt is submitted (and paid from the hidden tests): last | first-public-pass.")) ] = "last",
    algo: Annotated[FeedbackAlgo, typer.Option("--algo", help=(
        "grpo (group-relative advantage per episode) | ppo (value head, GAE across turns).")) ] = "grpo",
    group_size: Annotated[int, typer.Option(min=2, help="Episodes per task per step (the group).")] = 8,
    batch_size: Annotated[int | None, typer.Option(
        min=1, help="Episodes per optimiser step; a multiple of --group-size (default 16 x group size).")] = None,
    max_steps: Annotated[int, typer.Option(min=1, help="Optimiser steps.")] = 50,
    lr: Annotated[float | None, typer.Option(min=0.0, callback=positive,
                                             help="Constant learning rate (default 1e-4; PPO 5e-5).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of data order and sampling.")] = 0,
    temperature: Annotated[float, typer.Option(min=0.0, callback=positive,
                                               help="Sampling temperature of every attempt (> 0).")] = 1.0,
    eval_every: Annotated[int, typer.Option(
        min=0, help="Held-out single-turn evaluation every N steps (and at the end); 0: end only.")] = 25,
    eval_samples: Annotated[int, typer.Option(min=1, help="Sampled completions per held-out task per evaluation.")] = 8,
    eval_tasks: Annotated[int, typer.Option(min=0, help="Evaluate on the first N held-out tasks (0: all).")] = 40,
    save_every: Annotated[int, typer.Option(min=1, help="Checkpoint every N steps.")] = 10,
    workers: Annotated[int | None, typer.Option(min=1, help=WORKERS_HELP)] = None,
    max_completion_length: Annotated[int, typer.Option(min=1, help="Max new tokens per attempt.")] = 48,
    reward: Annotated[Reward, typer.Option("--reward", help=REWARD_HELP + " Paid from the hidden tests only.")] = "partial",
    trace_episodes: Annotated[int, typer.Option(
        min=-1, help="Episodes per step written to D/traces.jsonl (agent trace schema; -1: all, 0: none).")] = 8,
    report_to: Annotated[ReportTo, typer.Option(
        "--report-to", help="Also log to: none | tensorboard (D/tensorboard).")] = "none",
) -> None:
    """Multi-turn RL with execution feedback in the loop (RLEF-style): episodes of up to --max-turns
    attempts, public-test feedback in the next prompt, reward from the hidden tests of the submission."""
    from codeself.training.config import TrainConfig, TrainInputError
    from codeself.training.runner import run_training

    check_backend_model("hf", model)
    a = FeedbackAlgo(algo).value
    cfg = TrainConfig(
        algo=a, protocol="feedback", tasks=str(tasks), model=model, output_dir=str(output_dir),
        group_size=group_size, batch_size=batch_size if batch_size is not None else 16 * group_size,
        max_steps=max_steps, lr=lr if lr is not None else (5e-5 if a == "ppo" else 1e-4), seed=seed,
        temperature=temperature, eval_every=eval_every, eval_samples=eval_samples, eval_tasks=eval_tasks,
        save_every=save_every, workers=workers, max_completion_length=max_completion_length,
        reward=Reward(reward).value, report_to=ReportTo(report_to).value, max_turns=max_turns,
        revision_prompt=RevisionPrompt(revision_prompt).value, policy=Policy(policy).value,
        trace_episodes=trace_episodes,
    )
    try:
        final = run_training(cfg)
    except TrainInputError as e:
        raise CommandError(str(e)) from None
    console.print(f"feedback-{a}: metrics in {output_dir / 'metrics.jsonl'}, traces in "
                  f"{output_dir / 'traces.jsonl'}, model in {final}", markup=False)
    out.print(str(final), markup=False)


@app.command("compare")
def compare(
    runs: Annotated[list[Path], typer.Option("--runs", help="Run directories (each with metrics.jsonl): "
                                             "--runs D1 D2 D3 (or --runs D1 --runs D2).", **INPUT_DIR)],
    output: Annotated[Path, typer.Option("--output", help="Markdown report to write.", **OUTPUT_FILE)],
    more_runs: Annotated[list[Path] | None, typer.Argument(
        help="Further run directories (what follows --runs D1).", show_default=False, **INPUT_DIR)] = None,
    tasks: Annotated[Path | None, typer.Option(
        "--tasks", help="Held-out tasks for the final paired comparison (default: each run's --tasks).",
        **INPUT_FILE)] = None,
    samples: Annotated[int, typer.Option(min=1, help="Sampled completions per held-out task for the final comparison.")] = 8,
    seed: Annotated[int, typer.Option(min=0, help="Sampling seed of the final comparison (same for every run).")] = 0,
) -> None:
    """Curves side by side and the final held-out comparison with exact paired tests."""
    from codeself.training.compare import compare_runs
    from codeself.training.config import TrainInputError

    try:
        compare_runs([*runs, *(more_runs or [])], output, tasks=tasks, samples=samples, seed=seed)
    except TrainInputError as e:
        raise CommandError(str(e)) from None
    out.print(str(output), markup=False)


@app.command("select")
def select(
    grid: Annotated[list[str], typer.Option(
        "--grid", help="KEY=V1,V2,… over StudyConfig settings (repeatable; the grid is their product), "
                       "e.g. --grid lr=5e-5,1e-4,2e-4,4e-4.")],
    output_dir: Annotated[Path, typer.Option("--output-dir", help="Selection directory (one study per "
                                             "setting and seed, selection.json/.md, chosen.toml).", **OUTPUT_DIR)],
    seeds: Annotated[str, typer.Option(help="Comma-separated study seeds; keep them apart from the seeds you "
                                       "report held-out results for.")] = "101,102",
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML of base study settings the grid varies around (arm, sft_steps, …).",
        **INPUT_FILE)] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Studies run at once, each in its own process (2 suits 2 cores).")] = 1,
) -> None:
    """Choose study settings on the family's validation compositions (never the held-out split).

    Runs the study protocol with --holdout validation for every grid setting and seed, then picks one
    by a fixed rule: most seeds significant, then highest mean sampled-CI lower bound, then highest
    mean greedy difference, then grid order. Prints the table and writes OUTPUT_DIR/chosen.toml for
    `codeself study --config OUTPUT_DIR/chosen.toml`."""
    import tomllib

    from codeself.training.config import TrainInputError
    from codeself.training.select import parse_grid, run_selection, selection_table

    try:
        try:
            seed_list = [int(x) for x in seeds.split(",") if x.strip()]
        except ValueError:
            raise TrainInputError(f"--seeds {seeds!r}: expected comma-separated integers") from None
        base: dict = {}
        if config is not None:
            if not config.is_file():
                raise TrainInputError(f"{config}: config file not found")
            try:
                with config.open("rb") as f:
                    base = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise TrainInputError(f"{config}: {e}") from None
            base = base.get("study", base)
        sel = run_selection(parse_grid(grid), seed_list, output_dir, base=base, jobs=jobs,
                            log=lambda m: console.print(m, markup=False))
    except TrainInputError as e:
        raise CommandError(str(e)) from None
    out.print(selection_table(sel), markup=False)
    out.print(f"chosen: {output_dir / 'chosen.toml'}", markup=False)


def study(
    seed: Annotated[int | None, typer.Option(
        min=0, help="Study seed (tasks, warm start, training, sampling). Default 1.")] = None,
    output_dir: Annotated[Path | None, typer.Option(
        "--output-dir", help="Run directory (default data/runs/study-seed{S}[-control|-weak-tests]).",
        **OUTPUT_DIR)] = None,
    config: Annotated[Path | None, typer.Option(
        "--config", help="TOML file of study settings (or a run directory's study.json).", exists=True)] = None,
    arm: Annotated[StudyArm | None, typer.Option(
        help="'default' (warm start with flawed demonstrations), 'control' (clean demonstrations) or "
             "'weak-tests' (the default warm start on tasks whose public tests accept its precedence slip; "
             "the reward pays only those, the real tests are monitor tests).")] = None,
    max_steps: Annotated[int | None, typer.Option(min=1, help="GRPO steps (default 50).")] = None,
    n_heldout: Annotated[int | None, typer.Option(
        min=1, help="Held-out tasks (default 155: every held-out composition).")] = None,
    holdout: Annotated[Holdout | None, typer.Option(
        help="'test' (default): evaluate on the held-out compositions. 'validation': train outside the family's "
             "validation compositions and evaluate on them, never touching the held-out split (for choosing "
             "settings; see `codeself train select`).")] = None,
    lr: Annotated[float | None, typer.Option(min=0.0, callback=positive,
                                             help="GRPO learning rate (> 0; default: StudyConfig.lr).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help=WORKERS_HELP)] = None,
    reward: Annotated[Reward | None, typer.Option(
        "--reward", help=REWARD_HELP.replace("; default", "") + " Default: StudyConfig.reward (partial).",
        show_default=False)] = None,
    protocol: Annotated[StudyProtocol | None, typer.Option(
        "--protocol", help="'single-turn' (default: the default study) or 'feedback' (the feedback study: "
                           "train the self-debug loop, compare with retry prompts and with single-turn GRPO; "
                           "writes data/runs/feedback-seed{S}[-control]).")] = None,
    max_turns: Annotated[int | None, typer.Option(
        "--max-turns", min=1, help="Feedback protocol: attempts per episode (default 2).")] = None,
    reward_tests: Annotated[RewardTests | None, typer.Option(
        "--reward-tests", help="Which tests pay the GRPO reward: all | public | hidden; the others are monitor "
                               "tests (hack_rate per step, monitor numbers in the verdict). Default: public for "
                               "--arm weak-tests, else all.", show_default=False)] = None,
    audit: Annotated[Path | None, typer.Option(
        "--audit", help="audit.jsonl (codeself tasks audit) of the study's tasks: weak_prompt_share per GRPO step.",
        **INPUT_FILE)] = None,
) -> None:
    """The default study: build (or reuse) codeself-nano, evaluate it on held-out compositions, train with
    GRPO on sandbox rewards, re-evaluate, and test the difference (exact McNemar, cluster bootstrap).
    With --protocol feedback: the feedback study (codeself.training.feedback_study)."""
    from codeself.training.config import TrainInputError
    from codeself.training.study import load_config, monitor_table, run_study, verdict_table

    if config is not None and config.is_dir():
        config = config / "study.json"
    proto = protocol.value if protocol else _config_protocol(config)
    if proto == "feedback":
        if reward_tests is not None or audit is not None:
            raise CommandError(f"{'--reward-tests' if reward_tests is not None else '--audit'}: not with --protocol "
                               "feedback (its reward is always the hidden tests)")
        _feedback_study(seed, output_dir, config, arm.value if arm else None, max_steps, n_heldout,
                        holdout.value if holdout else None, lr, workers, reward.value if reward else None, max_turns)
        return
    if max_turns is not None:
        raise CommandError("--max-turns: only with --protocol feedback")
    try:
        cfg = load_config(config, {"seed": seed, "output_dir": str(output_dir) if output_dir else None,
                                   "arm": arm.value if arm else None, "max_steps": max_steps,
                                   "n_heldout": n_heldout, "workers": workers,
                                   "holdout": holdout.value if holdout else None, "lr": lr,
                                   "reward": reward.value if reward else None,
                                   "reward_tests": reward_tests.value if reward_tests else None,
                                   "audit": str(audit) if audit else None})
        v = run_study(cfg, log=lambda m: console.print(m, markup=False))
    except TrainInputError as e:
        raise CommandError(str(e)) from None
    out.print(verdict_table([v]), markup=False)
    out.print(v["verdict"], markup=False)
    if "reward_tests" in v:
        out.print(monitor_table([v]), markup=False)
    out.print(f"verdict: {cfg.resolved_output_dir() / 'verdict.json'}", markup=False)


def _config_protocol(config: Path | None) -> str:
    """The protocol a ``--config`` file (TOML or a run's study.json) names; 'single-turn' by default."""
    if config is None:
        return "single-turn"
    from codeself.training.config import TrainInputError
    from codeself.training.study import read_study_file

    try:
        return str(read_study_file(config).get("protocol", "single-turn"))
    except TrainInputError as e:
        raise CommandError(str(e)) from None


def _feedback_study(seed, output_dir, config, arm, max_steps, n_heldout, holdout, lr, workers, reward,
                    max_turns) -> None:
    from codeself.training.config import TrainInputError
    from codeself.training.feedback_study import load_feedback_config, run_feedback_study, verdict_table

    try:
        cfg = load_feedback_config(config, {"seed": seed, "output_dir": str(output_dir) if output_dir else None,
                                            "arm": arm, "max_steps": max_steps, "n_heldout": n_heldout,
                                            "workers": workers, "holdout": holdout, "lr": lr, "reward": reward,
                                            "max_turns": max_turns})
        v = run_feedback_study(cfg, log=lambda m: console.print(m, markup=False))
    except TrainInputError as e:
        raise CommandError(str(e)) from None
    out.print(verdict_table([v]), markup=False)
    out.print(v["verdict"], markup=False)
    out.print(f"verdict: {cfg.resolved_output_dir() / 'verdict.json'}", markup=False)


def register_top_level(root: typer.Typer) -> None:
    """Add top-level commands owned by this stage (``codeself study``)."""
    root.command("study")(study)
