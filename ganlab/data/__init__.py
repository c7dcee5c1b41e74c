"""Built-in data sets and the loader that turns any :class:`ganlab.protocols.ImageDataset` into batches.

May import: errors, whole_numbers, labels, protocols, recipes, plugins.registry, machine (host memory, stop signals).
"""
