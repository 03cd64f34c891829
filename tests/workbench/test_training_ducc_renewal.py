"""Steps 3 and 4 (training with a quiz, the Data User Code of Conduct) and the annual renewal, through the web app."""

from __future__ import annotations

import html
import re

import pyotp
import pytest
from sqlalchemy import select

from research_workbench.accounts.documents import load_document
from research_workbench.accounts.modules import Module
from research_workbench.accounts.training import current_course
from research_workbench.state.models import AuditEvent, DuccSignature, ModuleStatus, QuizAttempt, User

from .conftest import DETAILS, post, sign_in, sign_up, verify_email

ADA = "ada@state.edu"
PROFILE = {k: v for k, v in DETAILS.items() if not k.startswith("password")} | {"role": "faculty"}


# -- helpers -------------------------------------------------------------------------------------------------------

def signed_in(wb, email: str = ADA, institution: str = "state-u"):
    client = wb.client()
    sign_up(client, email, institution)
    verify_email(wb, client, email)
    r = sign_in(client, email)
    assert r.status_code == 303 and r.headers["location"] == "/access", r.text[:1000]
    return client


def turn_on_totp(wb, client) -> str:
    page = client.get("/account/two-factor")
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page.text).group(1)
    r = post(client, "/account/two-factor", {"action": "enable", "code": pyotp.TOTP(secret).at(wb.clock.now)})
    assert r.status_code == 200, r.text[:1000]
    return secret


def registered(wb, email: str = ADA):
    """A user with the Registered Tier, signed in with a second factor: (client, TOTP secret)."""
    client = signed_in(wb, email)
    secret = turn_on_totp(wb, client)
    wb.complete(email, Module.IDENTITY, Module.RT_TRAINING, Module.DUCC)
    assert client.get("/data/registered").status_code == 200
    return client, secret


def status_row(wb, email: str, module: Module) -> ModuleStatus | None:
    with wb.db.session() as session:
        user = session.scalar(select(User).where(User.email == email))
        return session.scalar(select(ModuleStatus).where(ModuleStatus.user_id == user.id,
                                                         ModuleStatus.module == module.value))


def audit_actions(wb) -> list[tuple[str, dict]]:
    with wb.db.session() as session:
        return [(e.action, e.details) for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq))]


def quiz_answers(course, wrong: int = 0) -> dict[str, str]:
    """Every question answered: the first ``wrong`` ones with a wrong option, the rest right."""
    out = {}
    for number, q in enumerate(course.quiz):
        choice = (q.answer + 1) % len(q.options) if number < wrong else q.answer
        out[q.field] = str(choice)
    return out


def error_fields(text: str) -> list[str]:
    """The fields the error summary names."""
    summary = re.search(r'<div class="error-summary".*?</div>', text, re.S)
    return re.findall(r'<li><a href="#[^"]+">([^<]+)</a>', summary.group(0)) if summary else []


def page_text(response) -> str:
    return html.unescape(response.text)


# -- training ------------------------------------------------------------------------------------------------------

def test_training_overview_lists_pages_version_and_time_and_pages_link_in_order(wb):
    c = signed_in(wb)
    course = current_course("registered")
    r = c.get("/training/registered")
    assert r.status_code == 200
    assert f'<dd id="course-version">{course.version}</dd>' in r.text
    assert "about 60 minutes" in r.text
    assert f"0 of {len(course.pages)} pages read" in r.text
    first, second = course.pages[0], course.pages[1]
    assert f'href="/training/registered/{first.slug}">Start the course</a>' in r.text

    r = c.get(f"/training/registered/{first.slug}")
    assert r.status_code == 200
    assert f"page 1 of {len(course.pages)}" in r.text
    assert f'href="/training/registered/{second.slug}" rel="next">Next: ' in r.text
    assert 'rel="prev"' not in r.text
    r = c.get(f"/training/registered/{course.pages[-1].slug}")
    assert 'href="/training/registered/quiz" rel="next">Next: take the quiz</a>' in r.text
    assert f'href="/training/registered/{course.pages[-2].slug}" rel="prev">' in r.text

    r = c.get("/training/registered")
    assert f"2 of {len(course.pages)} pages read" in r.text  # the progress is kept in the session
    assert f'href="/training/registered/{second.slug}">Continue the course</a>' in r.text


def test_training_unknown_tier_or_page_is_404_and_anonymous_is_sent_to_sign_in(wb):
    c = signed_in(wb)
    assert c.get("/training/secret").status_code == 404
    assert c.get("/training/registered/no-such-page").status_code == 404
    anonymous = wb.client()
    r = anonymous.get("/training/registered/quiz")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=/training/registered/quiz"


