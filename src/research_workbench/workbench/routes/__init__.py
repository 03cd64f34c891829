"""The Workbench's routers, one per area; ``app.create_app`` adds them in this order (one line each)."""

from __future__ import annotations

from . import (
    access, account, admin, api, cohort_api, cohort_builder, cohort_compare, concept_sets, data_versions, dataset_api, dataset_builder, dataset_exports, ducc, genomics, hub, hub_directory, identity, notebooks, ohdsi_cohorts, oidc_signin, public, publication, renewal,
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
    notebooks.router,
    reviews.router,
    cohort_compare.router,
    cohort_builder.router,
    ohdsi_cohorts.router,
    concept_sets.router, concept_sets.api_router,
    dataset_api.router,
    cohort_api.router,
    dataset_builder.router,
    dataset_exports.router, dataset_exports.page_router,
    genomics.router, genomics.page_router,
    publication.router,
    hub.router, hub.api_router,
    api.router,
]
