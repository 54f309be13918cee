"""Power loss under the node database (issue 13 §6), on a file system that loses
what was not synced (tests/support/powercut.py: ext4 on a loop device, the
image copied as its disk holds it at the cut, the copy mounted as the next
boot would).

The node's link (``hallvakt sync``) runs against central's gateway on a
private Mosquitto with its database on that file system, while a door
stand-in appends events and central books (changes down). At random moments
the writer is stopped, the link SIGKILLed, and the power cut; then, on the
image the next boot sees:

- the database opens and passes ``quick_check`` (no damage);
- the outbox's seqs are contiguous from ``acked_through + 1`` to ``last_seq``,
  and every event whose commit returned before the cut is there or acked
  (``synchronous=FULL``: a commit survives);
- no ack the node had taken is undone (``acked_through`` never goes back),
  and it is never above what central stored;
- a file written without a sync before the cut is gone (the cut is real);
- the link, started again on the recovered database, catches up: central ends
  with exactly the committed events, none missing, none twice.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.replica import Replica, backlog
from sync.replica.integrity import quick_check
from tests.support import powercut
from tests.support.broker import PrivateBroker
from tests.support.e2e import (
    BROKER_LOG_TYPES,
    FACILITY,
    BrokerAccess,
    CentralSite,
    EventWriter,
    NodeSite,
    demo_system,
    exactly_once,
    first_sync,
    wait_for,
)

NODE = "power.hall.n1"
CUTS = 5

pytestmark = pytest.mark.skipif(
    powercut.available() is not None, reason=f"power cut: {powercut.available()}"
)


@pytest.fixture
def fs(tmp_path: Path) -> Iterator[powercut.PowerCutFs]:
    fs = powercut.PowerCutFs(tmp_path / "disk.img", tmp_path / "node0")
    fs.create()
    try:
        yield fs
    finally:
        fs.unmount()


def outbox_ok(rep: Replica, committed: dict[int, str]) -> None:
    """The outbox after a cut (module rules)."""
    st = rep.state()
    seqs = [r[0] for r in rep.conn.execute("SELECT seq FROM outbox ORDER BY seq")]
    assert seqs == list(range(st.acked_through + 1, st.last_seq + 1)), "a hole in the outbox"
    ids = dict(rep.conn.execute("SELECT seq, id FROM outbox").fetchall())
    for seq, ident in committed.items():
        assert seq <= st.last_seq, f"committed event {seq} lost (last_seq {st.last_seq})"
        assert seq <= st.acked_through or ids.get(seq) == ident, f"event {seq} changed"


@pytest.mark.slow
def test_power_cuts_while_the_link_writes_lose_nothing_committed(
    fs: powercut.PowerCutFs, make_broker: Callable[..., PrivateBroker], tmp_path: Path
) -> None:
    broker = make_broker(log_types=BROKER_LOG_TYPES)
    access = BrokerAccess.unix(broker)
    central: CentralSite
    node: NodeSite
    central, (node,) = demo_system(tmp_path, access, {NODE: access})
    assert node.database.parent == fs.mountpoint
    fs.sync()  # provisioned and installed: config and secrets are on the disk
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    committed: dict[int, str] = {}
    seen: list[tuple[int, int, int]] = []  # per cut: committed, backlog, applied_rev
    trial_s = min(powercut.dirty_expire_s(), powercut.COMMIT_S) / 3
    try:
        alive = first_sync(broker, central, node)
        for cut in range(CUTS):
            writer = EventWriter(node.database, burst=4, pause_s=0.003)
            writer.committed = committed  # one record over all the cuts
            writer.start()
            if cut % 2:  # central books: changes come down while the link writes
                day = (datetime.now(UTC) + timedelta(days=30 + cut)).date()
                central.admin(
                    "book",
                    *("--facility", FACILITY, "--resource", "gym", "--id", f"power-{cut}"),
                    *("--start", f"{day} 10:00", "--end", f"{day} 11:00"),
                )
            time.sleep(rng.uniform(0.2, trial_s))
            writer.stop()
            assert writer.errors == []
            with Replica.open(node.database) as rep:
                acked_before = rep.state().acked_through
            node.link.kill()  # mid-write, whatever it was doing
            canary = fs.canary()
            before = dict(committed)
            fs.cut()
            assert not canary.exists() or canary.read_bytes() != b"unsynced" * 512, (
                "an unsynced write survived the cut: the simulation is not real"
            )
            with Replica.open(node.database) as rep:
                assert quick_check(rep) is None
                outbox_ok(rep, before)
                st = rep.state()
                assert st.acked_through >= acked_before, "an ack was undone"
                assert st.acked_through <= central.through(NODE, st.epoch)
                seen.append((len(before), st.last_seq - st.acked_through, st.applied_rev))
            connects = node.connects()  # its log lost what was not synced
            node.link.start()
            wait_for(lambda n=connects: node.connects() > n, "the link connected", alive=alive)
        with Replica.open(node.database) as rep:
            wait_for(
                lambda: backlog(rep) == 0 and central.event_count(NODE) >= len(committed),
                "central to hold every committed event",
                alive=alive,
            )
            st = rep.state()
            assert exactly_once(committed, st.epoch, central.events(NODE)) == []
            assert st.acked_through == st.last_seq == max(committed)
        assert "Traceback" not in node.link.log_text()
        print(f"{CUTS} power cuts: (committed events, outbox backlog, applied rev) {seen}")
    finally:
        node.link.stop()
        central.stop()
