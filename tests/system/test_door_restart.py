"""The real ``hallvakt door`` process restarted in every state of the door table
that must survive a restart: forced, held open, fire release, lockdown.

libosdp's own PD in a process of its own (secure channel) reports the inputs;
the relay board's end of its pty is read by the test. Each restart checks the
state the door takes at once (the relay, ``door_status``) and that the state
ends the way it would have without the restart.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.replica import Replica, queue_local_command
from sync.replica.door_records import lockdown_state
from tests.support.door_site import STAFF_CARD, DoorSite

SHORT_HELD_OPEN = [
    {
        "op": "upsert",
        "entity": "door",
        "id": "d1",
        "data": {
            "id": "d1",
            "name": "Entré",
            "resources": ["hall"],
            "unlock_seconds": 5,
            "held_open_seconds": 5,
        },
    }
]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[DoorSite]:
    s = DoorSite(tmp_path / "node", now=datetime.now(UTC), extra_ops=SHORT_HELD_OPEN)
    try:
        s.start()
        yield s
    finally:
        s.close()


def restart(site: DoorSite, sig: signal.Signals) -> int:
    """Stop the door process with ``sig`` and start it again; the index of the
    first relay frame of the new process."""
    site.stop(sig)
    first = len(site.relay.frames)
    site.start()
    return first


def state_is(site: DoorSite, state: str) -> None:
    site.wait(lambda: site.door_state() == state, f"door d1 {state}")


def command(site: DoorSite, cmd: str) -> None:
    with Replica.open(site.database) as rep:
        now = datetime.now(UTC)
        queue_local_command(rep, cmd, {}, "staff1-card", now + timedelta(minutes=5), now)


def test_every_door_state_survives_a_restart(site: DoorSite) -> None:
    relay = site.relay
    # forced: the door opened while locked; killed outright (no clean stop)
    site.inputs(site.at_rest(contact=True))
    state_is(site, "forced")
    first = restart(site, signal.SIGKILL)
    assert site.door_state() == "forced" and relay.frames[first].on is False  # locked at once
    site.inputs(site.at_rest())
    state_is(site, "locked")

    # held open: a staff card opens it, it stays open past held_open_seconds
    site.tap(STAFF_CARD, reader="r2")
    site.wait(lambda: relay.released() is True, "the grant released the lock")
    site.inputs(site.at_rest(contact=True))
    state_is(site, "open")
    state_is(site, "held_open")
    first = restart(site, signal.SIGTERM)
    assert site.door_state() == "held_open" and relay.frames[first].on is False
    site.inputs(site.at_rest())
    state_is(site, "locked")

    # fire release: the fire panel calls for release, and still does after the restart
    site.inputs(site.at_rest(fire_release=True))
    state_is(site, "fire_release")
    site.wait(lambda: relay.released() is True, "released for the fire")
    first = restart(site, signal.SIGTERM)
    assert site.door_state() == "fire_release"
    assert [f.on for f in relay.frames[first:]] and all(f.on for f in relay.frames[first:])
    site.inputs(site.at_rest())  # the fire is over
    state_is(site, "locked")
    site.wait(lambda: relay.released() is False, "relocked after the fire")
    bodies = [b for t, b in site.events() if t == "door.fire_release"]
    assert bodies[0]["active"] is True and bodies[-1]["active"] is False

    # lockdown: set by a caretaker; after the restart the same staff card stays out
    command(site, "lockdown")
    state_is(site, "lockdown")
    first = restart(site, signal.SIGTERM)
    assert site.door_state() == "lockdown" and relay.frames[first].on is False
    with Replica.open(site.database) as rep:
        lock = lockdown_state(rep)
    assert lock is not None and lock.active and lock.by == "kiosk staff1-card"
    site.tap(STAFF_CARD, reader="r2")
    site.wait(lambda: site.access()[-1:] == [(False, "lockdown")], "the staff card refused")
    assert relay.released() is False
    command(site, "release")
    state_is(site, "locked")
    site.tap(STAFF_CARD, reader="r2")
    site.wait(lambda: relay.released() is True, "the staff card opens again")
