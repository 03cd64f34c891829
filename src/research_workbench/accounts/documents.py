"""The versioned documents a researcher accepts or signs: the Terms of Service, the privacy policy and the Data User
Code of Conduct (DUCC), and the check of a DUCC signature.

Each version of a document is one TOML file, ``content/documents/<kind>-<version>.toml`` beside this module, and is
never edited once published (a change is a new version: acceptances and signatures record the version, and the
signed copy a researcher views later is that version's file). A file holds::

    kind = "ducc"                  # terms | privacy | ducc; must match the file name
    version = "2026.1"             # must match the file name
    title = "..."
    effective = 2026-01-15         # a TOML date
    attestation = "I, {full_name} (Authorized Data User), ..."   # DUCC only; {full_name} is the one placeholder
    closing = "..."                # optional text after the sections (and statements)

    [[sections]]
    heading = "..."
    paragraphs = ["...", "..."]

    [[statements]]                 # DUCC only: one INITIALS box each
    id = "monitoring"              # the form field is initials_<id>
    text = "..."

Paragraph and statement text may be wrapped over lines (TOML ``\"\"\"`` strings): runs of whitespace, newlines
included, are folded to one space at load.

**Versions** are dotted integers (``2026.1``, ``2026.10``) ordered component by component as numbers, so
``2026.10`` comes after ``2026.9`` and ``2027.1`` after both; the current version of a kind is the highest.

A file that cannot be used is refused with a ``ContentError``: one problem per bad key, located by the file and the
TOML key path (``ducc-2026.1.toml: statements[2].id``; array items are numbered from 1, in file order).
"""

from __future__ import annotations

import hashlib
import json
import re
import string
import tomllib
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal, Sequence, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..cdr.problems import Problem, ProblemsError

DocumentKind = Literal["terms", "privacy", "ducc"]
KINDS: tuple[str, ...] = ("terms", "privacy", "ducc")
DOCUMENT_TITLES = {"terms": "Terms of Service", "privacy": "Privacy Policy", "ducc": "Data User Code of Conduct"}

VERSION_PATTERN = r"^[0-9]+(\.[0-9]+)*$"
_VERSION_RE = re.compile(VERSION_PATTERN)
_ID_PATTERN = r"^[a-z][a-z0-9_]*$"


# --- errors ---------------------------------------------------------------------------------------------------------


class ContentError(ProblemsError):
    """A content file (document or course) that cannot be used: one problem per bad key, located by the file and the
    TOML key path (``terms-2026.1.toml: sections[3].heading``), or by the file alone (missing, not TOML)."""

    heading = "invalid content file"
    outcome = "nothing was loaded."


class UnknownVersionError(ProblemsError):
    """A kind or version that has no shipped file."""

    heading = "no such content"
    outcome = "nothing was loaded."


class DuccSignatureError(ProblemsError):
    """A DUCC signature form refused: one problem per bad form field (``initials_<statement id>``, ``full_name``)."""

    heading = "the Code of Conduct was not signed"
    outcome = "nothing was recorded."


# --- versions -------------------------------------------------------------------------------------------------------


def version_key(version: str) -> tuple[int, ...]:
    """The sort key of a version: its dotted components as integers (``"2026.10"`` → ``(2026, 10)``)."""
    if not _VERSION_RE.match(version):
        raise ValueError(f"version {version!r} is not dotted integers (like 2026.1)")
    return tuple(int(part) for part in version.split("."))


def check_version(value: str) -> str:
    version_key(value)
    return value


# --- text helpers shared with training -------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Runs of whitespace (newlines included) folded to one space, ends trimmed."""
    return " ".join(text.split())


def nonblank(value: str) -> str:
    value = fold(value)
    if not value:
        raise ValueError("must not be empty")
    return value


def not_empty(value: tuple[Any, ...]) -> tuple[Any, ...]:
    """A list that needs at least one item (checked after its items, so a bad item is not also an empty list)."""
    if not value:
        raise ValueError("needs at least one item")
    return value


