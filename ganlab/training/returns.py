"""What the engine receives from a component, checked where it receives it, before anything is trained:
the component its factory builds, and what its methods return.

A factory that raises, or builds an instance of a class that lacks a method ganlab calls (a data set
without ``describe``, a network without ``forward``), is a fault of its plugin's. So is a method that
returns the wrong thing (a ``describe()`` that returns a string, a ``__len__`` that returns a float, a
loss whose ``score_kind`` is not a ScoreKind), which would otherwise pass ``ganlab validate`` and fail
later, deep inside the command that first uses it, with an AttributeError or a TypeError that names
neither the plugin nor the method. Each check here calls the component's methods that are cheap and free
of side effects (the data set's and its labels', a schedule's first factor, every ``state_dict``) and
refuses what does not fit, or a method that raises something other than a GanlabError, with a
:class:`~ganlab.common.errors.PluginError` (exit code 4) naming the recipe section, the component, its plugin,
the method, what it returned and what it must return.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch

from ..common.arguments import given, is_whole
from ..common.errors import ConfigError, DataError, GanlabError, PluginError, RecipeError
from ..common.labels import LabelSpace
from ..contracts.engine import BuildContext, ImageDataset, Loss
from ..contracts.kinds import BY_KIND, missing
from ..contracts.levers import Augment, Regularizer, Schedule, Stateful
from ..contracts.scores import ScoreKind
from ..machine.memory import out_of_memory
from ..recipes.recipe import Component


def where(component: Component, source: str) -> str:
    """``recipe.toml: loggers[0]: logger 'tensorboard' of plugin 'ganlab-tensorboard'``."""
    return (
        f"{source}: {component.section}: {component.entry.kind} {component.name!r} of plugin {component.entry.plugin!r}"
    )


def build_component(component: Component, context: BuildContext, source: str) -> Any:
    """The component, as its factory builds it from its config and ``context``.

    A ConfigError is the recipe's (a RecipeError naming the key, in the recipe's own terms), a DataError
    the data's; anything else the factory raises (an abstract class it cannot instantiate, a TypeError of
    its own) is its plugin's, and so is an instance of a class that lacks a method ganlab calls."""
    try:
        with plugin_faults(component, source, " could not be built: "):
            built = component.entry.factory(component.config, context)
    except ConfigError as e:
        key = e.key if "." in e.key else f"{component.section}.{e.key}"
        if e.key == "image_size":
            key = "data.image_size"
        raise RecipeError(source, [f"{key}: {e.message}"]) from None
    except DataError as e:
        raise DataError(f"{source}: {e}") from None
    contract = BY_KIND.get(component.entry.kind)
    lacking = missing(type(built), contract) if contract and isinstance(built, contract.base) else []
    if lacking:
        raise PluginError(
            f"{where(component, source)} was built as a {type(built).__qualname__}, which does not "
            f"define {', '.join(f'{name}()' for name in lacking)}; every {contract.title} must"
        )
    return built


def build_instance(component: Component, context: BuildContext, source: str) -> Any:
    """Refuse a factory that returns something other than an instance of its kind's base class
    (:data:`~ganlab.contracts.kinds.BY_KIND`: ``ganlab.Loss``, a lever's base class, ``nn.Module`` for a
    network, ...): the engine calls every method of the base class, defaults included, so a look-alike
    lacking one would fail mid-run, after hours of training."""
    contract = BY_KIND[component.entry.kind]
    built = build_component(component, context, source)
    if not isinstance(built, contract.base):
        raise PluginError(
            f"{where(component, source)} was built as a {type(built).__qualname__}, which is not a "
            f"{contract.title}; its factory must return an instance of a subclass of it"
        )
    return built


@contextlib.contextmanager
def plugin_faults(component: Component, source: str, doing: str) -> Iterator[None]:
    """Inside the block, what the component raises is a fault of its plugin's, a PluginError saying what
    it was ``doing``; but a GanlabError is the component's own word and goes on as it is, and so does an
    allocation that failed, which is the machine's (the command reports it as such)."""
    try:
        yield
    except GanlabError:
        raise
    except Exception as e:
        if out_of_memory(e):
            raise
        raise PluginError(f"{where(component, source)}{doing}{type(e).__name__}: {e}") from None


def called(component: Component, source: str, method: str, call: Callable[[], Any]) -> Any:
    """What ``call`` (the component's ``method``) returns, its faults its plugin's (:func:`plugin_faults`)."""
    with plugin_faults(component, source, f": {method} raised "):
        return call()


def returned(
    component: Component, source: str, method: str, value: Any, expected: str, fits: Callable[[Any], bool]
) -> Any:
    """``value``, which ``method`` of the component returned, once it ``fits``."""
    return _fitting(
        component, source, value, fits, lambda found: f"{method} returned {found}; it must return {expected}"
    )


def holding(
    component: Component, source: str, owner: Any, attribute: str, expected: str, fits: Callable[[Any], bool]
) -> Any:
    """``owner``'s ``attribute`` (None where it has none), once it ``fits``."""
    value = called(component, source, attribute, lambda: getattr(owner, attribute, None))
    return _fitting(
        component, source, value, fits, lambda found: f"its {attribute} holds {found}; it must hold {expected}"
    )


def _fitting(
    component: Component, source: str, value: Any, fits: Callable[[Any], bool], problem: Callable[[str], str]
) -> Any:
    if not fits(value):
        raise PluginError(f"{where(component, source)}: {problem(given(value))}")
    return value


