"""The ``ganlab`` command line: the group and its run, validate, list and plugins commands (main.py),
one module per other command (generate, data, evaluate, report, compare, sweep) doing only the command-line
work, and the options they share (options.py).

The top layer: may import every other folder; nothing imports it but ``ganlab.__main__`` and
``ganlab.testing``. Commands load plugins through ``loading.manager.load_plugins_or_warn``.
"""
