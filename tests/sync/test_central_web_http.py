"""Central's web page over HTTP (Starlette's test client): sign-in, roles, and attacks.

Each attack of issue 17 has its test here and must be refused or escaped:
CSRF without (or with a wrong) token or from another origin, session
fixation, a viewer posting to the command endpoint, a path traversal in
report downloads, HTML injection through a booking title or an association
name. Also: the login throttle, open redirects, security headers, the two
languages and a complete Swedish catalogue. The real browser tests are in
tests/system/test_central_web_browser.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from sync.central.events import store_events
from sync.central.store import Store
from sync.central.web import i18n
from sync.central.web.app import create_app
from sync.central.web.guard import Throttle
from sync.central.web.settings import WebSettings
from tests.support.catalogues import translated_ids
from tests.support.central_web import (
    ACCOUNTS,
    EPOCH,
    EVIL_NAME,
    EVIL_TITLE,
    FACILITY,
    NODE,
    add_accounts,
    event,
    seed,
)

COOKIE = "__Host-hallvakt"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    url = tmp_path / "central.db"
    now = datetime.fromtimestamp(int(time.time()), UTC)
    with Store.open(url) as store:
        seed(store, now)
        add_accounts(store, now)
        store_events(
            store, NODE, FACILITY, EPOCH,
            [event(4, "door.held_open", {"door": "<b>x</b>", "state": "held_open"}, now)], now,
        )  # fmt: skip
    (tmp_path / "secret.csv").write_text("not for the page\n")
    yield url, tmp_path


def client(site: tuple[Path, Path], **changes: object) -> TestClient:
    url, _folder = site
    settings = WebSettings(str(url), argon2_profile="cheapest")
    for k, v in changes.items():
        object.__setattr__(settings, k, v)
    return TestClient(create_app(settings), base_url="https://testserver", follow_redirects=False)


def token_of(html: str, form: str = "") -> str:
    """The CSRF token of the page's first form (or of the form posting to ``form``)."""
    if form:
        html = html[html.index(f'action="{form}"') :]
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def login(c: TestClient, user: str, password: str | None = None, next_: str = "/") -> object:
    form = c.get("/login")
    assert form.status_code == 200
    return c.post(
        "/login",
        data={
            "username": user,
            "password": password or ACCOUNTS[user][1],
            "csrf": token_of(form.text, "/login"),
            "next": next_,
        },
    )


def count(url: Path, sql: str) -> int:
    with Store.open(url) as store:
        return int(store.execute(sql).scalar())


@pytest.fixture
def web(site: tuple[Path, Path]) -> Iterator[TestClient]:
    with client(site) as c:
        yield c


def test_pages_need_a_session_and_login_starts_one(web: TestClient) -> None:
    r = web.get("/alarms?kind=all")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Falarms%3Fkind%3Dall"
    r = login(web, "vera", next_="/alarms?kind=all")
    assert r.status_code == 303 and r.headers["location"] == "/alarms?kind=all"
    set_cookie = r.headers["set-cookie"]
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert flag.lower() in set_cookie.lower()
    for page in ("/", "/facilities", f"/facilities/{FACILITY}", f"/nodes/{NODE}", "/alarms",
                 "/commands", "/?fragment=1"):  # fmt: skip
        assert web.get(page).status_code == 200, page
    assert web.get("/audit").status_code == 403  # a viewer's role is too low
    assert web.get("/reports").status_code == 403  # the grants officer's
    assert web.get("/admin").status_code == 403


