"""The project's tests use the fixtures ganlab offers plugin authors: ganlab/testing.py, loaded with
``-p ganlab.testing`` from pyproject.toml. The tiny recipe stays importable from here."""

import pytest

from ganlab.testing import TINY_RECIPE, merge  # noqa: F401


@pytest.fixture(autouse=True, scope="session")
def caches_in_a_temporary_folder(tmp_path_factory):
    """Tests never read or write the user's caches (~/.cache/ganlab); one folder serves the whole session,
    so tests that prepare the same data share its cache as a user's runs would."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANLAB_CACHE_DIR", str(tmp_path_factory.mktemp("ganlab-cache")))
        yield


@pytest.fixture(autouse=True)
def no_inception_weights(tmp_path_factory, monkeypatch):
    """Tests never find the user's Inception weights: the torch hub points into an empty folder of its own
    and GANLAB_INCEPTION_WEIGHTS is unset, so every test says where its weights come from."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.mktemp("torch-home")))
    monkeypatch.delenv("GANLAB_INCEPTION_WEIGHTS", raising=False)
