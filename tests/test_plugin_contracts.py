"""A plugin's components are held to what ganlab calls on them, whatever their kind: a class that lacks a
required method, or names one so that ganlab never calls it, is reported when the plugin loads; building
it, or a method of it returning the wrong thing, is refused by ``ganlab validate`` (and the commands that
build the same component) with exit code 4, naming the plugin, the component, the method, what came back
and what must; never a traceback."""

from __future__ import annotations

import sys
import textwrap
import types

import pytest

PLUGIN = textwrap.dedent('''
    """A plugin as its author wrote it from the plugin guide, with the mistakes authors make."""
    import dataclasses

    import torch

    import ganlab


    @dataclasses.dataclass
    class NoConfig:
        pass


    @ganlab.component("dataset", "squares", config=NoConfig, help="64 grey squares")
    class Squares:
        image_size, channels = 16, 3

        def __init__(self, config, context):
            pass

        def __len__(self):
            return 64

        def __getitem__(self, index):
            return torch.full((3, 16, 16), index * 4, dtype=torch.uint8)

        def describe(self):
            return {"source": "squares", "count": 64}


    @ganlab.component("dataset", "wordy", config=NoConfig)
    class Wordy(Squares):
        def describe(self):
            return "64 grey squares"


    @ganlab.component("dataset", "previewed-as-a-list", config=NoConfig)
    class PreviewedAsAList(Squares):
        def preview(self):
            return ["squares", 64]


    @ganlab.component("dataset", "counted-in-floats", config=NoConfig)
    class CountedInFloats(Squares):
        def __len__(self):
            return 64.0


    @ganlab.component("dataset", "float-pixels", config=NoConfig)
    class FloatPixels(Squares):
        def __getitem__(self, index):
            return torch.rand(3, 16, 16)


    @ganlab.component("dataset", "forgetful", config=NoConfig)
    class Forgetful(Squares):
        def describe(self):
            return {"source": self.folder}


    @ganlab.component("dataset", "labelled-by-dict", config=NoConfig)
    class LabelledByDict(Squares):
        label_space = {"grey": ["dark", "light"]}


    @ganlab.component("dataset", "short-of-labels", config=NoConfig)
    class ShortOfLabels(Squares):
        label_space = ganlab.LabelSpace((ganlab.Attribute("light"),))
        labels = torch.zeros(10, 1, dtype=torch.int64)


    @dataclasses.dataclass
    class BytesConfig:
        def memory_needs(self, context):
            return 64 * 3 * 16 * 16


    @ganlab.component("dataset", "bytes-counted", config=BytesConfig)
    class BytesCounted(Squares):
        pass


    @ganlab.component("schedule", "no-return", config=NoConfig)
    class NoReturn(ganlab.Schedule):
        def __init__(self, config, context):
            pass

        def factor(self, step, total_steps):
            0.5 ** (step // 100)


    @ganlab.component("evaluator", "stateless", config=NoConfig)
    class Stateless(ganlab.Evaluator):
        def __init__(self, config, context):
            pass

        def state_dict(self):
            self.seen = 0


    @ganlab.component("optimizer", "sgd-twice", config=NoConfig)
    def sgd_twice(config, context):
        return lambda parameters: [torch.optim.SGD(parameters, lr=0.1)] * 2


    @ganlab.component("loss", "needs-a-margin", config=NoConfig)
    class NeedsAMargin(ganlab.Loss):
        def __init__(self, config, context):
            self.margin = context.margin

        def discriminator_loss(self, real_logits, fake_logits):
            return (self.margin + fake_logits - real_logits).clamp(min=0).mean()

        def generator_loss(self, fake_logits, real_logits=None):
            return -fake_logits.mean()
''')


@pytest.fixture
def broken(register_plugin, monkeypatch):
    """The plugin module ``ganlab_broken``, registered as if installed."""
    module = types.ModuleType("ganlab_broken")
    monkeypatch.setitem(sys.modules, "ganlab_broken", module)  # dataclasses look their module up
    exec(compile(PLUGIN, "ganlab_broken.py", "exec"), module.__dict__)
    register_plugin(module)
    return module


