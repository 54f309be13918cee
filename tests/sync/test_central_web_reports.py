"""The web page's reports over HTTP: issue 16's reports, viewed and downloaded by a grants officer.

The store holds the seeded facility (tests/support/central_web.py) and the
node's evidence for its two bookings: the association's session entered by
the leader's card with 12 participants reported, the private person's a
no-show. The app's clock stands three hours later, so both sessions have
ended. What the page shows and serves is compared with what issue 16's entry
points (``build``, ``write``, ``charts``) make of the same store directly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from sync.central.events import store_events
from sync.central.evidence.settings import Evidence
from sync.central.reports import Query, Report, build, read_claims, write
from sync.central.reports.usage import UsageReport
from sync.central.store import Store
from sync.central.web import reports as web_reports
from sync.central.web.app import create_app
from sync.central.web.settings import WebSettings
from tests.support.central_web import (
    ACCOUNTS,
    EPOCH,
    EVIL_NAME,
    FACILITY,
    NODE,
    add_accounts,
    event,
    seed,
)

TZ = ZoneInfo("Europe/Stockholm")


class Site:
    def __init__(self, url: Path, seeded: datetime, now: datetime) -> None:
        self.url, self.seeded, self.now = url, seeded, now
        day = self.seeded.astimezone(TZ).date()
        self.start, self.end = day - timedelta(days=1), day + timedelta(days=1)

    def fields(self, kind: str, **more: str) -> dict[str, str]:
        base = {"kind": kind, "from": str(self.start), "to": str(self.end), "facility": FACILITY}
        return {**base, **more}

    def direct(self, kind: str, **kw: Any) -> Report:
        """The report as issue 16's ``build`` makes it from the store."""
        q = Query((FACILITY,), self.start, self.end, self.now)
        with Store.open(self.url) as store:
            return build(store, kind, q, Evidence(), **kw)

    def audit(self) -> list[tuple[str, str, str]]:
        with Store.open(self.url) as store:
            return [
                (str(a), str(u), str(d))
                for a, u, d in store.execute(
                    "SELECT action, username, detail FROM web_audit"
                    " WHERE action LIKE 'report%' ORDER BY id"
                )
            ]


@pytest.fixture
def site(tmp_path: Path) -> Site:
    url = tmp_path / "central.db"
    seeded = datetime.fromtimestamp(int(time.time()), UTC)
    day = seeded.replace(minute=0, second=0, microsecond=0)  # b1 starts here, b2 an hour later
    with Store.open(url) as store:
        seed(store, seeded)
        add_accounts(store, seeded)
        events = [
            event(4, "access.granted", {"booking": "b1", "reason": "booking"}, day),
            event(
                5,
                "attendance.reported",
                {"booking": "b1", "stage": "start", "participants": 12, "leaders": 1},
                day + timedelta(minutes=2),
            ),
            event(6, "booking.no_show", {"booking": "b2"}, day + timedelta(hours=1, minutes=20)),
        ]
        store_events(store, NODE, FACILITY, EPOCH, events, seeded)
    return Site(url, seeded, day + timedelta(hours=3))


@pytest.fixture
def web(site: Site) -> Iterator[TestClient]:
    app = create_app(
        WebSettings(str(site.url), argon2_profile="cheapest"), clock=site.now.timestamp
    )
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        yield c


def login(c: TestClient, user: str) -> str:
    form = c.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token is not None
    r = c.post(
        "/login",
        data={"username": user, "password": ACCOUNTS[user][1], "csrf": token.group(1)},
    )
    assert r.status_code == 303
    return str(r.headers["location"])


def csrf_of(html: str) -> str:
    found = re.search(r'action="/reports/claims".*?name="csrf" value="([^"]+)"', html, re.S)
    assert found is not None
    return found.group(1)


def test_the_grants_officer_sees_the_reports_and_nothing_of_the_doors(web: TestClient) -> None:
    assert login(web, "greta") == "/reports"
    assert web.get("/").headers["location"] == "/reports"
    page = web.get("/reports").text
    assert 'href="/alarms"' not in page and 'href="/commands"' not in page
    assert "bidragshandläggare" in page
    for path in ("/alarms", "/commands", f"/nodes/{NODE}", "/audit", "/admin"):
        assert web.get(path).status_code == 403, path


