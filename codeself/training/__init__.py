"""Training that changes weights: codeself-nano (the embedded default model), GRPO and RLOO via TRL,
a compact PPO with a learned value baseline, per-step metrics, held-out evaluation and the study.

Heavy imports (torch, transformers, trl) happen inside the submodules' functions; importing this
package is cheap.
"""
