"""One run's self-contained HTML report: the sections every run has (core_sections.py) and the assembly
of the report from its run directory alone (build.py), with each evaluator's own sections. Built with the
page kit (:mod:`ganlab.page`); ``ganlab compare`` is :mod:`ganlab.compare`. Imports every folder below
training.
"""
