"""Each plugin package in plugins/ is imported from its source folder, so its tests (and ganlab's tests of
it) run where it is not installed. The folders themselves are the list of packages: nothing else names them
for pytest."""

import sys
from pathlib import Path

for package in sorted(Path(__file__).parent.glob("plugins/*/pyproject.toml")):
    sys.path.insert(0, str(package.parent))
