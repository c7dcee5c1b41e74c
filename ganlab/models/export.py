"""``ganlab export``: a run's generator as one file that makes its images without ganlab.

The exported network is the generator as ganlab samples with it (:func:`~ganlab.training.sampling.
frozen_for_sampling`): its EMA weights where the run kept them, evaluation mode, the standing batch-norm
statistics baked into its buffers. Its input is ``z``, float32 ``(batch, latent_dim)`` from the standard
normal (and for a conditional generator ``labels``, int64 ``(batch, attributes)``, each a value index of the
run's label space); its output ``images``, float32 ``(batch, channels, height, width)`` in [-1, 1]; the
batch size is free. Before anything is written the export is checked against ganlab's own generator on the
latents of ``ganlab generate --seed 0 --num 8``: TorchScript and safetensors (loaded back into the recipe's
generator) bit for bit, ONNX through onnxruntime to :data:`ONNX_TOLERANCE`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..common import tomlwrite
from ..common.atomic import atomic_write_bytes
from ..common.errors import GanlabError, PluginError, RunError, first_line
from ..loading.manager import Plugins
from ..rundir.rundir import RunDir, ensure_writable_folder
from ..training import generate as gen
from ..training.conditioning import forward, is_conditional
from ..training.sampling import frozen_for_sampling, to_uint8
from .card import card_paths, model_card, write_card
from .extras import needed
from .source import Source, Verification

FORMATS = ("torchscript", "onnx", "safetensors")
ONNX_TOLERANCE = 1e-4
"""The largest difference allowed between onnxruntime's output and ganlab's on the same latents, in the
output's units ([-1, 1]): a 78th of one step of an 8-bit pixel (2/255). Measured differences are about
1e-6 (onnxruntime's convolutions add in another order than torch's); docs/models.md gives the figures."""
ONNX_OPSET = 17
PACKAGES = {"torchscript": (), "onnx": ("onnx", "onnxruntime"), "safetensors": ("safetensors.torch",)}
"""The optional packages each format needs (``pip install 'ganlab[export]'``)."""


@dataclasses.dataclass(frozen=True)
class Exported:
    """What ``ganlab export`` wrote: the network file, its model card (JSON and Markdown) and the check."""

    path: Path
    card_json: Path
    card_markdown: Path
    verification: Verification


class Sampling(nn.Module):
    """The exported network: ``(z)`` or ``(z, labels)`` -> images in [-1, 1], positional inputs only, so
    TorchScript and ONNX see one fixed signature whatever the generator's own."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator
        self.conditional = is_conditional(generator)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return forward(self.generator, inputs[0], inputs[1] if self.conditional else None, self.conditional)


def check_output_path(path: Path, force: bool) -> None:
    """Refuse, before anything is loaded, an output that cannot or must not be written: a folder there, a
    file there (or a model card beside it) without ``force``, a parent folder that cannot take files."""
    if path.is_dir():
        raise RunError(f"-o {str(path)!r} is a folder; give the path of the file to write")
    for target in (path, *card_paths(path)):
        if (target.exists() or target.is_symlink()) and not force:
            raise RunError(f"{str(target)!r} already exists; pass --force to replace it")
        if target.is_dir():
            raise RunError(f"{str(target)!r} is a folder; the export needs that path for a file")
    ensure_writable_folder(path.parent, "-o: ")


def load_source(run_dir: RunDir, plugins: Plugins, checkpoint: str | None, warn: Callable[[str], None]) -> Source:
    """The generator of ``checkpoint`` (or the newest valid one) on the CPU, as ganlab samples with it."""
    path, state = gen.chosen_checkpoint(run_dir, checkpoint, warn)
    cpu = torch.device("cpu")
    generator, key = gen.trained_generator(state, path, plugins, cpu)
    labels = gen.label_distribution(state, path) if is_conditional(generator) else None
    return Source(run_dir, path, state, generator, frozen_for_sampling(generator), labels, key)


