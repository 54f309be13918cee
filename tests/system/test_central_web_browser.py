"""Central's web page in a real browser over a whole running system.

One system per module (the tests below share it, in order): a private
Mosquitto, central's gateway (``hallvakt central``), one facility node with
its sync link (``hallvakt sync``) and its door controller with libosdp's
simulated reader and a door contact on it (``hallvakt door --simulate``),
and the web page (uvicorn on a free loopback port) over central's store. One
headless Chromium from Debian's packages (chromium + chromium-driver),
driven by Selenium, for the whole module.

The browser: signs in; sees the node online with its reader and its door
locked, from the door controller's ``door.state`` at start, before anything
happened at the door; sees a "door
forced" alarm appear on the live alarm page when the door contact opens
while the door is locked (through the simulated reader's input); sends an
unlock, confirms it and watches it go to command.done; is refused the
command as a viewer; as the grants officer, makes the usage and attendance
reports of the evidence the node sent (entries, headcounts and no-shows
through the real link) and downloads the CSV; and sees the node go offline
when its link is stopped.
It takes a screenshot of every page (``WEB_SCREENSHOTS=DIR`` keeps them
there; docs/central.md shows them) and checks each is a real picture.
"""

from __future__ import annotations

import json
import os
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from door_controller.readers.osdp_sim import SimClient
from sync.central.store import Store
from sync.central.web import accounts
from sync.central.web.server import Running, start
from sync.central.web.settings import WebSettings
from sync.replica import append_event
from tests.support.broker import BrokerConfig, PrivateBroker, mosquitto_available
from tests.support.e2e import (
    BROKER_LOG_TYPES,
    BrokerAccess,
    CentralSite,
    Daemon,
    NodeSite,
    hallvakt_argv,
    wait_for,
)

NODE = "demo.node.n1"
FAC = "kroksbackshallen"
ROW = "#node-demo\\.node\\.n1"  # the fleet table's row of NODE (CSS escapes the dots)
CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SWEDISH = Path("/usr/lib/chromium/locales/sv.pak")  # chromium-l10n: the browser's own Swedish
USERS = {
    "olle": ("operator", "operator-password-1"),
    "vera": ("viewer", "viewer-password-1"),
    "greta": ("grants", "grants-password-1"),
}
DOORS = """
[[outputs]]
id = "relays"
port = "/dev/ttyWEB-relays"
channels = 2

[[doors]]
id = "door.main"
lock = { output = "relays", channel = 1, mode = "fail-safe" }
contact = { source = "reader:main-in:0", normally = "closed" }

[[readers]]
id = "main-in"
kind = "osdp"
port = "/dev/ttyWEB-osdp"
address = 0
key = "secrets/reader-main-in.key"
door = "door.main"
direction = "in"
"""

selenium = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402


@dataclass
class System:
    central: CentralSite
    node: NodeSite
    door: Daemon
    web: Running
    shots: Path

    def sim(self) -> SimClient:
        return SimClient(self.node.root / "run" / "osdp-0.sock")


def _need() -> None:
    if not mosquitto_available():
        pytest.skip("mosquitto is not installed (`make test` installs it)")
    if not (CHROMIUM.exists() and DRIVER.exists()):
        pytest.skip("chromium and chromium-driver are not installed (`make test` installs them)")
    if not SWEDISH.exists():
        pytest.skip("chromium-l10n is not installed (`make test` installs it)")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    _need()
    root = tmp_path_factory.mktemp("web")
    config = BrokerConfig(tcp_port=None, log_types=BROKER_LOG_TYPES)
    broker = PrivateBroker(config, directory=root / "broker").start()
    started: list[Daemon] = []
    web: Running | None = None
    try:
        access = BrokerAccess.unix(broker)
        central = CentralSite(root / "central", access)
        central.init()
        node = NodeSite(root / "node", NODE, "kroksbackshallen", access, central.central_keys)
        with node.config.open("a", encoding="utf-8") as f:
            f.write(DOORS)
        node.provision()
        central.register(node)
        central.admin("demo-seed", "--node", NODE)
        now = datetime.now(UTC)
        with Store.open(central.store) as store:
            ph = accounts.hasher("cheapest")
            for user, (role, password) in USERS.items():
                accounts.add(store, ph, user, user.title(), role, password, now)
        central.start(broker)  # subscribed before the node says hello
        started.append(central.gateway)
        node.link.start()
        started.append(node.link)
        door = Daemon(
            "hallvakt door",
            [*hallvakt_argv(), "door", "--config", str(node.config), "--simulate"],
            node.root / "door.log",
            node.root,
        )
        door.start()
        started.append(door)
        web = start(WebSettings(str(central.store), port=0, argon2_profile="cheapest",
                                live_every_ms=1000))  # fmt: skip
        shots = Path(os.environ.get("WEB_SCREENSHOTS") or root / "shots")
        shots.mkdir(parents=True, exist_ok=True)
        yield System(central, node, door, web, shots)
    finally:
        if web is not None:
            web.stop()
        for d in reversed(started):
            d.stop()
        central.stop()
        broker.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    _need()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--disable-dev-shm-usage", "--window-size=1366,900",
                "--disable-gpu", "--lang=sv-SE"):  # fmt: skip
        opts.add_argument(arg)
    if os.geteuid() == 0:
        opts.add_argument("--no-sandbox")  # Chromium refuses to run as root otherwise
    opts.add_experimental_option("prefs", {"intl.accept_languages": "sv-SE,sv"})
    # A Swedish browser, as the municipality's staff run it: on Linux Chromium
    # takes its own language (date fields, file pickers) from the environment,
    # not from --lang, and needs its Swedish strings (chromium-l10n).
    env = {**os.environ, "LANGUAGE": "sv_SE:sv", "LANG": "sv_SE.UTF-8"}
    driver = webdriver.Chrome(options=opts, service=Service(str(DRIVER), env=env))
    try:
        assert driver.execute_script("return navigator.language") == "sv-SE"
        yield driver
    finally:
        driver.quit()


