"""The Research Workbench SDK: a workspace's resources and datasets from Python (and from R through reticulate).

    from research_workbench.sdk import Workbench
    wb = Workbench(workspace="my-study")
    conditions = wb.dataset("Diabetes dataset").to_pandas("CONDITION")
    wb.session_info()   # data version and package versions, for a methods section
    publication_check(results_df)  # no count from 1 to 19 leaves, shown or by subtraction

Where it connects: ``url`` and ``token`` arguments, else the environment (``RW_WORKBENCH_URL``,
``RW_WORKBENCH_TOKEN``, ``RW_WORKSPACE``), which the Workbench's notebook servers set. The token is a personal API
token (Account → API tokens) with the ``workspaces:read`` and ``data:read`` scopes. Every read goes through the Workbench's API, so
what the SDK returns is what the Workbench previews and exports, and every read is in its audit log.
"""

from __future__ import annotations

from .client import Dataset, Workbench, WorkbenchError, publication_check

__all__ = ["Dataset", "Workbench", "WorkbenchError", "publication_check"]
