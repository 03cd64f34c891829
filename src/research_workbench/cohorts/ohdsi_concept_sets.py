"""OHDSI (ATLAS) concept-set JSON in and out of the Workbench's concept sets.

ATLAS writes a concept-set expression as ``{"items": [{"concept": {"CONCEPT_ID", "CONCEPT_NAME", "DOMAIN_ID",
"VOCABULARY_ID", "CONCEPT_CODE", "STANDARD_CONCEPT", …}, "isExcluded", "includeDescendants", "includeMapped"}]}``,
and a cohort definition's concept sets wrap it: ``{"id", "name", "expression": {"items": […]}}``. Both are read
(unknown keys are ignored, as ATLAS's own reader does; a missing or null flag is false).

A Workbench concept set (``builder.library.ConceptSet``) is one domain and a list of concepts, each on the standard
or the source side, a standard one optionally with its descendants. So, on import:

- ``includeDescendants`` on a standard concept is kept as the concept's ``includeDescendants``;
- ``isExcluded`` items are resolved against the data version's vocabulary: an excluded concept is left out, and a
  concept whose descendants were included but some of them excluded is replaced by its descendants listed one by
  one, less the excluded ones (OHDSI's rule: resolve the included items, then subtract the excluded);
- ``includeMapped`` adds the source concepts that "Maps to" the item (and its descendants, when included), each on
  the source side;
- ``STANDARD_CONCEPT`` says the side (S or C: standard; anything else: source); without it the vocabulary says.

Everything resolved at import time is reported (``ImportedConceptSet.notes``), so nothing changes silently.
Export writes the expression ATLAS imports, each concept described from the vocabulary, ``isExcluded`` and
``includeMapped`` false. Refusals name the JSON path (``items[2].concept.CONCEPT_ID``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..cdr.facts import EVENT_DOMAINS, Domain, event_table_of
from ..cdr.problems import Problem, ProblemsError
from . import jsonfile
from .builder.library import MAX_CONCEPTS_PER_SET, ConceptSet
from .vocabulary import concept_records, descendants, domain_of, mapped_sources

MAX_CONCEPT_SET_JSON_BYTES = 4_000_000
"""Bytes of an OHDSI concept-set JSON document (ATLAS embeds each concept's record: about 400 bytes an item)."""
MAX_CONCEPT_SET_JSON_DEPTH = 8
"""Nesting depth of an OHDSI concept-set document (the wrapper form nests 5 deep)."""
MAX_OHDSI_ITEMS = 5_000
"""Items in one OHDSI concept set, before exclusions and mappings are resolved."""

CAPTIONS = {"S": "Standard", "C": "Classification", "N": "Non-Standard"}
VALIDITY = {None: ("V", "Valid"), "D": ("D", "Invalid"), "U": ("U", "Invalid")}


class ConceptSetJsonError(ProblemsError):
    """An OHDSI concept-set document refused; each problem names its JSON path."""

    heading = "invalid OHDSI concept set"
    outcome = "nothing was imported."


@dataclass(frozen=True)
class _Item:
    path: str
    concept_id: int
    concept: dict[str, Any]
    excluded: bool
    descendants: bool
    mapped: bool


@dataclass
class ImportedConceptSet:
    name: str  # the wrapper's name ("" for a bare expression)
    description: str
    content: dict[str, Any]  # a concept_set resource's content: {"domain", "concepts"}
    notes: list[str] = field(default_factory=list)  # what was resolved at import time, in item order


def _flag(item: dict, key: str, path: str, problems: list[Problem]) -> bool:
    value = item.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        problems.append(Problem(f"must be true or false, not {value!r}"[:120], f"{path}.{key}"))
        return False
    return value


def _text(document: dict, key: str, path: str, problems: list[Problem]) -> str:
    value = document.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(Problem("must be text", f"{path}{key}"))
        return ""
    return value.strip()


def _items(document: Any) -> tuple[str, str, list[_Item]]:
    """(name, description, items) of a document, or ConceptSetJsonError naming every problem."""
    problems: list[Problem] = []
    if not isinstance(document, dict):
        raise ConceptSetJsonError([Problem("must be a JSON object: an ATLAS concept-set expression {\"items\": […]} "
                                           "or a concept set {\"name\", \"expression\": {\"items\": […]}}", "(root)")])
    name = description = ""
    if "items" in document:
        expression, prefix = document, ""
    elif "expression" in document:
        name = _text(document, "name", "", problems)
        description = _text(document, "description", "", problems)
        expression, prefix = document["expression"], "expression."
        if not isinstance(expression, dict) or "items" not in expression:
            raise ConceptSetJsonError(problems + [Problem("must be an object with \"items\"", "expression")])
    else:
        raise ConceptSetJsonError([Problem("has neither \"items\" (an ATLAS concept-set expression) nor \"expression\" "
                                           "(a concept set wrapping one)", "(root)")])
    raw = expression["items"]
    where = f"{prefix}items"
    if not isinstance(raw, list):
        raise ConceptSetJsonError(problems + [Problem("must be a list of items", where)])
    if not raw:
        raise ConceptSetJsonError(problems + [Problem("a concept set needs at least one item", where)])
    if len(raw) > MAX_OHDSI_ITEMS:
        raise ConceptSetJsonError([Problem(f"{len(raw):,} items, more than the limit of {MAX_OHDSI_ITEMS:,} "
                                           "(MAX_OHDSI_ITEMS)", where)])
    items = []
    for i, entry in enumerate(raw):
        path = f"{where}[{i}]"
        if not isinstance(entry, dict):
            problems.append(Problem("must be an object with \"concept\"", path))
            continue
        concept = entry.get("concept")
        if not isinstance(concept, dict):
            problems.append(Problem("must be an object with CONCEPT_ID", f"{path}.concept"))
            continue
        concept_id = concept.get("CONCEPT_ID")
        if isinstance(concept_id, bool) or not isinstance(concept_id, int) or not 0 < concept_id < 2**63:
            problems.append(Problem("must be a concept id (a positive whole number)" if "CONCEPT_ID" in concept
                                    else "missing", f"{path}.concept.CONCEPT_ID"))
            continue
        for key in ("STANDARD_CONCEPT", "DOMAIN_ID"):
            if concept.get(key) is not None and not isinstance(concept.get(key), str):
                problems.append(Problem("must be text or null", f"{path}.concept.{key}"))
        flags = [_flag(entry, k, path, problems) for k in ("isExcluded", "includeDescendants", "includeMapped")]
        items.append(_Item(path, concept_id, concept, *flags))
    if problems:
        raise ConceptSetJsonError(problems)
    return name, description, items


def read_ohdsi_concept_set(source: str | bytes | dict, *, cdr_dir: Path | None = None,
                           domain: Domain | str | None = None) -> ImportedConceptSet:
    """An OHDSI concept set (JSON text, or already decoded) as a Workbench concept set's content.

    ``cdr_dir``: the data version's CDR, whose vocabulary resolves exclusions, descendants blocked by an exclusion,
    mapped source concepts, each concept's side and domain; without it only items with no exclusion or mapping can
    be read. ``domain``: the set's domain (by default: the one domain of its concepts). Raises ConceptSetJsonError.
    """
    if isinstance(source, (str, bytes)):
        try:
            document = jsonfile.loads(source, source="concept set", max_bytes=MAX_CONCEPT_SET_JSON_BYTES,
                                      max_depth=MAX_CONCEPT_SET_JSON_DEPTH, root="(root)",
                                      limit_names=("MAX_CONCEPT_SET_JSON_BYTES", "MAX_CONCEPT_SET_JSON_DEPTH"))
        except jsonfile.JsonInputError as err:
            raise ConceptSetJsonError([Problem(p.message, p.where()) for p in err.problems]) from None
    else:
        document = source
    name, description, items = _items(document)
    wanted = _domain(domain)
    if cdr_dir is None:
        needing = [(i.path, k) for i in items for k, v in (("isExcluded", i.excluded), ("includeMapped", i.mapped)) if v]
        if needing:
            raise ConceptSetJsonError([Problem("resolving this needs the data version's vocabulary", f"{p}.{k}")
                                       for p, k in needing])
    return _resolve(name, description, items, cdr_dir, wanted)


def _domain(domain: Domain | str | None) -> Domain | None:
    if domain is None or domain == "":
        return None
    try:
        value = domain if isinstance(domain, Domain) else Domain(str(domain).upper())
    except ValueError:
        value = None
    if value not in EVENT_DOMAINS:
        raise ConceptSetJsonError([Problem(f"{getattr(domain, 'value', domain)!s} is not a domain a concept set can "
                                           f"hold: one of {', '.join(sorted(d.value for d in EVENT_DOMAINS))}",
                                           "domain")])
    return value


def _resolve(name: str, description: str, items: list[_Item], cdr_dir: Path | None,
             wanted: Domain | None) -> ImportedConceptSet:
    listed = {i.concept_id for i in items}
    records = concept_records(cdr_dir, listed) if cdr_dir else {}
    expand = {i.concept_id for i in items if i.descendants}
    below = descendants(cdr_dir, expand) if cdr_dir and expand else {}

    def step1(item: _Item) -> list[int]:
        return below.get(item.concept_id, [item.concept_id]) if item.descendants else [item.concept_id]

    mapped_from = {c for i in items if i.mapped for c in step1(i)}
    sources = mapped_sources(cdr_dir, mapped_from) if cdr_dir and mapped_from else {}
    def resolved(item: _Item) -> list[int]:
        return step1(item) + ([s for c in step1(item) for s in sources.get(c, [])] if item.mapped else [])

    notes: list[str] = []
    excluded: dict[int, str] = {}  # concept → the item that excluded it
    included = {c for i in items if not i.excluded for c in resolved(i)}
    for item in (i for i in items if i.excluded):
        for concept in resolved(item):
            excluded.setdefault(concept, item.path)
        if not set(resolved(item)) & included:
            notes.append(f"{item.path}: concept {item.concept_id} is excluded, but nothing included it")
    derived = {c for cs in below.values() for c in cs} | {s for ss in sources.values() for s in ss}
    records |= concept_records(cdr_dir, derived - set(records)) if cdr_dir and derived - set(records) else {}

    def standard(concept_id: int, json_concept: dict | None = None) -> bool:
        given = (json_concept or {}).get("STANDARD_CONCEPT")
        if isinstance(given, str) and given.strip():
            return given.strip().upper() in ("S", "C")
        return (records.get(concept_id) or {}).get("standard_concept") in ("S", "C")

    chosen: dict[tuple[int, bool], bool] = {}  # (concept, standard) → includeDescendants, in order of arrival
    origin: dict[tuple[int, bool], str] = {}

    def add(concept_id: int, is_standard: bool, with_descendants: bool, path: str) -> None:
        key = (concept_id, is_standard)
        if key in chosen:
            chosen[key] = chosen[key] or with_descendants
            return
        chosen[key], origin[key] = with_descendants, path

    for item in (i for i in items if not i.excluded):
        is_standard = standard(item.concept_id, item.concept)
        family = step1(item)
        if item.descendants and not is_standard:
            notes.append(f"{item.path}: concept {item.concept_id} is a source concept, which has no descendants; "
                         "it was taken alone")
        if item.descendants and is_standard:
            blocked = [c for c in family if c in excluded]
            if cdr_dir is not None and item.concept_id not in below:
                notes.append(f"{item.path}: concept {item.concept_id} is not in this data version's vocabulary with "
                             "descendants; kept with includeDescendants")
            if not blocked:
                add(item.concept_id, True, True, item.path)
            else:
                kept = [c for c in family if c not in excluded]
                notes.append(f"{item.path}: the descendants of concept {item.concept_id} were listed one by one "
                             f"({len(kept)} concepts) to leave out {len(blocked)} excluded by "
                             f"{', '.join(sorted({excluded[c] for c in blocked}))}: {_ids(blocked)}")
                for concept in kept:
                    add(concept, True, False, item.path)
        elif item.concept_id in excluded:
            notes.append(f"{item.path}: concept {item.concept_id} left out: excluded by {excluded[item.concept_id]}")
        else:
            add(item.concept_id, is_standard, False, item.path)
        if item.mapped:
            found = [s for c in family for s in sources.get(c, [])]
            kept = [s for s in dict.fromkeys(found) if s not in excluded]
            notes.append(f"{item.path}: {len(kept)} source concept{'s' if len(kept) != 1 else ''} mapped to concept "
                         f"{item.concept_id} added" + (f": {_ids(kept)}" if kept else "")
                         + (f" ({len(found) - len(kept)} excluded)" if len(found) > len(kept) else ""))
            for concept in kept:
                add(concept, False, False, item.path)
    missing = sorted(listed - set(records)) if cdr_dir else []
    if missing:
        notes.append(f"not in this data version's vocabulary (kept as given): {_ids(missing)}")
    domain = _set_domain(items, chosen, origin, records, wanted, notes)
    if not chosen:
        raise ConceptSetJsonError([Problem("nothing is left once the excluded concepts are taken out", "items")])
    if len(chosen) > MAX_CONCEPTS_PER_SET:
        raise ConceptSetJsonError([Problem(f"{len(chosen):,} concepts once descendants and mappings are resolved, more "
                                           f"than the limit of {MAX_CONCEPTS_PER_SET:,} (MAX_CONCEPTS_PER_SET)", "items")])
    concepts = [{"conceptId": c, "standard": s, "includeDescendants": d} for (c, s), d in chosen.items()]
    try:
        model = ConceptSet.model_validate({"name": name[:80] or "imported", "domain": domain, "concepts": concepts})
    except ValidationError as err:  # every rule is checked above; this is the model's own word on the result
        raise ConceptSetJsonError([Problem(str(e.get("msg", "")), "items") for e in err.errors()]) from None
    content = model.model_dump(mode="json", exclude={"name", "description"})
    return ImportedConceptSet(name, description, content, notes)


def _ids(concepts: list[int], most: int = 20) -> str:
    shown = ", ".join(str(c) for c in concepts[:most])
    return shown + (f" and {len(concepts) - most} more" if len(concepts) > most else "")


def _set_domain(items: list[_Item], chosen: dict, origin: dict, records: dict, wanted: Domain | None,
                notes: list[str]) -> Domain:
    """The set's domain: ``wanted``, else the one domain of the listed concepts; derived concepts (descendants,
    mapped sources) of another domain are dropped with a note, listed ones refused."""
    json_domain = {i.concept_id: i.concept.get("DOMAIN_ID") for i in items}
    listed = {i.concept_id for i in items if not i.excluded}

    def domain_id(concept_id: int) -> str | None:
        return (records.get(concept_id) or {}).get("domain_id") or json_domain.get(concept_id)

    if wanted is None:
        found: dict[Domain, list[str]] = {}
        problems = []
        for (concept, _), path in origin.items():
            if concept not in listed:
                continue
            dom = domain_of(domain_id(concept))
            if dom is not None:
                found.setdefault(dom, []).append(path)
            elif domain_id(concept):
                problems.append(Problem(f"domain {domain_id(concept)!r} has no events a concept set can select", path))
            else:
                problems.append(Problem("the concept's domain is unknown (no DOMAIN_ID, and not in the vocabulary): "
                                        "choose the set's domain", path))
        if len(found) > 1:
            problems.append(Problem("a concept set holds one domain; these items are of "
                                    + "; ".join(f"{d.value}: {', '.join(ps)}" for d, ps in sorted(found.items())),
                                    "items"))
        if problems:
            raise ConceptSetJsonError(problems)
        if not found:
            raise ConceptSetJsonError([Problem("no concept's domain is known: choose the set's domain", "domain")])
        wanted = next(iter(found))
    base = event_table_of(wanted).domain  # surveys are observations, physical measurements measurements
    problems = []
    for key, path in list(origin.items()):
        dom = domain_of(domain_id(key[0]))
        if dom is None or dom is base:
            continue
        if key[0] in listed:
            problems.append(Problem(f"concept {key[0]} is of the {dom.value} domain, not {wanted.value}", path))
        else:
            notes.append(f"{path}: concept {key[0]} left out: of the {dom.value} domain, not {wanted.value}")
            del chosen[key], origin[key]
    if problems:
        raise ConceptSetJsonError(problems)
    return wanted


def write_ohdsi_concept_set(content: dict[str, Any], *, cdr_dir: Path | None = None, name: str = "",
                            description: str = "", wrapped: bool = False) -> dict[str, Any]:
    """A Workbench concept set's content as the ATLAS concept-set expression ``{"items": […]}`` (or, ``wrapped``,
    ``{"name", "description", "expression"}``), each concept described from ``cdr_dir``'s vocabulary when given."""
    concept_set = ConceptSet.model_validate({"name": name or "export", "description": description, **content})
    records = concept_records(cdr_dir, [c.conceptId for c in concept_set.concepts]) if cdr_dir else {}
    items = []
    for ref in concept_set.concepts:
        record = records.get(ref.conceptId)
        known = (record or {}).get("standard_concept")
        flag = (known if known in ("S", "C") else "S") if ref.standard else "N"
        concept: dict[str, Any] = {"CONCEPT_ID": ref.conceptId, "STANDARD_CONCEPT": flag,
                                   "STANDARD_CONCEPT_CAPTION": CAPTIONS[flag]}
        if record is not None:
            validity, caption = VALIDITY.get(record["invalid_reason"], (record["invalid_reason"], "Invalid"))
            concept |= {"CONCEPT_NAME": record["concept_name"], "CONCEPT_CODE": record["concept_code"],
                        "DOMAIN_ID": record["domain_id"], "VOCABULARY_ID": record["vocabulary_id"],
                        "CONCEPT_CLASS_ID": record["concept_class_id"], "INVALID_REASON": validity,
                        "INVALID_REASON_CAPTION": caption}
        items.append({"concept": concept, "isExcluded": False, "includeDescendants": ref.includeDescendants,
                      "includeMapped": False})
    expression = {"items": items}
    if not wrapped:
        return expression
    return {"name": name, "description": description, "expression": expression}
