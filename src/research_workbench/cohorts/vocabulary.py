"""Pasted codes → concepts: "Add criteria by codes" and concept sets built from a list of codes.

A researcher pastes ICD9CM, ICD10CM, SNOMED, RxNorm, LOINC or CPT4 codes (any vocabulary of the CDR) separated
by new lines, commas, semicolons or spaces, each optionally prefixed by its vocabulary (``ICD10CM:E11.9``). Each
code is looked up in the CDR's ``concept`` table, case-insensitively; an ICD code typed without its dot matches
the dotted code (``E119`` → ``E11.9``; a code typed with a dot must match as typed). A code found in two
vocabularies (ICD10CM and ICD10 both have E11.9) is reported as ambiguous, with both. With ``map_to_standard``
each source concept carries its "Maps to" standard concepts (``concept_relationship``), and with ``counts`` each
concept its participants as the search index counts them. Codes not found are listed, in the order typed.

Codes are bound as parameters; nothing typed is ever part of the SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..cdr.engine import connect
from ..cdr.facts import Domain, event_tables
from ..cdr.problems import Problem, ProblemsError
from ..cdr.store import Cdr

MAX_CODES_TEXT_CHARS = 100_000
"""Characters of pasted text (a thousand long codes with their separators fit several times over)."""
MAX_CODES = 1_000
"""Codes in one paste: a concept set's limit (``builder.library.MAX_CONCEPTS_PER_SET``)."""
MAX_CODE_LENGTH = 50
"""Characters of one code (OMOP's ``concept_code`` is at most 50); a longer word is reported, not looked up."""

VOCABULARIES = ("ICD9CM", "ICD10CM", "SNOMED", "RxNorm", "LOINC", "CPT4")
"""The vocabularies codes usually come from (any other vocabulary of the CDR is matched too)."""
ALIASES = {"ICD9": "ICD9CM", "CPT": "CPT4", "SNOMEDCT": "SNOMED", "SNOMED-CT": "SNOMED", "SCT": "SNOMED"}
"""Other spellings of a vocabulary prefix (vocabulary ids are matched case-insensitively)."""
MAPS_TO = "Maps to"

_SEPARATORS = re.compile(r"[\s,;]+")
_VOCABULARY = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,29}")
_QUOTES = "\"'`"

CountSource = Callable[[list[tuple[int, bool]]], dict[tuple[int, bool], int]]


class CodesError(ProblemsError):
    """Pasted codes refused as a whole (too long, too many, none, or an unknown option); each problem names its
    place (``text``, ``vocabularies[1]``)."""

    heading = "codes refused"
    outcome = "nothing was looked up."


@dataclass(frozen=True)
class Concept:
    concept_id: int
    name: str
    vocabulary_id: str
    domain_id: str  # as the vocabulary has it ("Condition")
    code: str
    standard: bool  # S, or C (a classification: on the standard side of the hierarchy)
    invalid_reason: str | None = None
    count: int | None = None  # participants, where the index has the concept

    @property
    def domain(self) -> Domain | None:
        """The Cohort Builder domain of the concept (None for a vocabulary domain without events, e.g. Gender)."""
        return domain_of(self.domain_id)

    def as_dict(self) -> dict[str, Any]:
        domain = self.domain
        return {"concept_id": self.concept_id, "name": self.name, "vocabulary_id": self.vocabulary_id,
                "domain_id": self.domain_id, "domain": domain.value if domain else None, "code": self.code,
                "standard": self.standard, "invalid_reason": self.invalid_reason, "count": self.count}


@dataclass(frozen=True)
class MatchedConcept(Concept):
    maps_to: tuple[Concept, ...] = ()  # a source concept's standard concepts (when asked for)

    def as_dict(self) -> dict[str, Any]:
        return super().as_dict() | {"maps_to": [m.as_dict() for m in self.maps_to]}


@dataclass
class CodeMatch:
    """One code as typed and what it matched."""

    input: str  # the word as pasted, prefix included
    code: str
    vocabulary: str | None  # the prefix given, as written (None: any vocabulary)
    concepts: list[MatchedConcept] = field(default_factory=list)
    problem: str = ""  # why nothing matched

    @property
    def status(self) -> str:
        if not self.concepts:
            return "unmatched"
        return "ambiguous" if len({c.vocabulary_id for c in self.concepts}) > 1 else "matched"

    def as_dict(self) -> dict[str, Any]:
        return {"input": self.input, "code": self.code, "vocabulary": self.vocabulary, "status": self.status,
                "problem": self.problem, "concepts": [c.as_dict() for c in self.concepts]}


