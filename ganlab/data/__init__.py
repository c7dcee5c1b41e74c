"""Built-in data sets and the loader that turns any :class:`ganlab.contracts.engine.ImageDataset` into batches.

Imports common, machine (host memory, stop signals), registry, recipes and contracts.
"""
