"""The caretaker view-model shows the door controller's database faults
(``sync.replica.door_health``), each as an alarm, and only while they are fresh."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from door_controller.testing import FakeClock
from kiosk.caretaker import CaretakerModel
from kiosk.identity import identify
from kiosk.services import Services
from sync.replica.door_health import DoorFault, DoorHealth, FaultKind, HealthFile, health_path


def test_a_door_database_fault_is_an_alarm_on_the_caretaker_screen(
    svc: Services, card: Callable[[str], str], kclock: FakeClock
) -> None:
    model = CaretakerModel(svc, identify(svc.rep, card("staff"), kclock.now()))
    calm = model.view()
    assert calm.door_faults == ()
    fault = DoorFault(FaultKind.WRITE, "database or disk is full", kclock.now())
    health = HealthFile(health_path(svc.rep.path))
    try:
        health.write(DoorHealth(4242, kclock.now(), (fault,), journalled=7))
        v = model.view()
        assert v.door_faults == (fault,) and v.alarms == calm.alarms + 1
        assert "journal" in v.door_faults[0].consequence
        kclock.advance(timedelta(minutes=2).total_seconds())  # the door stopped writing
        assert model.view().door_faults == ()
    finally:
        health.close()
