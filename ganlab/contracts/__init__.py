"""The contracts between the engine and the components: what the engine calls (engine.py), the levers that
change training (levers.py: augmentation, regularizers, schedules) and the loggers that watch it
(loggers.py), and the one table of which base class each kind of component extends (kinds.py). Built-ins
and plugin packages implement the same ones. Imports common, machine, page, rundir, registry and recipes
(what a component may see of a run).
"""
