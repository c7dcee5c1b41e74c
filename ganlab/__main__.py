"""``python -m ganlab`` is the ``ganlab`` command (what ``torchrun -m ganlab`` runs)."""

from .cli.main import main

main()
