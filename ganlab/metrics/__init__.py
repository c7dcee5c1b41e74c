"""Quality metrics: FID, KID and precision/recall through torch-fidelity, and weight-free SWD and MS-SSIM.

Every score is logged with its protocol (see :mod:`ganlab.metrics.protocol`), because two scores are only
comparable when they were made the same way.

May import: errors, protocols, recipes, plugins, rundir, data (reference images), training (sampling;
and rebuilding a run for ``evaluate``).
"""