def test_quiz_passed_exactly_at_the_mark_completes_the_module_with_version_and_score(wb):
    # The Controlled Tier course: 5 questions at 80%, so 4 of 5 is exactly the mark. Its institution does not allow
    # this user the Controlled Tier: the training is open anyway.
    c = signed_in(wb)
    course = current_course("controlled")
    assert (len(course.quiz), course.pass_percent) == (5, 80)
    r = post(c, "/training/controlled/quiz", quiz_answers(course, wrong=1) | {"version": course.version})
    assert r.status_code == 303 and r.headers["location"] == "/training/controlled"
    row = status_row(wb, ADA, Module.CT_TRAINING)
    assert (row.completed_at, row.version, row.details) == (wb.clock.now, course.version, {"score": 4, "out_of": 5})
    with wb.db.session() as session:
        attempts = [(a.course, a.version, a.score, a.out_of, a.passed, a.at)
                    for a in session.scalars(select(QuizAttempt))]
    assert attempts == [("controlled", course.version, 4, 5, True, wb.clock.now)]
    assert ("module_completed", {"module": "ct_training", "course": "controlled", "version": course.version,
                                 "score": 4, "out_of": 5}) in audit_actions(wb)
    r = c.get("/training/controlled")
    assert f"You passed the {course.label} with 4 of 5 right." in r.text
    assert '<span class="status complete" id="training-status">Complete</span>' in r.text


def test_quiz_below_the_mark_is_not_passed_and_says_which_questions_were_wrong(wb):
    c = signed_in(wb)
    course = current_course("controlled")
    answers = quiz_answers(course, wrong=2)
    r = post(c, "/training/controlled/quiz", answers)
    assert r.status_code == 200
    assert "Not passed: 3 of 5 right" in r.text
    wrong = course.quiz[:2]
    listed = re.findall(r'<li><a href="#(q_[^"]+)">Question (\d+):', r.text)
    assert listed == [(wrong[0].field, "1"), (wrong[1].field, "2")]
    assert r.text.count("This answer is not right.") == 2
    # the answers chosen are kept, wrong ones included; the right options are not revealed
    for q in course.quiz:
        assert f'id="{q.field}-{answers[q.field]}" name="{q.field}" value="{answers[q.field]}" checked>' in r.text
    assert r.text.count(" checked>") == len(course.quiz)
    assert status_row(wb, ADA, Module.CT_TRAINING) is None
    assert ("quiz_failed", {"course": "controlled", "version": course.version, "score": 3, "out_of": 5,
                            "wrong": [wrong[0].id, wrong[1].id]}) in audit_actions(wb)
    # a reload still shows the chosen answers (a server-side draft)
    assert c.get("/training/controlled/quiz").text.count(" checked>") == len(course.quiz)


def test_registered_quiz_seven_of_eight_passes(wb):
    c = signed_in(wb)
    course = current_course("registered")
    r = post(c, "/training/registered/quiz", quiz_answers(course, wrong=1))
    assert r.status_code == 303
    row = status_row(wb, ADA, Module.RT_TRAINING)
    assert (row.version, row.details) == (course.version, {"score": 7, "out_of": 8})


@pytest.mark.parametrize("change, message", [
    ("missing", "choose an answer"),
    ("out_of_range", "option 9 does not exist"),
    ("non_numeric", "'abc' is not an option number"),
])
def test_quiz_with_an_unusable_answer_is_refused_naming_the_field(wb, change, message):
    c = signed_in(wb)
    course = current_course("registered")
    answers = quiz_answers(course)
    target = course.quiz[2]
    if change == "missing":
        del answers[target.field]
    else:
        answers[target.field] = "9" if change == "out_of_range" else "abc"
    r = post(c, "/training/registered/quiz", answers)
    assert r.status_code == 422
    assert error_fields(r.text) == [target.field]
    assert message in page_text(r)
    assert f'<p class="field-error" id="{target.field}-error">' in r.text
    with wb.db.session() as session:
        assert session.scalars(select(QuizAttempt)).all() == []
    assert status_row(wb, ADA, Module.RT_TRAINING) is None


def test_quiz_with_an_unknown_question_is_refused(wb):
    c = signed_in(wb)
    course = current_course("registered")
    r = post(c, "/training/registered/quiz", quiz_answers(course) | {"q_made-up": "0"})
    assert r.status_code == 422
    assert error_fields(r.text) == ["q_made-up"]


# -- the Data User Code of Conduct ---------------------------------------------------------------------------------

def ducc_form(doc, initials="A.L.", full_name="Ada Lovelace", **changes) -> dict:
    form = {s.field: initials for s in doc.statements} | {"full_name": full_name, "version": doc.version}
    return form | changes


