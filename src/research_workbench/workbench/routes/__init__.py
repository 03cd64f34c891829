"""The Workbench's routers, one per area; ``app.create_app`` adds them in this order."""

from __future__ import annotations

from . import access, account, admin, api, ducc, identity, oidc_signin, public, renewal, signin, signup, training

ROUTERS = [public.router, signup.router, signin.router, oidc_signin.router, account.router, access.router,
           identity.router, training.router, ducc.router, renewal.router, admin.router, api.router]
