"""`hallvakt status` over a real node database, and the systemd notify socket."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware_config.config import parse_config
from firmware_config.runtime import Notifier, sd_notify
from hallvakt.status import collect
from sync.replica import Replica, append_event, beat, set_door_state, set_reader_state
from tests.support.config import BASE

NOW = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def test_status_reports_healthy_and_problems(tmp_path: Path) -> None:
    cfg = parse_config(BASE, file="node.toml", base_dir=tmp_path)
    rep = Replica.open(tmp_path / "node.db")
    for p in ("door", "sync", "kiosk"):
        beat(rep, p, NOW - timedelta(hours=1), NOW - timedelta(seconds=3), {"connected": True})
    for r in cfg.readers:
        set_reader_state(rep, r.id, True, "", NOW - timedelta(hours=1))
    rep.record_head(0, 0, NOW - timedelta(minutes=2))
    healthy = collect(cfg, rep, NOW, clock_trusted=True)
    assert healthy.problems == 0, healthy.lines

    beat(rep, "sync", NOW - timedelta(hours=1), NOW - timedelta(seconds=5), {"connected": False})
    offline = collect(cfg, rep, NOW, clock_trusted=True)
    assert "! link: NOT connected to the broker (events wait in the outbox)" in offline.lines

    def refused(minutes_ago: int) -> list[str]:
        at = (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
        detail = {"connected": True, "refused_publishes": 3, "last_refusal_at": at}
        detail["last_refusal"] = "hallvakt/v1/n1/up/evt: Not authorized"
        beat(rep, "sync", NOW - timedelta(hours=1), NOW - timedelta(seconds=5), detail)
        return collect(cfg, rep, NOW, clock_trusted=True).lines

    assert (
        "! link: the broker refused 3 publishes, the last 2 min ago"
        " (hallvakt/v1/n1/up/evt: Not authorized);"
        " its ACL must let this node's certificate write its topics"
    ) in refused(2)
    assert not any("refused" in line for line in refused(16))  # history, not a problem now
    beat(rep, "sync", NOW - timedelta(hours=1), NOW - timedelta(minutes=5), {})
    set_door_state(rep, "d-any", "forced", NOW - timedelta(seconds=40))
    append_event(rep, "door.forced", {"door": "d-any"}, NOW - timedelta(hours=2))
    rep.record_head(0, 0, NOW - timedelta(hours=100))
    sick = collect(cfg, rep, NOW, clock_trusted=False)
    bad = [line for line in sick.lines if line.startswith("!")]
    assert any(line.startswith("! sync: NOT RUNNING") for line in bad)
    assert any("door d-any: forced" in line for line in bad)
    assert any("STALE" in line for line in bad)
    assert any(line.startswith("! outbox: 1 events waiting") for line in bad)
    assert any("clock: NOT synchronised" in line for line in bad)
    assert sick.problems == len(bad)


def test_sd_notify_sends_datagrams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        monkeypatch.setenv("WATCHDOG_USEC", "10000000")
        n = Notifier()
        assert n.interval == 5.0
        n.ready("2 reader buses")
        assert server.recv(100) == b"READY=1\nSTATUS=2 reader buses"
        assert n.alive() is True
        assert server.recv(100) == b"WATCHDOG=1"
        assert n.alive() is False  # not due again for 5 s
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert sd_notify("READY=1") is False
