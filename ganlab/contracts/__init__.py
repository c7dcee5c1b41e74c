"""The contracts between the engine and the components: what the engine calls (engine.py), the levers that
change training (levers.py: augmentation, regularizers, schedules), the loggers that watch it (loggers.py),
what a loss's scores mean (scores.py: read by evaluators and reports, never by training), the one table of
which base class each kind of component extends (kinds.py, over registry.KINDS), and the contracts nothing
checked, served until ganlab 0.6 with a deprecation warning (retired.py). Built-ins and plugin packages
implement the same ones. Imports common, machine, page, rundir, registry and recipes (what a component may
see of a run).
"""
