"""Workspaces: a shared place bound to one data version of one tier, holding cohorts, concept sets, datasets,
review sets and notebooks, described by a research purpose the public can read. Also the data versions themselves
(each tier of a published release). Services only; the pages and API are in ``research_workbench.workbench``."""
