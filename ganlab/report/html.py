"""Deprecated: the page kit moved to :mod:`ganlab.page.html`; this name works until ganlab 0.6."""

import warnings

from ..page.html import *  # noqa: F403 (the old module's public names, unchanged)

warnings.warn("ganlab.report.html is deprecated: import ganlab.page.html instead", DeprecationWarning, stacklevel=2)