@pytest.mark.parametrize("user, status", [("vera", 403), ("olle", 200), ("ada", 200)])
def test_the_reports_need_the_grants_officers_role(
    web: TestClient, site: Site, user: str, status: int
) -> None:
    login(web, user)
    assert web.get("/reports").status_code == status
    r = web.get("/reports/file", params={**site.fields("usage"), "format": "csv"})
    assert r.status_code == status
    assert web.get("/reports/heatmap.png", params=site.fields("usage")).status_code == status


def test_usage_is_shown_with_its_heatmap_and_downloads_as_issue_16_makes_it(
    web: TestClient, site: Site
) -> None:
    login(web, "greta")
    page = web.get("/reports", params=site.fields("usage"))
    assert page.status_code == 200
    html = page.text
    assert "Användning av lokaler" in html and "Kroksbäckshallen" in html
    # the hall: booked 2.0 h, used 1.0 h (50 %), not entered 1.0 h, all of it a no-show,
    # with Swedish decimal commas (the CSV below keeps its points)
    row = re.search(r'<th scope="row">Stora hallen</th>(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
    assert cells == ["2,0", "1,0", "50\u00a0%", "1,0", "1,0", "0,0", "0,0"]
    img = re.search(r'<img src="([^"]+)" alt="([^"]+)"', html)
    assert img is not None and "Värmekarta för Kroksbäckshallen" in img.group(2)
    png = web.get(img.group(1).replace("&amp;", "&"))
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    report = site.direct("usage")
    assert isinstance(report, UsageReport)
    assert png.content == web_reports.heatmap(report, FACILITY, "sv")
    # the heatmap's text alternative: the weekday x hour table holds the same hours
    assert "Bokade timmar per veckodag och timme – Kroksbäckshallen" in html
    assert "1,0 (100\u00a0%)" in html and "1,0 (0\u00a0%)" in html

    r = web.get("/reports/file", params={**site.fields("usage"), "format": "csv"})
    assert r.status_code == 200 and r.content == write(report, "csv")
    name = f"usage-{FACILITY}-{site.start}-{site.end}.csv"
    assert r.headers["content-disposition"] == f'attachment; filename="{name}"'
    pdf = web.get("/reports/file", params={**site.fields("usage"), "format": "pdf"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    audit = site.audit()
    assert [(a, u) for a, u, _ in audit] == [
        ("report_viewed", "greta"),
        ("report_downloaded", "greta"),
        ("report_downloaded", "greta"),
    ]
    assert '"kind": "usage"' in audit[1][2] and '"format": "csv"' in audit[1][2]


def test_attendance_shows_the_headcount_and_the_rule_and_escapes_the_association(
    web: TestClient, site: Site
) -> None:
    login(web, "greta")
    html = web.get("/reports", params=site.fields("attendance")).text
    assert EVIL_NAME not in html and "&lt;img src=x" in html
    row = re.search(r'<th scope="row">&lt;img src=x.*?</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(0))
    assert "12" in cells and "ja" in cells  # 12 participants, meets the national rule
    r = web.get("/reports/file", params={**site.fields("attendance"), "format": "csv"})
    assert r.content == write(site.direct("attendance"), "csv")


def test_no_shows_never_name_a_private_person(web: TestClient, site: Site) -> None:
    login(web, "greta")
    html = web.get("/reports", params=site.fields("no-shows")).text
    assert "Anna Andersson" not in html
    assert "Privatperson" in html or "Private person" in html
    assert "uteblev" in html


def test_the_claims_check_takes_the_associations_file_and_downloads_with_it(
    web: TestClient, site: Site
) -> None:
    login(web, "greta")
    start = site.seeded.replace(minute=0, second=0, microsecond=0).astimezone(TZ)
    claims = (
        "datum;start;slut;plats;deltagare\n"
        f"{start:%Y-%m-%d};{start:%H:%M};{start + timedelta(hours=1):%H:%M};Kroksbäckshallen;12\n"
        f"{site.start};10:00;11:00;Kroksbäckshallen;9\n"
    ).encode()
    fields = {**site.fields("claims", association="h.evil"), "kind": "claims"}
    token = csrf_of(web.get("/reports").text)
    assert web.post("/reports/claims", data=fields, files={"claims": claims}).status_code == 403
    r = web.post(
        "/reports/claims", data={**fields, "csrf": token}, files={"claims": ("c.csv", claims)}
    )
    assert r.status_code == 200
    assert "underlag finns" in r.text and "inget underlag: ingen bokning" in r.text
    kept = re.search(r'name="claims_token" value="([^"]+)"', r.text)
    assert kept is not None and claims.decode() not in r.text  # a token, not the file
    csv = web.post(
        "/reports/claims/file",
        data={**fields, "csrf": token, "format": "csv", "claims_token": kept.group(1)},
    )
    assert csv.status_code == 200
    expected = site.direct("claims", holder="h.evil", claims=read_claims(claims, "claims.csv"))
    assert csv.content == write(expected, "csv")
    bad = web.post(
        "/reports/claims",
        data={**fields, "csrf": token},
        files={"claims": ("c.csv", b"what;ever\n1;2\n")},
    )
    assert bad.status_code == 400 and "claims.csv:1" in bad.text
    assert [a for a, _, _ in site.audit()] == ["report_viewed", "report_downloaded"]


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "everything"},
        {"from": "2026-05-01", "to": "2026-04-01"},  # ends before it starts
        {"from": "2020-01-01", "to": "2026-01-01"},  # longer than a season
        {"facility": "nowhere"},
        {"association": "h.anna"},  # a private person is no association
        {"kind": "claims"},  # the claims check needs the file, by POST
    ],
)
def test_a_report_that_cannot_be_made_is_refused_and_changes_nothing(
    web: TestClient, site: Site, change: dict[str, str]
) -> None:
    login(web, "greta")
    fields = {**site.fields("usage"), **change}
    assert web.get("/reports", params=fields).status_code == 400
    r = web.get("/reports/file", params={**fields, "format": "csv"})
    assert r.status_code == 400 and "content-disposition" not in r.headers
    assert site.audit() == []


def test_reports_in_english(web: TestClient, site: Site) -> None:
    login(web, "greta")
    web.cookies.set("lang", "en")
    html = web.get("/reports", params=site.fields("usage")).text
    assert "Use of facilities" in html and "Booked (h)" in html
    row = re.search(r'<th scope="row">Stora hallen</th>(.*?)</tr>', html, re.S)
    assert row is not None  # English figures as they always were: decimal points
    assert re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1)) == [
        "2.0", "1.0", "50\u00a0%", "1.0", "1.0", "0.0", "0.0"
    ]  # fmt: skip
    assert "1.0 (100\u00a0%)" in html


