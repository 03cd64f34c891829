"""What the pages and the JSON API show, read from a results store (every value a bound parameter)."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from ...cdr.facts import Domain
from ..domains import DOMAIN_LABELS
from . import models as M
from .store import Store

DATA_TYPE_LABELS = {
    "any": "Any", "wgs": "Whole genome sequence", "array": "Genotyping array",
    "activity_summary": "Daily activity summary", "heart_rate_summary": "Heart rate (daily summary)",
    "heart_rate_intraday": "Heart rate (minute level)", "steps_intraday": "Steps (minute level)",
    "sleep_daily_summary": "Sleep (daily summary)", "sleep_level": "Sleep levels", "device": "Device information",
}
DIMENSION_LABELS = {
    "total": "Total", "gender": "Gender identity", "sex_at_birth": "Sex assigned at birth", "race": "Race",
    "ethnicity": "Ethnicity", "age": "Age", "state": "State", "year": "Year", "ancestry": "Genetic ancestry",
}
DOMAIN_URLS = {  # cards with pages of their own (a concept domain's is /domains/{slug})
    Domain.SURVEY.slug: "/surveys", Domain.PHYSICAL_MEASUREMENT.slug: "/measurements?kind=physical",
    "wearable": "/wearables", "genome": "/genomes",
}


MAX_PAGE = 100_000  # variant search pages are numbered 1 … MAX_PAGE
MAX_POSITION = 10**10  # past the end of any chromosome


class BadQuery(ValueError):
    """A query parameter that parses but cannot be answered (reported as 400, naming the parameter)."""

    def __init__(self, message: str, where: str | None = "query.q"):
        super().__init__(message)
        self.where = where


class NotFound(LookupError):
    pass


def _strata(rows: list[dict], dimension_key: str = "dimension") -> dict[str, list[M.Stratum]]:
    out: dict[str, list[M.Stratum]] = {}
    for r in rows:
        out.setdefault(r[dimension_key], []).append(
            M.Stratum(stratum=r["stratum"], label=r["label"], participant_count=r["participant_count"], percent=r.get("percent"))
        )
    return out


def concept_url(domain: str, concept_id: int) -> str:
    return f"/concepts/{concept_id}?domain={domain}"


class Browser:
    def __init__(self, store: Store):
        self.store = store

    # -- overall --------------------------------------------------------------------------------------------
    def info(self) -> M.StoreInfo:
        meta = self.store.meta
        b = int(meta["bin_size"])
        return M.StoreInfo(
            release=meta["release"], bin_size=b, built_at=meta["built_at"], cutoff_date=meta["cutoff_date"],
            source_manifest_sha256=meta["source_manifest_sha256"],
            counts_note=f"Counts are rounded up to the next multiple of {b}; counts from 1 to {b} are shown as ≤ {b}. "
                        f"Percentages and frequencies are computed from the rounded counts.",
        )

    def total(self) -> int:
        row = self.store.one("SELECT participant_count FROM demographics WHERE dimension = 'total'")
        return row["participant_count"] if row else 0

    def summary(self) -> M.Summary:
        cards = [
            M.DomainCard(domain=r["domain"], label=r["label"], participant_count=r["participant_count"], percent=r["percent"],
                         concepts_with_data=r["concepts_with_data"],
                         url=DOMAIN_URLS.get(r["domain"], f"/domains/{r['domain']}"))
            for r in self.store.rows("SELECT * FROM domain_summary ORDER BY sort_order")
        ]
        return M.Summary(info=self.info(), participant_count=self.total(), domains=cards)

    def demographics(self) -> M.Demographics:
        rows = self.store.rows("SELECT * FROM demographics WHERE dimension <> 'total' ORDER BY dimension, sort_order, stratum")
        return M.Demographics(info=self.info(), participant_count=self.total(), dimensions=_strata(rows))

    # -- search ---------------------------------------------------------------------------------------------
    def search(self, query: str, domain: str | None, limit: int) -> M.SearchResponse:
        results = []
        for r in self.store.search(query, domain, limit):
            results.append(M.SearchResult(**r, url=self._item_url(r)))
        return M.SearchResponse(query=query, domain=domain, results=results)

    @staticmethod
    def _item_url(r: dict) -> str:
        kind = r["kind"]
        if kind == "concept":
            return concept_url(r["domain"], r["concept_id"])
        if kind == "survey_module":
            return f"/surveys/{r['concept_id']}"
        if kind == "survey_question":
            return f"/surveys/{r['parent_id']}#q{r['concept_id']}"
        return f"/measurements/physical/{r['concept_id']}"

    # -- concepts -------------------------------------------------------------------------------------------
    def concepts(self, domain: str, offset: int, limit: int) -> M.ConceptList:
        card = self.store.one("SELECT * FROM domain_summary WHERE domain = ?", (domain,))
        total = self.store.one("SELECT count(*) AS n FROM concept WHERE domain = ?", (domain,))["n"]
        rows = self.store.rows(
            "SELECT * FROM concept WHERE domain = ? ORDER BY participant_count DESC, name, concept_id LIMIT ? OFFSET ?",
            (domain, limit, offset),
        )
        return M.ConceptList(
            domain=domain, label=DOMAIN_LABELS[domain], participant_count=card["participant_count"] if card else 0,
            total_concepts=total, offset=offset, limit=limit,
            concepts=[M.ConceptSummary(domain=r["domain"], concept_id=r["concept_id"], name=r["name"],
                                       vocabulary_id=r["vocabulary_id"], code=r["code"],
                                       participant_count=r["participant_count"], percent=r["percent"],
                                       url=concept_url(r["domain"], r["concept_id"])) for r in rows],
        )

    def concept(self, concept_id: int, domain: str | None) -> M.ConceptDetail:
        found = self.store.rows("SELECT * FROM concept WHERE concept_id = ? ORDER BY participant_count DESC, domain", (concept_id,))
        if not found:
            raise NotFound(f"no participants have concept {concept_id}")
        if domain is not None:
            chosen = [r for r in found if r["domain"] == domain]
            if not chosen:
                raise NotFound(f"concept {concept_id} has no data in domain {domain} (it has in: "
                               f"{', '.join(r['domain'] for r in found)})")
            r = chosen[0]
        else:
            r = found[0]
        strata = self.store.rows(
            "SELECT dimension, stratum, label, participant_count, percent FROM concept_stratum "
            "WHERE domain = ? AND concept_id = ? ORDER BY dimension, sort_order, stratum", (r["domain"], concept_id)
        )
        sources = self.store.rows(
            "SELECT source_concept_id, name, vocabulary_id, code, participant_count FROM concept_source "
            "WHERE domain = ? AND concept_id = ? ORDER BY participant_count DESC, source_concept_id", (r["domain"], concept_id)
        )
        measured = self.store.one("SELECT kind FROM measurement WHERE kind = 'lab' AND concept_id = ?", (concept_id,))
        return M.ConceptDetail(
            domain=r["domain"], concept_id=concept_id, name=r["name"], vocabulary_id=r["vocabulary_id"], code=r["code"],
            concept_class_id=r["concept_class_id"], synonyms=[s for s in (r["synonyms"] or "").split(" | ") if s],
            participant_count=r["participant_count"], percent=r["percent"], strata=_strata(strata),
            sources=[M.SourceConcept(**s) for s in sources],
            other_domains=[x["domain"] for x in found if x["domain"] != r["domain"]],
            measurement_url=f"/measurements/lab/{concept_id}" if measured and r["domain"] == "measurement" else None,
        )

    # -- surveys --------------------------------------------------------------------------------------------
    @staticmethod
    def _module(r: dict) -> M.SurveyModule:
        return M.SurveyModule(module_concept_id=r["module_concept_id"], name=r["name"], code=r["code"],
                              question_count=r["question_count"], participant_count=r["participant_count"],
                              percent=r["percent"], url=f"/surveys/{r['module_concept_id']}")

    def survey_modules(self) -> list[M.SurveyModule]:
        return [self._module(r) for r in self.store.rows("SELECT * FROM survey_module ORDER BY sort_order")]

    def _module_row(self, module_id: int) -> dict:
        r = self.store.one("SELECT * FROM survey_module WHERE module_concept_id = ?", (module_id,))
        if r is None:
            raise NotFound(f"no survey module {module_id}")
        return r

    def survey_module(self, module_id: int) -> M.SurveyModuleDetail:
        module = self._module(self._module_row(module_id))
        answers: dict[int, list[M.SurveyAnswer]] = {}
        for a in self.store.rows("SELECT * FROM survey_answer WHERE module_concept_id = ? ORDER BY question_concept_id, sort_order",
                                 (module_id,)):
            answers.setdefault(a["question_concept_id"], []).append(
                M.SurveyAnswer(answer_concept_id=a["answer_concept_id"], name=a["name"], code=a["code"],
                               participant_count=a["participant_count"], percent=a["percent"]))
        questions = [
            M.SurveyQuestion(question_concept_id=q["question_concept_id"], name=q["name"], code=q["code"],
                             participant_count=q["participant_count"], answers=answers.get(q["question_concept_id"], []),
                             url=f"/surveys/{module_id}#q{q['question_concept_id']}")
            for q in self.store.rows("SELECT * FROM survey_question WHERE module_concept_id = ? ORDER BY sort_order", (module_id,))
        ]
        return M.SurveyModuleDetail(module=module, questions=questions)

    def survey_question(self, module_id: int, question_id: int) -> M.SurveyQuestionDetail:
        module = self._module(self._module_row(module_id))
        q = self.store.one("SELECT * FROM survey_question WHERE module_concept_id = ? AND question_concept_id = ?",
                           (module_id, question_id))
        if q is None:
            raise NotFound(f"survey module {module_id} has no question {question_id}")
        strata: dict[int, list[dict]] = {}
        for s in self.store.rows(
            "SELECT answer_concept_id, dimension, stratum, label, participant_count FROM survey_answer_stratum "
            "WHERE module_concept_id = ? AND question_concept_id = ? ORDER BY dimension, sort_order, stratum",
            (module_id, question_id),
        ):
            strata.setdefault(s["answer_concept_id"], []).append(s)
        answers = [
            M.SurveyAnswer(answer_concept_id=a["answer_concept_id"], name=a["name"], code=a["code"],
                           participant_count=a["participant_count"], percent=a["percent"],
                           strata=_strata(strata.get(a["answer_concept_id"], [])))
            for a in self.store.rows("SELECT * FROM survey_answer WHERE module_concept_id = ? AND question_concept_id = ? "
                                     "ORDER BY sort_order", (module_id, question_id))
        ]
        question = M.SurveyQuestion(question_concept_id=question_id, name=q["name"], code=q["code"],
                                    participant_count=q["participant_count"], answers=answers,
                                    url=f"/surveys/{module_id}#q{question_id}")
        return M.SurveyQuestionDetail(module=module, question=question, dimensions=["gender", "sex_at_birth", "age"])

    # -- measurements ---------------------------------------------------------------------------------------
    @staticmethod
    def _measurement(r: dict) -> M.MeasurementSummary:
        return M.MeasurementSummary(kind=r["kind"], concept_id=r["concept_id"], name=r["name"], code=r["code"],
                                    vocabulary_id=r["vocabulary_id"], unit=r["unit"] or "",
                                    participant_count=r["participant_count"],
                                    other_unit_participant_count=r["other_unit_participant_count"] or 0,
                                    url=f"/measurements/{r['kind']}/{r['concept_id']}")

    def measurements(self, kind: str | None) -> list[M.MeasurementSummary]:
        rows = self.store.rows("SELECT * FROM measurement WHERE (? IS NULL OR kind = ?) ORDER BY kind DESC, name", (kind, kind))
        return [self._measurement(r) for r in rows]

    def measurement(self, kind: str, concept_id: int) -> M.MeasurementDetail:
        r = self.store.one("SELECT * FROM measurement WHERE kind = ? AND concept_id = ?", (kind, concept_id))
        if r is None:
            raise NotFound(f"no {kind} measurement {concept_id}")
        stats = [M.MeasurementStats(**{k: s[k] for k in M.MeasurementStats.model_fields})
                 for s in self.store.rows("SELECT * FROM measurement_stats WHERE kind = ? AND concept_id = ? "
                                          "ORDER BY sort_order, stratum", (kind, concept_id))]
        hist: dict[str, list[M.HistogramBin]] = {}
        bins = self.store.rows("SELECT * FROM measurement_histogram WHERE kind = ? AND concept_id = ? ORDER BY stratum, bin",
                               (kind, concept_id))
        last = max((b["bin"] for b in bins), default=0)
        for b in bins:
            hist.setdefault(b["stratum"], []).append(
                M.HistogramBin(bin=b["bin"], low=b["bin_low"], high=b["bin_high"], open_low=b["bin"] == 0,
                               open_high=b["bin"] == last, participant_count=b["participant_count"]))
        b = self.store.bin_size
        return M.MeasurementDetail(
            measurement=self._measurement(r), bin_width=r["bin_width"], stats=stats, histograms=hist,
            note=f"Each participant's latest value in {r['unit'] or 'the main unit'}. The first and last bins also hold "
                 f"every value below or above them. Histograms and statistics are shown only for groups of at least "
                 f"{b} participants.",
        )

    # -- wearables and genomes ------------------------------------------------------------------------------
    def _data_types(self, table: str) -> list[M.DataTypeStrata]:
        rows = self.store.rows(f"SELECT * FROM {table} ORDER BY data_type, dimension, sort_order, stratum")  # table: a constant
        by_type: dict[str, list[dict]] = {}
        for r in rows:
            by_type.setdefault(r["data_type"], []).append(r)
        out = []
        for data_type, items in by_type.items():
            total = next((i["participant_count"] for i in items if i["dimension"] == "total"), 0)
            strata = _strata([i for i in items if i["dimension"] != "total"])
            out.append(M.DataTypeStrata(data_type=data_type, label=DATA_TYPE_LABELS.get(data_type, data_type),
                                        participant_count=total, strata=strata))
        out.sort(key=lambda d: (d.data_type != "any", list(DATA_TYPE_LABELS).index(d.data_type)
                                if d.data_type in DATA_TYPE_LABELS else 99))
        return out

    def wearables(self) -> M.Wearables:
        types = self._data_types("wearable")
        total = next((t.participant_count for t in types if t.data_type == "any"), 0)
        return M.Wearables(participant_count=total, data_types=types)

    def genomes(self) -> M.Genomes:
        types = self._data_types("genome")
        total = next((t.participant_count for t in types if t.data_type == "any"), 0)
        n = self.store.one("SELECT count(*) AS n FROM variant")["n"]
        return M.Genomes(participant_count=total, data_types=types, variant_count=n)

    # -- variants -------------------------------------------------------------------------------------------
    RSID = re.compile(r"^rs\d{1,12}$", re.IGNORECASE)
    REGION = re.compile(r"^(?:chr)?([0-9]{1,2}|X|Y|M|MT):([0-9][0-9,]*)-([0-9][0-9,]*)$", re.IGNORECASE)
    VARIANT = re.compile(r"^(?:chr)?([0-9]{1,2}|X|Y|M|MT)-([0-9]+)-([ACGTN]+)-([ACGTN*]+)$", re.IGNORECASE)
    GENE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")

    def parse_variant_query(self, query: str) -> tuple[str, str, tuple]:
        q = query.strip().replace(" ", "")
        if not q:
            raise BadQuery("the query is empty: give an rsID (rs429358), a gene (APOE) or a region (chr19:44900000-44910000)")
        if self.RSID.match(q):
            return "rsid", "rsid = ? COLLATE NOCASE", (q.lower(),)
        if m := self.VARIANT.match(q):
            chrom = m.group(1).upper()
            if int(m.group(2)) > MAX_POSITION:
                raise BadQuery(f"variant {query!r}: position out of range")
            return "variant", "variant_id = ?", (f"{chrom}-{int(m.group(2))}-{m.group(3).upper()}-{m.group(4).upper()}",)
        if m := self.REGION.match(q):
            chrom = m.group(1).upper()
            start, end = int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
            if start > end:
                raise BadQuery(f"region {query!r}: the start ({start:,}) is after the end ({end:,})")
            if end > MAX_POSITION:
                raise BadQuery(f"region {query!r}: position out of range")
            return "region", "chrom IN (?, ?) AND pos BETWEEN ? AND ?", (chrom, f"chr{chrom}", start, end)
        if ":" in q or "-" in q and q[:1].isdigit():
            raise BadQuery(f"could not read {query!r} as a region: write it as chr:start-end, e.g. chr19:44900000-44910000")
        if self.GENE.match(q):
            return "gene", "gene = ? COLLATE NOCASE", (q,)
        raise BadQuery(f"could not read {query!r}: give an rsID (rs429358), a gene (APOE), a region "
                       f"(chr19:44900000-44910000) or a variant id (19-44908684-T-C)")

    @staticmethod
    def _variant(r: dict, ancestries: list[dict] | None = None) -> M.Variant:
        return M.Variant(
            variant_id=r["variant_id"], chrom=r["chrom"], pos=r["pos"], ref=r["ref"], alt=r["alt"], rsid=r["rsid"] or "",
            gene=r["gene"] or "", allele_count=r["allele_count"], allele_number=r["allele_number"],
            allele_frequency=r["allele_frequency"], homozygote_count=r["homozygote_count"],
            url=f"/variants/{quote(r['variant_id'])}",
            ancestries=None if ancestries is None else [
                M.AncestryRow(**{k: a[k] for k in M.AncestryRow.model_fields}) for a in ancestries],
        )

    def variants(self, query: str, page: int, page_size: int, with_ancestries: bool = False) -> M.VariantSearch:
        """Page ``page`` (from 1) of the variants matching ``query``."""
        if isinstance(page, bool) or not isinstance(page, int) or not 1 <= page <= MAX_PAGE:
            raise BadQuery(f"page must be a whole number from 1 to {MAX_PAGE:,}, not {page!r}", "query.page")
        query_type, where, params = self.parse_variant_query(query)
        total = self.store.one(f"SELECT count(*) AS n FROM variant WHERE {where}", params)["n"]  # where: one of four constants
        rows = self.store.rows(f"SELECT * FROM variant WHERE {where} ORDER BY chrom, pos, variant_id LIMIT ? OFFSET ?",
                               (*params, page_size, (page - 1) * page_size))
        ancestries: dict[str, list[dict]] = {}
        if with_ancestries and rows:
            ids = [r["variant_id"] for r in rows]
            for a in self.store.rows("SELECT * FROM variant_ancestry WHERE variant_id IN (SELECT value FROM json_each(?)) "
                                     "ORDER BY variant_id, sort_order", (json.dumps(ids),)):
                ancestries.setdefault(a["variant_id"], []).append(a)
        return M.VariantSearch(
            query=query, query_type=query_type, page=page, page_size=page_size, total_results=total,
            variants=[self._variant(r, ancestries.get(r["variant_id"]) if with_ancestries else None) for r in rows],
        )

    def variant(self, variant_id: str) -> M.Variant:
        r = self.store.one("SELECT * FROM variant WHERE variant_id = ?", (variant_id,))
        if r is None:
            raise NotFound(f"no variant {variant_id}")
        anc = self.store.rows("SELECT * FROM variant_ancestry WHERE variant_id = ? ORDER BY sort_order", (variant_id,))
        return self._variant(r, anc)


__all__ = ["Browser", "BadQuery", "NotFound", "DIMENSION_LABELS", "DATA_TYPE_LABELS"]
