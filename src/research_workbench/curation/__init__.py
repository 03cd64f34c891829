"""Curation: a raw CDR → an immutable release with a Registered and a Controlled Tier, every removed or
changed row kept in a sandbox beside the release, and a report that balances."""

from .config import ConfigError, CurationConfig, load_config
from .engine import BalanceError, RuleDefinitionError
from .release import CurationResult, curate
from .rule import Rule, Stage, Tier

__all__ = [
    "BalanceError",
    "ConfigError",
    "CurationConfig",
    "CurationResult",
    "Rule",
    "RuleDefinitionError",
    "Stage",
    "Tier",
    "curate",
    "load_config",
]