WHERE = "plugin 'ganlab_broken'"

REFUSED = {
    "describe() returns a string": (
        {"data": {"name": "wordy"}},
        f"data: dataset 'wordy' of {WHERE}: describe() returned '64 grey squares' (a str); it must return a dict "
        "of plain values with string keys",
    ),
    "__len__() returns a float": (
        {"data": {"name": "counted-in-floats"}},
        f"data: dataset 'counted-in-floats' of {WHERE}: __len__() returned 64.0 (a float); it must return a whole "
        "number of images",
    ),
    "__getitem__ returns float pixels": (
        {"data": {"name": "float-pixels"}},
        f"data: dataset 'float-pixels' of {WHERE}: __getitem__(0) returned a Tensor of torch.float32 and "
        "shape (3, 16, 16); it must return a uint8 tensor of shape (3, 16, 16)",
    ),
    "describe() raises": (
        {"data": {"name": "forgetful"}},
        f"data: dataset 'forgetful' of {WHERE}: describe() raised AttributeError: 'Forgetful' object has no "
        "attribute 'folder'",
    ),
    "label_space is a dict": (
        {"data": {"name": "labelled-by-dict"}},
        f"data: dataset 'labelled-by-dict' of {WHERE}: its label_space holds {{'grey': ['dark', 'light']}} "
        "(a dict); it must hold None or a ganlab.LabelSpace",
    ),
    "labels for 10 of 64 images": (
        {"data": {"name": "short-of-labels"}},
        f"data: dataset 'short-of-labels' of {WHERE}: its labels holds a Tensor of torch.int64 and shape "
        "(10, 1); it must hold an int64 tensor of shape (64, 1) of value indices of its label_space",
    ),
    "a config's memory_needs returns a number": (
        {"data": {"name": "bytes-counted"}},
        f"data: dataset 'bytes-counted' of {WHERE}: its config's memory_needs(context) returned 49152 (an int); it "
        "must return a list of ganlab.Need",
    ),
    "a schedule's factor returns None": (
        {"schedule": {"generator": {"name": "no-return"}}},
        f"schedule.generator: schedule 'no-return' of {WHERE}: factor(0, 8) returned None; it must return a "
        "finite number (an int or a float)",
    ),
    "an evaluator's state_dict returns None": (
        {"evaluators": [{"name": "stateless"}]},
        f"evaluators[0]: evaluator 'stateless' of {WHERE}: state_dict() returned None; it must return a dict of plain "
        "values with string keys",
    ),
    "an optimizer factory's function returns a list": (
        {"optimizer": {"generator": {"name": "sgd-twice"}}},
        f"optimizer.generator: optimizer 'sgd-twice' of {WHERE}: its function of the parameters returned [SGD (",
    ),
    "a factory that raises": (
        {"loss": {"name": "needs-a-margin"}},
        f"loss: loss 'needs-a-margin' of {WHERE} could not be built: AttributeError: 'BuildContext' object has "
        "no attribute 'margin'",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_validate_refuses_what_a_plugin_returns_that_ganlab_cannot_use(case, broken, write_recipe, run_cli):
    changes, message = REFUSED[case]
    result = run_cli("validate", write_recipe({"data": {"name": "squares"}, **changes}))
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output and result.stderr.startswith("ganlab: error: ")
    assert message in result.stderr


def test_data_info_refuses_a_description_that_is_no_table(broken, write_recipe, run_cli):
    result = run_cli("data", "info", write_recipe({"data": {"name": "wordy"}}))
    assert result.exit_code == 4 and "Traceback" not in result.output
    assert "describe() returned '64 grey squares' (a str)" in result.stderr


def test_data_info_refuses_a_preview_that_is_no_table(broken, write_recipe, run_cli):
    result = run_cli("data", "info", write_recipe({"data": {"name": "previewed-as-a-list"}}))
    assert result.exit_code == 4 and "Traceback" not in result.output
    assert "preview() returned ['squares', 64] (a list); it must return a dict" in result.stderr


def test_data_prepare_checks_the_data_set_as_validate_does(broken, write_recipe, run_cli):
    result = run_cli("data", "prepare", write_recipe({"data": {"name": "counted-in-floats"}}))
    assert result.exit_code == 4 and "__len__() returned 64.0 (a float)" in result.stderr


def test_a_plugin_data_set_that_keeps_the_contract_validates(broken, write_recipe, run_cli):
    result = run_cli("validate", write_recipe({"data": {"name": "squares"}}))
    assert result.exit_code == 0, result.output
    info = run_cli("data", "info", write_recipe({"data": {"name": "squares"}}))
    assert info.exit_code == 0 and info.stdout.split() == ["source", "squares", "count", "64"]


# -- classes that lack a method ganlab calls, or misspell one ---------------------------------------------

HALFWAY = '''
    import dataclasses

    import ganlab


    @dataclasses.dataclass
    class NoConfig:
        pass


    class Halfway(ganlab.Regularizer):
        """R1 written in a hurry: ``term`` typed as ``trem``."""

        def __init__(self, config=None, context=None):
            self.interval = 4

        def trem(self, inputs):
            return inputs.real.square().mean()
'''

DECLARED = HALFWAY.replace(
    "    class Halfway(", '    @ganlab.component("regularizer", "halfway", config=NoConfig)\n    class Halfway('
)
ADDED = (
    HALFWAY
    + """

    @ganlab.hookimpl
    def ganlab_register(registry):
        registry.add("regularizer", "halfway", lambda config, context: Halfway(), NoConfig)
"""
)


def load(register_plugin, monkeypatch, name: str, source: str) -> None:
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(textwrap.dedent(source), f"{name}.py", "exec"), module.__dict__)
    register_plugin(module)


@pytest.mark.parametrize("source", [DECLARED, ADDED], ids=["declared", "added by its hook"])
def test_a_lever_lacking_an_abstract_method_is_reported_at_load_with_its_near_miss(
    source, register_plugin, monkeypatch, run_cli
):
    load(register_plugin, monkeypatch, "ganlab_halfway", source)
    result = run_cli("plugins")
    assert result.exit_code == 0
    assert (
        "ganlab: warning: plugin 'ganlab_halfway': regularizer class ganlab_halfway.Halfway does not define "
        "term(), which every ganlab.Regularizer must, so it cannot be built; its trem() looks meant for it"
    ) in result.stderr.splitlines()


@pytest.mark.parametrize("source", [DECLARED, ADDED], ids=["declared", "added by its hook"])
def test_validate_refuses_a_lever_lacking_an_abstract_method_with_exit_code_4(
    source, register_plugin, monkeypatch, run_cli, write_recipe
):
    load(register_plugin, monkeypatch, "ganlab_halfway", source)
    result = run_cli("validate", write_recipe({"regularizers": [{"name": "halfway"}]}))
    assert result.exit_code == 4 and "Traceback" not in result.output
    assert (
        "regularizers[0]: regularizer 'halfway' of plugin 'ganlab_halfway' could not be built: TypeError: "
        "Can't instantiate abstract class Halfway"
    ) in result.stderr


def test_strict_mode_makes_a_lever_lacking_an_abstract_method_fatal(register_plugin, monkeypatch, run_cli):
    load(register_plugin, monkeypatch, "ganlab_halfway", DECLARED)
    monkeypatch.setenv("GANLAB_STRICT_PLUGINS", "1")
    result = run_cli("list")
    assert result.exit_code == 4 and "does not define term()" in result.stderr and "Traceback" not in result.output


MISNAMED = """
    import dataclasses

    import torch
    from torch import nn

    import ganlab


    @dataclasses.dataclass
    class NoConfig:
        pass


    @ganlab.component("dataset", "misdescribed", config=NoConfig)
    class Misdescribed:
        image_size, channels = 16, 3

        def __init__(self, config, context):
            pass

        def __len__(self):
            return 64

        def __getitem__(self, index):
            return torch.zeros(3, 16, 16, dtype=torch.uint8)

        def descibe(self):
            return {"source": "zeros"}


    @ganlab.component("generator", "unwired", config=NoConfig)
    class Unwired(nn.Module):
        latent_dim = 8

        def __init__(self, config, context):
            super().__init__()
            self.layer = nn.Linear(8, 3 * 16 * 16)

        def foward(self, z):
            return torch.tanh(self.layer(z)).view(-1, 3, 16, 16)
"""

MISNAMED_CASES = {
    "a data set's describe": (
        {"data": {"name": "misdescribed"}},
        "dataset class ganlab_misnamed.Misdescribed does not define describe(), which every ganlab.ImageDataset "
        "must, so it cannot be built; its descibe() looks meant for it",
        "data: dataset 'misdescribed' of plugin 'ganlab_misnamed' was built as a Misdescribed, which does not "
        "define describe(); every ganlab.ImageDataset must",
    ),
    "a network's forward": (
        {"generator": {"name": "unwired"}},
        "network class ganlab_misnamed.Unwired does not define forward(), which every torch.nn.Module must, so it "
        "cannot be built; its foward() looks meant for it",
        "generator: generator 'unwired' of plugin 'ganlab_misnamed' was built as a Unwired, which does not define "
        "forward(); every torch.nn.Module must",
    ),
}


@pytest.mark.parametrize("case", sorted(MISNAMED_CASES))
def test_a_contract_method_under_a_near_miss_is_reported_at_load_and_refused_by_validate(
    case, register_plugin, monkeypatch, run_cli, write_recipe
):
    load(register_plugin, monkeypatch, "ganlab_misnamed", MISNAMED)
    changes, at_load, at_validate = MISNAMED_CASES[case]
    assert f"ganlab: warning: plugin 'ganlab_misnamed': {at_load}" in run_cli("plugins").stderr.splitlines()
    result = run_cli("validate", write_recipe(changes))
    assert result.exit_code == 4 and "Traceback" not in result.output
    assert at_validate in result.stderr


def test_an_abstract_base_of_the_plugin_s_own_is_not_reported(register_plugin, monkeypatch, run_cli):
    load(
        register_plugin,
        monkeypatch,
        "ganlab_layered",
        '''
        import ganlab


        class Halving(ganlab.Schedule):
            """Leaves ``factor`` to its subclasses, which say how often the rate halves."""

            every = None


        class HalvingEvery100(Halving):
            every = 100

            def factor(self, step, total_steps):
                return 0.5 ** (step // self.every)
    ''',
    )
    assert "ganlab_layered" not in run_cli("plugins").stderr


def test_the_built_in_plugins_have_nothing_to_report(run_cli):
    result = run_cli("plugins")
    assert result.exit_code == 0 and "warning" not in result.stderr


def test_the_kind_table_has_one_entry_for_every_kind_of_the_registry():
    from ganlab.contracts.kinds import BY_KIND, by_kind
    from ganlab.registry.registry import KINDS

    assert list(BY_KIND) == [kind for kind in KINDS if kind not in ("optimizer", "init")]
    with pytest.raises(RuntimeError, match=r"no entry for \['logger'\], entries for no kind \['sampler'\]"):
        by_kind({**{kind: None for kind in KINDS if kind != "logger"}, "sampler": None})


def test_an_evaluator_saves_its_state_as_every_stateful_component_does():
    from ganlab import Augment, Evaluator, Logger, Regularizer
    from ganlab.contracts.engine import Stateful

    assert all(issubclass(base, Stateful) for base in (Evaluator, Augment, Regularizer, Logger))
    assert "state_dict" not in vars(Evaluator) and "load_state_dict" not in vars(Evaluator)
