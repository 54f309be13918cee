"""A ``message`` command end to end (PROTOCOL.md §6, issue 13 §1).

Central's gateway (``hallvakt central``) and the node's link (``hallvakt
sync``) run as child processes on a private Mosquitto; central's operator
queues a message with ``hallvakt central command --cmd message``; the link
takes it into the node database.

- Shown: the real kiosk (``kiosk.ui.app.KioskApp``) runs in Kivy's offscreen
  window in a process of its own (tests/kiosk/kivy_driver.py) on that
  database: the public message is on its rendered home screen, the
  caretaker's only once the caretaker's card is tapped on its reader; the
  kiosk answers ``command.done`` for each, the link sends them up and central
  stores them. Screenshots go to ``.artifacts/kiosk/`` (``message-e2e-*``).
- Unshown: no kiosk runs; the link's wall clock is stepped past the
  message's ``exp`` (5 min after central queued it) through the clock
  adapter's test hook, and central gets ``command.done`` ``expired``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hallvakt.demo.data import DEMO_CREDENTIAL_KEY, demo_credentials, generate
from hallvakt.demo.world import DEMO_TZ
from sync.protocol.timeutil import zone
from sync.replica import backlog, card_digest, pending_messages
from tests.support.broker import PrivateBroker
from tests.support.clockstep import WallClock
from tests.support.e2e import (
    BROKER_LOG_TYPES,
    FACILITY,
    CentralSite,
    NodeSite,
    first_sync,
    one_node_system,
    wait_for,
)
from tests.support.kiosk_run import run_kiosk, texts

NODE = "message.hall.n1"
System = tuple[PrivateBroker, CentralSite, NodeSite]


@pytest.fixture
def system(make_broker: Callable[..., PrivateBroker], tmp_path: Path) -> Iterator[System]:
    broker = make_broker(log_types=BROKER_LOG_TYPES)
    with one_node_system(broker, tmp_path, NODE) as (central, node):
        yield broker, central, node


def done_events(central: CentralSite) -> list[dict[str, Any]]:
    rows = central.query("SELECT body FROM events WHERE node = ? AND type = 'command.done'", NODE)
    return sorted((json.loads(r[0]) for r in rows), key=lambda b: b["seq"])


def queue(central: CentralSite, text: str, audience: str) -> None:
    central.admin(
        "command", "--node", NODE, "--cmd", "message", "--text", text, "--audience", audience
    )


def caretaker_card() -> str:
    """The digest of the demo caretaker's card (central's demo-seed, seed 1, today)."""
    today = datetime.now(UTC).astimezone(zone(DEMO_TZ)).date()
    people = demo_credentials(generate(seed=1, today=today, tz=DEMO_TZ), seed=1, today=today)
    found = re.match(r"card (\S+)", people["caretaker"])
    assert found is not None
    return card_digest(DEMO_CREDENTIAL_KEY, found.group(1))


def test_the_rendered_kiosk_shows_central_messages_and_central_gets_command_done(
    system: System, tmp_path: Path
) -> None:
    _, central, node = system
    alive = first_sync(*system)
    public, caretaker = "Hallen stänger 21.00 i dag", "Byt lampa i B"
    queue(central, public, "public")
    queue(central, caretaker, "caretaker")
    with node.replica() as rep:
        wait_for(lambda: len(pending_messages(rep)) == 2, "both messages on the node", alive=alive)
    result = run_kiosk(
        tmp_path,
        node.database,
        [
            ["advance", 1],  # a few polls: the kiosk takes the messages
            ["measure", "message-e2e-public"],
            ["shot", "message-e2e-public"],
            ["tap", caretaker_card()],
            ["measure", "message-e2e-caretaker"],
            ["shot", "message-e2e-caretaker"],
        ],
        node=NODE,
        facility=FACILITY,
    )
    home = texts(result, "message-e2e-public")
    assert any(public in t for t in home)
    assert not any(caretaker in t for t in home)  # never on the public screen
    assert any(caretaker in t for t in texts(result, "message-e2e-caretaker"))
    wait_for(lambda: len(done_events(central)) == 2, "command.done at central", alive=alive)
    with node.replica() as rep:
        assert pending_messages(rep) == []
        wait_for(lambda: backlog(rep) == 0, "the outbox to empty", alive=alive)
    done = done_events(central)
    assert [(b["cmd"], b["result"]) for b in done] == [("message", "done")] * 2
    assert "(public)" in done[0]["detail"] and "(caretaker)" in done[1]["detail"]
    assert "Traceback" not in node.link.log_text() + central.gateway.log_text()


def test_an_unshown_message_expires_and_central_gets_command_done(
    system: System, tmp_path: Path
) -> None:
    _, central, node = system
    wall = WallClock(tmp_path / "clock")
    node.link.env = wall.env()
    alive = first_sync(*system)
    queue(central, "Ingen kiosk visar detta", "public")
    with node.replica() as rep:
        wait_for(lambda: len(pending_messages(rep)) == 1, "the message on the node", alive=alive)
        assert done_events(central) == []
        wall.step(6 * 60)  # past its exp: 5 minutes after central queued it
        wait_for(lambda: len(done_events(central)) == 1, "command.done at central", alive=alive)
        assert pending_messages(rep) == []
    (done,) = done_events(central)
    assert (done["cmd"], done["result"]) == ("message", "expired")
    assert "Traceback" not in node.link.log_text() + central.gateway.log_text()
