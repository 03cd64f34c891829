"""The release scanner: proves that no raw identifier and no full date of birth is anywhere in a release.

It runs at the end of every ``workbench curate`` (a finding fails the run, and nothing is put in place) and as
``workbench release scan DIR``. It knows what to look for from the raw CDR the release was curated from (its
manifest names it; ``--raw`` overrides) and from the private maps, which hold every raw id ever released:

- **identifier columns** (``cdr/schema/identifiers.csv`` and every person column and ``src_id``): each value must
  be one that de-identification issued — a research id, a research response, device or sample id, a site mask, or
  a permuted row id (2^61 and up); a value that is a raw id is reported as such;
- **source identifiers** (a person's source id, a device serial number, a biobank barcode) must be empty;
- **the person table** must hold no birth month, day or datetime;
- **every other text value** of every table (vocabulary codes in ``*_source_value`` columns excepted), every VCF
  header line, every file name and every text of ``report.json`` is split into tokens; a raw person or response
  id (a run of at least ``scan.min_embedded_digits`` digits), a raw device, sample or source person id (a token
  of at least ``scan.min_embedded_chars`` characters) or a raw site id (the whole value) is refused whether it is
  the whole value or embedded (``wgs_1000003``); in a participant's own rows, so is a raw row id of one of that
  participant's rows and their full date of birth (``1980-03-15``, ``19800315``, ``3/15/1980``);
- **VCF sample names** must be research ids;
- **the release folder** holds its tiers, their indexes and the report, nothing else: a sandbox or a stray file
  in it is refused, and so is ``report.html`` if it is not the rendering of ``report.json``.

Vocabulary tables are public reference data and are not scanned for identifiers.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

from ..cdr.engine import connect
from ..cdr.model import Identifier, cdm
from ..cdr.problems import ProblemsError
from ..cdr.sql import ident
from ..cdr.store import Cdr
from .config import CurationConfig, load_config
from .genomes import VCF_SUFFIX
from .private import PRIVATE_DIR_NAME
from .row_ids import ROW_ID_BASE

TIERS = ("registered", "controlled")
REPORT_FILES = ("report.json", "report.html")
# Issued values per identifier kind: the private map and its column of values that de-identification hands out.
ISSUED = {
    "person": ("person_map", "research_id"),
    "response": ("response_map", "research_response_id"),
    "device": ("device_map", "research_device_id"),
    "sample": ("sample_map", "research_sample_id"),
    "site": ("site_map", "masked_src_id"),
}
RAW_KEYS = {"person": "person_id", "response": "questionnaire_response_id", "device": "device_id", "sample": "sample_id", "site": "src_id"}
# Text is cut into tokens of letters and digits, where '.', ',' or ':' followed by digits continues a token (a
# decimal, a time, thousands separators); a raw numeric id is recognised only as a whole token of digits. So
# "wgs_1000003", "see 1000003" and "1000003.csv" give 1000003, but the digits inside a hash ("a3f9122345"), a
# decimal ("38.900886"), a time ("07:57:38") or "1,000,003" do not.
NUMBER_TOKEN = r"[A-Za-z0-9]+(?:[.,:][0-9]+)*"
DATE_PATTERNS = (  # (regular expression, strptime format) of the ways a date of birth is written in text
    (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d"),
    (r"\d{8}", "%Y%m%d"),
    (r"\d{1,2}/\d{1,2}/\d{4}", "%m/%d/%Y"),
)


class ScanError(ProblemsError):
    """A release failed the scan; ``findings`` (its problems) lists what was found where."""

    heading = "release refused: identifying data found"
    outcome = "the release is not to be published."

    def __init__(self, release: Path, findings: list[Finding]):
        self.findings = findings
        shown = "\n".join(f"  - {f}" for f in findings[:50])
        more = f"\n  … and {len(findings) - 50} more" if len(findings) > 50 else ""
        super().__init__(findings, f"release {release} holds identifying data ({len(findings)} finding(s)):\n{shown}{more}")


class ScanSetupError(ValueError):
    """The scan cannot run (no raw CDR, no private maps)."""


@dataclass(frozen=True)
class Finding:
    what: str  # "raw person id", "full date of birth", "unexpected entry", …
    where: str  # "registered/genomic_sample.sample_id", "controlled/genomes/wgs.vcf.gz: sample names", …
    example: str
    count: int = 1

    def __str__(self) -> str:
        return f"{self.where}: {self.what} ({self.count:,} value(s); e.g. {self.example!r})"

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "where": self.where, "example": self.example, "count": self.count}


@dataclass
class ScanResult:
    release: Path
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: {"tables": 0, "identifier_columns": 0, "text_columns": 0, "files": 0, "vcf_samples": 0})
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {"release": str(self.release), "ok": self.ok, "findings": [f.as_dict() for f in self.findings], "checked": self.checked, "seconds": round(self.seconds, 3)}


class _Scanner:
    def __init__(self, release: Path, private_dir: Path, raw_dir: Path, config: CurationConfig, memory_limit: str | None):
        self.release = release
        self.private_dir = private_dir
        self.raw = Cdr(raw_dir)
        self.cfg = config.scan
        self.con = connect(memory_limit=memory_limit)
        self.result = ScanResult(release)
        self._views = 0
        self._load_reference()

    # --- plumbing -----------------------------------------------------------------------------------------

    def q(self, sql: str, params: Any = None) -> list[tuple]:
        """Run one statement and read its result to the end (DuckDB keeps a half-read result open)."""
        return (self.con.execute(sql, params) if params is not None else self.con.execute(sql)).fetchall()

    def one(self, sql: str, params: Any = None) -> tuple:
        return self.q(sql, params)[0]

    def view(self, path: Path) -> str:
        """A view over a Parquet file; returns its name."""
        self._views += 1
        name = f"v{self._views}"
        self.con.read_parquet(str(path)).create_view(name, replace=True)
        return name

    def find(self, what: str, where: str, example: Any, count: int = 1) -> None:
        self.result.findings.append(Finding(what, where, str(example), int(count)))

    # --- what to look for -----------------------------------------------------------------------------------

    def _load_reference(self) -> None:
        """Raw ids (raw CDR ∪ private maps), issued ids (private maps), dates of birth."""
        maps = {}
        for kind, (name, _) in ISSUED.items():
            path = self.private_dir / f"{name}.parquet"
            if not path.is_file():
                raise ScanSetupError(f"private map {path} not found: the scan needs the private area the release was curated with (--private)")
            maps[kind] = self.view(path)
        raw_views = {name: self.view(self.raw.table_file(name)) for name in self.raw.manifest.tables if name in cdm()}
        self.raw_views = raw_views
        create = "CREATE TEMP TABLE"
        # issued values, as text (VCF sample names and string columns compare as text)
        parts = [f"SELECT CAST({_q(col)} AS VARCHAR) AS v, '{kind}' AS kind FROM {maps[kind]}" for kind, (_, col) in ISSUED.items()]
        self.q(f"{create} issued AS {' UNION ALL '.join(parts)}")
        # raw numeric ids: persons and survey responses (raw CDR and every map)
        self.q(
            f"{create} raw_numeric AS SELECT DISTINCT v, kind FROM ("
            f"SELECT person_id AS v, 'person' AS kind FROM {maps['person']} UNION ALL "
            f"SELECT person_id, 'person' FROM {raw_views['person']} UNION ALL "
            f"SELECT questionnaire_response_id, 'response' FROM {maps['response']} UNION ALL "
            f"SELECT questionnaire_response_id, 'response' FROM {raw_views['observation']} WHERE questionnaire_response_id IS NOT NULL UNION ALL "
            f"SELECT survey_conduct_id, 'response' FROM {raw_views['survey_conduct']})"
        )
        # raw text ids: devices, samples, sites, the source person id
        text_parts = [
            f"SELECT device_id AS v, 'device' AS kind FROM {maps['device']}",
            f"SELECT device_id, 'device' FROM {raw_views['device']}",
            f"SELECT sample_id, 'sample' FROM {maps['sample']}",
            f"SELECT sample_id, 'sample' FROM {raw_views['genomic_sample']}",
            f"SELECT src_id, 'site' FROM {maps['site']}",
            f"SELECT person_source_value, 'source person' FROM {raw_views['person']}",
        ]
        for identifier in cdm().identifiers("site"):
            if identifier.table in raw_views:
                text_parts.append(f"SELECT DISTINCT src_id, 'site' FROM {raw_views[identifier.table]}")
        self.q(f"{create} raw_text AS SELECT DISTINCT v, kind FROM ({' UNION ALL '.join(text_parts)}) WHERE v IS NOT NULL AND v <> ''")
        # research id → raw person id and full date of birth (only where month and day are known)
        self.q(
            f"{create} persons AS SELECT m.research_id, m.person_id, "
            f"CASE WHEN p.month_of_birth IS NOT NULL AND p.day_of_birth IS NOT NULL THEN TRY(make_date(p.year_of_birth, p.month_of_birth, p.day_of_birth)) "
            f"ELSE CAST(p.birth_datetime AS DATE) END AS dob "
            f"FROM {maps['person']} m LEFT JOIN {raw_views['person']} p ON p.person_id = m.person_id"
        )

    @cached_property
    def raw_rows(self) -> str:
        """(id, person_id) of every raw row with a row id (the keys of person-level tables, and of providers, care
        sites and locations, whose person_id is NULL): a large table, built only when a check needs it."""
        parts = []
        for identifier in cdm().identifiers("row"):
            t = cdm().table(identifier.table)
            if identifier.column in t.primary_key and t.name in self.raw_views:
                person = _q(t.person_column) if t.person_column else "NULL"
                parts.append(f"SELECT {_q(identifier.column)} AS id, {person} AS person_id FROM {self.raw_views[t.name]}")
        self.q(f"CREATE TEMP TABLE raw_rows AS {' UNION ALL '.join(parts)}")
        return "raw_rows"

    # --- the checks ---------------------------------------------------------------------------------------------

    def run(self) -> ScanResult:
        started = time.perf_counter()
        self.check_layout()
        for tier in TIERS:
            tier_dir = self.release / tier
            if (tier_dir / "manifest.json").is_file():
                self.check_tier(tier, Cdr(tier_dir))
        self.check_report()
        self.result.seconds = time.perf_counter() - started
        return self.result

    def check_layout(self) -> None:
        """Only the tiers, their indexes and the report; every name (files and folders) free of raw ids."""
        allowed = {*TIERS, *REPORT_FILES, *(f"{t}.index" for t in TIERS)}
        for entry in sorted(self.release.iterdir()):
            if entry.name not in allowed:
                what = "a sandbox in the release folder (steward-only data belongs in the private area)" if entry.name == "sandbox" else (
                    "unexpected entry in a release folder (a release holds its tiers, their indexes and the report)"
                )
                self.find(what, entry.name, entry.name)
        for tier in TIERS:
            tier_dir = self.release / tier
            if not tier_dir.is_dir():
                continue
            manifest = Cdr(tier_dir).manifest
            expected = {"manifest.json", *(e.file for e in manifest.tables.values()), *manifest.files}
            for path in sorted(p for p in tier_dir.rglob("*") if p.is_file()):
                relative = path.relative_to(tier_dir).as_posix()
                if relative not in expected:
                    self.find("unexpected file in a tier (not in its manifest)", f"{tier}/{relative}", relative)
        names = [p.relative_to(self.release).as_posix() for p in self.release.rglob("*")]
        self.result.checked["files"] += len(names)
        self.check_text(names, "file names")

    def check_tier(self, tier: str, cdr: Cdr) -> None:
        codes = self.view(cdr.table_file("concept")) if "concept" in cdr.manifest.tables else None
        by_table: dict[str, list[Identifier]] = {}
        for identifier in cdm().identifiers():
            by_table.setdefault(identifier.table, []).append(identifier)
        for name, entry in cdr.manifest.tables.items():
            table = cdm().table(name)
            if table.is_vocabulary or entry.rows == 0:
                continue
            self.result.checked["tables"] += 1
            view = self.view(cdr.table_file(name))
            identifiers = {i.column: i for i in by_table.get(name, [])}
            for identifier in identifiers.values():
                self.check_identifier(tier, view, identifier)
            if name == "person":
                self.check_birth_fields(tier, view)
            for column in table.columns:
                if column.type == "string" and (column.name not in identifiers or identifiers[column.name].kind == "none"):
                    self.check_text_column(tier, view, name, column.name, table.person_column, codes if column.name.endswith("source_value") else None)
        for relative in cdr.manifest.files:
            if relative.endswith(VCF_SUFFIX):
                self.check_vcf(tier, cdr.path / relative, relative)

    def check_identifier(self, tier: str, view: str, identifier: Identifier) -> None:
        where = f"{tier}/{identifier.table}.{identifier.column}"
        column = _q(identifier.column)
        self.result.checked["identifier_columns"] += 1
        if identifier.kind == "none":
            return
        if identifier.kind == "source":
            n, example = self.one(f"SELECT COUNT(*), ANY_VALUE({column}) FROM {view} WHERE {column} IS NOT NULL")  # type: ignore[misc]
            if n:
                self.find("source system identifier (must be empty in a release)", where, example, n)
            return
        if identifier.kind == "row":
            low = self.one(f"SELECT MIN({column}) FROM {view}")[0]  # type: ignore[index]
            if low is None or low >= ROW_ID_BASE:
                return  # every value was issued by the row-id permutation, so none can be a raw id
            raw = self.raw_rows
            for what, condition in (
                ("raw row id", f"{column} IN (SELECT id FROM {raw})"),
                ("row id not issued by de-identification", f"{column} < {ROW_ID_BASE} AND {column} NOT IN (SELECT id FROM {raw})"),
            ):
                n, example = self.one(f"SELECT COUNT(*), ANY_VALUE({column}) FROM {view} WHERE {condition}")  # type: ignore[misc]
                if n:
                    self.find(what, where, example, n)
            return
        # person, response, device, sample, site: every value must be an issued one
        text = f"CAST({column} AS VARCHAR)"
        not_issued = f"{column} IS NOT NULL AND {text} NOT IN (SELECT v FROM issued WHERE kind = '{identifier.kind}')"
        rows = self.q(f"SELECT {text} AS v, COUNT(*) FROM {view} WHERE {not_issued} GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT 1000")
        if not rows:
            return
        raw = self._raw_values(identifier.kind, [r[0] for r in rows])
        raw_rows = [(v, n) for v, n in rows if v in raw]
        other_rows = [(v, n) for v, n in rows if v not in raw]
        label = {"person": "person id", "response": "survey response id", "device": "device id", "sample": "sample id", "site": "site id"}[identifier.kind]
        if raw_rows:
            self.find(f"raw {label}", where, raw_rows[0][0], sum(n for _, n in raw_rows))
        if other_rows:
            self.find(f"{label} not issued by de-identification", where, other_rows[0][0], sum(n for _, n in other_rows))

    def _raw_values(self, kind: str, values: list[str]) -> set[str]:
        if kind in ("person", "response"):
            found = self.q("SELECT CAST(v AS VARCHAR) FROM raw_numeric WHERE kind = ? AND CAST(v AS VARCHAR) IN (SELECT UNNEST(?))", [kind, values])
        else:
            found = self.q("SELECT v FROM raw_text WHERE kind = ? AND v IN (SELECT UNNEST(?))", [kind, values])
        return {r[0] for r in found}

    def check_birth_fields(self, tier: str, view: str) -> None:
        n, example = self.one(
            f"SELECT COUNT(*), ANY_VALUE(concat_ws('-', year_of_birth, month_of_birth, day_of_birth, birth_datetime)) FROM {view} "
            "WHERE birth_datetime IS NOT NULL OR (month_of_birth IS NOT NULL AND day_of_birth IS NOT NULL)"
        )  # type: ignore[misc]
        if n:
            self.find("full date of birth (birth month and day, or birth datetime)", f"{tier}/person", example, n)

    def check_text_column(self, tier: str, view: str, table: str, column: str, person_column: str | None, codes: str | None) -> None:
        """Distinct values of a text column, tokenised; a participant's own raw row ids and date of birth too."""
        self.result.checked["text_columns"] += 1
        where = f"{tier}/{table}.{column}"
        person = _q(person_column) if person_column else "NULL"
        exclude = f"AND {_q(column)} NOT IN (SELECT concept_code FROM {codes} WHERE concept_code IS NOT NULL)" if codes else ""
        self.q(
            f"CREATE OR REPLACE TEMP TABLE text_values AS SELECT DISTINCT {_q(column)} AS v FROM {view} WHERE {_q(column)} IS NOT NULL AND {_q(column)} <> '' {exclude}"
        )
        self._check_values("text_values", where)
        if person_column:
            self._check_own_rows(view, column, person, where, exclude)

    def check_text(self, values: list[str], where: str) -> None:
        """Text not tied to a participant (file names, VCF headers, the report)."""
        if not values:
            return
        self.q("CREATE OR REPLACE TEMP TABLE text_values AS SELECT DISTINCT UNNEST(?) AS v", [values])
        self._check_values("text_values", where)

    def _check_values(self, values: str, where: str) -> None:
        params = {"digits": self.cfg.min_embedded_digits, "chars": self.cfg.min_embedded_chars}
        checks = [
            # a raw person or response id: a number standing as its own token, the whole value or inside it
            (
                f"SELECT r.kind, t.v FROM (SELECT v, UNNEST(regexp_extract_all(v, '{NUMBER_TOKEN}')) AS tok FROM {{values}}) t "
                "JOIN raw_numeric r ON CAST(r.v AS VARCHAR) = t.tok WHERE length(t.tok) >= $digits AND regexp_full_match(t.tok, '[0-9]+')",
                "raw {kind} id",
            ),
            # a raw device, sample or source person id: a token of letters, digits, '_', '-' and '.'
            (
                "SELECT r.kind, t.v FROM (SELECT v, UNNEST(regexp_extract_all(v, '[A-Za-z0-9_.\\-]+')) AS tok FROM {values}) t "
                "JOIN raw_text r ON r.v = t.tok WHERE r.kind <> 'site' AND length(t.tok) >= $chars",
                "raw {kind} id",
            ),
            # a raw site id: the whole value
            ("SELECT r.kind, t.v FROM {values} t JOIN raw_text r ON r.v = t.v WHERE r.kind = 'site'", "raw {kind} id"),
        ]
        for query, what in checks:
            sql = f"SELECT kind, COUNT(DISTINCT v), MIN(v) FROM ({query.format(values=values)}) GROUP BY kind ORDER BY kind"
            found = self.q(sql, {k: v for k, v in params.items() if f"${k}" in sql})
            for kind, n, example in found:
                self.find(what.format(kind=kind) + " in text", where, example, n)

    def _check_own_rows(self, view: str, column: str, person: str, where: str, exclude: str) -> None:
        """In a participant's own rows: their full date of birth, or the raw id of one of their rows, in text."""
        digits = self.cfg.min_embedded_digits
        pattern = "|".join(p for p, _ in DATE_PATTERNS)
        self.q(
            f"CREATE OR REPLACE TEMP TABLE own_tokens AS SELECT DISTINCT {person} AS research_id, {_q(column)} AS v, tok "
            f"FROM (SELECT {person}, {_q(column)}, UNNEST(regexp_extract_all({_q(column)}, '{pattern}|{NUMBER_TOKEN}')) AS tok FROM {view} "
            f"WHERE {_q(column)} IS NOT NULL AND regexp_matches({_q(column)}, '[0-9]') {exclude}) WHERE length(tok) >= $shortest",
            {"shortest": min(digits, 8)},
        )
        if not self.one("SELECT COUNT(*) FROM own_tokens")[0]:  # type: ignore[index]
            return
        parsed = ", ".join(f"try_strptime(tok, '{fmt}')" for _, fmt in DATE_PATTERNS)
        n, example = self.one(
            f"SELECT COUNT(DISTINCT t.v), MIN(t.v) FROM own_tokens t JOIN persons p ON p.research_id = t.research_id "
            f"WHERE p.dob IS NOT NULL AND CAST(COALESCE({parsed}) AS DATE) = p.dob"
        )  # type: ignore[misc]
        if n:
            self.find("the participant's full date of birth in text", where, example, n)
        candidates = self.one("SELECT COUNT(*) FROM own_tokens WHERE length(tok) >= $digits AND regexp_full_match(tok, '[0-9]+')", {"digits": digits})[0]  # type: ignore[index]
        if candidates:
            rows = self.raw_rows
            n, example = self.one(
                f"SELECT COUNT(DISTINCT t.v), MIN(t.v) FROM own_tokens t JOIN persons p ON p.research_id = t.research_id "
                f"JOIN {rows} r ON r.person_id = p.person_id AND CAST(r.id AS VARCHAR) = t.tok WHERE length(t.tok) >= $digits AND regexp_full_match(t.tok, '[0-9]+')",
                {"digits": digits},
            )  # type: ignore[misc]
            if n:
                self.find("raw row id of the participant's own row in text", where, example, n)

    def check_vcf(self, tier: str, path: Path, relative: str) -> None:
        where = f"{tier}/{relative}"
        header, samples = read_vcf_header(path)
        self.result.checked["vcf_samples"] += len(samples)
        self.check_text(header, f"{where}: header")
        if samples:
            self.q("CREATE OR REPLACE TEMP TABLE vcf_samples AS SELECT UNNEST(?) AS v", [samples])
            bad = self.q("SELECT v FROM vcf_samples WHERE v NOT IN (SELECT v FROM issued WHERE kind = 'person')")
            if bad:
                raw = self._raw_values("person", [r[0] for r in bad])
                raw_bad = [r[0] for r in bad if r[0] in raw]
                if raw_bad:
                    self.find("raw person id as a VCF sample name", f"{where}: samples", raw_bad[0], len(raw_bad))
                if len(bad) > len(raw_bad):
                    self.find("VCF sample name that is not a research id", f"{where}: samples", next(r[0] for r in bad if r[0] not in raw), len(bad) - len(raw_bad))

    def check_report(self) -> None:
        from .report import render_html

        path = self.release / "report.json"
        if not path.is_file():
            return
        report = json.loads(path.read_text(encoding="utf-8"))
        self.check_text(list(_strings(report)), "report.json")
        html = self.release / "report.html"
        if html.is_file() and html.read_text(encoding="utf-8") != render_html(report):
            self.find("report.html is not the rendering of report.json", "report.html", "report.html")


