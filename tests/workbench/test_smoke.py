from .conftest import sign_in, sign_up, verify_email


def test_sign_up_verify_and_sign_in(wb):
    c = wb.client()
    sign_up(c)
    verify_email(wb, c)
    r = sign_in(c)
    assert r.status_code == 303 and r.headers["location"] == "/access"
    page = c.get("/access")
    assert page.status_code == 200, page.text[:3000]
    assert "Turn on two-step verification" in page.text
