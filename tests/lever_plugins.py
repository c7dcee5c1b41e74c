"""Test-local levers, registered through a plugin object as a third-party package would register them: an
augmentation that draws random numbers and steers by D's outputs, a regularizer computed from the
discriminator's gradient, a regularizer of known value, loggers that record or raise."""

from __future__ import annotations

import dataclasses

import torch

import ganlab
from ganlab import Augment, Logger, Regularizer, hookimpl, param


@dataclasses.dataclass
class NoiseConfig:
    std: float = param(0.05, "noise added to every image D sees")


class NoiseAugment(Augment):
    """Adds fresh noise to each batch (random numbers from torch's default generator, as the contract asks)
    and keeps a running mean of the sign of D on real images, which it logs as ``augment_strength``."""

    def __init__(self, config: NoiseConfig):
        self.std = config.std
        self.strength = torch.zeros(())
        self.calls: list[tuple[int, ...]] = []
        self.observed = 0

    def __call__(self, images):
        self.calls.append(tuple(images.shape))
        noise = ganlab.draw_for_global_batch(
            lambda n: torch.randn(n, *images.shape[1:], device=images.device), len(images)
        )
        return images + self.std * noise

    def observe(self, real_logits):
        self.observed += 1
        self.strength = 0.9 * self.strength + 0.1 * torch.sign(real_logits).mean()

    def logged(self):
        return {"augment_strength": self.strength}

    def state_dict(self):
        return {"strength": self.strength}

    def load_state_dict(self, state):
        self.strength = state["strength"].clone()


@dataclasses.dataclass
class GradientPenaltyConfig:
    gamma: float = param(1.0, "weight")
    interval: int = param(1, "steps between evaluations", min=1)


class RealGradientPenalty(Regularizer):
    """R1: gamma / 2 times the squared gradient norm of D on real images."""

    def __init__(self, config: GradientPenaltyConfig):
        self.gamma, self.interval = config.gamma, config.interval

    def term(self, inputs):
        real = inputs.real.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(inputs.discriminate(real).sum(), real, create_graph=True)
        return self.gamma / 2 * grad.square().sum(dim=(1, 2, 3)).mean()


@dataclasses.dataclass
class ConstantConfig:
    value: float = param(0.5, "the term")
    interval: int = param(1, "steps between evaluations", min=1)
    applies_to: str = param("discriminator", "network")


class ConstantTerm(Regularizer):
    """A term of known value whose gradient is exactly zero: it changes the logged loss and nothing else,
    so its effect on the loss can be read off against a run without it."""

    def __init__(self, config: ConstantConfig):
        self.value, self.interval, self.applies_to = config.value, config.interval, config.applies_to

    def term(self, inputs):
        return inputs.real.sum() * 0.0 + self.value


@dataclasses.dataclass
class NoConfig:
    pass


class RecordingLogger(Logger):
    """Keeps every call, in order, in ``RecordingLogger.calls`` (one list for the test to read)."""

    calls: list[tuple] = []

    def start(self, run):
        self.calls.append(("start", run.step))

    def log_steps(self, records):
        self.calls.append(("log_steps", [dict(r) for r in records]))

    def log_evaluation(self, record):
        self.calls.append(("log_evaluation", dict(record)))

    def log_image(self, tag, image, step):
        self.calls.append(("log_image", tag, tuple(image.shape), image.dtype, step))

    def finish(self, status):
        self.calls.append(("finish", status))


class RaisingLogger(Logger):
    def start(self, run):
        pass

    def log_steps(self, records):
        raise OSError("the disk of the dashboard is full")


class LeverPlugin:
    """Registers the levers above, keeping each built instance in ``built`` for the test to inspect."""

    def __init__(self):
        self.built: dict[str, object] = {}

    def _keep(self, name, make):
        def factory(config, context):
            self.built[name] = make(config)
            return self.built[name]

        return factory

    @hookimpl
    def ganlab_register(self, registry):
        registry.add("augment", "noise", self._keep("noise", NoiseAugment), NoiseConfig, help="test noise")
        registry.add(
            "regularizer",
            "grad-real",
            self._keep("grad-real", RealGradientPenalty),
            GradientPenaltyConfig,
            help="test R1",
        )
        registry.add(
            "regularizer", "constant", self._keep("constant", ConstantTerm), ConstantConfig, help="test constant"
        )
        registry.add(
            "logger", "recording", self._keep("recording", lambda c: RecordingLogger()), NoConfig, help="test logger"
        )
        registry.add(
            "logger",
            "raising",
            self._keep("raising", lambda c: RaisingLogger()),
            NoConfig,
            help="test logger that fails",
        )
