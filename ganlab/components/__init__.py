"""Built-in components. Each module is a plugin that declares its components with ``@component``, like
any other.

Imports common, machine, registry, recipes and contracts (the public API's pieces).
"""