def _claims_form(web: TestClient, site: Site) -> tuple[dict[str, str], str]:
    fields = {**site.fields("claims", association="h.evil"), "kind": "claims"}
    return fields, csrf_of(web.get("/reports").text)


def test_a_large_claims_file_is_kept_for_the_session_and_downloads_from_its_token(
    web: TestClient, site: Site
) -> None:
    """A 2 MiB claims file (the old hidden field stopped at 192 KiB) is
    checked, and both downloads are built from the file kept on the server."""
    login(web, "greta")
    fields, token = _claims_form(web, site)
    start = site.seeded.replace(minute=0, second=0, microsecond=0).astimezone(TZ)
    end = start + timedelta(hours=1)
    note = "anteckning " * 200  # a column the check does not read: a big file, fewer claims
    line = f"{start:%Y-%m-%d};{start:%H:%M};{end:%H:%M};Kroksbäckshallen;12;{note}\n"
    head = "datum;start;slut;plats;deltagare;kommentar\n"
    claims = (head + line * ((2 * 1024 * 1024) // len(line.encode()) + 1)).encode()
    assert len(claims) > 2 * 1024 * 1024
    r = web.post(
        "/reports/claims", data={**fields, "csrf": token}, files={"claims": ("c.csv", claims)}
    )
    assert r.status_code == 200, r.text[:500]
    kept = re.search(r'name="claims_token" value="([^"]+)"', r.text)
    assert kept is not None and len(r.text) < len(claims)  # the page does not carry the file
    csv = web.post(
        "/reports/claims/file",
        data={**fields, "csrf": token, "format": "csv", "claims_token": kept.group(1)},
    )
    assert csv.status_code == 200
    parsed = read_claims(claims, "claims.csv")
    assert len(parsed) > 900
    expected = site.direct("claims", holder="h.evil", claims=parsed)
    assert csv.content == write(expected, "csv")
    pdf = web.post(
        "/reports/claims/file",
        data={**fields, "csrf": token, "format": "pdf", "claims_token": kept.group(1)},
    )
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_a_claims_file_above_the_command_lines_limit_is_refused(
    web: TestClient, site: Site
) -> None:
    login(web, "greta")
    fields, token = _claims_form(web, site)
    big = b"datum;start;slut;plats;deltagare\n" + b"x" * (10 * 1024 * 1024)
    r = web.post(
        "/reports/claims", data={**fields, "csrf": token}, files={"claims": ("c.csv", big)}
    )
    assert r.status_code in (400, 413) and "content-disposition" not in r.headers
    assert site.audit() == []


@pytest.mark.parametrize(
    "forged",
    [
        "A" * 32,  # well formed, never given
        "../../etc/passwd",  # a path is no token
        "",
        "x" * 5000,
    ],
)
def test_a_forged_claims_token_is_refused_cleanly(web: TestClient, site: Site, forged: str) -> None:
    login(web, "greta")
    fields, token = _claims_form(web, site)
    for path in ("/reports/claims/file", "/reports/claims"):
        r = web.post(path, data={**fields, "csrf": token, "format": "csv", "claims_token": forged})
        assert r.status_code == 400 and "content-disposition" not in r.headers
        assert (
            "Ladda upp den igen" in r.text or "Kontrollera de här fälten: Redovisningsfil" in r.text
        )
    assert site.audit() == []


def _kept_token(web: TestClient, site: Site) -> tuple[dict[str, str], str, str]:
    fields, token = _claims_form(web, site)
    claims = b"datum;start;slut;plats;deltagare\n" + f"{site.start};10:00;11:00;X;9\n".encode()
    r = web.post(
        "/reports/claims", data={**fields, "csrf": token}, files={"claims": ("c.csv", claims)}
    )
    kept = re.search(r'name="claims_token" value="([^"]+)"', r.text)
    assert r.status_code == 200 and kept is not None
    return fields, token, kept.group(1)


def test_another_sessions_claims_token_is_refused(site: Site) -> None:
    app = create_app(
        WebSettings(str(site.url), argon2_profile="cheapest"), clock=site.now.timestamp
    )
    with (
        TestClient(app, base_url="https://testserver", follow_redirects=False) as greta,
        TestClient(app, base_url="https://testserver", follow_redirects=False) as other,
    ):
        login(greta, "greta")
        _fields, _token, kept = _kept_token(greta, site)
        login(other, "olle")  # an operator may see reports too, but not greta's file
        fields, token = _claims_form(other, site)
        r = other.post(
            "/reports/claims/file",
            data={**fields, "csrf": token, "format": "csv", "claims_token": kept},
        )
        assert r.status_code == 400 and "content-disposition" not in r.headers
        assert [a for a, _, _ in site.audit()] == ["report_viewed"]  # greta's view only


def test_a_claims_token_expires(site: Site) -> None:
    now = [site.now.timestamp()]
    app = create_app(WebSettings(str(site.url), argon2_profile="cheapest"), clock=lambda: now[0])
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as web:
        login(web, "greta")
        fields, token, kept = _kept_token(web, site)
        data = {**fields, "csrf": token, "format": "csv", "claims_token": kept}
        now[0] += 29 * 60
        assert web.post("/reports/claims/file", data=data).status_code == 200
        now[0] += 2 * 60  # 31 minutes after the upload
        r = web.post("/reports/claims/file", data=data)
        assert r.status_code == 400 and "content-disposition" not in r.headers


def test_dates_are_iso_and_the_form_says_so(web: TestClient, site: Site) -> None:
    """Whatever the browser shows in its date field, the form names the format
    it sends (ISO 8601) and the server takes exactly that."""
    login(web, "greta")
    html = web.get("/reports").text
    assert '<html lang="sv">' in html
    assert html.count('<span class="muted">(ÅÅÅÅ-MM-DD)</span></label>') == 4  # from, to: 2 forms
    assert html.count('type="date"') == html.count('pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}"') == 4
    iso = {**site.fields("usage"), "from": str(site.start), "to": str(site.end)}
    assert web.get("/reports", params=iso).status_code == 200
    us = {**iso, "from": site.start.strftime("%m/%d/%Y")}
    r = web.get("/reports", params=us)
    assert r.status_code == 400 and "Kontrollera de här fälten: Period" in r.text
    web.cookies.set("lang", "en")
    assert "(YYYY-MM-DD)" in web.get("/reports").text
