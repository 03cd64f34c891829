"""The access tiers and the modules that lead to them: the one list every page, guard and email reads.

A researcher reaches a tier's data after its modules. The Registered Tier needs the account (step 1: a verified
institutional email, the current Terms of Service and privacy policy, a profile), two-factor authentication,
identity verification (step 2), the Registered Tier training (step 3), the Data User Code of Conduct (step 4), and
each year a confirmed profile and a publications report. The Controlled Tier needs all that, the institution's
permission (its agreement's rule for the tier) and the Controlled Tier training.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Tier(StrEnum):
    REGISTERED = "registered"
    CONTROLLED = "controlled"

    @property
    def label(self) -> str:
        return f"{self.value.title()} Tier"


class Module(StrEnum):
    ACCOUNT = "account"
    TWO_FACTOR = "two_factor"
    IDENTITY = "identity"
    RT_TRAINING = "rt_training"
    CT_TRAINING = "ct_training"
    DUCC = "ducc"
    PROFILE_CONFIRMATION = "profile_confirmation"
    PUBLICATIONS = "publications"
    INSTITUTION_RT = "institution_rt"  # the institution's agreement covers this email: not something the user does
    INSTITUTION_CT = "institution_ct"


@dataclass(frozen=True)
class ModuleInfo:
    module: Module
    title: str
    action: str  # the button that starts it
    path: str  # the page where it is done
    expires: bool  # renewed yearly
    bypassable: bool  # an admin may bypass it with a reason and an end date
    minutes: int  # estimated time, shown on the access page


MODULES: dict[Module, ModuleInfo] = {m.module: m for m in (
    ModuleInfo(Module.ACCOUNT, "Verify your email and accept the Terms of Service", "Finish your account",
               "/account/finish", False, False, 5),
    ModuleInfo(Module.TWO_FACTOR, "Turn on two-step verification", "Set up two-step verification",
               "/account/two-factor", False, True, 5),
    ModuleInfo(Module.IDENTITY, "Verify your identity", "Verify your identity", "/access/identity", False, True, 15),
    ModuleInfo(Module.RT_TRAINING, "Registered Tier training", "Take the Registered Tier training",
               "/training/registered", True, True, 60),
    ModuleInfo(Module.DUCC, "Sign the Data User Code of Conduct", "Sign the Code of Conduct", "/access/ducc",
               True, True, 5),
    ModuleInfo(Module.PROFILE_CONFIRMATION, "Confirm your profile", "Review your profile", "/renewal/profile",
               True, True, 5),
    ModuleInfo(Module.PUBLICATIONS, "Report any publications", "Report publications", "/renewal/publications",
               True, True, 5),
    ModuleInfo(Module.INSTITUTION_RT, "Your institution's agreement covers your email", "See your institution",
               "/institutions", False, False, 0),
    ModuleInfo(Module.INSTITUTION_CT, "Your institution allows the Controlled Tier", "Ask your institution",
               "/institutions", False, False, 0),
    ModuleInfo(Module.CT_TRAINING, "Controlled Tier training", "Take the Controlled Tier training",
               "/training/controlled", True, True, 60),
)}

# What each tier needs, in the order a user does it (the first missing one is the next step).
REQUIRED: dict[Tier, tuple[Module, ...]] = {
    Tier.REGISTERED: (Module.INSTITUTION_RT, Module.ACCOUNT, Module.TWO_FACTOR, Module.IDENTITY, Module.RT_TRAINING, Module.DUCC,
                      Module.PROFILE_CONFIRMATION, Module.PUBLICATIONS),
    Tier.CONTROLLED: (Module.INSTITUTION_RT, Module.ACCOUNT, Module.TWO_FACTOR, Module.IDENTITY, Module.RT_TRAINING, Module.DUCC,
                      Module.PROFILE_CONFIRMATION, Module.PUBLICATIONS, Module.INSTITUTION_CT, Module.CT_TRAINING),
}

# Modules a user completes by doing something here (not computed from the account or the institution).
STORED_MODULES = (Module.TWO_FACTOR, Module.IDENTITY, Module.RT_TRAINING, Module.CT_TRAINING, Module.DUCC,
                  Module.PROFILE_CONFIRMATION, Module.PUBLICATIONS)
RENEWAL_MODULES = tuple(m for m in STORED_MODULES if MODULES[m].expires)
