"""``python -m research_workbench`` runs the ``workbench`` command."""

from .cli import main

main()
