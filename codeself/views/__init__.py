"""Views: the logic behind the notebooks, widgets and dashboards — frames, charts and one
``summary()`` per notebook topic, so every number a notebook shows is computed where tests reach it.

One module per notebook (``notebooks/NN_topic.py``):

=============================  ==================================================================
:mod:`~codeself.views.datasets`  01: task frames, counts, leakage findings
:mod:`~codeself.views.sandbox`   02: sandbox result frames, status counts in the contract's order
:mod:`~codeself.views.rewards`   03: rollout filters, the dashboard view, reward histograms, gaps
:mod:`~codeself.views.training`  04: metric curves, study verdicts, the settings selection
:mod:`~codeself.views.compare`   05: per-task paired frame, the 2×2 table, power grid
:mod:`~codeself.views.traces`    06: agent traces turn by turn
:mod:`~codeself.views.inputs`    which file each notebook reads (``--NAME``, ``--run``, bundled example)
:mod:`~codeself.views.charts`    altair charts over aggregated frames, equal-width binning
=============================  ==================================================================

No file formats here: each file is read by the stage that writes it (``codeself.training.metrics``,
``codeself.training.verdict``, ``codeself.training.select``, ``codeself.audit``, ``codeself.solutions``,
``codeself.rollouts``, ``codeself.agent``).
"""
