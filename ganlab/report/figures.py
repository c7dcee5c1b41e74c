"""Deprecated: the page kit moved to :mod:`ganlab.page.figures`; this name works until ganlab 0.6."""

import warnings

from ..page.figures import *  # noqa: F403 (the old module's public names, unchanged)

warnings.warn(
    "ganlab.report.figures is deprecated: import ganlab.page.figures instead", DeprecationWarning, stacklevel=2
)