@dataclass
class CodeMatches:
    codes: list[CodeMatch]  # one per distinct code, in the order typed
    duplicates: list[str]  # inputs that repeat an earlier one (case and ICD dots aside), in the order typed
    mapped: bool  # whether standard mappings were asked for

    @property
    def unmatched(self) -> list[str]:
        return [c.input for c in self.codes if not c.concepts]

    def as_dict(self) -> dict[str, Any]:
        statuses = [c.status for c in self.codes]
        return {"matches": [c.as_dict() for c in self.codes], "unmatched": self.unmatched,
                "duplicates": self.duplicates, "map_to_standard": self.mapped,
                "counts": {s: statuses.count(s) for s in ("matched", "ambiguous", "unmatched")}}


@cache
def _event_domains() -> dict[str, Domain]:
    return {t.domain.value.lower(): t.domain for t in event_tables().values()}


def domain_of(domain_id: str | None) -> Domain | None:
    """An OMOP ``domain_id`` ("Condition") as the Cohort Builder's domain, for the domains that have an event table."""
    return _event_domains().get((domain_id or "").lower())


def vocabulary_key(name: str) -> str:
    """The case-insensitive key of a vocabulary id or an alias of one."""
    upper = name.strip().upper()
    return ALIASES.get(upper, upper).upper()


def _is_icd(vocabulary_id: str) -> bool:
    return vocabulary_id.upper().startswith("ICD")


def _dotless(code: str) -> str:
    return code.upper().replace(".", "")


def split_codes(text: str) -> list[tuple[str, str | None, str]]:
    """(input, vocabulary prefix or None, code) for each word of ``text``; a prefix may stand apart (``ICD10CM: E11.9``)."""
    words = [w.strip(_QUOTES) for w in _SEPARATORS.split(text)]
    words = [w for w in words if w]
    out: list[tuple[str, str | None, str]] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.endswith(":") and i + 1 < len(words) and _VOCABULARY.fullmatch(word[:-1]):
            word = word + words[i + 1]
            i += 1
        prefix, colon, rest = word.partition(":")
        if colon and rest and _VOCABULARY.fullmatch(prefix):
            out.append((word, prefix, rest))
        else:
            out.append((word, None, word))
        i += 1
    return out


def _key(vocabulary: str | None, code: str) -> tuple[str, str]:
    return (vocabulary_key(vocabulary) if vocabulary else "", code.upper() if "." in code else _dotless(code))


def match_codes(cdr_dir: Path, text: str, *, vocabularies: Iterable[str] | None = None, map_to_standard: bool = True,
                counts: CountSource | Any = None) -> CodeMatches:
    """Every code of ``text`` matched against the CDR's vocabulary (see the module's docstring).

    ``vocabularies``: only these (ids or aliases, any case); None: all. ``counts``: a callable taking
    ``[(concept_id, standard), …]`` and answering ``{(concept_id, standard): participants}``, or a cohort engine
    (anything with an ``index_dir``: its search index's counts). Raises CodesError for input refused as a whole.
    """
    problems: list[Problem] = []
    if not isinstance(text, str):
        raise CodesError([Problem("paste the codes as text", "text")])
    if len(text) > MAX_CODES_TEXT_CHARS:
        raise CodesError([Problem(f"{len(text):,} characters, more than the limit of {MAX_CODES_TEXT_CHARS:,} "
                                  "(MAX_CODES_TEXT_CHARS)", "text")])
    chosen: set[str] | None = None
    if vocabularies is not None:
        chosen = set()
        for i, name in enumerate(vocabularies):
            if not isinstance(name, str) or not _VOCABULARY.fullmatch(name.strip()):
                problems.append(Problem(f"{str(name)[:40]!r} is not a vocabulary id (letters, digits, - and _)",
                                        f"vocabularies[{i}]"))
            else:
                chosen.add(vocabulary_key(name))
    words = split_codes(text)
    if not words:
        problems.append(Problem("paste at least one code", "text"))
    if len(words) > MAX_CODES:
        problems.append(Problem(f"{len(words):,} codes, more than the limit of {MAX_CODES:,} (MAX_CODES)", "text"))
    if problems:
        raise CodesError(problems)

    codes: list[CodeMatch] = []
    duplicates: list[str] = []
    seen: set[tuple[str, str]] = set()
    for word, prefix, code in words:
        key = _key(prefix, code)
        if key in seen:
            duplicates.append(word)
            continue
        seen.add(key)
        match = CodeMatch(word, code, prefix)
        if len(code) > MAX_CODE_LENGTH:
            match.problem = f"longer than any code ({MAX_CODE_LENGTH} characters, MAX_CODE_LENGTH)"
        elif prefix and chosen is not None and vocabulary_key(prefix) not in chosen:
            match.problem = f"{prefix} is not among the vocabularies chosen"
        codes.append(match)

    wanted = [c for c in codes if not c.problem]
    found = _lookup(Cdr(Path(cdr_dir)), wanted, map_to_standard)
    for match in wanted:
        candidates = [c for c in found.concepts if _matches(match, c, chosen)]
        valid_vocabularies = {c.vocabulary_id for c in candidates if c.invalid_reason is None}
        # A code that is valid in a vocabulary hides the same code's retired concepts there.
        candidates = [c for c in candidates if c.invalid_reason is None or c.vocabulary_id not in valid_vocabularies]
        match.concepts = [MatchedConcept(**vars(c), maps_to=tuple(found.maps_to.get(c.concept_id, ()))) for c in candidates]
        if not match.concepts:
            where = f" in {match.vocabulary}" if match.vocabulary else (
                " in the vocabularies chosen" if chosen is not None else "")
            match.problem = f"no concept has this code{where}"
    if counts is not None:
        _add_counts(codes, counts)
    return CodeMatches(codes, duplicates, map_to_standard)