def shot(b: WebDriver, system: System, name: str) -> Path:
    """A full-page screenshot, checked to be a PNG of a real page's size."""
    import base64

    data = b.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )["data"]
    png = base64.b64decode(data)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width >= 1000 and height >= 400, (width, height)
    path = system.shots / f"web-{name}.png"
    path.write_bytes(png)
    return path


def sign_in(b: WebDriver, system: System, user: str, lands: str = "") -> None:
    b.delete_all_cookies()
    b.get(system.web.url + "login")
    b.find_element(By.ID, "username").send_keys(user)
    b.find_element(By.ID, "password").send_keys(USERS[user][1])
    b.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    landed = system.web.url + lands
    wait_for(lambda: b.current_url == landed, f"{user} signed in", timeout=20)


def submit(b: WebDriver, css: str) -> None:
    """Click the submit button ``css`` and wait until the browser has left the
    page it was on: the next page's words may also stand on this one (a
    report's title is an option of the form), so waiting for them proves nothing."""
    page = b.find_element(By.TAG_NAME, "html")
    b.find_element(By.CSS_SELECTOR, css).click()

    def left() -> bool:
        try:
            page.tag_name  # noqa: B018  (raises once the page is replaced)
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            # Asked in the middle of the navigation, Chromium answers with its
            # inspector's words for the same fact instead of a stale reference.
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    wait_for(left, "the next page", timeout=20)


def text_of(b: WebDriver, css: str) -> str:
    try:
        return str(b.find_element(By.CSS_SELECTOR, css).text)
    except Exception:  # replaced by a live update between find and read: ask again
        return ""


def test_sign_in_and_see_the_node_online_with_its_reader(
    system: System, browser: WebDriver
) -> None:
    b = browser
    b.get(system.web.url)
    assert "/login" in b.current_url
    shot(b, system, "login")
    sign_in(b, system, "olle")
    row = ROW
    wait_for(
        lambda: "Online" in text_of(b, row) and "1 / 1" in text_of(b, row),
        "the node online with its reader on the fleet page (live)",
        alive=[system.central.gateway, system.node.link, system.door],
    )
    assert "tillförlitlig" in text_of(b, row)  # the hello's clock: trusted
    assert b.find_element(By.TAG_NAME, "html").get_attribute("lang") == "sv"
    wait_for(
        lambda: "door.main: låst" in text_of(b, row),
        "the freshly started node's door shown locked on the fleet page (door.state)",
        alive=[system.central.gateway, system.node.link, system.door],
    )
    with Store.open(system.central.store) as store:
        door_events = {
            str(t) for (t,) in store.execute(
                "SELECT DISTINCT type FROM events WHERE node = ? AND type LIKE 'door.%'", [NODE]
            )
        }  # fmt: skip
    assert door_events == {"door.state"}  # nothing happened at the door: its state came alone
    shot(b, system, "fleet")
    b.get(system.web.url + "facilities/kroksbackshallen")
    assert "Dagens bokningar" in b.page_source
    main = [
        r.text
        for r in b.find_elements(By.CSS_SELECTOR, "section[aria-labelledby=h-doors] tbody tr")
        if "(door.main)" in r.text
    ]  # the demo's door.gym is on no node's config: it stays "ej rapporterat"
    assert len(main) == 1 and "låst" in main[0] and "ej rapporterat" not in main[0], main
    shot(b, system, "facility")


