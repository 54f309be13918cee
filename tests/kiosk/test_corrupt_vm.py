"""The kiosk meets a stored record that does not decode (issue 13 §3): it
reports it (``Services.corrupt``, what the link watches) and goes on."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from door_controller.testing import FakeClock
from kiosk import texts
from kiosk.i18n import translator
from kiosk.model import KioskModel, Screen
from kiosk.services import Services
from sync.replica import Resource


class Recorder:
    """``CorruptReport``: what the kiosk reported."""

    def __init__(self) -> None:
        self.found: list[tuple[str, datetime]] = []

    def met(self, problem: Exception | str, at: datetime) -> None:
        self.found.append((str(problem), at))


def damage(svc: Services, resource: str) -> str:
    (data,) = svc.rep.conn.execute("SELECT data FROM resources WHERE id = ?", [resource]).fetchone()
    with svc.rep.write():
        svc.rep.conn.execute("UPDATE resources SET data = '{' WHERE id = ?", [resource])
    return str(data)


def mend(svc: Services, resource: str, data: str) -> None:
    with svc.rep.write():
        svc.rep.conn.execute("UPDATE resources SET data = ? WHERE id = ?", [data, resource])
        svc.rep.conn.execute("UPDATE sync_state SET applied_rev = applied_rev + 1")  # a snapshot


def test_a_corrupt_record_at_start_poll_and_action_is_reported_and_survived(
    svc: Services, kclock: FakeClock
) -> None:
    found = Recorder()
    svc = replace(svc, corrupt=found)
    good = damage(svc, "gym")
    model = KioskModel(svc)  # Today cannot be built
    assert model.today.rows == () and model.today.health.level == "unreadable"
    banner = texts.banner_text(translator("en"), model.today.health)
    assert banner is not None and "cannot be read just now" in banner
    assert len(found.found) == 1 and "resource" in found.found[0][0]
    assert model.tick() is False  # read again at the first poll: still damaged, reported
    assert len(found.found) == 2
    assert model.tick() is False  # then not again until the data or the minute changes
    assert len(found.found) == 2

    mend(svc, "gym", good)
    assert model.tick() is True
    assert model.today.health.level != "unreadable" and model.today.rows
    shown = model.today

    damage(svc, "gym")
    kclock.advance(60)
    model.tick()  # the minute's refresh meets it: the last Today stays
    assert len(found.found) == 3 and model.today is shown

    model.act(lambda: svc.rep.get(Resource, "gym"))  # an action meets it
    assert model.screen is Screen.NOTICE and model.notice is not None
    assert model.notice.error == "db_busy" and len(found.found) == 4
    assert [at for _, at in found.found][-1] == kclock.now()


def test_without_a_report_the_kiosk_still_goes_on(svc: Services) -> None:
    damage(svc, "gym")
    model = KioskModel(svc)  # no ``corrupt``: a test's Services
    assert model.today.health.level == "unreadable"
    assert model.tick() is False
