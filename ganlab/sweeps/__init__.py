"""Sweeps: one recipe run over a grid of settings and several seeds, each run an ordinary run directory.

- plan.py: the grid and seeds expanded into runs, and the stable name of each;
- table.py: a sweep's settings, one dataclass for ``ganlab sweep``'s options and a recipe's ``[sweep]``
  table, and the table read from a recipe file;
- manifest.py: ``sweep.json``, what a sweep is and where each of its runs stands (its format is there);
- sweep.py: checking every run before any starts, deciding what each needs (start, resume, nothing),
  launching them and keeping the manifest;
- launchers.py: the two ways runs are launched: ``ganlab run`` processes on this machine, or submitit
  jobs (Slurm; its local executor);
- job.py: what one submitit job runs: the same lifecycle functions as ``ganlab run``.

Imports every folder below it (common ... training); beside :mod:`ganlab.compare`, above training.
"""
