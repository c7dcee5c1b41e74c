"""The page kit: self-contained HTML (html.py), figures rendered to embedded PNGs (figures.py) and the one
image-grid layout (grids.py). Reports, comparisons and evaluators build their pages from it; plugins may
import ``ganlab.page.html`` and ``ganlab.page.figures``. Imports only :mod:`ganlab.common`.
"""
