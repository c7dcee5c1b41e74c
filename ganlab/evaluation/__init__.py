"""Built-in evaluation hooks: loss curves, D(x)/D(G(z)) distributions, samples and training health.

Each module is a plugin declaring its hook with ``@component``, like a third-party one; each writes its
data under ``hooks/<name>/`` in the run directory and draws its report section from those files alone.

May import: errors, protocols, recipes, plugins.registry, rundir, and report's page and figure helpers
(html, figures, core_sections); the live run only for type annotations.
"""
