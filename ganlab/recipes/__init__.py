"""Recipes: reading a TOML recipe, applying ``--set`` overrides and resolving each component table against
the registry into a typed :class:`~ganlab.recipes.recipe.Recipe` (recipe.py). How a component declares its
settings (``param``) is :mod:`ganlab.common.config`. Imports common, rundir (the ``[checkpoint]`` table's
settings) and registry. Nothing that trains.
"""
