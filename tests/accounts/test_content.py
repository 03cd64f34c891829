"""The shipped documents and training courses: every file loads, current versions, quiz grading, DUCC signature
checks, and refused content files named by file and key."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from research_workbench.accounts import documents, training
from research_workbench.accounts.documents import (
    KINDS,
    ContentError,
    DuccSignatureError,
    UnknownVersionError,
    check_ducc_signature,
    current_version,
    load_document,
    load_document_file,
    version_key,
    versions,
)
from research_workbench.accounts.modules import Tier
from research_workbench.accounts.training import (
    QuizAnswerError,
    QuizResult,
    course_versions,
    current_course,
    grade,
    load_course,
    load_course_file,
)
from research_workbench.cdr.problems import ProblemsError

CONTENT = resources.files("research_workbench.accounts").joinpath("content")


def wheres(err: ProblemsError) -> list[str]:
    return [p.where for p in err.problems]


# --- every shipped file ----------------------------------------------------------------------------------------------


def shipped(folder: str) -> list[str]:
    return sorted(e.name for e in CONTENT.joinpath(folder).iterdir() if e.name.endswith(".toml"))


def test_shipped_files_are_the_expected_ones():
    assert shipped("documents") == ["ducc-2026.1.toml", "privacy-2026.1.toml", "terms-2026.1.toml"]
    assert shipped("training") == ["controlled-2026.1.toml", "registered-2026.1.toml"]


@pytest.mark.parametrize("name", shipped("documents"))
def test_every_shipped_document_loads_through_both_loaders(name):
    kind, version = name.removesuffix(".toml").split("-", 1)
    doc = load_document(kind, version)
    assert (doc.kind, doc.version) == (kind, version)
    assert doc == load_document_file(Path(str(CONTENT.joinpath("documents", name))))
    assert doc.sections and all(s.heading and s.paragraphs for s in doc.sections)
    # whitespace folded: wrapped TOML strings read as single-spaced paragraphs
    assert all("\n" not in p and "  " not in p for s in doc.sections for p in s.paragraphs)


@pytest.mark.parametrize("name", shipped("training"))
def test_every_shipped_course_loads_through_both_loaders(name):
    tier, version = name.removesuffix(".toml").split("-", 1)
    course = load_course(tier, version)
    assert (course.tier, course.version) == (Tier(tier), version)
    assert course == load_course_file(Path(str(CONTENT.joinpath("training", name))))
    assert all(3 <= len(q.options) <= 4 for q in course.quiz)


def test_current_versions():
    assert {kind: current_version(kind) for kind in KINDS} == {"terms": "2026.1", "privacy": "2026.1", "ducc": "2026.1"}
    assert {kind: versions(kind) for kind in KINDS} == {"terms": ["2026.1"], "privacy": ["2026.1"], "ducc": ["2026.1"]}
    assert load_document("terms").version == "2026.1"
    assert course_versions("registered") == ["2026.1"] and course_versions(Tier.CONTROLLED) == ["2026.1"]
    assert current_course(Tier.REGISTERED).version == "2026.1"
    assert current_course("controlled").version == "2026.1"


def test_shipped_sizes():
    assert len(load_document("terms").sections) >= 5
    assert len(load_document("privacy").sections) >= 5
    rt, ct = current_course("registered"), current_course("controlled")
    assert (len(rt.quiz), len(ct.quiz)) == (8, 5)
    assert len(rt.pages) >= 5 and len(ct.pages) >= 3
    assert rt.pass_percent == ct.pass_percent == 80
    text = " ".join(p for page in rt.pages for p in page.paragraphs)
    assert "from 1 to 19" in text


def test_version_ordering_is_numeric_by_component():
    assert sorted(["2026.10", "2027.1", "2026.9", "2026.1"], key=version_key) == ["2026.1", "2026.9", "2026.10", "2027.1"]
    with pytest.raises(ValueError):
        version_key("2026.1-beta")


def test_unknown_kind_tier_or_version_is_refused():
    with pytest.raises(UnknownVersionError) as err:
        load_document("cookies")
    assert wheres(err.value) == ["kind"]
    with pytest.raises(UnknownVersionError) as err:
        load_document("terms", "1999.1")
    assert wheres(err.value) == ["version"] and "2026.1" in str(err.value)
    with pytest.raises(UnknownVersionError) as err:
        load_course("platinum")
    assert wheres(err.value) == ["tier"]
    with pytest.raises(UnknownVersionError):
        load_course("registered", "2020.1")


# --- quiz grading ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rt():
    return load_course("registered", "2026.1")


def right(course) -> dict[str, str]:
    return {q.id: str(q.answer) for q in course.quiz}


def wrong_choice(question) -> str:
    return str((question.answer + 1) % len(question.options))


def test_all_right_passes(rt):
    assert grade(rt, right(rt)) == QuizResult(score=8, out_of=8, passed=True, wrong=())


def test_pass_mark_boundary(rt):
    # 7 of 8 (87.5%) passes at 80%; 6 of 8 (75%) fails
    q = rt.quiz
    one_wrong = {**right(rt), q[3].id: wrong_choice(q[3])}
    assert grade(rt, one_wrong) == QuizResult(score=7, out_of=8, passed=True, wrong=(q[3].id,))
    two_wrong = {**right(rt), q[6].id: wrong_choice(q[6]), q[1].id: wrong_choice(q[1])}
    result = grade(rt, two_wrong)
    assert result == QuizResult(score=6, out_of=8, passed=False, wrong=(q[1].id, q[6].id))  # in quiz order
    assert result.percent == 75.0


def test_pass_mark_is_inclusive(rt):
    # exactly the pass mark passes: 6 of 8 is 75%
    at_75 = rt.model_copy(update={"pass_percent": 75})
    answers = {**right(rt), rt.quiz[0].id: wrong_choice(rt.quiz[0]), rt.quiz[7].id: wrong_choice(rt.quiz[7])}
    assert grade(at_75, answers).passed
    assert not grade(rt.model_copy(update={"pass_percent": 76}), answers).passed


def test_all_wrong(rt):
    result = grade(rt, {q.id: wrong_choice(q) for q in rt.quiz})
    assert result == QuizResult(score=0, out_of=8, passed=False, wrong=tuple(q.id for q in rt.quiz))


def test_answers_are_stripped(rt):
    assert grade(rt, {k: f" {v} " for k, v in right(rt).items()}).score == 8


def test_bad_answers_are_refused_naming_each_field(rt):
    q = rt.quiz
    answers = right(rt)
    del answers[q[0].id]  # missing
    answers[q[1].id] = "b"  # not numeric
    answers[q[2].id] = str(len(q[2].options))  # out of range
    answers[q[3].id] = "-1"  # not an index
    answers[q[4].id] = ""  # empty
    answers["no-such-question"] = "0"  # unknown question
    with pytest.raises(QuizAnswerError) as err:
        grade(rt, answers)
    assert sorted(wheres(err.value)) == sorted(["q_no-such-question", f"q_{q[0].id}", f"q_{q[1].id}", f"q_{q[2].id}",
                                                f"q_{q[3].id}", f"q_{q[4].id}"])
    assert isinstance(err.value, ProblemsError)
    messages = {p.where: p.message for p in err.value.problems}
    assert messages[f"q_{q[0].id}"] == "choose an answer"
    assert "not an option number" in messages[f"q_{q[1].id}"]
    assert "does not exist" in messages[f"q_{q[2].id}"]
    assert messages["q_no-such-question"] == "no such question in this quiz"


def test_a_single_missing_answer_is_refused(rt):
    answers = right(rt)
    del answers[rt.quiz[-1].id]
    with pytest.raises(QuizAnswerError) as err:
        grade(rt, answers)
    assert wheres(err.value) == [f"q_{rt.quiz[-1].id}"]


def test_unicode_digits_are_not_option_numbers(rt):
    answers = {**right(rt), rt.quiz[0].id: "\u0661"}  # ARABIC-INDIC DIGIT ONE
    with pytest.raises(QuizAnswerError) as err:
        grade(rt, answers)
    assert wheres(err.value) == [f"q_{rt.quiz[0].id}"]


# --- the DUCC and its signature --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ducc():
    return load_document("ducc", "2026.1")


def test_ducc_has_five_statements_with_ids(ducc):
    assert [s.id for s in ducc.statements] == ["monitoring", "public_profile", "workspace_review",
                                               "stigmatizing_research", "revocation"]
    assert [s.field for s in ducc.statements] == [f"initials_{s.id}" for s in ducc.statements]
    assert ducc.attestation_for("Ada   Lovelace").startswith("I, Ada Lovelace (Authorized Data User), ")
    assert any("Sanctions" in s.heading for s in ducc.sections)
    assert load_document("terms").statements == ()


def sign(ducc, initials, full_name="Ada Lovelace", account="Ada Lovelace"):
    check_ducc_signature(ducc, full_name=full_name, initials=initials, account_full_name=account)


def refused(ducc, initials, full_name="Ada Lovelace", account="Ada Lovelace") -> dict[str, str]:
    with pytest.raises(DuccSignatureError) as err:
        sign(ducc, initials, full_name, account)
    return {p.where: p.message for p in err.value.problems}


def test_good_signatures(ducc):
    sign(ducc, ["AL"] * 5)
    sign(ducc, ["A.L.", "al", "A.L", " AL ", "a.l."])  # same letters, case and periods aside
    sign(ducc, ["ÉM"] * 5, full_name="Émilie Müller", account="Émilie Müller")
    sign(ducc, ["E\u0301M"] * 5, full_name="Émilie Müller", account="Émilie Müller")  # decomposed accent
    sign(ducc, ["JPDLR"] * 5, full_name="  jean-pierre   DE LA ROCHE ", account="Jean-Pierre de la Roche")


def test_empty_box(ducc):
    assert refused(ducc, ["AL", "AL", "", "AL", "AL"]) == {"initials_workspace_review": "initial this statement"}
    assert refused(ducc, ["AL", "AL", "AL", "AL", "   "]) == {"initials_revocation": "initial this statement"}


def test_digits_and_other_characters(ducc):
    problems = refused(ducc, ["AL", "A1", "AL", "A L", "AL"])
    assert set(problems) == {"initials_public_profile", "initials_stigmatizing_research"}
    assert set(refused(ducc, [".AL"] + ["AL"] * 4)) == {"initials_monitoring"}
    assert set(refused(ducc, ["A..L"] + ["AL"] * 4)) == {"initials_monitoring"}
    assert set(refused(ducc, ["ABCDEFG"] + ["ABCDEFG"] * 4)) == set(f"initials_{s.id}" for s in ducc.statements)


def test_mismatched_boxes(ducc):
    problems = refused(ducc, ["AL", "AL", "AB", "AL", "XY"])
    assert set(problems) == {"initials_workspace_review", "initials_revocation"}
    assert "'AL'" in problems["initials_workspace_review"]
    # the first valid box is the reference, whatever comes before it
    assert set(refused(ducc, ["", "AL", "AL", "AB", "AL"])) == {"initials_monitoring", "initials_stigmatizing_research"}


def test_one_initials_per_statement(ducc):
    assert set(refused(ducc, ["AL"] * 4)) == {"initials_revocation"}
    assert set(refused(ducc, [])) == set(s.field for s in ducc.statements)
    assert set(refused(ducc, ["AL"] * 6)) == {"initials"}


def test_full_name(ducc):
    assert set(refused(ducc, ["AL"] * 5, full_name="Ada Byron")) == {"full_name"}
    assert set(refused(ducc, ["AL"] * 5, full_name="   ")) == {"full_name"}
    assert set(refused(ducc, ["AL"] * 5, full_name="AdaLovelace")) == {"full_name"}
    sign(ducc, ["AL"] * 5, full_name="ada   LOVELACE", account="Ada Lovelace")
    sign(ducc, ["AL"] * 5, full_name="Ada\tLovelace\n", account=" Ada  Lovelace")


def test_all_problems_reported_together(ducc):
    problems = refused(ducc, ["", "AL", "A1", "ZZ", "AL"], full_name="Someone Else")
    assert list(problems) == ["initials_monitoring", "initials_workspace_review", "initials_stigmatizing_research",
                              "full_name"]
    assert "Ada Lovelace" in problems["full_name"]


def test_only_a_ducc_can_be_signed():
    with pytest.raises(ValueError):
        check_ducc_signature(load_document("terms"), full_name="A", initials=[], account_full_name="A")


# --- bad content files: named by file and key ------------------------------------------------------------------------

GOOD_DOC = """
kind = "ducc"
version = "2030.2"
title = "Test Code"
effective = 2030-01-01
attestation = "I, {full_name}, agree."

