"""Step 1, the account: what the sign-up wizard asks, the limits of every field, and creating the account.

Every refusal is a ``SignupError`` whose problems name the form field (``email``, ``address.city``…), so the
wizard shows each message beside its field and keeps what was typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..cdr.problems import Problem, ProblemsError
from ..state.models import Institution, User
from .institutions import allowed_tiers, by_short_name, is_email, normalise_email
from .modules import Module, Tier
from .module_records import complete
from .passwords import Passwords

ROLES = {
    "undergraduate": "Undergraduate student", "graduate": "Graduate student", "postdoc": "Post-doctoral fellow",
    "research_staff": "Research assistant or staff", "faculty": "Faculty or principal investigator",
    "clinician": "Clinician", "engineer": "Data scientist or engineer", "administrator": "Administrator",
    "other": "Other (describe)",
}
DEGREES = {"phd": "PhD", "md": "MD", "do": "DO", "dnp": "DNP", "mph": "MPH", "ms": "MS", "ma": "MA", "mba": "MBA",
           "bs": "BS", "ba": "BA", "rn": "RN", "pharmd": "PharmD", "jd": "JD", "other": "Other"}
PREFER_NOT = "prefer_not_to_answer"
DEMOGRAPHICS: dict[str, tuple[str, bool, dict[str, str]]] = {  # key → (question, several answers?, options)
    "race": ("Which categories describe you?", True, {
        "aian": "American Indian or Alaska Native", "asian": "Asian", "black": "Black or African American",
        "mena": "Middle Eastern or North African", "nhpi": "Native Hawaiian or other Pacific Islander",
        "white": "White", "other": "Another category", PREFER_NOT: "Prefer not to answer"}),
    "ethnicity": ("Are you Hispanic, Latino or Spanish?", False, {
        "yes": "Yes", "no": "No", PREFER_NOT: "Prefer not to answer"}),
    "gender": ("What is your gender identity?", True, {
        "woman": "Woman", "man": "Man", "non_binary": "Non-binary", "transgender": "Transgender",
        "other": "Another identity", PREFER_NOT: "Prefer not to answer"}),
    "sex_at_birth": ("What sex were you assigned at birth?", False, {
        "female": "Female", "male": "Male", "intersex": "Intersex", "other": "Other", PREFER_NOT: "Prefer not to answer"}),
    "disability": ("Do you have a disability?", False, {
        "yes": "Yes", "no": "No", PREFER_NOT: "Prefer not to answer"}),
    "education": ("What is the highest level of education you have completed?", False, {
        "high_school": "High school or less", "college": "College degree", "masters": "Master's degree",
        "doctorate": "Doctorate", PREFER_NOT: "Prefer not to answer"}),
}
ADDRESS_FIELDS = {"street1": (1, 95), "street2": (0, 95), "city": (1, 95), "state": (0, 95), "postal_code": (0, 20),
                  "country": (1, 95)}
BACKGROUND_MAX = 2000
BACKGROUND_SHORT = 100  # below this the wizard suggests saying more (it is public on the Research Hub)
NAME_MAX = 80
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class SignupError(ProblemsError):
    heading = "cannot create the account"


@dataclass
class SignupForm:
    institution: str = ""
    email: str = ""
    role: str = ""
    role_other: str = ""
    given_name: str = ""
    family_name: str = ""
    degrees: list[str] = field(default_factory=list)
    address: dict[str, str] = field(default_factory=dict)
    research_background: str = ""
    professional_url: str = ""
    password: str = ""
    password_confirm: str = ""
    terms_version: str = ""
    privacy_version: str = ""
    demographics: dict[str, Any] | None = None


def _text(problems: list[Problem], where: str, value: str, low: int, high: int) -> None:
    if _CONTROL.search(value):
        problems.append(Problem("contains a control character", where))
    elif len(value.strip()) < low:
        problems.append(Problem("required" if low == 1 else f"at least {low} characters", where))
    elif len(value) > high:
        problems.append(Problem(f"at most {high} characters (this is {len(value)})", where))


def institution_problems(session: Session, form: SignupForm, today) -> tuple[list[Problem], Institution | None]:
    """Step "institution": the institution exists and its Registered Tier rule covers the email."""
    problems: list[Problem] = []
    inst = by_short_name(session, form.institution) if form.institution else None
    if inst is None:
        problems.append(Problem("choose your institution from the list (or request it to be added)", "institution"))
    email = normalise_email(form.email)
    if not email:
        problems.append(Problem("required", "email"))
    elif len(email) > 254 or not is_email(email):
        problems.append(Problem("not an email address", "email"))
    elif inst is not None and Tier.REGISTERED not in allowed_tiers(inst, email, today):
        problems.append(Problem(f"{inst.display_name}'s agreement does not cover {email.rsplit('@', 1)[1]} addresses: "
                                "use your institutional email, or ask your institution to add it", "email"))
    elif session.scalar(select(func.count()).select_from(User).where(User.email == email)):
        problems.append(Problem("an account with this email exists: sign in instead", "email"))
    if form.role not in ROLES:
        problems.append(Problem("choose your role", "role"))
    elif form.role == "other":
        _text(problems, "role_other", form.role_other, 1, NAME_MAX)
    return problems, inst


def details_problems(form: SignupForm, passwords: Passwords, *, check_password: bool = True) -> list[Problem]:
    problems: list[Problem] = []
    _text(problems, "given_name", form.given_name, 1, NAME_MAX)
    _text(problems, "family_name", form.family_name, 1, NAME_MAX)
    for d in form.degrees:
        if d not in DEGREES:
            problems.append(Problem(f"unknown degree {d[:20]!r}", "degrees"))
    unknown = set(form.address) - set(ADDRESS_FIELDS)
    for key in sorted(unknown):
        problems.append(Problem("unknown address field", f"address.{key}"))
    for key, (low, high) in ADDRESS_FIELDS.items():
        _text(problems, f"address.{key}", form.address.get(key, ""), low, high)
    _text(problems, "research_background", form.research_background, 1, BACKGROUND_MAX)
    if form.professional_url and (len(form.professional_url) > 300 or not _URL.match(form.professional_url)):
        problems.append(Problem("an http:// or https:// address of at most 300 characters", "professional_url"))
    if check_password:
        for message in passwords.problems(form.password, email=form.email, names=(form.given_name, form.family_name)):
            problems.append(Problem(message, "password"))
        if form.password != form.password_confirm:
            problems.append(Problem("the two passwords differ", "password_confirm"))
    return problems


def demographics_problems(answers: dict[str, Any] | None) -> list[Problem]:
    problems = []
    for key, value in (answers or {}).items():
        if key not in DEMOGRAPHICS:
            problems.append(Problem("unknown question", f"demographics.{key}"))
            continue
        _, several, options = DEMOGRAPHICS[key]
        values = value if isinstance(value, list) else [value]
        if not several and len(values) > 1:
            problems.append(Problem("choose one answer", f"demographics.{key}"))
        if any(v not in options for v in values):
            problems.append(Problem("not one of the answers", f"demographics.{key}"))
        elif PREFER_NOT in values and len(values) > 1:
            problems.append(Problem("'Prefer not to answer' goes alone", f"demographics.{key}"))
    return problems


def terms_problems(form: SignupForm, terms_version: str, privacy_version: str) -> list[Problem]:
    problems = []
    if form.terms_version != terms_version:
        problems.append(Problem("read the Terms of Service to the end and accept them", "terms_version"))
    if form.privacy_version != privacy_version:
        problems.append(Problem("read the privacy policy to the end and accept it", "privacy_version"))
    return problems


def create_account(session: Session, form: SignupForm, *, passwords: Passwords, terms_version: str,
                   privacy_version: str, now: datetime, password_hash: str | None = None) -> User:
    """Check every step again (a wizard's earlier answers may be stale) and create the account, email unverified.

    Signing up confirms the profile and has nothing to report yet, so both renewal modules start complete.
    ``password_hash``: the hash computed (and the password checked) at the wizard's details step, before any
    transaction began: argon2 is slow, and the SQLite write lock is not held meanwhile.
    """
    problems, inst = institution_problems(session, form, now.date())
    problems += details_problems(form, passwords, check_password=password_hash is None)
    problems += demographics_problems(form.demographics)
    problems += terms_problems(form, terms_version, privacy_version)
    if problems:
        raise SignupError(problems)
    assert inst is not None
    user = User(email=normalise_email(form.email), institution_id=inst.id, role=form.role,
                role_other=form.role_other.strip() or None if form.role == "other" else None,
                given_name=form.given_name.strip(), family_name=form.family_name.strip(),
                degrees=sorted(set(form.degrees)),
                address={k: form.address.get(k, "").strip() for k in ADDRESS_FIELDS},
                research_background=form.research_background.strip(),
                professional_url=form.professional_url.strip() or None, demographics=form.demographics,
                terms_version=form.terms_version, privacy_version=form.privacy_version, terms_accepted_at=now,
                password_hash=password_hash or passwords.hash(form.password), created_at=now, is_admin=False)
    session.add(user)
    session.flush()
    complete(session, user, Module.PROFILE_CONFIRMATION, now=now, details={"via": "sign-up"})
    complete(session, user, Module.PUBLICATIONS, now=now, details={"via": "sign-up", "report": "nothing yet"})
    return user
