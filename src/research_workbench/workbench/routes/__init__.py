"""The Workbench's routers, one per area; ``app.create_app`` adds them in this order (one line each)."""

from __future__ import annotations

from . import (
    access, account, admin, api, data_versions, ducc, hub, hub_directory, identity, oidc_signin, public, renewal,
    resource_api, resources, signin, signup, training, workspace_api, workspaces,
)

ROUTERS = [
    public.router,
    signup.router,
    signin.router,
    oidc_signin.router,
    account.router,
    access.router,
    identity.router,
    training.router,
    ducc.router,
    renewal.router,
    admin.router,
    data_versions.router,
    hub_directory.router,
    workspaces.router,
    workspace_api.router,
    resources.router,
    resource_api.router,
    hub.router, hub.api_router,
    api.router,
]
