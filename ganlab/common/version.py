"""ganlab's version, in a module of its own: the modules that record or print it (a run's meta.json,
``ganlab --version``) import it from here, so none of them imports the package's ``__init__``, which
imports them in turn for the Python API."""

__version__ = "0.5.0"
