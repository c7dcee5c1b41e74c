"""Run directories and checkpoints on disk: the directory of one run, its meta.json and logs
(rundir.py), the checkpoint files with their manifest and retention (checkpoints.py) and the shapes of the
records read back (records.py).

Everything that reads a run back (resume, evaluate, generate, report, compare) goes through here.
Imports only :mod:`ganlab.common`.
"""
