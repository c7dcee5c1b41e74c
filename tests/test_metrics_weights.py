"""Inception weights: found in the recipe, the environment or the torch hub cache, vetted, or a clear error
before any training step."""

import hashlib
from pathlib import Path

import pytest
import torch

from ganlab.errors import ConfigError
from ganlab.metrics.inception import InceptionFeatures
from ganlab.metrics.weights import ENV_VAR, WEIGHTS_FILE, find_weights, hub_path


class NotAStateDict:
    """Anything that needs the full unpickler to load."""

    def __init__(self):
        self.payload = torch.zeros(2)


def save(obj, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def test_with_no_weights_anywhere_the_error_names_the_file_and_every_place_to_put_it():
    with pytest.raises(ConfigError) as info:
        find_weights()
    assert info.value.key == "weights_path"
    message = info.value.message
    assert WEIGHTS_FILE in message and str(hub_path()) in message
    assert ENV_VAR in message and "weights_path" in message


def test_an_explicit_weights_path_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.pth' does not exist"):
        find_weights(str(tmp_path / "nowhere.pth"))


def test_the_environment_variable_is_used_and_a_wrong_one_is_named(tmp_path, monkeypatch):
    path = save({"w": torch.ones(3)}, tmp_path / "inception.pth")
    monkeypatch.setenv(ENV_VAR, str(path))
    assert find_weights().path == path
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.pth"))
    with pytest.raises(ConfigError, match=f"{ENV_VAR}=.*missing.pth' names no file"):
        find_weights()


def test_the_torch_hub_cache_is_used_and_its_sha256_recorded():
    path = save({"w": torch.arange(4.0)}, hub_path())
    weights = find_weights()
    assert weights.path == path
    assert weights.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert not weights.official


def test_the_recipe_path_wins_over_the_environment_and_the_hub(tmp_path, monkeypatch):
    save({"w": torch.ones(1)}, hub_path())
    monkeypatch.setenv(ENV_VAR, str(save({"w": torch.ones(2)}, tmp_path / "env.pth")))
    explicit = save({"w": torch.ones(3)}, tmp_path / "explicit.pth")
    assert find_weights(str(explicit)).path == explicit


def test_a_file_that_needs_the_full_unpickler_is_refused(tmp_path):
    path = save(NotAStateDict(), tmp_path / "evil.pth")
    with pytest.raises(ConfigError, match="refuses to unpickle"):
        find_weights(str(path))


def test_a_nested_checkpoint_is_not_a_state_dict(tmp_path):
    path = save({"model": {"w": torch.ones(1)}, "epoch": 3}, tmp_path / "checkpoint.pth")
    with pytest.raises(ConfigError, match="is not a state dict"):
        find_weights(str(path))


def test_a_state_dict_of_another_network_is_refused_when_the_extractor_is_built(tmp_path):
    weights = find_weights(str(save({"fc.weight": torch.ones(2, 2)}, tmp_path / "other.pth")))
    with pytest.raises(ConfigError, match="not of torch-fidelity's InceptionV3"):
        InceptionFeatures(weights, torch.device("cpu"))


def test_a_failed_download_says_why_and_where_to_put_the_file(monkeypatch):
    def offline(url, dst, progress):
        raise OSError("network is unreachable")
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(ConfigError, match="downloading failed .*network is unreachable.*" + WEIGHTS_FILE):
        find_weights(download=True)


FID_HOOK = {"hooks": [{"name": "fid", "num_samples": 8, "num_reference": 8}]}


def test_validate_stops_with_the_missing_file_named_and_no_traceback(write_recipe, run_cli):
    result = run_cli("validate", write_recipe(FID_HOOK))
    assert result.exit_code == 2
    assert "hooks[0].weights_path:" in result.output and WEIGHTS_FILE in result.output
    assert "Traceback" not in result.output


def test_run_stops_before_the_first_step_and_leaves_no_run_directory(write_recipe, run_cli, tmp_path):
    result = run_cli("run", write_recipe(FID_HOOK), "--out", tmp_path / "runs", "--no-progress")
    assert result.exit_code == 2 and WEIGHTS_FILE in result.output
    assert not any((tmp_path / "runs").glob("*"))
