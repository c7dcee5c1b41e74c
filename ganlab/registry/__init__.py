"""The registry of components and what a plugin implements to fill it: kind -> name -> entry and the
``component`` declaration (registry.py), the pluggy hook specifications (hookspecs.py) and the components
that ganlab's own plugin packages provide, so a recipe naming one can say what to install (known.py).
Imports only :mod:`ganlab.common`; loading plugins into a registry is :mod:`ganlab.loading`'s job.
"""
