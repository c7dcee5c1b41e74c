"""Generators in and out of ganlab: export to TorchScript, ONNX or safetensors with a model card
(``export.py``, ``card.py``, ``source.py``), import weights trained elsewhere as a run (``importing.py``), latent walks
as an animation (``animation.py``), and the optional packages these need (``extras.py``)."""
