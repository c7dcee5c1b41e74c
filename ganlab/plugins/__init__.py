"""The plugin machinery: the hook specifications (hookspecs.py), loading built-in and installed plugins
with pluggy (manager.py), the component registry and its one-line ``component`` declaration
(registry.py), the packages known to provide components (known.py), what the classes of each kind of
component must define and the notes on one that does not (interfaces.py), and the one "did you mean"
helper (hints.py).

Built-in components are registered exactly as third-party plugins are: manager.py imports them by name
(``BUILTIN_PLUGINS``), never through an import here. May import: errors, levers, protocols, recipes.config.
"""