def _q(name: str) -> str:
    """A quoted identifier of the model (a column or table name: code, never user input)."""
    return ident(name).sql(dialect="duckdb")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def read_vcf_header(path: Path) -> tuple[list[str], list[str]]:
    """The meta-information lines and the sample names of a (b)gzipped VCF."""
    header: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("##"):
                header.append(line)
            elif line.startswith("#CHROM"):
                fields = line.split("\t")
                return header, fields[9:]
            else:
                break
    return header, []


def raw_dir_of(release: Path) -> Path | None:
    """The raw CDR a release was curated from, as its tiers' manifests record it."""
    for tier in TIERS:
        manifest = release / tier / "manifest.json"
        if manifest.is_file():
            extra = json.loads(manifest.read_text(encoding="utf-8")).get("extra", {})
            path = extra.get("raw_input", {}).get("path")
            if path:
                return Path(path)
    return None


def scan_release(
    release: Path,
    *,
    private_dir: Path | None = None,
    raw_dir: Path | None = None,
    config: CurationConfig | None = None,
    memory_limit: str | None = None,
) -> ScanResult:
    """Scan ``release`` (a folder with registered/ and controlled/); see the module docstring."""
    release = Path(release)
    if not release.is_dir():
        raise ScanSetupError(f"{release}: no such release folder")
    if not any((release / t / "manifest.json").is_file() for t in TIERS):
        raise ScanSetupError(f"{release}: not a release folder (no registered/ or controlled/ tier with a manifest)")
    private = Path(private_dir) if private_dir else release.parent / PRIVATE_DIR_NAME
    raw = Path(raw_dir) if raw_dir else raw_dir_of(release)
    if raw is None or not (raw / "manifest.json").is_file():
        raise ScanSetupError(
            f"the raw CDR this release was curated from ({raw or 'not recorded'}) is not available: the scan compares the "
            "release with it; pass its location with --raw"
        )
    scanner = _Scanner(release, private, raw, config or load_config(), memory_limit)
    try:
        return scanner.run()
    finally:
        scanner.con.close()


__all__ = ["Finding", "ScanError", "ScanResult", "ScanSetupError", "read_vcf_header", "scan_release"]
