"""A slow, obviously-correct cohort evaluator: plain Python over the raw CDR tables, no index, no SQL cleverness.

It restates the semantics independently of the compiler so the two can be compared on random definitions. Variant
criteria are answered from the genotypes themselves (``genomes``: kind → samples, variant dicts, genotype rows), with
allele frequencies computed here, not read from the store.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import duckdb


def _rows(cdr: Path, table: str) -> list[dict]:
    con = duckdb.connect()
    rel = con.read_parquet(str(cdr / f"{table}.parquet"))
    names = rel.columns
    return [dict(zip(names, r)) for r in rel.fetchall()]


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


GENOME_KINDS = {"WHOLE_GENOME_VARIANT": "wgs", "ARRAY_DATA": "array"}


def _in_region(variant: dict, region: str) -> bool:
    """``chrN`` or ``chrN:start-end`` (the only spellings the random definitions use), 1-based, inclusive."""
    chrom, _, span = region.partition(":")
    if variant["chrom"].lower() != chrom.lower():
        return False
    if not span:
        return True
    start, end = (int(x) for x in span.split("-"))
    return start <= variant["pos"] <= end


class Reference:
    def __init__(self, cdr: Path, genomes: dict | None = None):
        self.genomes = genomes or {}
        self.persons = {}
        for p in _rows(cdr, "person"):
            birth = p["birth_datetime"].date() if p["birth_datetime"] else dt.date(p["year_of_birth"], p["month_of_birth"] or 1, p["day_of_birth"] or 1)
            self.persons[p["person_id"]] = {"gender": p["gender_concept_id"], "birth": birth}
        vocab = {c["concept_id"]: c["vocabulary_id"] for c in _rows(cdr, "concept")}
        self.descendants = defaultdict(set)
        for a in _rows(cdr, "concept_ancestor"):
            self.descendants[a["ancestor_concept_id"]].add(a["descendant_concept_id"])
        visit_type = {v["visit_occurrence_id"]: v["visit_concept_id"] for v in _rows(cdr, "visit_occurrence")}
        self.events = []  # dicts: person, date, standard, concept, domain, visit, visit_type, value

        def add(row, domain, date, standard_concept, source_concept, value=None):
            base = {"person": row["person_id"], "date": date, "domain": domain, "visit": row.get("visit_occurrence_id"),
                    "visit_type": visit_type.get(row.get("visit_occurrence_id")), "value": value}
            if standard_concept is not None:
                self.events.append(base | {"standard": True, "concept": standard_concept})
            if source_concept not in (None, 0):
                self.events.append(base | {"standard": False, "concept": source_concept})

        for r in _rows(cdr, "condition_occurrence"):
            add(r, "CONDITION", r["condition_start_date"], r["condition_concept_id"], r["condition_source_concept_id"])
        for r in _rows(cdr, "drug_exposure"):
            add(r, "DRUG", r["drug_exposure_start_date"], r["drug_concept_id"], None)
        for r in _rows(cdr, "measurement"):
            domain = "PHYSICAL_MEASUREMENT" if vocab.get(r["measurement_source_concept_id"]) == "PPI" else "MEASUREMENT"
            add(r, domain, r["measurement_date"], r["measurement_concept_id"], r["measurement_source_concept_id"], r["value_as_number"])
        for r in _rows(cdr, "visit_occurrence"):
            add(r, "VISIT", r["visit_start_date"], r["visit_concept_id"], None)

    # -- evaluation -----------------------------------------------------------------------------------------
    def expand(self, concept: int, standard: bool, always: bool) -> set[int]:
        if not standard or not always:
            return {concept}
        return {concept} | self.descendants.get(concept, set())

    def compare(self, value, operator: str, operands: list[str], convert) -> bool:
        if value is None:
            return False
        ops = [convert(o) for o in operands]
        return {
            "EQUAL": lambda: value == ops[0], "NOT_EQUAL": lambda: value != ops[0], "LESS_THAN": lambda: value < ops[0],
            "GREATER_THAN": lambda: value > ops[0], "LESS_THAN_OR_EQUAL_TO": lambda: value <= ops[0],
            "GREATER_THAN_OR_EQUAL_TO": lambda: value >= ops[0], "BETWEEN": lambda: ops[0] <= value <= ops[1],
            "IN": lambda: value in ops,
        }[operator]()

    def item_events(self, item: dict) -> list[dict]:
        matched = []
        for e in self.events:
            if e["domain"] != item["type"]:
                continue
            ok = False
            for p in item["searchParameters"]:
                always = p.get("group", False) or item["type"] == "DRUG"
                if e["standard"] != p.get("standard", True) or e["concept"] not in self.expand(p["conceptId"], p.get("standard", True), always):
                    continue
                if all(self.compare(e["value"], a["operator"], a["operands"], float) for a in p.get("attributes", [])):
                    ok = True
            if not ok:
                continue
            keep = True
            for m in item.get("modifiers", []):
                if m["name"] == "AGE_AT_EVENT":
                    keep &= self.compare(_age(self.persons[e["person"]]["birth"], e["date"]), m["operator"], m["operands"], int)
                elif m["name"] == "EVENT_DATE":
                    keep &= self.compare(e["date"], m["operator"], m["operands"], dt.date.fromisoformat)
                elif m["name"] == "ENCOUNTERS":
                    keep &= self.compare(e["visit_type"], "IN", m["operands"], int)
            if keep:
                matched.append(e)
        occurrences = [m for m in item.get("modifiers", []) if m["name"] == "NUM_OF_OCCURRENCES"]
        if occurrences:
            counts = defaultdict(int)
            for e in matched:
                counts[(e["person"], e["concept"])] += 1
            m = occurrences[0]
            matched = [e for e in matched if self.compare(counts[(e["person"], e["concept"])], m["operator"], m["operands"], int)]
        return matched

    def variant_carriers(self, kind: str, criterion: dict) -> set[int]:
        samples, variants, genotypes = self.genomes[kind]
        zygosities = {"any": (1, 2), "heterozygous": (1,), "homozygous": (2,)}[criterion.get("zygosity", "any")]
        found = set()
        for variant, row in zip(variants, genotypes):
            named = ((variant["rsid"] or "").lower() in [r.lower() for r in criterion.get("rsids", [])]
                     or (variant["gene"] or "").upper() in [g.upper() for g in criterion.get("genes", [])]
                     or variant["variant_id"] in criterion.get("variant_ids", [])
                     or any(_in_region(variant, r) for r in criterion.get("regions", [])))
            called = [int(g) for g in row if g >= 0]
            if not named or not called:
                continue
            frequency = sum(called) / (2 * len(called))
            if criterion.get("min_af") is not None and frequency < criterion["min_af"]:
                continue
            if criterion.get("max_af") is not None and frequency > criterion["max_af"]:
                continue
            found |= {person for person, g in zip(samples, row) if g in zygosities}
        return found

    def item_persons(self, item: dict) -> set[int]:
        if item["type"] in GENOME_KINDS:
            kind = GENOME_KINDS[item["type"]]
            return set().union(*[self.variant_carriers(kind, p["variant"]) for p in item["searchParameters"]])
        if item["type"] == "PERSON":
            return {pid for pid, p in self.persons.items() for q in item["searchParameters"] if p["gender"] == q["conceptId"]}
        return {e["person"] for e in self.item_events(item)}

    def group_persons(self, group: dict) -> set[int]:
        if not group.get("temporal"):
            return set().union(*[self.item_persons(i) for i in group["items"]])
        first = [e for i in group["items"] if i["temporalGroup"] == 0 for e in self.item_events(i)]
        second = [e for i in group["items"] if i["temporalGroup"] == 1 for e in self.item_events(i)]
        if group["mention"] != "ANY_MENTION":
            pick = min if group["mention"] == "FIRST_MENTION" else max
            chosen = {}
            for e in first:
                chosen[e["person"]] = pick(chosen.get(e["person"], e["date"]), e["date"])
            first = [e for e in first if e["date"] == chosen[e["person"]]]
        n = group.get("timeValue")
        related = {
            "DURING_SAME_ENCOUNTER_AS": lambda a, b: a["visit"] is not None and a["visit"] == b["visit"],
            "X_DAYS_BEFORE": lambda a, b: a["date"] <= b["date"] - dt.timedelta(days=n),
            "X_DAYS_AFTER": lambda a, b: a["date"] >= b["date"] + dt.timedelta(days=n),
            "WITHIN_X_DAYS_OF": lambda a, b: abs((a["date"] - b["date"]).days) <= n,
        }[group["time"]]
        return {a["person"] for a in first for b in second if a["person"] == b["person"] and related(a, b)}

    def evaluate(self, definition: dict) -> set[int]:
        result = set(self.persons)
        if "has_ehr_data" in definition.get("dataFilters", []):
            result &= {e["person"] for e in self.events}
        for g in definition["includes"]:
            result &= self.group_persons(g)
        for g in definition.get("excludes", []):
            result -= self.group_persons(g)
        return result
