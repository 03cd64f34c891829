"""Researcher accounts and access: institutions, registration, the access modules, the one access evaluator,
credentials (passwords, TOTP, recovery codes, API tokens), sessions, mail and the audit log. No web code: the
Researcher Workbench app (``research_workbench.workbench``) calls these services."""