def export_run(
    run_dir: RunDir,
    plugins: Plugins,
    format: str,
    path: Path,
    checkpoint: str | None = None,
    force: bool = False,
    warn: Callable[[str], None] = lambda message: None,
) -> Exported:
    """Export the generator of ``run_dir`` as ``format`` to ``path``, with its model card beside it, once
    the exported file has been checked against ganlab's own generator; nothing is written if it fails."""
    path = Path(path)
    check_output_path(path, force)
    for module in PACKAGES[format]:  # a missing extra is said before minutes of loading
        needed(module, f"ganlab export --format {format}")
    exporter = {"torchscript": torchscript_bytes, "onnx": onnx_bytes, "safetensors": safetensors_bytes}[format]
    checker = {"torchscript": check_torchscript, "onnx": check_onnx, "safetensors": check_safetensors}[format]
    source = load_source(run_dir, plugins, checkpoint, warn)
    data = exporter(source)
    verification = checker(source, data, plugins)
    card = model_card(source, format, path, verification)
    json_path, markdown_path = card_paths(path)
    try:
        atomic_write_bytes(path, data)
        write_card(card, json_path, markdown_path)
    except OSError as e:
        raise RunError(f"cannot write the export {str(path)!r}: {e.strerror or e}") from None
    return Exported(path, json_path, markdown_path, verification)


def reference(source: Source) -> torch.Tensor:
    """ganlab's own output for the check's latents, in [-1, 1]: what its ``ganlab generate`` rounds to pixels."""
    with torch.no_grad():
        return Sampling(source.frozen)(*source.check_inputs())


def compared(method: str, source: Source, made: torch.Tensor, tolerance: float = 0.0) -> Verification:
    """The check of an export's output ``made`` against :func:`reference`; a GanlabError if it is off by
    more than ``tolerance``."""
    expected = reference(source)
    if made.shape != expected.shape:
        raise GanlabError(
            f"the export makes images of shape {list(made.shape)}, ganlab's generator {list(expected.shape)}; "
            "nothing was written"
        )
    difference = float((made.float() - expected).abs().max())
    pixels = int((to_uint8(made).int() - to_uint8(expected).int()).abs().max())
    verification = Verification(
        method, len(expected), difference, pixels, tolerance, bool(torch.equal(made.float(), expected))
    )
    if not difference <= tolerance:
        raise GanlabError(
            f"the export does not make ganlab's images: {method} differs by {difference:.3g} on the check's "
            f"latents (tolerance {tolerance:g}); nothing was written"
        )
    return verification


@contextlib.contextmanager
def running_modules(network: nn.Module) -> Iterator[list[nn.Module]]:
    """The modules of ``network`` whose forward is running, innermost last: after an exception inside one,
    the list still ends with it (its forward never returned), which names the part that cannot be traced."""
    stack: list[nn.Module] = []

    def enter(module: nn.Module, *_: Any) -> None:
        stack.append(module)

    def leave(module: nn.Module, *_: Any) -> None:
        if stack and stack[-1] is module:
            stack.pop()

    handles = [
        h for m in network.modules() for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))
    ]
    try:
        yield stack
    finally:
        for handle in handles:
            handle.remove()


def traced(source: Source, format: str) -> torch.jit.ScriptModule:
    """The TorchScript trace of the sampling network, taken strictly: a trace that may not hold for other
    inputs (Python control flow on a tensor's value, a tensor turned into a number, a list or a NumPy
    array) or that another batch size would trace differently is a PluginError naming the generator's
    module where it happened."""
    inputs = source.check_inputs()
    other_batch = tuple(x[:3] for x in inputs)
    names = {module: name for name, module in source.frozen.named_modules()}
    network = Sampling(source.frozen)
    with running_modules(source.frozen) as stack, warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 marks TorchScript deprecated; it still loads
        try:
            return torch.jit.trace(network, inputs, check_trace=True, check_inputs=[other_batch])
        except Exception as e:
            culprit = stack[-1] if stack else source.frozen
            where = f"module {names[culprit]!r}" if names.get(culprit) else "the network itself"
            said = first_line(root_cause(e))
            raise PluginError(
                f"cannot export the {component_name(source)!r} generator as {format}: it cannot be traced; "
                f"{where} ({type(culprit).__name__}) {said}"
            ) from None


