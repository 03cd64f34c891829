"""Concept sets and saved cohort definitions as versioned JSON."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from research_workbench.cli import app
from research_workbench.cohorts.builder.library import MAX_CONCEPTS_PER_SET, Library
from research_workbench.cohorts.builder.model import DefinitionError

DEFINITION = {"includes": [{"id": "g", "items": [{"id": "i", "type": "DRUG", "searchParameters": [
    {"parameterId": "p", "domain": "DRUG", "type": "RXNORM", "conceptId": 1503297}]}]}]}


def test_saving_changed_content_makes_a_new_version_and_identical_content_does_not(tmp_path):
    library = Library(tmp_path)
    first = library.save_concept_set({"name": "Metformin", "domain": "DRUG", "concepts": [{"conceptId": 1503297}]})
    same = library.save_concept_set({"name": "Metformin", "domain": "DRUG", "concepts": [{"conceptId": 1503297}]})
    second = library.save_concept_set({"name": "Metformin", "domain": "DRUG", "concepts": [{"conceptId": 1503297}, {"conceptId": 40163924}]})
    assert (first.version, same.version, second.version) == (1, 1, 2)
    assert [c.conceptId for c in library.concept_set("Metformin", version=1).concepts] == [1503297]
    assert len(library.concept_set("Metformin").concepts) == 2
    assert sorted(p.name for p in (tmp_path / "concept_sets" / "metformin").iterdir()) == ["v1.json", "v2.json"]


def test_saved_cohort_round_trips_its_definition(tmp_path):
    library = Library(tmp_path)
    library.save_cohort({"name": "Metformin users", "definition": DEFINITION})
    assert library.cohort("Metformin users").definition.includes[0].items[0].searchParameters[0].conceptId == 1503297
    assert library.names("cohort") == ["Metformin users"]


def test_concept_set_rules(tmp_path):
    library = Library(tmp_path)
    too_many = [{"conceptId": i} for i in range(MAX_CONCEPTS_PER_SET + 1)]
    cases = [
        ({"name": "x", "domain": "DRUG", "concepts": too_many}, "concepts: List should have at most 1000 items after validation, not 1001"),
        ({"name": "x", "domain": "PERSON", "concepts": [{"conceptId": 1}]}, "domain: a concept set holds concepts of an event domain, not PERSON"),
        ({"name": "x", "domain": "DRUG", "concepts": [{"conceptId": 1}, {"conceptId": 1}]}, "concepts: concept 1 (standard) is listed twice (at index 1)"),
        ({"name": "", "domain": "DRUG", "concepts": [{"conceptId": 1}]}, "name: String should have at least 1 character"),
    ]
    for document, problem in cases:
        with pytest.raises(DefinitionError) as caught:
            library.save_concept_set(document)
        assert caught.value.problems == [problem]
    assert not (tmp_path / "concept_sets").exists()


def test_invalid_saved_cohort_names_the_path_inside_the_definition(tmp_path):
    with pytest.raises(DefinitionError) as caught:
        Library(tmp_path).save_cohort({"name": "bad", "definition": {"excludes": DEFINITION["includes"]}})
    assert caught.value.problems == ["definition.includes: a definition needs at least one include group (excludes alone are an error)"]


def test_cli_save_versions_and_show(tmp_path):
    runner = CliRunner()
    definition = tmp_path / "d.json"
    definition.write_text(json.dumps(DEFINITION))
    args = ["cohort", "save", str(definition), "--name", "Metformin users", "--library", str(tmp_path / "lib"), "--json"]
    assert json.loads(runner.invoke(app, args).stdout)["version"] == 1
    history = json.loads(runner.invoke(app, ["cohort", "versions", "Metformin users", "--library", str(tmp_path / "lib"), "--json"]).stdout)
    assert [v["version"] for v in history["versions"]] == [1]
    concept_set = tmp_path / "s.json"
    concept_set.write_text(json.dumps({"name": "Statins", "domain": "DRUG", "concepts": [{"conceptId": 1539403}]}))
    assert runner.invoke(app, ["conceptset", "save", str(concept_set), "--library", str(tmp_path / "lib")]).exit_code == 0
    shown = json.loads(runner.invoke(app, ["conceptset", "show", "Statins", "--library", str(tmp_path / "lib"), "--json"]).stdout)
    assert shown["content"]["concepts"] == [{"conceptId": 1539403, "standard": True}]
    missing = runner.invoke(app, ["conceptset", "show", "Nope", "--library", str(tmp_path / "lib")])
    assert missing.exit_code == 1
