"""Curation settings: thresholds and concept lists, read from TOML over the documented defaults.

``default_config.toml`` (beside this module) holds every key with its default and a comment saying what it does.
A user file overrides keys section by section; an unknown key, a wrong type or a bad value is refused with the
key's dotted name (``physical_measurements.height_cm``): a ``ConfigError``, the ``ProblemsError`` whose problems
are located by file and TOML key path (or by file and row, for the CSV tables a config names).
"""

from __future__ import annotations

import csv
import hashlib
import json
import tomllib
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..cdr.model import cdm
from ..cdr.problems import Problem, ProblemsError


class ConfigError(ProblemsError):
    """A curation config that cannot be used: one problem per bad key, located by file and TOML key path
    (``curation.toml: drugs.max_refills``); the message names the file and the key."""

    heading = "invalid curation config"
    outcome = "nothing was run."
    problems: list[Problem]

    def __init__(self, problems: Sequence[Problem], message: str | None = None, *, file: str | Path | None = None, keys: Sequence[str] = ()):
        super().__init__(problems, message)
        self.file = None if file is None else str(file)
        self.keys = list(keys)
        self.heading = (f"{self.file}: " if self.file else "") + "invalid curation config" + (f" ({', '.join(self.keys)})" if self.keys else "")

    @classmethod
    def at(cls, file: str | Path, message: str) -> ConfigError:
        """A problem with the file as a whole (missing, not TOML)."""
        return cls([Problem(message, str(file))], f"{file}: {message}", file=file)


class _KeyError(ValueError):
    """A value refused by a check across sections, naming its key (pydantic locates it at the top level)."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(f"{key}: {message}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Range = tuple[float, float]


def _check_range(value: Range) -> Range:
    if value[0] > value[1]:
        raise ValueError(f"lower bound {value[0]} is above upper bound {value[1]}")
    return value


class Persons(_Section):
    min_age_at_consent: int = Field(ge=0, le=150)
    min_birth_year: int = Field(ge=1000, le=3000)
    max_years_after_birth: int = Field(ge=1, le=200)
    data_tables: list[str]

    @field_validator("data_tables")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in cdm() or not cdm().table(name).person_column:
                raise ValueError(f"{name!r} is not a table with a person column")
        return value


class Death(_Section):
    max_days_after_death: int = Field(ge=0)
    min_death_date: date | None = None

    @field_validator("min_death_date", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return None if value == "" else value


class PhysicalMeasurements(_Section):
    concept_ids: list[int]
    height_concept_ids: list[int]
    height_cm: Range
    weight_concept_ids: list[int]
    weight_kg: Range
    bmi_concept_ids: list[int]
    bmi: Range

    _ranges = field_validator("height_cm", "weight_kg", "bmi")(_check_range)


class Units(_Section):
    mapping_file: str = ""


class Drugs(_Section):
    max_refills: int = Field(ge=0)
    max_days_supply: int = Field(ge=0)


class Surveys(_Section):
    free_text_code_patterns: list[str]
    keep_string_questions: list[int]
    branching_file: str = ""


class StringFields(_Section):
    suppress: list[str]

    @field_validator("suppress")
    @classmethod
    def _columns(cls, value: list[str]) -> list[str]:
        for item in value:
            table, _, column = item.partition(".")
            if table not in cdm():
                raise ValueError(f"{item!r}: no table {table!r} in the CDR model")
            try:
                col = cdm().table(table).column(column)
            except KeyError:
                raise ValueError(f"{item!r}: table {table} has no column {column!r}") from None
            if col.type != "string":
                raise ValueError(f"{item!r} is not a string column")
            if col.required:
                raise ValueError(f"{item!r} is a required column and cannot be set to NULL")
        return value


class Wearables(_Section):
    sleep_levels: list[str]


class Demographics(_Section):
    race_question: int
    race_exempt_answers: list[int]
    race_generalise_single: list[int]
    gender_question: int
    gender_allowed: list[int]
    sex_at_birth_question: int
    sex_at_birth_allowed: list[int]
    gender_sex_conflicts: list[tuple[int, int]]
    orientation_question: int
    orientation_allowed: list[int]
    education_question: int
    education_no_high_school: list[int]
    education_college_and_above: list[int]
    employment_question: int
    employment_employed: list[int]
    employment_not_employed: list[int]
    state_question: int
    zip_question: int
    person_race_allowed: list[int]
    person_race_source_allowed: list[int]
    person_ethnicity_allowed: list[int]
    person_ethnicity_source_allowed: list[int]


class Registered(_Section):
    max_age: int = Field(ge=1, le=150)
    max_date_shift_days: int = Field(ge=1, le=3650)
    state_min_participants: int = Field(ge=0)
    recent_concept_days: int = Field(ge=0)


class Controlled(_Section):
    zip3_min_participants: int = Field(ge=0)
    genome_compression_level: int = Field(ge=1, le=9)


class Scan(_Section):
    min_embedded_digits: int = Field(ge=1, le=30)
    min_embedded_chars: int = Field(ge=1, le=100)


class CurationConfig(_Section):
    cutoff_date: date | None = None
    persons: Persons
    death: Death
    physical_measurements: PhysicalMeasurements
    units: Units
    drugs: Drugs
    surveys: Surveys
    string_fields: StringFields
    wearables: Wearables
    demographics: Demographics
    registered: Registered
    controlled: Controlled
    scan: Scan
    base_dir: Path = Field(default=Path("."), exclude=True, description="Directory relative file paths resolve against")

    @field_validator("cutoff_date", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return None if value == "" else value

    @model_validator(mode="after")
    def _files(self) -> CurationConfig:
        for key, value in (("units.mapping_file", self.units.mapping_file), ("surveys.branching_file", self.surveys.branching_file)):
            if value and not self.resolve(value).is_file():
                raise _KeyError(key, f"file {value!r} not found")
        return self

    def resolve(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() else self.base_dir / path

    def effective_cutoff(self) -> date:
        return self.cutoff_date or date.today()

    def digest(self) -> str:
        """SHA-256 of the settings (as JSON): recorded in each release's manifest."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()

    # --- tables read from CSV files -------------------------------------------------------------------------

    def unit_mapping(self) -> list[dict[str, Any]]:
        return _read_table_csv(
            self.resolve(self.units.mapping_file) if self.units.mapping_file else None,
            "unit_mapping.csv",
            {"measurement_concept_id": int, "from_unit_concept_id": int, "to_unit_concept_id": int, "factor": float, "offset": float},
            "units.mapping_file",
        )

    def survey_branching(self) -> list[dict[str, Any]]:
        return _read_table_csv(
            self.resolve(self.surveys.branching_file) if self.surveys.branching_file else None,
            "survey_branching.csv",
            {"child_question_concept_id": int, "parent_question_concept_id": int, "parent_answer_concept_id": int},
            "surveys.branching_file",
        )


