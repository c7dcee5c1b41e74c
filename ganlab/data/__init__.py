"""Built-in data sets and the loader that turns any :class:`ganlab.protocols.ImageDataset` into batches."""
