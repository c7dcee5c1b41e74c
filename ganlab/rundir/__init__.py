"""Run directories and checkpoints on disk: the directory of one run, its meta.json and logs
(rundir.py), the checkpoint files with their manifest and retention (checkpoints.py), the shapes of the
records read back (records.py), atomic file writes (atomic.py) and the PNG grids of images (grids.py).

Everything that reads a run back (resume, evaluate, generate, report, compare) goes through here.
May import: errors, arguments (what a caller of ``RunDir.open`` passes), whole_numbers, labels (a run's
label spaces, which meta.json records), recipes.config (checkpoint settings are typed like every other
table).
"""
