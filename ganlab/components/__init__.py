"""Built-in components. Each module is a plugin that declares its components with ``@component``, like
any other.

May import: errors, whole_numbers, protocols, levers, recipes.config, plugins.registry (the public API's pieces).
"""
