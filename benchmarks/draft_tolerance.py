"""How far Pillow's reduced-scale JPEG decode (draft mode) lands from a full decode, on real photos.

Usage (from the repository root; the archive is only read):

    python benchmarks/draft_tolerance.py --lfw ../shared/data/lfw-deepfunneled.zip [--images 1000]

Decodes ``--images`` evenly spaced photos of the archive both ways through ganlab's
CropResize, for the crops and sizes that matter (CelebA's 178 crop to 64, the whole photo to 64 and 32),
and prints the per-pixel absolute difference in grey levels (0-255): mean, 99th percentile, maximum,
and the worst image's mean.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ganlab.data.transform import CropResize  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared" / "data" / "lfw-deepfunneled.zip")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    with zipfile.ZipFile(args.lfw) as archive:
        names = sorted(n for n in archive.namelist() if n.lower().endswith(".jpg"))
        step = max(1, len(names) // args.images)
        photos = [archive.read(name) for name in names[::step][: args.images]]
    results = []
    for crop, size in [(178, 64), (0, 64), (0, 32)]:
        fast, exact = CropResize(size, crop), CropResize(size, crop, draft=False)
        diff = np.stack([np.abs(fast(p).astype(int) - exact(p).astype(int)) for p in photos])
        results.append(
            {
                "crop": crop,
                "size": size,
                "images": len(photos),
                "mean": round(float(diff.mean()), 3),
                "p99": float(np.percentile(diff, 99)),
                "max": int(diff.max()),
                "worst_image_mean": round(float(diff.reshape(len(photos), -1).mean(1).max()), 3),
            }
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
