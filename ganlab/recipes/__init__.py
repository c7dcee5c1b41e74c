"""Recipes and their settings: reading a TOML recipe, applying overrides, resolving each component table
against the registry (recipe.py), the typed config dataclasses components declare (config.py), writing
TOML back (tomlwrite.py) and refusing unusual files (files.py).

May import: errors, whole_numbers, protocols, and plugins' registry, known packages and hints (a recipe names components
that plugins register); rundir.checkpoints for the ``[checkpoint]`` table's settings. Nothing that trains.
"""
