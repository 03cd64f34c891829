"""Institutions and their Data Use and Registration Agreements: per tier, one rule saying which of their people
may reach it — listed email domains (a subdomain counts), listed addresses, or nobody."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..cdr.problems import Problem, ProblemsError
from ..state.models import Institution, InstitutionRequest, TierRule
from .modules import Tier

KINDS = ("academic", "nonprofit", "health_center", "government", "industry", "other")
KIND_LABELS = {"academic": "Academic research institution", "nonprofit": "Non-profit organisation",
               "health_center": "Health center", "government": "Government agency", "industry": "Industry",
               "other": "Other"}
RULE_KINDS = ("domains", "addresses", "none")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,253}$")
_SHORT_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")


class InstitutionError(ProblemsError):
    heading = "invalid institution"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def is_email(email: str) -> bool:
    local_domain = normalise_email(email)
    return bool(_EMAIL.fullmatch(local_domain)) and bool(_DOMAIN.fullmatch(local_domain.rsplit("@", 1)[-1]))


def rule_allows(kind: str, entries: list[str], email: str) -> bool:
    email = normalise_email(email)
    if kind == "addresses":
        return email in {normalise_email(e) for e in entries}
    if kind == "domains":
        domain = email.rsplit("@", 1)[-1]
        return any(domain == d or domain.endswith("." + d) for d in (e.lower() for e in entries))
    return False


def allowed_tiers(institution: Institution | None, email: str, today: date | None = None) -> frozenset[Tier]:
    """The tiers ``institution``'s agreement lets ``email`` reach (none once the agreement has ended)."""
    if institution is None:
        return frozenset()
    if today is not None and institution.agreement_expires_on is not None and today > institution.agreement_expires_on:
        return frozenset()
    return frozenset(Tier(r.tier) for r in institution.rules if rule_allows(r.kind, list(r.entries), email))


@dataclass(frozen=True)
class RuleSpec:
    kind: str
    entries: tuple[str, ...] = ()


def rule_problems(tier: Tier, spec: RuleSpec) -> list[Problem]:
    where = f"{tier.value}_rule"
    if spec.kind not in RULE_KINDS:
        return [Problem(f"choose one of {', '.join(RULE_KINDS)}", where)]
    problems = []
    if spec.kind == "none" and spec.entries:
        problems.append(Problem("a tier nobody may reach lists no domains or addresses", f"{tier.value}_entries"))
    if spec.kind != "none" and not spec.entries:
        problems.append(Problem(f"list at least one {'domain' if spec.kind == 'domains' else 'address'}",
                                f"{tier.value}_entries"))
    for entry in spec.entries:
        ok = _DOMAIN.fullmatch(entry.lower()) if spec.kind == "domains" else is_email(entry)
        if not ok:
            problems.append(Problem(f"{entry!r} is not {'a domain' if spec.kind == 'domains' else 'an email address'}",
                                    f"{tier.value}_entries"))
    return problems


def parse_entries(text: str) -> tuple[str, ...]:
    """Domains or addresses written one per line or separated by commas or spaces."""
    return tuple(dict.fromkeys(e.strip().lower() for e in re.split(r"[\s,;]+", text) if e.strip()))


def validate_institution(*, short_name: str, display_name: str, kind: str, signed_on: date | None,
                         expires_on: date | None, rules: dict[Tier, RuleSpec]) -> list[Problem]:
    problems = []
    if not _SHORT_NAME.fullmatch(short_name):
        problems.append(Problem("2–40 lower-case letters, digits and hyphens, starting with a letter or digit",
                                "short_name"))
    if not 2 <= len(display_name.strip()) <= 200:
        problems.append(Problem("2 to 200 characters", "display_name"))
    if kind not in KINDS:
        problems.append(Problem(f"choose one of {', '.join(KINDS)}", "kind"))
    if signed_on and expires_on and expires_on < signed_on:
        problems.append(Problem("the agreement cannot end before it was signed", "agreement_expires_on"))
    for tier in Tier:
        problems += rule_problems(tier, rules.get(tier, RuleSpec("none")))
    if rules.get(Tier.CONTROLLED, RuleSpec("none")).kind != "none" and rules.get(Tier.REGISTERED, RuleSpec("none")).kind == "none":
        problems.append(Problem("the Controlled Tier needs the Registered Tier: give the Registered Tier a rule too",
                                "registered_rule"))
    return problems


def save_institution(session: Session, *, short_name: str, display_name: str, kind: str, signed_on: date | None,
                     expires_on: date | None, rules: dict[Tier, RuleSpec], now: datetime,
                     existing: Institution | None = None) -> Institution:
    """Create (or update ``existing``) after validation; a duplicate name is a problem on its field."""
    short_name, display_name = short_name.strip().lower(), display_name.strip()
    problems = validate_institution(short_name=short_name, display_name=display_name, kind=kind,
                                    signed_on=signed_on, expires_on=expires_on, rules=rules)
    for field, column, value in (("short_name", Institution.short_name, short_name),
                                 ("display_name", Institution.display_name, display_name)):
        clash = session.scalar(select(Institution).where(column == value))
        if clash is not None and clash is not existing:
            problems.append(Problem("another institution has this name", field))
    if problems:
        raise InstitutionError(problems)
    inst = existing or Institution(created_at=now)
    inst.short_name, inst.display_name, inst.kind = short_name, display_name, kind
    inst.agreement_signed_on, inst.agreement_expires_on = signed_on, expires_on
    by_tier = {r.tier: r for r in inst.rules}
    for tier in Tier:
        spec = rules.get(tier, RuleSpec("none"))
        rule = by_tier.get(tier.value)
        if rule is None:
            rule = TierRule(tier=tier.value)
            inst.rules.append(rule)
        rule.kind, rule.entries = spec.kind, list(spec.entries)
    if existing is None:
        session.add(inst)
    session.flush()
    return inst


def all_institutions(session: Session) -> list[Institution]:
    return list(session.scalars(select(Institution).options(selectinload(Institution.rules))
                                .order_by(Institution.display_name)))


def by_short_name(session: Session, short_name: str) -> Institution | None:
    return session.scalar(select(Institution).options(selectinload(Institution.rules))
                          .where(Institution.short_name == short_name))


def describe_rule(rule: TierRule | None) -> str:
    if rule is None or rule.kind == "none":
        return "not available"
    if rule.kind == "domains":
        return "addresses at " + ", ".join(rule.entries)
    return f"{len(rule.entries)} listed address{'es' if len(rule.entries) != 1 else ''}"


def request_institution(session: Session, *, name: str, website: str | None, contact_name: str, contact_email: str,
                        message: str | None, now: datetime) -> InstitutionRequest:
    problems = []
    if not 2 <= len(name.strip()) <= 200:
        problems.append(Problem("2 to 200 characters", "name"))
    if website and (len(website) > 300 or not re.match(r"^https?://[^\s]+$", website.strip())):
        problems.append(Problem("an http:// or https:// address of at most 300 characters", "website"))
    if not 1 <= len(contact_name.strip()) <= 160:
        problems.append(Problem("1 to 160 characters", "contact_name"))
    if not is_email(contact_email) or len(contact_email) > 254:
        problems.append(Problem("an email address", "contact_email"))
    if message and len(message) > 2000:
        problems.append(Problem("at most 2000 characters", "message"))
    if problems:
        raise InstitutionError(problems)
    req = InstitutionRequest(name=name.strip(), website=(website or "").strip() or None,
                             contact_name=contact_name.strip(), contact_email=normalise_email(contact_email),
                             message=(message or "").strip() or None, created_at=now)
    session.add(req)
    session.flush()
    return req