def check_paragraphs(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("needs at least one paragraph")
    out = tuple(fold(p) for p in value)
    for number, paragraph in enumerate(out, start=1):
        if not paragraph:
            raise ValueError(f"paragraph {number} is empty")
    return out


class ContentModel(BaseModel):
    """A frozen model of content: unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LocatedError(ValueError):
    """A value refused by a whole-model check, naming its key relative to that model (pydantic would locate it at
    the model itself)."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


T = TypeVar("T", bound=BaseModel)


def _key(loc: Sequence[Any]) -> str:
    """A pydantic location as a TOML key path with 1-based array items: ``("sections", 2, "heading")`` →
    ``sections[3].heading``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part + 1}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_content(model: type[T], text: str, where: str) -> T:
    """``text`` (TOML) validated as ``model``; a ``ContentError`` naming ``where`` (the file) and each bad key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ContentError([Problem(f"not valid TOML: {err}", where)]) from None
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = []
        for e in err.errors():
            cause = (e.get("ctx") or {}).get("error")
            if isinstance(cause, LocatedError):
                key, message = _key(e["loc"]), cause.message
                key = f"{key}.{cause.key}" if key else cause.key
            else:
                key, message = _key(e["loc"]), str(e["msg"]).removeprefix("Value error, ")
                if e["type"] == "missing":
                    message = "required key is missing"
                elif e["type"] == "extra_forbidden":
                    message = "unknown key"
            problems.append(Problem(message, f"{where}: {key}" if key else where))
        raise ContentError(problems) from None


def read_content_file(model: type[T], path: str | Path) -> T:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError([Problem("file not found", str(path))]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ContentError([Problem(f"cannot be read: {err}", str(path))]) from None
    return parse_content(model, text, str(path))


def content_dir(name: str) -> Traversable:
    """The shipped content folder ``content/<name>`` beside this module."""
    return resources.files(__package__).joinpath("content", name)


def shipped_versions(folder: str, prefix: str) -> list[str]:
    """The versions of the files ``<prefix>-<version>.toml`` in ``content/<folder>``, oldest first."""
    found = []
    for entry in content_dir(folder).iterdir():
        name = entry.name
        if entry.is_file() and name.startswith(prefix + "-") and name.endswith(".toml"):
            version = name[len(prefix) + 1:-len(".toml")]
            if _VERSION_RE.match(version):
                found.append(version)
    return sorted(found, key=version_key)


def check_names(where: str, pairs: Sequence[tuple[str, str, str]]) -> None:
    """Refuse a shipped file whose keys disagree with its name: ``pairs`` is (key, in the file, from the name)."""
    problems = [Problem(f"is {got!r} but the file name says {expected!r}", f"{where}: {key}")
                for key, got, expected in pairs if got != expected]
    if problems:
        raise ContentError(problems)


# --- documents ------------------------------------------------------------------------------------------------------


class Section(ContentModel):
    heading: str
    paragraphs: tuple[str, ...]

    _heading = field_validator("heading")(nonblank)
    _paras = field_validator("paragraphs")(check_paragraphs)


class Statement(ContentModel):
    """One DUCC statement, with its own INITIALS box (form field ``initials_<id>``)."""

    id: str = Field(pattern=_ID_PATTERN, max_length=40)
    text: str

    _text = field_validator("text")(nonblank)

    @property
    def field(self) -> str:
        return f"initials_{self.id}"


class Document(ContentModel):
    kind: DocumentKind
    version: str
    title: str
    effective: date
    sections: tuple[Section, ...]
    statements: tuple[Statement, ...] = ()
    attestation: str = ""
    closing: str = ""

    _version = field_validator("version")(check_version)
    _title = field_validator("title")(nonblank)
    _sections = field_validator("sections")(not_empty)
    _fold = field_validator("attestation", "closing")(fold)

    @model_validator(mode="after")
    def _shape(self) -> Document:
        if self.kind == "ducc":
            if not self.statements:
                raise LocatedError("statements", "a Code of Conduct needs at least one [[statements]] table")
            seen: set[str] = set()
            for number, statement in enumerate(self.statements, start=1):
                if statement.id in seen:
                    raise LocatedError(f"statements[{number}].id", f"duplicate statement id {statement.id!r}")
                seen.add(statement.id)
            if not self.attestation:
                raise LocatedError("attestation", "a Code of Conduct needs an attestation containing {full_name}")
            fields = [name for _, name, _, _ in string.Formatter().parse(self.attestation) if name is not None]
            if fields != ["full_name"]:
                raise LocatedError("attestation", "must contain the placeholder {full_name} once and no other")
        else:
            if self.statements:
                raise LocatedError("statements", f"only a Code of Conduct has statements, not {self.kind}")
            if self.attestation:
                raise LocatedError("attestation", f"only a Code of Conduct has an attestation, not {self.kind}")
        return self

    @property
    def label(self) -> str:
        """``Terms of Service, version 2026.1``."""
        return f"{DOCUMENT_TITLES[self.kind]}, version {self.version}"

    def attestation_for(self, full_name: str) -> str:
        """The DUCC's attestation with the signer's name in it."""
        return self.attestation.format(full_name=fold(full_name))

    def digest(self) -> str:
        """SHA-256 of the document's content (as JSON): record it with an acceptance to prove which text was seen."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def load_document_file(path: str | Path) -> Document:
    """The document in the TOML file at ``path`` (any name, any folder); a ``ContentError`` naming the file and key."""
    return read_content_file(Document, path)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownVersionError([Problem(f"unknown document kind {kind!r} (one of {', '.join(KINDS)})", "kind")])


def versions(kind: str) -> list[str]:
    """The shipped versions of a document kind, oldest first (see the module docstring for the ordering)."""
    _check_kind(kind)
    return shipped_versions("documents", kind)


def current_version(kind: str) -> str:
    """The highest shipped version of a document kind."""
    found = versions(kind)
    if not found:
        raise UnknownVersionError([Problem(f"no {kind} document is shipped", "kind")])
    return found[-1]


def load_document(kind: str, version: str | None = None) -> Document:
    """A shipped document: ``version`` of ``kind``, or the current one when ``version`` is None."""
    _check_kind(kind)
    return _load_shipped(kind, current_version(kind) if version is None else version)


@lru_cache(maxsize=None)
def _load_shipped(kind: str, version: str) -> Document:
    name = f"{kind}-{version}.toml"
    if version not in versions(kind):
        raise UnknownVersionError([Problem(f"no version {version!r} of the {kind} document "
                                           f"(shipped: {', '.join(versions(kind)) or 'none'})", "version")])
    doc = parse_content(Document, content_dir("documents").joinpath(name).read_text(encoding="utf-8"), name)
    check_names(name, [("kind", doc.kind, kind), ("version", doc.version, version)])
    return doc


def current_document(kind: str) -> Document:
    return load_document(kind)


# --- the DUCC signature ---------------------------------------------------------------------------------------------

MAX_INITIALS_LETTERS = 6


@dataclass(frozen=True)
class Initials:
    """One initials box, checked: ``message`` says what is wrong when not ``ok``."""

    ok: bool
    message: str = ""
    letters: str = ""  # casefolded letters without periods: what "the same initials" compares


def parse_initials(text: str) -> Initials:
    """An initials box: 1 to 6 letters (any alphabet, accented letters included), each optionally followed by a
    period (``JD``, ``J.D.``, ``ÉM``); nothing else (no digits, spaces, hyphens). Compared case- and
    period-insensitively, so ``J.D.`` and ``jd`` are the same initials."""
    value = unicodedata.normalize("NFC", text.strip())
    if not value:
        return Initials(False, "initial this statement")
    if not value[0].isalpha():
        return Initials(False, "start your initials with a letter")
    letters = []
    previous = ""
    for char in value:
        if char.isalpha():
            letters.append(char)
        elif char == "." and previous.isalpha():
            pass
        else:
            return Initials(False, "use letters only, each optionally followed by a period (like J.D. or JD)")
        previous = char
    if len(letters) > MAX_INITIALS_LETTERS:
        return Initials(False, f"initials are at most {MAX_INITIALS_LETTERS} letters")
    return Initials(True, letters="".join(letters).casefold())


def same_name(a: str, b: str) -> bool:
    """Names equal ignoring case, accents' encoding (NFC) and repeated or surrounding whitespace."""
    def norm(s: str) -> str:
        return fold(unicodedata.normalize("NFC", s)).casefold()
    return norm(a) == norm(b)


def check_ducc_signature(doc: Document, *, full_name: str, initials: list[str], account_full_name: str) -> None:
    """Check a DUCC signature form, refusing it with a ``DuccSignatureError`` (one problem per bad form field):

    - ``initials`` has one box per statement, in the document's order (``initials_<id>``); each box holds valid
      initials (see ``parse_initials``) and all boxes hold the same initials as the first valid box;
    - ``full_name`` equals the account's full name, ignoring case and repeated whitespace.
    """
    if doc.kind != "ducc":
        raise ValueError(f"{doc.label} is not a Code of Conduct")
    problems: list[Problem] = []
    reference: tuple[str, str] | None = None  # (field, letters) of the first valid box
    for index, statement in enumerate(doc.statements):
        box = (initials[index] if index < len(initials) else None) or ""
        parsed = parse_initials(box)
        if not parsed.ok:
            problems.append(Problem(parsed.message, statement.field))
        elif reference is None:
            reference = (box.strip(), parsed.letters)
        elif parsed.letters != reference[1]:
            problems.append(Problem(f"use the same initials in every box (the first box has {reference[0]!r})",
                                    statement.field))
    if len(initials) > len(doc.statements):
        problems.append(Problem(f"{len(initials)} initials for {len(doc.statements)} statements: "
                                "initial each statement once", "initials"))
    if not fold(full_name):
        problems.append(Problem("type your full name", "full_name"))
    elif not same_name(full_name, account_full_name):
        problems.append(Problem(f"type your full name as it is on your account ({fold(account_full_name)})",
                                "full_name"))
    if problems:
        raise DuccSignatureError(problems)
