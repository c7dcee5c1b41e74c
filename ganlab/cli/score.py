"""``ganlab score A B`` and ``ganlab metrics``: standard scores outside a run, and which network makes them.
The scoring is :mod:`ganlab.compare.score`'s; the networks are found by :mod:`ganlab.metrics.weights`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .generate import SEED
from .options import WholeNumber


@click.command("score")
@click.argument("first", metavar="A", type=click.Path(path_type=Path))
@click.argument("second", metavar="B", type=click.Path(path_type=Path), required=False)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="NAME",
    help="fid (default), kid, precision-recall, another feature metric, or isc (Inception Score of A "
    "alone; needs torch-fidelity's official weights). Repeatable.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object: each metric's name and value (kid_std and isc_std beside kid and isc).",
)
@click.option(
    "--weights",
    "weights_path",
    default="",
    metavar="FILE",
    help="Inception state dict to use instead of the resolved one (see `ganlab metrics`).",
)
@click.option(
    "--size",
    type=WholeNumber(8, 4096),
    default=None,
    help="Centre-crop and resize every image to SIZE first (default: as stored, all of one size).",
)
@click.option(
    "--num",
    type=WholeNumber(min=2, max=1_000_000),
    default=10000,
    show_default=True,
    help="Images a run's generator makes, when A is a run directory.",
)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of those images' latents.")
@click.option("--checkpoint", default=None, metavar="K", help="The run's checkpoint (default: its newest).")
@click.option(
    "--batch-size", type=WholeNumber(1, 4096), default=64, show_default=True, help="Images per Inception forward pass."
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True)
def score(
    first: Path,
    second: Path | None,
    metrics: tuple[str, ...],
    as_json: bool,
    weights_path: str,
    size: int | None,
    num: int,
    seed: int,
    checkpoint: str | None,
    batch_size: int,
    device: str,
) -> None:
    """Score the images of A (a folder, a zip archive, or a run directory's generator) against the
    reference images of B, as `fidelity --input1 A --input2 B` does."""
    from ..common.errors import ConfigError, GanlabError, warn
    from ..compare.score import ScoreRequest
    from ..compare.score import score as compute
    from ..loading.manager import load_plugins_or_warn
    from ..machine.devices import resolve_device

    try:
        torch_device = resolve_device(device)
    except ConfigError as e:
        raise GanlabError(f"--device: {e.message}") from None
    request = ScoreRequest(
        first, second, metrics or ("fid",), weights_path, size, num, seed, checkpoint, batch_size, torch_device
    )
    scores = compute(request, load_plugins_or_warn(), warn, progress=not as_json)
    if as_json:
        values = {}
        for s in scores:
            values[s.metric] = s.value
            if s.std is not None:
                values[f"{s.metric}_std"] = s.std
        click.echo(json.dumps(values))
        return
    for s in scores:
        click.echo(f"{s.metric} = {s.value:.6f}" + ("" if s.std is None else f" ± {s.std:.6f}"))
    if scores:
        protocol = scores[0].protocol
        click.echo(
            f"network {protocol['network_sha256'][:16]}… ({protocol['network_source']}); "
            f"{protocol.get('num_generated')} vs {protocol.get('num_reference', '-')} images"
        )


@click.command("metrics")
@click.option("--json", "as_json", is_flag=True, help="Print the networks as a JSON list.")
def metrics(as_json: bool) -> None:
    """Which Inception networks are usable here, where each comes from, and its digest (the
    network_sha256 every score's protocol records). The first usable one is what scores use."""
    from ..metrics.weights import feature_networks

    networks = feature_networks()
    if as_json:
        click.echo(json.dumps([n.to_dict() for n in networks], indent=2))
        return
    for n in networks:
        mark = "used" if n.used else ("usable" if n.usable else "absent")
        click.echo(f"[{mark:6}] {n.place}: {n.detail}")
        if n.usable:
            logits = "yes (isc available)" if n.has_logits else "no (no isc)"
            click.echo(f"         network_sha256 {n.sha256}; logits: {logits}")
