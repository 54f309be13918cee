"""``hallvakt door`` and ``hallvakt tap``: the door controller's command line.

``hallvakt door --config FILE [--simulate]`` runs the daemon. With
``--simulate`` every OSDP bus of the config is replaced by libosdp's own
peripheral devices in a child process on a pty pair (same addresses, same
secure channel keys), and every relay board by a pty whose far end decodes the
relay frames; the run directory then holds ``sim.json`` so that
``hallvakt tap CARD [--pin N] [--door D]`` acts like a person at a reader.
This is an I/O edge: it reads the clock, files and sockets.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import select
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from firmware_config.config import load_or_exit
from firmware_config.model import NodeConfig
from firmware_config.secrets import load_reader_key

from .outputs.relay import RelayFrameParser, RelaySet
from .readers.osdp_sim import (
    PtyPair,
    SimClient,
    SimProcess,
    SimReaderSpec,
    SimulatorError,
    pty_pair,
)

log = logging.getLogger("hallvakt.door")


def run_dir(cfg: NodeConfig) -> Path:
    """Where a node keeps its runtime files (simulator sockets, ``sim.json``)."""
    return cfg.database.parent / "run"


def _rest_levels(cfg: NodeConfig, reader: str) -> tuple[bool, ...]:
    """The raw levels at rest of ``reader``'s wired inputs (a normally-closed
    contact is closed at rest), as many as its highest wired input needs."""
    wired = {
        spec.source.number: spec.normally == "closed"
        for d in cfg.doors
        for spec in (d.contact, d.request_to_exit, d.fire_release, d.tamper)
        if spec is not None and spec.source.reader == reader
    }
    count = max(wired) + 1 if wired else 0
    return tuple(wired.get(i, False) for i in range(count))


def _relay_sink(pair: PtyPair, name: str, stop: threading.Event) -> None:
    """Decode what the daemon sends a simulated relay board, as the board would."""
    parser = RelayFrameParser()
    while not stop.is_set():
        ready, _, _ = select.select([pair.device_fd], [], [], 0.2)
        if not ready:
            continue
        try:
            data = os.read(pair.device_fd, 256)
        except OSError:
            return
        for ev in parser.feed(data):
            if isinstance(ev, RelaySet):
                log.info(
                    "relay board %s: channel %d %s", name, ev.channel, "ON" if ev.on else "off"
                )


@contextlib.contextmanager
def simulated(cfg: NodeConfig) -> Iterator[NodeConfig]:
    """``cfg`` with its OSDP buses and relay boards replaced by simulations."""
    rd = run_dir(cfg)
    rd.mkdir(parents=True, exist_ok=True, mode=0o700)
    stop = threading.Event()
    with contextlib.ExitStack() as stack:
        ports: dict[str, str] = {}
        sims: dict[str, dict[str, Any]] = {}
        by_port: dict[str, list[Any]] = {}
        for r in cfg.readers:
            if r.kind == "osdp" and r.key is not None and r.address is not None:
                by_port.setdefault(r.port, []).append(r)
        for i, (port, on_port) in enumerate(sorted(by_port.items())):
            specs = []
            for r in on_port:
                rest = _rest_levels(cfg, r.id)
                specs.append(SimReaderSpec(r.address, load_reader_key(r.key), len(rest), rest))
            control = rd / f"osdp-{i}.sock"
            sim = stack.enter_context(SimProcess(specs, control, link=rd / f"osdp-{i}"))
            ports[port] = sim.controller_path
            for r in on_port:
                sims[r.id] = {
                    "control": str(control),
                    "address": r.address,
                    "door": r.door,
                    "direction": r.direction,
                    "kiosk": r.kiosk,
                }
        outputs = []
        for o in cfg.outputs:
            pair = stack.enter_context(pty_pair())
            t = threading.Thread(target=_relay_sink, args=(pair, o.id, stop), daemon=True)
            t.start()
            stack.callback(t.join, 2)
            outputs.append(dataclasses.replace(o, port=pair.controller_path))
        stack.callback(stop.set)
        readers = tuple(
            dataclasses.replace(r, port=ports[r.port]) if r.port in ports else r
            for r in cfg.readers
        )
        (rd / "sim.json").write_text(json.dumps({"readers": sims}, indent=2))
        stack.callback((rd / "sim.json").unlink, missing_ok=True)
        yield dataclasses.replace(cfg, readers=readers, outputs=tuple(outputs))


def run_door(args: argparse.Namespace) -> int:
    """``hallvakt door --config FILE [--simulate] [--trust-clock]``."""
    from .daemon import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = load_or_exit(args.config)
    if not args.simulate:
        return run(cfg, assume_clock_trusted=args.trust_clock)
    with simulated(cfg) as sim_cfg:
        print(f"simulated readers: hallvakt tap CARD --config {args.config}", flush=True)
        return run(sim_cfg, assume_clock_trusted=True)


def _last_access(cfg: NodeConfig) -> int:
    from sync.replica import Replica

    with Replica.open(cfg.database, default_tz=cfg.timezone) as rep:
        return rep.state().last_seq


def _access_after(cfg: NodeConfig, seq: int, reader: str, timeout: float) -> dict[str, Any] | None:
    from sync.replica import Replica, pending_events

    deadline = time.monotonic() + timeout
    with Replica.open(cfg.database, default_tz=cfg.timezone) as rep:
        while time.monotonic() < deadline:
            for ev in pending_events(rep, after=seq, limit=64):
                if ev.type.startswith("access.") and ev.body.get("reader") == reader:
                    return {"type": ev.type, **ev.body}
            time.sleep(0.05)
    return None


def run_tap(args: argparse.Namespace) -> int:
    """``hallvakt tap CARD [--pin N] [--door D] [--config FILE]``: a person at a reader."""
    cfg = load_or_exit(args.config)
    path = run_dir(cfg) / "sim.json"
    try:
        sims: dict[str, dict[str, Any]] = json.loads(path.read_text())["readers"]
    except (OSError, ValueError, KeyError):
        print(
            f"no simulated readers ({path}): start `hallvakt door --simulate` first",
            file=sys.stderr,
        )
        return 1
    wanted_door = args.door or next((s["door"] for s in sims.values() if s["door"]), None)
    pick = [
        (rid, s) for rid, s in sims.items() if s["door"] == wanted_door and s["direction"] != "out"
    ] or [(rid, s) for rid, s in sims.items() if s["door"] == wanted_door]
    if not pick:
        print(f"no simulated reader at door {wanted_door!r}", file=sys.stderr)
        return 1
    reader, sim = pick[0]
    client = SimClient(sim["control"])
    before = _last_access(cfg)
    try:
        if args.card:
            client.tap(args.card, address=sim["address"])
        if args.pin is not None:
            client.keys(f"{args.pin}#", address=sim["address"])
    except (SimulatorError, ValueError) as exc:
        print(f"tap failed: {exc}", file=sys.stderr)
        return 1
    outcome = _access_after(cfg, before, reader, timeout=5.0)
    if outcome is None:
        print(f"{reader} at door {wanted_door}: no decision yet (a PIN may be awaited)")
        return 2
    verdict = "GRANTED" if outcome["type"] == "access.granted" else "DENIED"
    detail = outcome.get("booking") or outcome.get("grant") or ""
    print(f"{reader} at door {wanted_door}: {verdict} ({outcome['reason']}) {detail}".rstrip())
    return 0 if verdict == "GRANTED" else 3