def test_ducc_page_has_the_document_the_attestation_and_a_labelled_box_per_statement(wb):
    c = signed_in(wb)
    doc = load_document("ducc")
    r = c.get("/access/ducc")
    assert r.status_code == 200
    text = page_text(r)
    assert doc.attestation_for("Ada Lovelace") in text
    assert '<div class="scrollbox" tabindex="0" role="region"' in r.text
    for number, s in enumerate(doc.statements, start=1):
        assert f'<label for="{s.field}">Your initials for statement {number}</label>' in r.text
        assert f'<p id="statement-{s.id}"><strong>Statement {number}.</strong>' in r.text
        assert f'aria-describedby="statement-{s.id}"' in r.text
    assert '<label for="full_name">Your full name (Authorized Data User)' in r.text
    assert 'id="ducc-user-id" type="text" value="ada@state.edu" readonly' in r.text
    assert 'id="ducc-date" type="text" value="2 Mar 2026" readonly' in r.text
    assert '<button type="submit">Sign the Code of Conduct</button>' in r.text


def test_ducc_good_signature_is_stored_and_the_signed_copy_shows_the_initials(wb):
    c = signed_in(wb)
    doc = load_document("ducc")
    assert c.get("/access/ducc/signed").status_code == 404
    boxes = ["A.L.", "AL", " al ", "a.l.", "A.L."][:len(doc.statements)]
    form = ducc_form(doc, full_name="  ada   LOVELACE ") | {s.field: b for s, b in zip(doc.statements, boxes)}
    r = post(c, "/access/ducc", form)
    assert r.status_code == 303 and r.headers["location"] == "/access/ducc/signed"
    with wb.db.session() as session:
        (sig,) = session.scalars(select(DuccSignature)).all()
        stored = (sig.version, sig.full_name, sig.initials, sig.signed_at)
        sig_id = sig.id
    assert stored == (doc.version, "ada LOVELACE", [b.strip() for b in boxes], wb.clock.now)
    row = status_row(wb, ADA, Module.DUCC)
    assert (row.completed_at, row.version, row.details) == (wb.clock.now, doc.version, {"signature": sig_id})
    assert ("ducc_signed", {"version": doc.version, "signature": sig_id}) in audit_actions(wb)

    r = c.get("/access/ducc/signed")
    assert r.status_code == 200
    assert f'<dd id="signed-version">{doc.version}</dd>' in r.text
    assert '<dd id="signed-name">ada LOVELACE</dd>' in r.text
    for s, b in zip(doc.statements, boxes):
        assert f'<td class="initials" id="signed-{s.field}">{b.strip()}</td>' in r.text
    assert doc.attestation_for("ada LOVELACE") in page_text(r)


@pytest.mark.parametrize("case", ["empty_box", "digits", "mismatched", "wrong_name", "empty_name"])
def test_ducc_bad_signature_is_refused_naming_the_field_and_keeps_what_was_typed(wb, case):
    c = signed_in(wb)
    doc = load_document("ducc")
    third = doc.statements[2].field
    form, field, message = {
        "empty_box": (ducc_form(doc, **{third: ""}), third, "initial this statement"),
        "digits": (ducc_form(doc, **{third: "A1"}), third, "use letters only"),
        "mismatched": (ducc_form(doc, **{third: "XY"}), third, "use the same initials in every box"),
        "wrong_name": (ducc_form(doc, full_name="Ada Byron"), "full_name",
                       "type your full name as it is on your account (Ada Lovelace)"),
        "empty_name": (ducc_form(doc, full_name="  "), "full_name", "type your full name"),
    }[case]
    r = post(c, "/access/ducc", form)
    assert r.status_code == 422
    assert error_fields(r.text) == [field]
    assert message in page_text(r)
    assert f'id="{field}-error"' in r.text
    if case != "empty_box":
        assert f'name="{third}" type="text" value="{html.escape(form[third])}"' in r.text
    if case == "wrong_name":
        assert 'value="Ada Byron"' in r.text
    with wb.db.session() as session:
        assert session.scalars(select(DuccSignature)).all() == []
    assert status_row(wb, ADA, Module.DUCC) is None


# -- renewal -------------------------------------------------------------------------------------------------------

def sign_in_with_totp(wb, client, secret: str, email: str = ADA) -> None:
    r = sign_in(client, email)
    assert r.status_code == 303 and r.headers["location"] == "/signin/second-step", r.text[:1000]
    r = post(client, "/signin/second-step", {"code": pyotp.TOTP(secret).at(wb.clock.now)})
    assert r.status_code == 303 and r.headers["location"] == "/access", r.text[:1000]


