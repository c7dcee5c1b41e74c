"""The project's tests use the same fixtures ganlab offers plugin authors (see ganlab/testing.py)."""

from ganlab.testing import TINY_RECIPE, merge  # noqa: F401  (kept importable from here for older tests)

pytest_plugins = ["ganlab.testing"]
