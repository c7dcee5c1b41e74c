"""The machine a run runs on: which device (devices.py) and what this CPU computes natively
(cpu_features.py), the processes of a torchrun launch (distributed.py), how much memory there is
(memory.py), and stop signals (signals.py).

A folder of its own, below components, data and training, because all of them use it: the data sets
check host memory and let a signal interrupt a cache build, and components draw per-image random numbers
through ``distributed.draw_for_global_batch``. Imports only :mod:`ganlab.common`.
"""