def test_renewal_page_rows_and_the_controlled_training_row_only_when_it_applies(wb):
    c = signed_in(wb)
    r = c.get("/renewal")
    assert r.status_code == 200
    rows = re.findall(r'id="renew-([a-z_]+)"', r.text)
    assert rows == ["profile_confirmation", "publications", "rt_training", "ducc"]
    assert "Expired access blocks tier data only; your profile and this page stay open." in r.text
    post(c, "/training/controlled/quiz", quiz_answers(current_course("controlled")))
    rows = re.findall(r'id="renew-([a-z_]+)"', c.get("/renewal").text)
    assert rows == ["profile_confirmation", "publications", "rt_training", "ct_training", "ducc"]

    lab = signed_in(wb, "grace@citylab.org", "city-lab")  # its institution allows the Controlled Tier
    rows = re.findall(r'id="renew-([a-z_]+)"', lab.get("/renewal").text)
    assert rows == ["profile_confirmation", "publications", "rt_training", "ct_training", "ducc"]


@pytest.mark.parametrize("form, field", [
    ({"publications": ""}, "report"),
    ({"report": "maybe", "publications": ""}, "report"),
    ({"report": "reported", "publications": "  \n "}, "publications"),
    ({"report": "none", "publications": "10.1000/xyz"}, "publications"),
    ({"report": "reported", "publications": "x" * 5001}, "publications"),
])
def test_publications_report_refused_naming_the_field(wb, form, field):
    c = signed_in(wb)
    before = status_row(wb, ADA, Module.PUBLICATIONS).details
    r = post(c, "/renewal/publications", form)
    assert r.status_code == 422
    assert error_fields(r.text) == [field]
    assert status_row(wb, ADA, Module.PUBLICATIONS).details == before


def test_publications_report_is_stored_in_the_module(wb):
    c = signed_in(wb)
    wb.clock.advance(minutes=30)
    r = post(c, "/renewal/publications", {"report": "reported",
                                          "publications": "10.1000/xyz123\r\nLovelace A. Notes. 2026.  \r\n"})
    assert r.status_code == 303 and r.headers["location"] == "/renewal"
    row = status_row(wb, ADA, Module.PUBLICATIONS)
    assert (row.completed_at, row.details) == (
        wb.clock.now, {"report": "reported", "publications": "10.1000/xyz123\nLovelace A. Notes. 2026."})
    assert ("renewal_confirmed", {"module": "publications", "report": "reported", "characters": 39}) \
        in audit_actions(wb)
    r = post(c, "/renewal/publications", {"report": "none", "publications": ""})
    assert r.status_code == 303
    assert status_row(wb, ADA, Module.PUBLICATIONS).details == {"report": "none", "publications": ""}


def test_expired_modules_block_tier_data_only_and_renewing_restores_the_tier(wb):
    c, secret = registered(wb)
    wb.clock.advance(days=366)
    r = c.get("/access")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")  # the session ended with the tier
    sign_in_with_totp(wb, c, secret)

    page = c.get("/access")
    assert page.status_code == 200
    assert '<span class="status not_started" id="registered-status">Not granted</span>' in page.text
    for module in (Module.RT_TRAINING, Module.DUCC, Module.PROFILE_CONFIRMATION, Module.PUBLICATIONS):
        row = re.search(r'<tr class="module expired[^"]*">\s*<th scope="row">' + re.escape(
            {Module.RT_TRAINING: "Registered Tier training", Module.DUCC: "Sign the Data User Code of Conduct",
             Module.PROFILE_CONFIRMATION: "Confirm your profile",
             Module.PUBLICATIONS: "Report any publications"}[module]), page.text)
        assert row, module
    assert c.get("/data/registered").status_code == 403
    for path in ("/profile", "/renewal", "/renewal/profile", "/renewal/publications", "/training/registered",
                 "/training/registered/quiz", "/access/ducc", "/access/ducc/signed"):
        assert c.get(path).status_code == (404 if path == "/access/ducc/signed" else 200), path  # never signed here
    renewal = c.get("/renewal").text
    assert "4 items have expired" in renewal

    r = post(c, "/renewal/profile", PROFILE)
    assert r.status_code == 303 and r.headers["location"] == "/renewal", r.text[:2000]
    r = post(c, "/renewal/publications", {"report": "none", "publications": ""})
    assert r.status_code == 303
    r = post(c, "/training/registered/quiz", quiz_answers(current_course("registered")))
    assert r.status_code == 303
    assert c.get("/data/registered").status_code == 403  # the Code of Conduct is still expired
    r = post(c, "/access/ducc", ducc_form(load_document("ducc")))
    assert r.status_code == 303

    assert c.get("/data/registered").status_code == 200
    for module in (Module.RT_TRAINING, Module.DUCC, Module.PROFILE_CONFIRMATION, Module.PUBLICATIONS):
        assert status_row(wb, ADA, module).completed_at == wb.clock.now
    assert 'id="renewal-summary">Nothing is due' in c.get("/renewal").text
