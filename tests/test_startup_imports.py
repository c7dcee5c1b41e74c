"""Start-up stays light: ``ganlab --help`` (which loads every plugin, to list their commands) imports none of
the heavy libraries that only some commands need. Each of them adds seconds to every command's start
(torch-fidelity imports torchvision, whose models import half of torch): BENCHMARKS.md, "Start-up"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "torch_fidelity",
    "torchvision",
    "pandas",
    "matplotlib",
    "seaborn",
    "scipy",
    "tensorboard",
    "onnx",
    "onnxruntime",
    "safetensors",
    "imageio",
)

PROBE = """
import json, sys
from ganlab.cli.main import main
try:
    main(["--help"], standalone_mode=False)
finally:
    print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:]))))
"""


def test_help_loads_the_plugins_without_heavy_imports():
    # this checkout's plugin packages before any installed elsewhere, as pytest's pythonpath puts them
    plugins = sorted(str(p) for p in (ROOT / "plugins").iterdir() if p.is_dir())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *plugins, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *HEAVY], env=env, cwd=ROOT, check=True, capture_output=True, text=True
    )
    assert "validate" in done.stdout  # the help was printed
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_inception_weights_url_is_torch_fidelitys():
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    from ganlab.metrics import weights

    assert weights.URL_INCEPTION_V3 == URL_INCEPTION_V3
