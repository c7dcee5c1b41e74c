"""Quality metrics: FID, KID and precision/recall through torch-fidelity, density and coverage and a
memorisation check on the same Inception features, weight-free SWD and MS-SSIM, and the attribute control
of conditional generators, judged by a classifier trained on the run's own images.

Every score is logged with its protocol (see :mod:`ganlab.metrics.protocol`), because two scores are only
comparable when they were made the same way.

May import: errors, whole_numbers, labels, protocols, recipes, plugins, rundir, data (reference images),
training (sampling; and rebuilding a run for ``evaluate``), evaluation's hook files and image width (store,
samples) and report's page helpers (html), for the memorisation hook's images.
"""
