"""``python -m tierflow.cli``: the same as the ``tierflow`` command."""

from tierflow.cli import main

main()