def root_cause(error: BaseException) -> BaseException:
    """The first exception of a chain: a tracer warning raised inside ``Tensor.__bool__`` reaches the
    caller as a SystemError whose message says only that an exception was set."""
    while error.__cause__ is not None or error.__context__ is not None:
        error = error.__cause__ or error.__context__
    return error


def component_name(source: Source) -> str:
    return str(source.state["recipe"].get("generator", {}).get("name", "?"))


def torchscript_bytes(source: Source) -> bytes:
    buffer = io.BytesIO()
    script = traced(source, "torchscript")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(script, buffer)
    return buffer.getvalue()


def check_torchscript(source: Source, data: bytes, plugins: Plugins) -> Verification:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        loaded = torch.jit.load(io.BytesIO(data), map_location="cpu")
    with torch.no_grad():
        made = loaded(*source.check_inputs())
        loaded(*(x[:1] for x in source.check_inputs()))  # another batch size runs too
    return compared("TorchScript (torch.jit.load)", source, made)


def onnx_bytes(source: Source) -> bytes:
    """The ONNX graph of the strict TorchScript trace (:func:`traced`), batch dimension left free."""
    script = traced(source, "onnx")
    names = source.input_names()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter says it is the older one
            torch.onnx.export(
                script,
                source.check_inputs(),
                buffer,
                input_names=names,
                output_names=["images"],
                dynamic_axes={name: {0: "batch"} for name in [*names, "images"]},
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
    except Exception as e:
        raise PluginError(
            f"cannot export the {component_name(source)!r} generator as onnx: {first_line(root_cause(e))}"
        ) from None
    return buffer.getvalue()


def check_onnx(source: Source, data: bytes, plugins: Plugins) -> Verification:
    onnxruntime = needed("onnxruntime", "ganlab export --format onnx")
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    feeds = dict(zip(source.input_names(), (x.numpy() for x in source.check_inputs())))
    made = torch.from_numpy(session.run(["images"], feeds)[0])
    session.run(["images"], {name: value[:1] for name, value in feeds.items()})  # another batch size runs too
    return compared("ONNX (onnxruntime, CPU)", source, made, ONNX_TOLERANCE)


def safetensors_bytes(source: Source) -> bytes:
    """The sampling weights (standing statistics in the batch-norm buffers) and, as metadata, the recipe
    and the shapes that rebuild the generator they belong in."""
    safetensors_torch = needed("safetensors.torch", "ganlab export --format safetensors")
    tensors = {name: tensor.detach().contiguous() for name, tensor in source.frozen.state_dict().items()}
    metadata = {
        "format": "pt",
        "ganlab:recipe": tomlwrite.dumps(source.state["recipe"]),
        "ganlab:image_shape": json.dumps(list(source.state["image_shape"])),
        "ganlab:latent_dim": str(source.generator.latent_dim),
        "ganlab:weights": source.weights,
    }
    if source.labels is not None:  # what ganlab import needs to bring a conditional generator back
        metadata["ganlab:labels"] = json.dumps(source.labels.to_dict())
    try:
        return safetensors_torch.save(tensors, metadata)
    except Exception as e:  # tensors sharing memory (tied weights), a dtype safetensors has no name for
        raise PluginError(
            f"cannot export the {component_name(source)!r} generator as safetensors: {first_line(e)}"
        ) from None


def check_safetensors(source: Source, data: bytes, plugins: Plugins) -> Verification:
    """Loaded back into a new generator of the run's recipe, the weights make ganlab's images bit for bit."""
    safetensors_torch = needed("safetensors.torch", "ganlab export --format safetensors")
    fresh, _, _ = gen.untrained_generator(source.state, source.checkpoint, plugins, torch.device("cpu"))
    fresh.load_state_dict(safetensors_torch.load(data))
    with torch.no_grad():
        made = Sampling(fresh.eval())(*source.check_inputs())
    return compared("safetensors loaded into the recipe's generator", source, made)