def test_a_forced_door_appears_on_the_live_alarm_page(system: System, browser: WebDriver) -> None:
    b = browser
    sim = system.sim()
    sim.request("inputs", address=0, states=[True])  # the contact reads the door closed
    b.get(system.web.url + "alarms")
    before = len(b.find_elements(By.CSS_SELECTOR, "tr[data-key]"))
    time.sleep(1.5)  # the door controller settles on "closed" first
    sim.request("inputs", address=0, states=[False])  # the door opens while locked
    wait_for(
        lambda: "Dörr uppbruten" in text_of(b, "#alarms-live"),
        "a door forced alarm on the alarm page, without reloading it",
        alive=[system.central.gateway, system.node.link, system.door],
    )
    assert len(b.find_elements(By.CSS_SELECTOR, "tr[data-key]")) > before
    first = b.find_element(By.CSS_SELECTOR, "#alarms-live tbody tr")
    assert "Dörr uppbruten" in first.text and NODE in first.text  # newest first
    wait_for(
        lambda: (
            "Nytt larm" in (b.find_element(By.ID, "live-status").get_attribute("textContent") or "")
        ),
        "the alarm told to screen readers through the status region",
    )
    shot(b, system, "alarms")
    sim.request("inputs", address=0, states=[True])  # closed again


def test_an_unlock_is_confirmed_and_reaches_command_done(
    system: System, browser: WebDriver
) -> None:
    b = browser
    b.get(system.web.url + f"nodes/{NODE}")
    from selenium.webdriver.support.ui import Select

    Select(b.find_element(By.ID, f"door-{NODE}")).select_by_value("door.main")
    seconds = b.find_element(By.ID, f"secs-{NODE}")
    seconds.clear()
    seconds.send_keys("3")
    b.find_element(By.XPATH, "//form[.//input[@value='unlock']]//button").click()
    wait_for(lambda: text_of(b, "#confirm-text") != "", "the confirmation page", timeout=20)
    confirm = text_of(b, "#confirm-text")
    assert "Lås upp en dörr" in confirm and "door.main" in confirm and "3 s" in confirm, confirm
    shot(b, system, "confirm")
    b.find_element(By.ID, "confirm-yes").click()
    wait_for(lambda: "/commands/" in b.current_url, "the command's page", timeout=20)
    wait_for(
        lambda: "utförd (command.done)" in text_of(b, "#command-live"),
        "the unlock at command.done on its page, without reloading it",
        alive=[system.central.gateway, system.node.link, system.door],
    )
    assert "door.main unlocked 3 s" in text_of(b, "#command-live")
    assert "av olle" in text_of(b, "#command-live")
    shot(b, system, "command")
    b.get(system.web.url + "audit")
    assert "kommando skickat" in b.page_source and "olle" in b.page_source


def test_a_viewer_is_refused_a_command(system: System, browser: WebDriver) -> None:
    b = browser
    sign_in(b, system, "vera")
    b.get(system.web.url + f"nodes/{NODE}")
    assert b.find_elements(By.CSS_SELECTOR, "form[action='/commands/confirm']") == []
    assert "krävs rollen operatör" in b.page_source
    # forge the form in the page itself, with her own valid CSRF token
    b.execute_script(
        """
        const f = document.createElement('form');
        f.method = 'post'; f.action = '/commands';
        const csrf = document.querySelector('input[name=csrf]').value;
        for (const [k, v] of Object.entries({node: arguments[0], cmd: 'unlock',
             door: 'door.main', seconds: '5', confirm: 'yes', csrf: csrf})) {
          const i = document.createElement('input'); i.name = k; i.value = v; f.appendChild(i);
        }
        document.body.appendChild(f); f.submit();
        """,
        NODE,
    )
    wait_for(lambda: "Din roll får inte göra detta" in b.page_source, "the refusal page")
    shot(b, system, "refused")
    with Store.open(system.central.store) as store:
        cmds = store.execute("SELECT count(*) FROM commands").scalar()
        assert cmds == 1  # only the operator's unlock