[[sections]]
heading = "One"
paragraphs = ["Text."]

[[statements]]
id = "first"
text = "I agree."
"""

GOOD_COURSE = """
tier = "controlled"
version = "2030.2"
title = "Test course"
pass_percent = 50

[[pages]]
slug = "one"
title = "One"
paragraphs = ["Read this."]

[[quiz]]
id = "q-one"
prompt = "Pick A."
options = ["A", "B", "C"]
answer = 0
"""


def write(tmp_path: Path, text: str, name: str = "content.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(loader, path: Path) -> dict[str, str]:
    with pytest.raises(ContentError) as err:
        loader(path)
    assert isinstance(err.value, ProblemsError)
    assert all(p.where.startswith(str(path)) for p in err.value.problems)
    assert str(path) in str(err.value)
    return {p.where.removeprefix(f"{path}: "): p.message for p in err.value.problems}


def test_good_tmp_files_load(tmp_path):
    doc = load_document_file(write(tmp_path, GOOD_DOC))
    assert (doc.kind, doc.version, [s.id for s in doc.statements]) == ("ducc", "2030.2", ["first"])
    course = load_course_file(write(tmp_path, GOOD_COURSE, "c.toml"))
    assert course.pass_percent == 50 and grade(course, {"q-one": "0"}).passed


def test_bad_document_names_file_and_key(tmp_path):
    bad = GOOD_DOC.replace('id = "first"', 'id = "First Statement"').replace('heading = "One"', 'heading = "  "')
    bad = 'colour = "red"\n' + bad.replace('version = "2030.2"', 'version = "v2"')
    problems = problems_of(load_document_file, write(tmp_path, bad))
    assert set(problems) == {"version", "sections[1].heading", "statements[1].id", "colour"}
    assert problems["colour"] == "unknown key"
    assert problems["sections[1].heading"] == "must not be empty"


def test_document_whole_model_checks_name_their_key(tmp_path):
    dup = GOOD_DOC + '\n[[statements]]\nid = "first"\ntext = "Again."\n'
    assert problems_of(load_document_file, write(tmp_path, dup)) == {"statements[2].id": "duplicate statement id 'first'"}
    no_name = GOOD_DOC.replace("{full_name}", "{name}")
    assert set(problems_of(load_document_file, write(tmp_path, no_name))) == {"attestation"}
    terms_with_statements = GOOD_DOC.replace('kind = "ducc"', 'kind = "terms"').replace('attestation = "I, {full_name}, agree."', "")
    assert set(problems_of(load_document_file, write(tmp_path, terms_with_statements))) == {"statements"}
    no_sections = GOOD_DOC.replace('[[sections]]\nheading = "One"\nparagraphs = ["Text."]', "")
    assert problems_of(load_document_file, write(tmp_path, no_sections)) == {"sections": "required key is missing"}
    empty = GOOD_DOC.replace('paragraphs = ["Text."]', "paragraphs = []")
    assert problems_of(load_document_file, write(tmp_path, empty)) == {"sections[1].paragraphs": "needs at least one paragraph"}
    missing = GOOD_DOC.replace('effective = 2030-01-01', '')
    assert problems_of(load_document_file, write(tmp_path, missing)) == {"effective": "required key is missing"}


def test_bad_course_names_file_and_key(tmp_path):
    bad = GOOD_COURSE.replace("answer = 0", "answer = 3").replace("pass_percent = 50", "pass_percent = 0")
    bad += '\n[[quiz]]\nid = "q-one"\nprompt = "Again."\noptions = ["A", "A"]\nanswer = 0\n'
    problems = problems_of(load_course_file, write(tmp_path, bad))
    assert set(problems) == {"pass_percent", "quiz[1].answer", "quiz[2].options"}
    assert problems["quiz[1].answer"] == "3 is not an option index (0 to 2)"
    dup = GOOD_COURSE + '\n[[quiz]]\nid = "q-one"\nprompt = "Again."\noptions = ["A", "B"]\nanswer = 1\n'
    assert problems_of(load_course_file, write(tmp_path, dup)) == {"quiz[2].id": "duplicate id 'q-one'"}
    over = GOOD_COURSE.replace("pass_percent = 50", "pass_percent = 101")
    assert set(problems_of(load_course_file, write(tmp_path, over))) == {"pass_percent"}
    no_quiz = "quiz = []\n" + GOOD_COURSE[:GOOD_COURSE.index("[[quiz]]")]
    assert problems_of(load_course_file, write(tmp_path, no_quiz)) == {"quiz": "needs at least one item"}
    tier = GOOD_COURSE.replace('tier = "controlled"', 'tier = "gold"')
    assert set(problems_of(load_course_file, write(tmp_path, tier))) == {"tier"}


def test_not_toml_and_missing_file(tmp_path):
    path = write(tmp_path, 'title = "unclosed\n')
    with pytest.raises(ContentError) as err:
        load_document_file(path)
    assert wheres(err.value) == [str(path)] and "not valid TOML" in str(err.value)
    with pytest.raises(ContentError) as err:
        load_course_file(tmp_path / "absent.toml")
    assert wheres(err.value) == [str(tmp_path / "absent.toml")]


def test_shipped_file_must_agree_with_its_name(tmp_path, monkeypatch):
    folder = tmp_path / "content" / "documents"
    folder.mkdir(parents=True)
    write(folder, GOOD_DOC, "ducc-2030.1.toml")  # says 2030.2 inside
    monkeypatch.setattr(documents, "content_dir", lambda name: tmp_path / "content" / name)
    documents._load_shipped.cache_clear()
    try:
        assert versions("ducc") == ["2030.1"]
        with pytest.raises(ContentError) as err:
            load_document("ducc")
        assert wheres(err.value) == ["ducc-2030.1.toml: version"]
    finally:
        documents._load_shipped.cache_clear()


def test_the_training_module_reexports_the_content_error():
    assert training.ContentError is ContentError