def test_security_headers(web: TestClient) -> None:
    r = web.get("/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"


def test_csrf_without_token_wrong_token_or_foreign_origin_is_refused(
    web: TestClient, site: tuple[Path, Path]
) -> None:
    login(web, "olle")
    good = token_of(web.get(f"/nodes/{NODE}").text)
    form = {"node": NODE, "cmd": "lockdown", "confirm": "yes"}
    assert web.post("/commands", data=form).status_code == 403
    assert web.post("/commands", data={**form, "csrf": "guess"}).status_code == 403
    foreign = web.post(
        "/commands", data={**form, "csrf": good}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert web.post("/logout", data={}).status_code == 403
    assert count(site[0], "SELECT count(*) FROM commands") == 0
    r = web.post("/commands", data={**form, "csrf": good}, headers={"Origin": "https://testserver"})
    assert r.status_code == 303 and r.headers["location"] == f"/commands/{NODE}/1"
    assert count(site[0], "SELECT count(*) FROM commands") == 1


def test_login_form_needs_its_own_cookie(site: tuple[Path, Path]) -> None:
    with client(site) as attacker, client(site) as victim:
        token = token_of(attacker.get("/login").text)  # valid only with the attacker's cookie
        r = victim.post(
            "/login", data={"username": "vera", "password": ACCOUNTS["vera"][1], "csrf": token}
        )
        assert r.status_code == 403 and COOKIE not in r.cookies


def test_session_fixation_a_planted_token_is_never_adopted(site: tuple[Path, Path]) -> None:
    with client(site) as attacker, client(site) as victim:
        assert login(attacker, "vera").status_code == 303
        planted = attacker.cookies[COOKIE]
        victim.cookies.set(COOKIE, planted, domain="testserver.local")
        r = login(victim, "ada")
        assert r.status_code == 303
        fresh = r.cookies[COOKIE]
        assert fresh != planted
        assert victim.get("/admin").status_code == 200  # the victim is ada, on a new session
        # the planted session ended at that login: the attacker rides nothing
        assert attacker.get("/").status_code == 303
        with client(site) as other:
            other.cookies.set(COOKIE, "chosen-by-attacker", domain="testserver.local")
            assert login(other, "ada").cookies[COOKIE] != "chosen-by-attacker"


def test_viewer_posting_to_the_command_endpoint_is_refused(
    web: TestClient, site: tuple[Path, Path]
) -> None:
    login(web, "vera")
    csrf = token_of(web.get("/").text)  # the sign-out form's token: a valid one
    form = {"node": NODE, "cmd": "unlock", "door": "door.main", "seconds": "5", "csrf": csrf}
    assert web.post("/commands/confirm", data=form).status_code == 403
    r = web.post("/commands", data={**form, "confirm": "yes"})
    assert r.status_code == 403 and "Detta kräver rollen ”operatör”" in r.text
    assert count(site[0], "SELECT count(*) FROM commands") == 0
    assert count(site[0], "SELECT count(*) FROM web_audit WHERE action = 'command'") == 0
    page = web.get(f"/nodes/{NODE}").text
    assert 'action="/commands/confirm"' not in page  # no command forms for a viewer


@pytest.mark.parametrize(
    "field",
    [
        "kind=..%2F..%2Fsecret.csv",
        "kind=usage&facility=..%2F..%2Fsecret.csv",
        "kind=usage&facility=%2Fetc%2Fpasswd",
        "kind=usage&facility=f1%00.pdf",
        "kind=attendance&association=..%2Fsecret.csv",
        "kind=usage&period=..%2Fsecret.csv",
        "kind=usage&from=%2Fetc&to=passwd",
        "kind=usage&format=..%2F..%2Fsecret.csv",
    ],
)
def test_path_traversal_in_report_downloads_is_refused(web: TestClient, field: str) -> None:
    """Report downloads are made from the store, never read from a path: every
    field is checked against what central holds, and the file name is made of
    checked fields only."""
    login(web, "greta")
    for path in ("/reports/file?format=csv&", "/reports/heatmap.png?"):
        r = web.get(path + field)
        assert r.status_code == 400, (path, field)
        assert "not for the page" not in r.text and "root:" not in r.text
        assert "content-disposition" not in r.headers
    assert web.get("/../secret.csv").status_code == 404  # normalised to /secret.csv: no page


def test_html_in_a_booking_title_or_association_name_is_shown_as_text(web: TestClient) -> None:
    login(web, "vera")
    page = web.get(f"/facilities/{FACILITY}").text
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>Evil" not in page
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;Träning" in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;IK &lt;b&gt;Evil&lt;/b&gt;" in page
    assert "Anna Andersson" not in page  # a private person is never named
    alarms = web.get("/alarms").text
    assert "<b>x</b>" not in alarms and "&lt;b&gt;x&lt;/b&gt;" in alarms
    assert EVIL_NAME not in page and EVIL_TITLE not in page


def test_login_is_throttled_and_says_when_to_try_again(site: tuple[Path, Path]) -> None:
    with client(site, throttle=Throttle(window_s=900, per_user=3, per_addr=50)) as c:
        for _ in range(3):
            assert login(c, "ada", "wrong-password-00").status_code == 401
        r = login(c, "ada")  # the right password, but blocked: not even checked
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 900
        assert COOKIE not in r.cookies
        assert login(c, "vera").status_code == 303  # another user from the address
    failed = "SELECT count(*) FROM web_audit WHERE action = 'login_failed'"
    assert count(site[0], failed) == 3


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
def test_login_never_redirects_off_site(web: TestClient, target: str) -> None:
    r = login(web, "vera", next_=target)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_operator_sends_a_command_with_confirmation_and_it_is_audited(
    web: TestClient, site: tuple[Path, Path]
) -> None:
    login(web, "olle")
    csrf = token_of(web.get(f"/facilities/{FACILITY}").text)
    form = {"node": NODE, "cmd": "unlock", "door": "door.main", "seconds": "12", "csrf": csrf}
    confirm = web.post("/commands/confirm", data=form)
    assert confirm.status_code == 200 and "Huvudentré" in confirm.text
    assert count(site[0], "SELECT count(*) FROM commands") == 0  # asking queues nothing
    assert web.post("/commands", data=form).status_code == 400  # not confirmed
    r = web.post("/commands", data={**form, "confirm": "yes"})
    assert r.status_code == 303
    page = web.get(r.headers["location"]).text
    assert 'data-state="queued"' in page and "olle" in page
    web.cookies.set("lang", "en", domain="testserver.local")
    audit = web.get("/audit").text
    assert "command sent" in audit and "seconds: 12" in audit


def test_admin_manages_accounts_and_a_role_change_ends_sessions(
    site: tuple[Path, Path],
) -> None:
    with client(site) as admin, client(site) as user:
        login(admin, "ada")
        login(user, "vera")
        csrf = token_of(admin.get("/admin").text)
        r = admin.post(
            "/admin/accounts",
            data={"username": "nils", "display_name": "Nils", "role": "viewer",
                  "password": "nils-password-1", "csrf": csrf},
        )  # fmt: skip
        assert r.status_code == 200
        bad = admin.post("/admin/accounts", data={"username": "Bad Name", "csrf": csrf})
        assert bad.status_code == 400
        assert (
            admin.post("/admin/accounts/vera", data={"role": "operator", "csrf": csrf}).status_code
            == 200
        )
        assert user.get("/").status_code == 303  # vera signs in again to get her new role
        assert (
            admin.post("/admin/accounts/ada", data={"disabled": "1", "csrf": csrf}).status_code
            == 400
        )  # not oneself
    assert count(site[0], "SELECT count(*) FROM web_accounts") == len(ACCOUNTS) + 1


def test_languages_swedish_by_default_english_on_request(web: TestClient) -> None:
    assert '<html lang="sv">' in web.get("/login").text and "Logga in" in web.get("/login").text
    en = web.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9,sv;q=0.5"}).text
    assert '<html lang="en">' in en and "Sign in" in en
    r = web.get("/lang/en?next=/login")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "Sign in" in web.get("/login").text
    assert i18n.negotiate("xx", "fi, de;q=0.5") == "sv"


def test_every_message_of_the_page_is_translated_to_swedish() -> None:
    ids = i18n.extract()
    catalogue = translated_ids(i18n.po_path("sv"))
    missing = [m for m in ids if not catalogue.get(m)]
    assert len(ids) > 200 and missing == []


def test_numbers_are_written_in_the_pages_language(site: tuple[Path, Path]) -> None:
    """Swedish groups thousands with a no-break space ("1 234"), English is as it was."""
    url, _ = site
    with Store.open(url) as store, store.write():
        through = store.execute(
            "SELECT coalesce(max(through), 0) FROM event_streams WHERE node = ?", [NODE]
        ).scalar()
        store.execute(
            "UPDATE node_state SET outbox_last = ? WHERE node = ?", [int(through) + 1234, NODE]
        )
    with client(site) as c:
        login(c, "olle")
        row = re.compile(r'<tr id="node-' + re.escape(NODE) + r'".*?</tr>', re.S)
        sv = row.search(c.get("/").text)
        assert sv is not None and '<td class="num">1\u00a0234</td>' in sv.group(0)
        node = c.get(f"/nodes/{NODE}").text
        assert "1\u00a0234 händelser" in node
        c.cookies.set("lang", "en")
        en = row.search(c.get("/").text)
        assert en is not None and '<td class="num">1234</td>' in en.group(0)
        assert "1234 events not acknowledged" in c.get(f"/nodes/{NODE}").text


def test_alarm_times_are_iso_and_a_bad_one_is_said(web: TestClient) -> None:
    login(web, "olle")
    html = web.get("/alarms").text
    assert html.count("(ÅÅÅÅ-MM-DD TT:MM)") == 2 and '<html lang="sv">' in html
    ok = web.get("/alarms", params={"kind": "all", "from": "2020-01-01T00:00"})
    assert ok.status_code == 200 and "Kontrollera" not in ok.text and "tr data-key" in ok.text
    bad = web.get("/alarms", params={"kind": "all", "from": "01/02/2020 10:00"})
    assert bad.status_code == 400 and "Kontrollera de här fälten: Från" in bad.text
    assert "tr data-key" not in bad.text  # nothing shown as if it were filtered
