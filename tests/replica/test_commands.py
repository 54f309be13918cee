"""Central's commands and the quarantine in the node database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.replica import (
    CommandRefused,
    Replica,
    finish_command,
    last_command_seq,
    pending_commands,
    pending_events,
    quarantine,
    quarantine_count,
    queue_command,
)
from sync.replica.commands import QUARANTINE_KEEP

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
EXP = T0 + timedelta(minutes=5)


def test_seq_must_rise_across_restarts(tmp_path: Path) -> None:
    rep = Replica.open(tmp_path / "n.db")
    queue_command(rep, 5, "unlock", {"door": "d1", "seconds": 5}, EXP, T0)
    with pytest.raises(CommandRefused):
        queue_command(rep, 5, "unlock", {"door": "d1", "seconds": 5}, EXP, T0)
    rep.close()
    rep = Replica.open(tmp_path / "n.db")
    with pytest.raises(CommandRefused):
        queue_command(rep, 4, "lockdown", {}, EXP, T0)
    assert last_command_seq(rep) == 5
    assert [c.seq for c in pending_commands(rep)] == [5]


def test_a_command_ends_once_with_its_event(tmp_path: Path) -> None:
    rep = Replica.open(tmp_path / "n.db")
    queue_command(rep, 1, "message", {"text": "Hallen stänger 21"}, EXP, T0)
    queue_command(rep, 2, "unlock", {"door": "d1", "seconds": 5}, EXP, T0)
    assert [c.cmd for c in pending_commands(rep, frozenset({"unlock"}))] == ["unlock"]
    ev = finish_command(rep, 1, "done", "shown", T0)
    assert ev is not None and ev.body == {
        "seq": 1,
        "cmd": "message",
        "result": "done",
        "detail": "shown",
    }
    assert finish_command(rep, 1, "failed", "again", T0) is None
    with pytest.raises(ValueError, match="done, failed or expired"):
        finish_command(rep, 2, "ok", "", T0)
    assert [e.type for e in pending_events(rep)] == ["command.done"]


def test_quarantine_is_kept_bounded(tmp_path: Path) -> None:
    rep = Replica.open(tmp_path / "n.db")
    for i in range(QUARANTINE_KEEP + 5):
        quarantine(rep, "hallvakt/v1/n/dn/chg", "malformed", f"#{i}", b"x" * 10, T0)
    assert quarantine_count(rep) == QUARANTINE_KEEP
    newest = rep.conn.execute("SELECT detail FROM quarantine ORDER BY id DESC LIMIT 1").fetchone()[
        0
    ]
    assert newest == f"#{QUARANTINE_KEEP + 4}"


def test_local_commands_name_who_gave_them_and_do_not_touch_central_seq(tmp_path: Path) -> None:
    from sync.replica import finish, queue_local_command

    rep = Replica.open(tmp_path / "n.db")
    queue_command(rep, 3, "lockdown", {}, EXP, T0)
    ident = queue_local_command(rep, "unlock", {"door": "d1", "seconds": 10}, "c9", EXP, T0)
    assert last_command_seq(rep) == 3
    pending = pending_commands(rep)
    assert [(c.seq, c.origin, c.by) for c in pending] == [(3, "central", ""), (None, "kiosk", "c9")]
    ev = finish(rep, ident, "done", "d1 unlocked 10 s", T0)
    assert ev is not None and ev.body["origin"] == "kiosk" and ev.body["by"] == "c9"
    assert ev.body["seq"] is None
    queue_command(rep, 4, "release", {}, EXP, T0)  # central's seq space is untouched