def _evidence(system: System) -> tuple[int, dict[str, int], int]:
    """The node reports what happened at its door for the demo's sessions that
    have ended: the leader's card for two in three (with a headcount at the
    start), a no-show for the others. Returns (entered, headcount per
    association, no-shows)."""
    now = int(time.time())
    with Store.open(system.central.store) as store:
        associations = {
            str(i)
            for i, data in store.execute("SELECT id, data FROM holders WHERE facility = ?", [FAC])
            if json.loads(data)["kind"] == "association"
        }
        ended = [
            (str(booking), int(start_ts), str(holder))
            for booking, start_ts, holder in store.execute(
                "SELECT booking_id, start_ts, holder FROM evidence WHERE facility = ?"
                " AND known = 1 AND removed = 0 AND status IN ('confirmed', 'tentative')"
                " AND end_ts < ? ORDER BY start_ts DESC",
                [FAC, now - 600],
            )
            if holder in associations
        ][:30]
    assert len(ended) >= 6, "the demo's days before today hold ended sessions"
    entered = noshows = 0
    heads: dict[str, int] = {}
    rep = system.node.replica()
    try:
        with rep.write():
            for i, (booking, start_ts, holder) in enumerate(ended):
                at = datetime.fromtimestamp(int(start_ts), UTC)
                if i % 3 == 2:
                    append_event(
                        rep, "booking.no_show", {"booking": booking}, at + timedelta(minutes=20)
                    )
                    noshows += 1
                    continue
                body = {"door": "door.main", "booking": booking, "reason": "booking"}
                append_event(rep, "access.granted", body, at + timedelta(minutes=2))
                count = 8 + i % 9
                append_event(
                    rep,
                    "attendance.reported",
                    {"booking": booking, "stage": "start", "participants": count, "leaders": 1},
                    at + timedelta(minutes=5),
                )
                entered += 1
                heads[holder] = heads.get(holder, 0) + count
    finally:
        rep.close()
    return entered, heads, noshows


def test_the_grants_officer_makes_and_downloads_a_report(
    system: System, browser: WebDriver
) -> None:
    entered, heads, noshows = _evidence(system)

    def interpreted() -> bool:
        with Store.open(system.central.store) as store:
            n = store.execute(
                "SELECT count(*) FROM evidence WHERE start_participants IS NOT NULL"
                " OR no_show_ts IS NOT NULL"
            ).scalar()
        return int(n) == entered + noshows

    wait_for(interpreted, "central interpreted the node's evidence", alive=[system.node.link])
    b = browser
    sign_in(b, system, "greta", lands="reports")
    assert b.find_elements(By.CSS_SELECTOR, "a[href='/alarms']") == []  # reports only
    submit(b, "form[action='/reports'] button[type=submit]")
    wait_for(lambda: "Användning av lokaler" in b.page_source, "the usage report")
    img = b.find_element(By.CSS_SELECTOR, ".report figure img")
    assert "Värmekarta" in (img.get_attribute("alt") or "")
    wait_for(
        lambda: bool(
            b.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img)
        ),
        "the heatmap image loaded",
    )
    csv = b.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        " fetch(arguments[0]).then(r => r.text().then(t => done([r.status, t])));",
        b.find_element(By.LINK_TEXT, "Ladda ned CSV").get_attribute("href"),
    )
    assert csv[0] == 200 and csv[1].startswith("level;facility;")  # the BOM is decoded away
    shot(b, system, "reports")
    Select(b.find_element(By.ID, "r-kind")).select_by_value("attendance")
    busiest = max(heads, key=lambda h: heads[h])
    Select(b.find_element(By.ID, "r-association")).select_by_value(busiest)
    submit(b, "form[action='/reports'] button[type=submit]")
    wait_for(lambda: "Närvaro och aktivitetsstöd" in b.page_source, "the attendance report")
    shown = [
        int(c.text)
        for c in b.find_elements(By.CSS_SELECTOR, ".report tbody tr td:nth-of-type(8)")
        if c.text.isdigit()
    ]  # the participants column (the 9th cell; the first is the row's header)
    assert sum(shown) == heads[busiest]
    shot(b, system, "reports-attendance")


def test_the_node_goes_offline_when_its_link_stops(system: System, browser: WebDriver) -> None:
    b = browser
    sign_in(b, system, "vera")
    b.get(system.web.url)
    row = ROW
    assert "Online" in text_of(b, row)
    assert system.node.link.terminate() == 0  # a clean stop: the link says "offline"
    wait_for(
        lambda: "Offline" in text_of(b, row),
        "the node offline on the fleet page, without reloading it",
        alive=[system.central.gateway],
    )
    shot(b, system, "fleet-offline")
    b.get(system.web.url + "commands")
    shot(b, system, "commands")
