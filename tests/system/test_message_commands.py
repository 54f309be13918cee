"""A ``message`` command end to end (PROTOCOL.md §6, issue 13 §1).

Central's gateway (``hallvakt central``) and the node's link (``hallvakt
sync``) run as child processes on a private Mosquitto; central's operator
queues a message with ``hallvakt central command --cmd message``; the link
takes it into the node database; the kiosk's own view-model
(``KioskModel.take_messages``, what the running kiosk calls on its poll)
shows it, public or in the caretaker view as its ``audience`` says, and
answers ``command.done``; the link sends that event up and central stores
it. Not the rendered kiosk: Kivy is not started here (tests/kiosk render the
message). The expiry of an unshown message (its ``exp`` is 5 minutes after
central queued it) is the link's, tested with a fake clock in
tests/sync/test_link_core.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk.model import KioskModel
from kiosk.services import KioskSettings, Services
from kiosk.testing import RecordingSpeaker
from sync.replica import backlog, pending_messages
from sync.replica.clock import SystemClock
from tests.support.broker import PrivateBroker
from tests.support.e2e import (
    BROKER_LOG_TYPES,
    FACILITY,
    BrokerAccess,
    CentralSite,
    NodeSite,
    demo_system,
    wait_for,
)

NODE = "message.hall.n1"
System = tuple[PrivateBroker, CentralSite, NodeSite]


@pytest.fixture
def system(make_broker: Callable[..., PrivateBroker], tmp_path: Path) -> Iterator[System]:
    broker = make_broker(log_types=BROKER_LOG_TYPES)
    access = BrokerAccess.unix(broker)
    central, (node,) = demo_system(tmp_path, access, {NODE: access})
    try:
        yield broker, central, node
    finally:
        node.link.stop()
        central.stop()


def done_events(central: CentralSite) -> list[dict[str, Any]]:
    rows = central.query("SELECT body FROM events WHERE node = ? AND type = 'command.done'", NODE)
    return [json.loads(r[0]) for r in rows]


def test_a_message_is_shown_by_the_kiosk_and_central_gets_command_done(system: System) -> None:
    broker, central, node = system
    alive = [central.gateway, node.link]
    central.start(broker)
    node.link.start()
    with node.replica() as rep:
        wait_for(
            lambda: rep.state().applied_rev == central.revs(FACILITY)[0],
            "the node's first snapshot",
            alive=alive,
        )
        kiosk = KioskModel(
            Services(
                rep,
                SystemClock(),
                RecordingSpeaker(),
                KioskSettings("foyer"),
                NODE,
                FACILITY,
                bytes(32),
            )
        )
        kiosk.load_messages()
        for text, audience in (
            ("Hallen stänger 21.00 i dag", "public"),
            ("Byt lampa i B", "caretaker"),
        ):
            central.admin(
                "command",
                "--node",
                NODE,
                "--cmd",
                "message",
                "--text",
                text,
                "--audience",
                audience,
            )
        wait_for(lambda: len(pending_messages(rep)) == 2, "both messages on the node", alive=alive)
        assert kiosk.take_messages()
        assert kiosk.public_message == "Hallen stänger 21.00 i dag"
        assert kiosk.caretaker_message == "Byt lampa i B"
        assert pending_messages(rep) == []
        wait_for(lambda: len(done_events(central)) == 2, "command.done at central", alive=alive)
        wait_for(lambda: backlog(rep) == 0, "the outbox to empty", alive=alive)
        assert not kiosk.take_messages()  # each message is taken once
    done = sorted(done_events(central), key=lambda b: b["seq"])
    assert [(b["cmd"], b["result"]) for b in done] == [("message", "done"), ("message", "done")]
    assert "(public)" in done[0]["detail"] and "(caretaker)" in done[1]["detail"]
    assert "Traceback" not in node.link.log_text() + central.gateway.log_text()
