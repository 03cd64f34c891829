"""The Research Hub's services: the public Research Projects Directory, publications, support articles and
events. No web code: its pages and API are served by ``research_workbench.workbench``."""
