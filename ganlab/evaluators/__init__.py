"""Built-in evaluators: what watches and scores a run (loss curves, D(x)/D(G(z)) distributions, samples,
training health, FID/KID/precision-recall, SWD and diversity, density and coverage, memorisation,
attribute control).

Each module is a plugin declaring its evaluator with ``@component``, like a third-party one; each writes
its data under its own folder of the run directory and draws its report section from those files alone.
The maths of the scores is :mod:`ganlab.metrics`'. Imports the layers below: common, machine, page,
rundir, registry, recipes, contracts, data and metrics.
"""
