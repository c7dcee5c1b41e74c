"""The bottom layer: what every other folder shares and nothing of ganlab's own is beneath.

The errors and their exit codes (errors.py), the checks of what a Python caller passes (arguments.py) and of
numbers people type (whole_numbers.py), the one did-you-mean (hints.py), how a component declares its
settings (config.py: ``param``), labels of conditional data (labels.py), careful file reading (files.py),
atomic writes (atomic.py), TOML writing (tomlwrite.py) and the version. Imports nothing else of ganlab.
"""
