"""The project's tests use the fixtures ganlab offers plugin authors: ganlab/testing.py, loaded with
``-p ganlab.testing`` from pyproject.toml. The tiny recipe stays importable from here."""

from ganlab.testing import TINY_RECIPE, merge  # noqa: F401
