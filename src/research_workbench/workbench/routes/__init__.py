"""The Workbench's routers, one per area; ``app.create_app`` adds them in this order (one line each)."""

from __future__ import annotations

from . import (
    access, account, admin, api, cohort_builder, cohort_compare, concept_sets, data_versions, ducc, hub, hub_directory, identity, ohdsi_cohorts, oidc_signin, public, renewal,
    resource_api, resources, reviews, signin, signup, training, workspace_api, workspaces,
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
    reviews.router,
    cohort_compare.router,
    cohort_builder.router,
    ohdsi_cohorts.router,
    concept_sets.router, concept_sets.api_router,
    hub.router, hub.api_router,
    api.router,
]
