"""Quality metrics: FID, KID and precision/recall through torch-fidelity, weight-free SWD and MS-SSIM, and
the attribute control of conditional generators, judged by a classifier trained on the run's own images.

Every score is logged with its protocol (see :mod:`ganlab.metrics.protocol`), because two scores are only
comparable when they were made the same way.

May import: errors, labels, protocols, recipes, plugins, rundir, data (reference images), training (sampling;
and rebuilding a run for ``evaluate``).
"""
