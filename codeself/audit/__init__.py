"""Test-strength audit: does a task's test suite reject *broken* versions of its reference solution?

Under RL the tests are the reward, so a task whose tests accept wrong code pays a model for being
wrong. For every task with a reference — its ``canonical_solution``, or (``references=`` /
``--references``) the first program of a solutions file that passes all its tests
(:mod:`~codeself.audit.references`) — the audit

1. makes small semantic **mutants** of the reference with the ``ast`` module only (no text edits):
   swapped comparison / arithmetic / boolean operators, off-by-one integer constants, slice bounds,
   ``range`` bounds and indices, slice steps, negated conditions, dropped ``else`` branches, swapped call
   arguments, flipped boolean constants, dropped unary operators, ``min``/``max`` and
   ``any``/``all`` swaps, ``break``/``continue`` swaps, negated boolean returns, dropped wrapping
   calls (``sorted(x)`` -> ``x``), twin-method swaps (``lower``/``upper``) and ``''``/``' '``
   swaps (:data:`OPERATORS`). Mutants whose unparsed source equals the reference's or another mutant's
   are dropped (equivalent as source); up to ``N`` are picked deterministically for the seed,
   round-robin over operators so that no single operator dominates;
2. infers the **input domain** from the task's own tests: every call to the entry point in the
   public and hidden tests whose arguments are literals is parsed (never executed in this
   process), and every call test's argument list is taken as it is; per argument position it
   records types, signs and ranges of numbers, lengths, sortedness and distinctness of sequences,
   element types and the alphabet of strings. For a **stdin task** the inputs are the stdin tests'
   input texts;
3. draws **fresh inputs** from that domain with a seeded generator (half from the inferred schema,
   half by perturbing one argument of an observed call, which keeps relations between arguments;
   for stdin tasks, small edits of a test's input that keep its line structure), plus the observed
   inputs themselves;
4. **confirms** each mutant wrong only if its output differs from the reference's on at least one
   of those inputs, both evaluated in the sandbox (one sandbox job per program with all its calls,
   via :func:`codeself.sandbox.evaluate_calls`). Inputs on which the reference raises, times out,
   or gives different answers in two independent runs are dropped (out of domain or
   nondeterministic), so a mutant is never "wrong" merely because the input was invalid. Stdin
   programs run as scripts (:func:`codeself.sandbox.evaluate_stdin`) and their outputs are the
   same when the task's judge says so (:mod:`codeself.judges`); call-test values are compared as the
   grader compares them (tuples as lists, exact types);
5. runs the task's public and hidden tests against every confirmed-wrong mutant
   (:func:`codeself.sandbox.run_many` with ``tests="all"``, batched) and flags the task **weak** if
   some confirmed-wrong mutant passes them all, **public-weak** if some passes every public test.

Modules: :mod:`~codeself.audit.mutants` (step 1), :mod:`~codeself.audit.domain` (steps 2–3),
:mod:`~codeself.audit.pipeline` (steps 4–5, :func:`audit_tasks`), :mod:`~codeself.audit.equality` (when two
outputs are the same), :mod:`~codeself.audit.report` (summary, Markdown report, ``audit.jsonl`` readers,
``--exclude-tasks``). ``codeself bench audit`` lives in :mod:`codeself.bench.audit`.

Guaranteed: the same tasks, seed and mutant budget give the same mutants, the same fresh inputs and
(barring sandbox timeouts under heavy machine load) the same audit records and report. A ``weak``
flag always comes with a concrete witness: the mutant's code and an input on which it and the
reference disagree. Not guaranteed: finding every weakness (``weak == False`` only means none of
the sampled mutants survived), and the domain inferred from literals can miss preconditions that
the tests never exercise (the reference raising on an input removes it, nothing more) — for stdin
tasks an edited input may break a constraint the reference silently accepts. Stdin tasks with a
``checker`` (many valid outputs) are skipped, and so is a task whose reference fails its own tests.
"""

from codeself.audit.domain import (
    DEFAULT_FRESH_INPUTS,
    Call,
    Domain,
    fresh_inputs,
    fresh_stdin_inputs,
    generate_value,
    infer_domain,
    infer_schema,
    observed_calls,
    observed_stdin_inputs,
    perturb_value,
)
from codeself.audit.equality import ABS_TOL, REL_TOL, close_eq
from codeself.audit.mutants import OPERATORS, Mutant, make_mutants, sample_mutants, select_mutants
from codeself.audit.pipeline import DEFAULT_MUTANTS, MIN_INPUTS, audit_tasks, outcome_eq, task_kind
from codeself.audit.references import pick_references
from codeself.audit.report import (
    exclude_weak,
    load_audit,
    load_weak_task_ids,
    read_audit,
    render_report,
    summarize,
)

__all__ = [
    "ABS_TOL", "DEFAULT_FRESH_INPUTS", "DEFAULT_MUTANTS", "MIN_INPUTS", "OPERATORS", "REL_TOL",
    "Call", "Domain", "Mutant",
    "audit_tasks", "close_eq", "exclude_weak", "fresh_inputs", "fresh_stdin_inputs", "generate_value", "infer_domain",
    "infer_schema", "load_audit", "load_weak_task_ids", "make_mutants", "observed_calls", "observed_stdin_inputs",
    "outcome_eq", "perturb_value", "pick_references", "read_audit", "render_report", "sample_mutants",
    "select_mutants", "summarize", "task_kind",
]