def answer(
    component: Component, source: str, method: str, call: Callable[[], Any], expected: str, fits: Callable[[Any], bool]
) -> Any:
    """What ``call`` returns, once it fits: :func:`called`, then :func:`returned`."""
    return returned(component, source, method, called(component, source, method, call), expected, fits)


def at_least(low: int) -> Callable[[Any], bool]:
    return lambda value: is_whole(value) and value >= low


def images_of(shape: tuple[int, ...]) -> Callable[[Any], bool]:
    """Whether a value is uint8 images (or one image) of ``shape``, as the loader gathers them."""
    return lambda value: isinstance(value, torch.Tensor) and value.dtype == torch.uint8 and tuple(value.shape) == shape


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_table(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(key, str) for key in value)


TABLE = "a dict of plain values with string keys"


def check_description(component: Component, dataset: ImageDataset, source: str, method: str) -> dict[str, Any]:
    """The data set's ``describe()`` or ``preview()`` (``method``): what ``ganlab data`` shows and metric
    references are fingerprinted from."""
    return answer(component, source, f"{method}()", getattr(dataset, method), TABLE, is_table)


def check_dataset(component: Component, dataset: ImageDataset, source: str) -> None:
    """Everything the engine reads of a data set before it trains: its shape, size, description, first
    image (and batch, where it offers ``get_batch``) and its labels."""
    size = holding(component, source, dataset, "image_size", "a whole number of pixels, at least 1", at_least(1))
    channels = holding(component, source, dataset, "channels", "a whole number of channels, at least 1", at_least(1))
    count = answer(component, source, "__len__()", dataset.__len__, "a whole number of images", at_least(0))
    check_description(component, dataset, source, "describe")
    if count:
        image = (channels, size, size)
        answer(
            component,
            source,
            "__getitem__(0)",
            lambda: dataset[0],
            f"a uint8 tensor of shape {image}",
            images_of(image),
        )
        if callable(getattr(dataset, "get_batch", None)):
            answer(
                component,
                source,
                "get_batch(tensor([0]))",
                lambda: dataset.get_batch(torch.tensor([0])),
                f"a uint8 tensor of shape {(1, *image)}",
                images_of((1, *image)),
            )
    _check_labels(component, dataset, source, count)


def _check_labels(component: Component, dataset: ImageDataset, source: str, count: int) -> None:
    space = holding(
        component,
        source,
        dataset,
        "label_space",
        "None or a ganlab.LabelSpace",
        lambda v: v is None or isinstance(v, LabelSpace),
    )
    if space is None:
        return
    expected = f"an int64 tensor of shape ({count}, {len(space.attributes)}) of value indices of its label_space"

    def fits(labels: Any) -> bool:
        if not isinstance(labels, torch.Tensor):
            return False
        try:
            space.check(labels)
        except ValueError:
            return False
        return len(labels) == count

    holding(component, source, dataset, "labels", expected, fits)


def check_network(component: Component, network: torch.nn.Module, source: str) -> None:
    """A generator's ``latent_dim``, which the engine sizes every latent batch by."""
    if component.entry.kind == "generator":
        holding(component, source, network, "latent_dim", "a whole number, at least 1", at_least(1))


def check_loss(component: Component, loss: Loss, source: str) -> None:
    """The loss's ``score_kind``, which meta.json records and every reader of its scores goes by. (Its
    methods are not called here: a loss may count its calls, to anneal, say.)"""
    holding(component, source, loss, "score_kind", "a ganlab.ScoreKind", lambda v: isinstance(v, ScoreKind))


def check_schedule(component: Component, schedule: Schedule, source: str, total_steps: int) -> None:
    """The factor of the first step: a number the learning rate can be multiplied by."""
    answer(
        component,
        source,
        f"factor(0, {total_steps})",
        lambda: schedule.factor(0, total_steps),
        "a finite number (an int or a float)",
        is_number,
    )


def check_state(component: Component, stateful: Stateful, source: str) -> None:
    """``state_dict()``, which every checkpoint holds and a resume hands back to ``load_state_dict``."""
    answer(component, source, "state_dict()", stateful.state_dict, TABLE, is_table)


def check_logged(component: Component, augment: Augment, source: str, taken: tuple[str, ...]) -> None:
    """Refuse an augmentation whose logged numbers are not 0-d tensors, or whose names the step records
    already use (``taken``, and ``reg_*``): either would fail or overwrite a column at the first flush,
    after a step was paid for."""
    logged = answer(component, source, "logged()", augment.logged, "a dict of 0-d tensors", is_table)
    for key, value in logged.items():
        if key in taken or key.startswith("reg_"):
            raise PluginError(
                f"{where(component, source)} logs {key!r}, a name the step records use for "
                "something else; name it after the augmentation, as in 'augment_p'"
            )
        returned(
            component,
            source,
            f"logged()[{key!r}]",
            value,
            "a 0-d tensor on the device",
            lambda v: isinstance(v, torch.Tensor) and v.dim() == 0,
        )


def check_regularizer(component: Component, regularizer: Regularizer, source: str) -> None:
    """Refuse a regularizer whose ``applies_to`` or ``interval`` the step could not act on."""
    holding(
        component,
        source,
        regularizer,
        "applies_to",
        '"discriminator" or "generator"',
        lambda v: v in ("discriminator", "generator"),
    )
    holding(component, source, regularizer, "interval", "a whole number of steps, at least 1", at_least(1))