def _matches(match: CodeMatch, concept: Concept, chosen: set[str] | None) -> bool:
    vocabulary = concept.vocabulary_id.upper()
    if match.vocabulary and vocabulary != vocabulary_key(match.vocabulary):
        return False
    if chosen is not None and vocabulary not in chosen:
        return False
    if concept.code.upper() == match.code.upper():
        return True
    return "." not in match.code and _is_icd(concept.vocabulary_id) and _dotless(concept.code) == _dotless(match.code)


@dataclass
class _Found:
    concepts: list[Concept]
    maps_to: dict[int, list[Concept]]


CONCEPT_COLUMNS = "concept_id, concept_name, vocabulary_id, domain_id, concept_code, standard_concept, invalid_reason"
# Concepts whose code is one of the first list (upper case), or an ICD code whose dotless form is one of the second.
CONCEPTS_SQL = f"""
SELECT {CONCEPT_COLUMNS} FROM read_parquet($concept)
WHERE upper(concept_code) IN (SELECT unnest($codes::VARCHAR[]))
   OR (upper(vocabulary_id) LIKE 'ICD%' AND replace(upper(concept_code), '.', '') IN (SELECT unnest($dotless::VARCHAR[])))
ORDER BY vocabulary_id, concept_code, concept_id
"""
# The valid "Maps to" targets (other than itself) of the given concepts.
MAPS_TO_SQL = """
SELECT r.concept_id_1, c.concept_id, c.concept_name, c.vocabulary_id, c.domain_id, c.concept_code, c.standard_concept,
       c.invalid_reason
FROM read_parquet($relationship) r JOIN read_parquet($concept) c ON c.concept_id = r.concept_id_2
WHERE r.relationship_id = $maps_to AND r.invalid_reason IS NULL AND r.concept_id_1 <> r.concept_id_2
  AND r.concept_id_1 IN (SELECT unnest($ids::BIGINT[]))
ORDER BY r.concept_id_1, c.concept_id
"""


def _concept(row: tuple) -> Concept:
    concept_id, name, vocabulary, domain, code, standard, invalid = row
    return Concept(int(concept_id), name or "", vocabulary or "", domain or "", code or "", standard in ("S", "C"),
                   invalid or None)


def _lookup(cdr: Cdr, wanted: list[CodeMatch], map_to_standard: bool) -> _Found:
    if not wanted:
        return _Found([], {})
    concept_file = str(cdr.table_file("concept"))
    con = connect(threads=1)
    try:
        with cdr.query_errors():
            rows = con.execute(CONCEPTS_SQL, {
                "concept": concept_file,
                "codes": sorted({m.code.upper() for m in wanted}),
                "dotless": sorted({_dotless(m.code) for m in wanted if "." not in m.code}),
            }).fetchall()
            concepts = [_concept(r) for r in rows]
            maps_to: dict[int, list[Concept]] = {}
            sources = sorted({c.concept_id for c in concepts if not c.standard})
            if map_to_standard and sources and "concept_relationship" in cdr.manifest.tables:
                relationship_file = str(cdr.table_file("concept_relationship"))
                for row in con.execute(MAPS_TO_SQL, {"relationship": relationship_file, "concept": concept_file,
                                                     "maps_to": MAPS_TO, "ids": sources}).fetchall():
                    maps_to.setdefault(int(row[0]), []).append(_concept(row[1:]))
    finally:
        con.close()
    return _Found(concepts, maps_to)


