"""The model card written beside every export: what the file is, what it takes and gives, where it came
from, how good it is and how to use it, as JSON (for programs) and Markdown (for people)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from ..common import tomlwrite
from ..common.atomic import atomic_write_text
from ..common.version import __version__
from ..report.core_sections import EVALUATION_FIELDS, series_name
from .source import Source, Verification, agreement


def card_paths(path: Path) -> tuple[Path, Path]:
    """The model card's JSON and Markdown files for the export ``path``: ``PATH.card.json``, ``PATH.card.md``."""
    return path.with_name(path.name + ".card.json"), path.with_name(path.name + ".card.md")


def final_scores(evaluations: list[dict[str, Any]], step: int) -> list[dict[str, Any]]:
    """Per metric and protocol, the latest score made at or before ``step`` (the exported checkpoint's),
    with its step and the protocol it was measured under: a score from after the checkpoint is not of
    these weights."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for record in evaluations:
        if record.get("step", 0) > step:
            continue
        protocol = {key: value for key, value in record.items() if key not in EVALUATION_FIELDS}
        key = (record["metric"], json.dumps(protocol, sort_keys=True, default=str))
        if key not in latest or record.get("step", 0) >= latest[key].get("step", 0):
            latest[key] = {
                "metric": record["metric"],
                "value": record["value"],
                "step": record.get("step"),
                "protocol": protocol,
            }
    return sorted(latest.values(), key=lambda score: score["metric"])


def model_card(source: Source, format: str, path: Path, verification: Verification) -> dict[str, Any]:
    """The card of the export of ``source`` as ``format`` to ``path``, as plain JSON values."""
    state, generator = source.state, source.generator
    channels, height, width = (int(n) for n in state["image_shape"])
    meta = source.run_dir.read_checked_meta()
    inputs = [
        {
            "name": "z",
            "dtype": "float32",
            "shape": ["batch", generator.latent_dim],
            "distribution": "standard normal, every entry independent (N(0, 1))",
        }
    ]
    if source.labels is not None:
        inputs.append(
            {
                "name": "labels",
                "dtype": "int64",
                "shape": ["batch", len(source.labels.space.attributes)],
                "meaning": "per attribute of label_space, in its order, the index of the value in its values",
            }
        )
    return {
        "format": format,
        "file": path.name,
        "ganlab": __version__,
        "run": str(source.run_dir.path),
        "experiment": meta.get("experiment"),
        "imported": meta.get("imported"),
        "checkpoint": source.checkpoint.name,
        "step": state.get("step"),
        "epoch": state.get("epoch"),
        "generator": state["recipe"].get("generator"),
        "weights": "averaged weights (train.ema)" if source.weights == "ema" else "the generator's weights",
        "sampling": "evaluation mode; batch norm uses standing statistics of the weights (baked into the file)",
        "latent": {"size": generator.latent_dim, "distribution": "standard normal N(0, 1)"},
        "label_space": source.labels.space.to_dict() if source.labels is not None else None,
        "inputs": inputs,
        "output": {
            "name": "images",
            "dtype": "float32",
            "shape": ["batch", channels, height, width],
            "range": [-1.0, 1.0],
            "to_pixels": "round((images + 1) * 127.5), clipped to 0..255, as uint8 (what ganlab generate writes)",
        },
        "batch": "any size; the first dimension of every input and of the output",
        "truncation": "optional: resample entries of z with |z_i| > psi until inside (ganlab generate --truncation)",
        "scores": final_scores(source.run_dir.read_evaluations(), int(state.get("step", 0))),
        "verification": {
            **dataclasses.asdict(verification),
            "latents": "those of ganlab generate RUN --checkpoint K --seed 0 --num 8",
        },
        "usage": usage(format, path.name, source),
        "recipe": state["recipe"],
    }


def usage(format: str, file: str, source: Source) -> str:
    """How to sample from the exported file, in Python, for ``format``."""
    z_size, conditional = source.generator.latent_dim, source.labels is not None
    attributes = len(source.labels.space.attributes) if conditional else 0
    if format == "onnx":
        labels = ', "labels": labels' if conditional else ""
        return (
            "import numpy as np\nimport onnxruntime\n\n"
            f'session = onnxruntime.InferenceSession("{file}")\n'
            f"z = np.random.default_rng(0).standard_normal((16, {z_size})).astype(np.float32)\n"
            + (label_lines("np.zeros", "dtype=np.int64", attributes) if conditional else "")
            + f'images = session.run(["images"], {{"z": z{labels}}})[0]  # float32 in [-1, 1]\n'
            "pixels = np.clip(np.rint((images + 1) * 127.5), 0, 255).astype(np.uint8)\n"
        )
    if format == "torchscript":
        return (
            "import torch\n\n"
            f'generator = torch.jit.load("{file}")\n'
            f"z = torch.randn(16, {z_size})\n"
            + (label_lines("torch.zeros", "dtype=torch.int64", attributes) if conditional else "")
            + f"images = generator(z{', labels' if conditional else ''})  # float32 in [-1, 1]\n"
            "pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)\n"
        )
    if source.state["recipe"].get("generator", {}).get("name") == "dcgan":
        table = source.state["recipe"]["generator"]
        channels, size, _ = (int(n) for n in source.state["image_shape"])
        return (
            "import torch\nfrom safetensors.torch import load_file\n\nimport ganlab\n\n"
            f"generator = ganlab.DCGANGenerator({table['latent_dim']}, {table['features']}, {size}, {channels})\n"
            f'generator.load_state_dict(load_file("{file}"))\n'
            "generator.eval()\n"
            f"with torch.no_grad():\n    images = generator(torch.randn(16, {z_size}))  # float32 in [-1, 1]\n"
            "pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)\n"
        )
    return (
        "import ganlab\n\n"
        "# the file carries its recipe: a run that generates, evaluates and reports like a trained one\n"
        f'run = ganlab.import_weights("{file}")\n'
        "images = run.generate(16)  # PIL images\n"
    )


def label_lines(zeros: str, dtype: str, count: int) -> str:
    return f"labels = {zeros}((16, {count}), {dtype})  # a value index per attribute of label_space\n"


FORMAT_NAMES = {"torchscript": "A TorchScript", "onnx": "An ONNX", "safetensors": "A safetensors"}


def markdown(card: dict[str, Any]) -> str:
    """The card for people: the same facts as the JSON, the scores as a table, the snippet and the recipe
    in code blocks."""
    inputs = "\n".join(
        f"- `{i['name']}`: {i['dtype']} {i['shape']}, {i.get('distribution') or i.get('meaning')}"
        for i in card["inputs"]
    )
    out = card["output"]
    rows = "".join(
        f"| {series_name({**s['protocol'], 'metric': s['metric']})} | {s['value']:.6g} | {s['step']} | "
        + ", ".join(f"{k}={v}" for k, v in s["protocol"].items() if k != "truncation").replace("|", "/")
        + " |\n"
        for s in card["scores"]
    )
    scores = f"| score | value | step | protocol |\n| --- | --- | --- | --- |\n{rows}" if rows else ""
    check = card["verification"]
    imported = card["imported"]
    origin = (
        f"imported from `{imported.get('source')}`"
        if isinstance(imported, dict)
        else f"trained by ganlab {card['ganlab']}"
    )
    labels = (
        f"## Label space\n\n```json\n{json.dumps(card['label_space'], indent=2)}\n```\n\n"
        if card["label_space"]
        else ""
    )
    return (
        f"# Model card: {card['file']}\n\n"
        f"{FORMAT_NAMES[card['format']]} export of the generator of the ganlab run `{card['run']}` (experiment "
        f"{card['experiment']}), {origin}: checkpoint `{card['checkpoint']}`, step {card['step']}, epoch "
        f"{card['epoch']}, {card['weights']}; {card['sampling']}.\n\n"
        f"## Inputs\n\n{inputs}\n\nBatch: {card['batch']}. Truncation: {card['truncation']}.\n\n"
        f"## Output\n\n`{out['name']}`: {out['dtype']} {out['shape']} in {out['range']}; "
        f"pixels: {out['to_pixels']}.\n\n"
        f"{labels}"
        f"## Scores\n\n{scores or 'None recorded at this checkpoint or before it.'}\n\n"
        f"## Verification\n\n{check['method']} makes ganlab's images on {check['images']} latents "
        f"({check['latents']}) {agreement(check)}.\n\n"
        f"## How to sample\n\n```python\n{card['usage']}```\n\n"
        f"## Recipe\n\n```toml\n{tomlwrite.dumps(card['recipe'])}```\n"
    )


def write_card(card: dict[str, Any], json_path: Path, markdown_path: Path) -> None:
    atomic_write_text(json_path, json.dumps(card, indent=2, default=str) + "\n")
    atomic_write_text(markdown_path, markdown(card))
