"""The maths of the scores: FID, KID and precision/recall through torch-fidelity's extractor and formulas
(inception.py) on a vetted Inception network (weights.py, shipped_inception.py), density and coverage and
the nearest neighbours memorisation needs (neighbours.py), weight-free SWD and MS-SSIM, the attribute
classifier, the reference images and their cache, and the measurement protocol (protocol.py).

Every score is logged with its protocol, because two scores are only comparable when they were made the
same way. The evaluators that compute these during and after a run are :mod:`ganlab.evaluators`.
Imports common, machine, page, rundir, registry, recipes, contracts and data (reference images).
"""
