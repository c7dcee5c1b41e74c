"""The project's tests use the fixtures ganlab offers plugin authors: ganlab/testing.py, loaded with
``-p ganlab.testing`` from pyproject.toml. The tiny recipe stays importable from here."""

import pytest
from headless_chromium import find_chromium

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


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Where headless Chromium is; the browser tests are skipped, saying why, where it is not installed."""
    path = find_chromium()
    if path is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium; .ci/run does this)")
    return path
