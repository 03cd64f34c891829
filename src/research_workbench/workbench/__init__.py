"""The Researcher Workbench web app: accounts, the four registration steps, access tiers and the admin pages,
served as HTML pages (htmx where it helps, every page working without JavaScript) and a JSON API under ``/api``.

It is built on the web foundation (``research_workbench.web``) and calls the services of
``research_workbench.accounts``; every decision about access comes from the one evaluator there
(``accounts.access.evaluate``), read through ``Viewer.access``.
"""