def _read_table_csv(path: Path | None, builtin: str, columns: dict[str, type], key: str) -> list[dict[str, Any]]:
    if path is None:
        text = resources.files(__package__).joinpath(builtin).read_text(encoding="utf-8")
        where = builtin
    else:
        text = path.read_text(encoding="utf-8")
        where = str(path)
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigError([Problem(f"missing column(s) {', '.join(missing)}", f"{key} ({where})")], file=where, keys=[key])
    rows = []
    for number, row in enumerate(reader, start=2):
        try:
            rows.append({c: kind(row[c]) for c, kind in columns.items()})
        except (TypeError, ValueError):
            expected = f"expected {', '.join(f'{c} ({k.__name__})' for c, k in columns.items())}"
            raise ConfigError([Problem(expected, f"{key} ({where}) row {number}")], file=where, keys=[key]) from None
    return rows


def _merge(base: dict[str, Any], override: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise ConfigError([Problem("unknown key", dotted)], f"unknown key {dotted!r}", keys=[dotted])
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError([Problem(f"must be a table ([{dotted}])", dotted)], f"key {dotted!r} must be a table ([{dotted}])", keys=[dotted])
            merged[key] = _merge(base[key], value, dotted + ".")
        else:
            merged[key] = value
    return merged


def default_config_text() -> str:
    return resources.files(__package__).joinpath("default_config.toml").read_text(encoding="utf-8")


def load_config(path: Path | None = None) -> CurationConfig:
    """The defaults, overridden by ``path`` (a TOML file) when given. Errors name the file and the key."""
    data = tomllib.loads(default_config_text())
    where = "default_config.toml"
    base_dir = Path(".")
    if path is not None:
        path = Path(path)
        where = str(path)
        base_dir = path.parent
        try:
            user = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError.at(path, "config file not found") from None
        except tomllib.TOMLDecodeError as err:
            raise ConfigError.at(path, f"not valid TOML: {err}") from None
        try:
            data = _merge(data, user)
        except ConfigError as err:
            located = [Problem(p.message, f"{path}: {p.where}") for p in err.problems]
            raise ConfigError(located, f"{path}: {err}", file=path, keys=err.keys) from None
    try:
        return CurationConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as err:
        keys, problems, parts = [], [], []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"] if not isinstance(p, int)) or "(top level)"
            parts.append(f"key {key!r}: {e['msg']}")
            cause = (e.get("ctx") or {}).get("error")
            if isinstance(cause, _KeyError):
                key, text = cause.key, cause.message
            else:
                text = e["msg"]
            keys.append(key)
            problems.append(Problem(text, f"{where}: {key}"))
        raise ConfigError(problems, f"{where}: " + "; ".join(parts), file=where, keys=list(dict.fromkeys(keys))) from None
