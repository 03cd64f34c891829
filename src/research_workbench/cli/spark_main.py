"""The Python application ``spark-submit`` runs: the ``workbench`` command line, on the cluster's session.

    spark-submit --master spark://head:7077 "$(workbench spark-app)" curate RAW … --engine spark

Run as a file, with no package context, so the import is absolute. Nothing imports this module.
"""

from research_workbench.cli.commands import main

if __name__ == "__main__":
    main()