def _add_counts(codes: list[CodeMatch], counts: CountSource | Any) -> None:
    if callable(counts):
        source: CountSource = counts
    elif getattr(counts, "index_dir", None) is not None:
        from ..index.search import concept_counts

        index_dir = counts.index_dir

        def source(keys: list[tuple[int, bool]]) -> dict[tuple[int, bool], int]:
            return concept_counts(index_dir, keys)
    else:
        raise TypeError("counts: a callable or a cohort engine (with an index_dir)")
    keys = sorted({(c.concept_id, c.standard) for m in codes for c in m.concepts}
                  | {(t.concept_id, True) for m in codes for c in m.concepts for t in c.maps_to})
    if not keys:
        return
    known = source(keys)
    for match in codes:
        match.concepts = [
            MatchedConcept(**{**vars(c), "count": known.get((c.concept_id, c.standard)),
                              "maps_to": tuple(Concept(**{**vars(t), "count": known.get((t.concept_id, True))})
                                               for t in c.maps_to)})
            for c in match.concepts]


# -- concepts by id, their descendants and their mapped source concepts (concept sets) ----------------------------

RECORD_COLUMNS = ("concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id", "standard_concept",
                  "concept_code", "invalid_reason")
RECORDS_SQL = f"""
SELECT {", ".join(RECORD_COLUMNS)} FROM read_parquet($concept)
WHERE concept_id IN (SELECT unnest($ids::BIGINT[])) ORDER BY concept_id
"""
# Each ancestor's valid descendants, itself included when valid (concept_ancestor holds the self-row), as OHDSI's
# concept sets resolve ``includeDescendants``.
DESCENDANTS_SQL = """
SELECT a.ancestor_concept_id, a.descendant_concept_id
FROM read_parquet($ancestor) a JOIN read_parquet($concept) c ON c.concept_id = a.descendant_concept_id
WHERE a.ancestor_concept_id IN (SELECT unnest($ids::BIGINT[])) AND c.invalid_reason IS NULL
ORDER BY 1, 2
"""
# The source concepts whose valid "Maps to" leads to one of the given concepts (OHDSI's ``includeMapped``).
MAPPED_SOURCES_SQL = """
SELECT r.concept_id_2, r.concept_id_1 FROM read_parquet($relationship) r
WHERE r.relationship_id = $maps_to AND r.invalid_reason IS NULL AND r.concept_id_1 <> r.concept_id_2
  AND r.concept_id_2 IN (SELECT unnest($ids::BIGINT[]))
ORDER BY 1, 2
"""


def _by_key(cdr: Cdr, sql: str, tables: dict[str, str], ids: Iterable[int], **params: Any) -> list[tuple]:
    wanted = sorted({int(i) for i in ids})
    if not wanted or any(t not in cdr.manifest.tables for t in tables.values()):
        return []
    con = connect(threads=1)
    try:
        with cdr.query_errors():
            files = {name: str(cdr.table_file(table)) for name, table in tables.items()}
            return con.execute(sql, {**files, **params, "ids": wanted}).fetchall()
    finally:
        con.close()


def concept_records(cdr_dir: Path, concept_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The CDR's ``concept`` rows of these ids (those it has), by id, with the columns of RECORD_COLUMNS."""
    rows = _by_key(Cdr(Path(cdr_dir)), RECORDS_SQL, {"concept": "concept"}, concept_ids)
    return {int(r[0]): dict(zip(RECORD_COLUMNS, r)) for r in rows}


def descendants(cdr_dir: Path, concept_ids: Iterable[int]) -> dict[int, list[int]]:
    """Each concept's valid descendants (itself included when valid), from the CDR's ``concept_ancestor``."""
    out: dict[int, list[int]] = {}
    for ancestor, descendant in _by_key(Cdr(Path(cdr_dir)), DESCENDANTS_SQL,
                                        {"ancestor": "concept_ancestor", "concept": "concept"}, concept_ids):
        out.setdefault(int(ancestor), []).append(int(descendant))
    return out


def mapped_sources(cdr_dir: Path, concept_ids: Iterable[int]) -> dict[int, list[int]]:
    """Each standard concept's source concepts: those whose valid "Maps to" leads to it."""
    out: dict[int, list[int]] = {}
    for target, source in _by_key(Cdr(Path(cdr_dir)), MAPPED_SOURCES_SQL, {"relationship": "concept_relationship"},
                                  concept_ids, maps_to=MAPS_TO):
        out.setdefault(int(target), []).append(int(source))
    return out
