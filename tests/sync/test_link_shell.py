"""The sync link's pure helpers and I/O edge: backoff with full jitter, cursor
and drop pacing, the node's key id, the status file, broker endpoints, and the
transport's translation of connection failures (no broker needed here; the
system tests run the whole link against Mosquitto)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware_config.config import parse_config
from firmware_config.model import Broker, BrokerURL
from firmware_config.provision import provision
from firmware_config.secrets import load_node_key, write_secret
from sync.link import Backoff
from sync.link.clock import LinkClock
from sync.link.events import Moment, Publish
from sync.link.pacing import CursorPacer, DropLimit
from sync.link.shell import StatusFile, node_kid, settings_for, status_path
from sync.link.testing import Harness
from sync.link.transport import MqttTransport, TransportError, endpoint_for
from sync.mqtt import Endpoint
from sync.protocol import ClockSource, Want
from sync.replica import Replica
from sync.replica.clock import SystemClock
from tests.support.config import BASE, patch

# --- backoff (PROTOCOL.md §2: 1 s up to 5 min, full jitter) --------------------------------


def test_backoff_draws_uniformly_below_a_doubling_ceiling() -> None:
    b = Backoff(rng=random.Random(7))
    ceilings = []
    for _ in range(12):
        ceiling = b.ceiling()
        ceilings.append(ceiling)
        d = b.next_delay(0.0)
        assert 0.0 <= d <= ceiling
    assert ceilings[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert ceilings[-1] == 300.0


def test_backoff_jitter_spreads_nodes_over_the_whole_range() -> None:
    delays = []
    for seed in range(200):
        b = Backoff(rng=random.Random(seed))
        for _ in range(4):
            d = b.next_delay(0.0)
        delays.append(d)
    assert min(delays) < 1.0 and max(delays) > 7.0  # over [0, 8], not around 8


def test_backoff_resets_only_after_a_stable_connection() -> None:
    b = Backoff(rng=random.Random(1))
    for _ in range(5):
        b.next_delay(0.0)
    b.connected(100.0)
    b.next_delay(110.0)  # up 10 s: a flapping connection keeps backing off
    assert b.ceiling() == 64.0
    b.connected(200.0)
    b.next_delay(260.0)  # up 60 s: start again from 1 s
    assert b.failures == 1 and b.ceiling() == 2.0


# --- pacing ------------------------------------------------------------------------------


def test_cursor_pacer_repeats_a_request_only_after_its_doubling_delay() -> None:
    p = CursorPacer(retry=10, retry_max=40)
    key = (3, Want.CHANGES)
    assert p.may_send(key, 0, force=False)
    p.sent(key, 0, missing=True)
    assert not p.may_send(key, 9, force=False) and p.may_send(key, 9, force=True)
    assert p.may_send((4, Want.CHANGES), 1, force=False)
    assert p.due(10) and not p.due(9.9)
    p.sent(key, 10, missing=True)
    assert p.retry_at == 30
    for t in (30, 70, 110):
        p.sent(key, t, missing=True)
    assert p.delay == 40
    p.sent(key, 200, missing=False)
    assert p.retry_at is None


def test_drop_limit_counts_what_it_leaves_out() -> None:
    d = DropLimit(per_minute=2)
    assert [d.admit(0), d.admit(1), d.admit(2), d.admit(3)] == [0, 0, None, None]
    assert d.admit(60) == 2
    assert d.admit(61) == 0


# --- identity, settings, status -----------------------------------------------------------


def node_toml(tmp_path: Path, url: str = "unix:///run/mqtt.sock") -> Path:
    path = tmp_path / "node.toml"
    path.write_text(
        'node_id = "test.hall.n1"\nfacility_id = "fac1"\ndatabase = "node.db"\n'
        f'[broker]\nurl = "{url}"\n'
        '[central_keys]\ncentral-1 = "IvH3EwtEwwIQfjNq_iATnrxqD919du29yrKZPqw9kcg"\n',
        encoding="utf-8",
    )
    return path


def test_the_node_signs_with_the_kid_provision_registers(tmp_path: Path) -> None:
    from firmware_config.config import load_config

    cfg = load_config(node_toml(tmp_path), files=False)
    reg = provision(cfg).registration
    assert node_kid(cfg.node_id, load_node_key(cfg.node_key)) == reg.kid
    s = settings_for(cfg)
    assert (s.node, s.kid, list(s.central_keys)) == ("test.hall.n1", reg.kid, ["central-1"])
    assert s.software.startswith("hallvakt/") and len(s.boot_id) == 36
    assert settings_for(cfg).boot_id != s.boot_id  # one per start
    assert status_path(cfg) == tmp_path / "run" / "sync-status.json"


def test_hallvakt_sync_window_sets_the_batches_in_flight(tmp_path: Path) -> None:
    from firmware_config.config import load_config
    from hallvakt.cli import build_parser

    cfg = load_config(node_toml(tmp_path), files=False)
    provision(cfg)
    args = build_parser().parse_args(["sync", "--config", "node.toml", "--window", "8"])
    assert settings_for(cfg, window=args.window).max_batches == 8
    assert settings_for(cfg).max_batches == 16


def moment(mono: float) -> Moment:
    wall = datetime(2026, 5, 4, 10, 0, tzinfo=UTC) + timedelta(seconds=mono)
    return Moment(wall, mono, True, ClockSource.NTP)


def test_status_file_is_written_when_the_stats_change(replica: Replica, tmp_path: Path) -> None:
    node = Harness(replica)
    path = tmp_path / "run" / "sync-status.json"
    sf = StatusFile(path)
    sf.update(node.core.stats(moment(0)), moment(0))
    doc = json.loads(path.read_text())
    assert doc["connected"] is False and doc["outbox"]["backlog"] == 0
    assert doc["at"] == "2026-05-04T10:00:00Z"
    sf.update(node.core.stats(moment(1)), moment(1))
    assert json.loads(path.read_text())["at"] == "2026-05-04T10:00:00Z"  # not rewritten
    node.connect()
    sf.update(node.core.stats(moment(2)), moment(2))
    doc = json.loads(path.read_text())
    assert doc["connected"] is True and doc["at"] == "2026-05-04T10:00:02Z"
    sf.update(node.core.stats(moment(70)), moment(70))  # and at least every minute
    assert json.loads(path.read_text())["at"] == "2026-05-04T10:01:10Z"


# --- endpoints and the transport ------------------------------------------------------------


def test_endpoints_from_broker_urls(tmp_path: Path) -> None:
    pw = tmp_path / "broker.pw"
    write_secret(pw, b"s3cret-pass\n")
    unix = Broker(BrokerURL("unix", path="/run/m.sock"), None, None, None, pw, 30)
    expected = Endpoint("/run/m.sock", 1883, "unix", "n1", "s3cret-pass", keepalive=30)
    assert endpoint_for(unix, "n1") == expected
    tls = Broker(
        BrokerURL("mqtts", "mqtt.example", 8883), Path("ca"), Path("c"), Path("k"), None, 60
    )
    ep = endpoint_for(tls, "n1")
    assert (ep.host, ep.port, ep.transport, ep.tls, ep.password) == (
        "mqtt.example",
        8883,
        "tcp",
        True,
        None,
    )
    plain = Broker(BrokerURL("mqtt", "127.0.0.1", 1883), None, None, None, None, 60)
    assert not endpoint_for(plain, "n1").tls


def test_a_broker_that_is_not_there_is_a_transport_error(tmp_path: Path) -> None:
    t = MqttTransport(Endpoint(str(tmp_path / "none.sock"), 1883, "unix", "n1"), "n1")
    will = Publish("hallvakt/v1/n1/status", b"x", True)
    with pytest.raises(TransportError, match="cannot connect"):
        t.open(will)
    assert not t.active and t.events.empty()
    t.ack(1)  # an unknown ref: nothing to do
    t.loop(0.0)
    t.close()


def test_the_config_schema_accepts_what_the_link_reads(tmp_path: Path) -> None:
    cfg = parse_config(patch(BASE, {"broker": {"url": "mqtt://127.0.0.1:1883"}}), base_dir=tmp_path)
    assert endpoint_for(cfg.broker, cfg.node_id).port == 1883


def test_system_clock_readings() -> None:
    m = LinkClock(SystemClock(assume_trusted=True)).now()
    assert m.wall.tzinfo is UTC and m.trusted
    assert m.source in (ClockSource.NTP, ClockSource.RTC, ClockSource.NONE)


def test_tls_files_that_do_not_load_are_a_transport_error(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    ep = Endpoint("localhost", 8883, "tcp", "n1", ca=tmp_path / "ca.pem")
    t = MqttTransport(ep, "n1")
    with pytest.raises(TransportError, match="TLS files"):
        t.open(Publish("hallvakt/v1/n1/status", b"x", True))
    assert not t.active
