"""Weight-initialisation schemes, applied once to each network after it is built."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from torch import nn
from torch.nn.utils import parametrize

from ..common.config import param
from ..contracts.engine import BuildContext
from ..registry.registry import component

_CONV = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
_NORM = (nn.BatchNorm2d, nn.InstanceNorm2d, nn.GroupNorm, nn.LayerNorm)


@dataclasses.dataclass
class NormalConfig:
    std: float = param(0.02, "standard deviation of conv/linear weights and of norm scales around 1", min=0.0)


@dataclasses.dataclass
class GainConfig:
    gain: float = param(1.0, "scaling factor passed to the torch.nn.init function", min=0.0)


@dataclasses.dataclass
class NoConfig:
    pass


def _weight(module: nn.Module) -> nn.Parameter:
    """The stored weight parameter, also under a parametrization such as spectral norm.

    A parametrized module's ``weight`` is recomputed from ``parametrizations.weight.original`` on every
    access, so initialising ``weight`` in place would change a temporary and silently do nothing.
    """
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


def _apply(weight_init: Callable[[nn.Parameter], None], norm_std: float = 0.0) -> Callable[[nn.Module], None]:
    """Weights of conv/linear layers by ``weight_init``; norm scales N(1, norm_std); every bias zero."""

    def init(network: nn.Module) -> None:
        for module in network.modules():
            if isinstance(module, _CONV):
                weight_init(_weight(module))
            elif isinstance(module, _NORM) and getattr(module, "weight", None) is not None:
                nn.init.normal_(module.weight, 1.0, norm_std)
            else:
                continue
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    return init


@component(
    "init",
    "dcgan-normal",
    config=NormalConfig,
    help="N(0, 0.02) conv weights, N(1, 0.02) batch-norm scales, zero biases (DCGAN paper)",
)
def build_dcgan_normal(config: NormalConfig, context: BuildContext):
    return _apply(lambda w: nn.init.normal_(w, 0.0, config.std), config.std)


@component("init", "xavier", config=GainConfig, help="Xavier/Glorot normal weights, zero biases")
def build_xavier(config: GainConfig, context: BuildContext):
    return _apply(lambda w: nn.init.xavier_normal_(w, gain=config.gain))


@component("init", "kaiming", config=NoConfig, help="Kaiming/He normal weights for LeakyReLU(0.2), zero biases")
def build_kaiming(config: NoConfig, context: BuildContext):
    return _apply(lambda w: nn.init.kaiming_normal_(w, a=0.2, nonlinearity="leaky_relu"))


@component("init", "orthogonal", config=GainConfig, help="orthogonal weights, zero biases")
def build_orthogonal(config: GainConfig, context: BuildContext):
    return _apply(lambda w: nn.init.orthogonal_(w, gain=config.gain))


@component("init", "none", config=NoConfig, help="keep PyTorch's default initialisation")
def build_none(config: NoConfig, context: BuildContext):
    return lambda network: None
