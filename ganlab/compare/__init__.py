"""Runs side by side (``ganlab compare``) and image sets scored against each other (``ganlab score``).

Which runs (run_set.py), each read from its directory (compared_run.py), their recipe differences
(recipe_diff.py), whether their metrics were measured alike (metric_protocols.py), the table (summary.py),
final samples from shared noise (samples.py), the sections (sections.py) and the page (page.py). Runs that
differ only in their seed are compared as groups (seed_groups.py, seed_spread.py, groups.py). Beside
:mod:`ganlab.sweeps`, above training: imports every folder up to training (samples from checkpoints).
"""
