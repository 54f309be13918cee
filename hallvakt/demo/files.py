"""The demo's files: where they live under its directory, and making them.

Rules this module guarantees:
- Everything is made again under ``DIR`` on every run (``central/``, ``node/``,
  ``broker/``, ``logs/``, ``screens/``, ``run/``, ``kivy/``; nothing else there
  is touched), through the same steps an operator takes: ``hallvakt central
  init``, ``demo-seed`` and ``import``, ``hallvakt provision`` (with the demo
  credential key, so the demo cards match), ``register-node``. A second demo
  on the same directory is refused while one runs; the processes of a demo
  that was killed (SIGKILL) and could not stop them are stopped first.
- ``write_json`` replaces a file atomically (temp file and rename): readers of
  ``run/demo.json`` and ``run/broker-request.json`` never see half a file.
- The configs it writes speak plain MQTT on loopback, to the demo's own
  broker's port (1883, unused, when the demo runs offline); the node's serial
  ports are placeholders that ``hallvakt door --simulate`` replaces with
  simulated readers and relays on ptys.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from hallvakt.demo.data import DEMO_CREDENTIAL_KEY, DEMO_NODE, FACILITY_ID
from sync.replica import Replica

from .processes import STOP_TIMEOUT_S, clear_group, cmdline, pid_alive
from .world import CENTRAL_KID, DEMO_TZ, DOOR, KIOSK_READER, READER, DemoError, Hallvakt, Plan, plan

SUBDIRS = ("central", "node", "broker", "logs", "screens", "run", "kivy")


class Layout:
    """Where everything of one demo lives under ``root`` (an absolute path)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.central_toml = root / "central" / "central.toml"
        self.central_db = root / "central" / "central.db"
        self.node_toml = root / "node" / "node.toml"
        self.database = root / "node" / "node.db"
        self.logs = root / "logs"
        self.screens = root / "screens"
        self.state_file = root / "run" / "demo.json"
        self.request_file = root / "run" / "broker-request.json"

    def reset(self) -> None:
        """Remove what an earlier demo left (only the demo's own folders)."""
        running = read_state(self)
        pid = running.get("pid")
        if (
            running.get("state") not in (None, "stopped")
            and isinstance(pid, int)
            and pid_alive(pid)
        ):
            raise DemoError(f"a demo is already running in {self.root} (pid {pid})")
        # A demo that was killed (SIGKILL) could not stop its children: stop them now.
        procs = [p.get("pid") for p in (running.get("processes") or {}).values()]
        for leftover in [*procs, (running.get("broker") or {}).get("pid")]:
            if isinstance(leftover, int) and str(self.root) in cmdline(leftover):
                clear_group(leftover, STOP_TIMEOUT_S)
        for name in SUBDIRS:
            shutil.rmtree(self.root / name, ignore_errors=True)
        for name in SUBDIRS:
            (self.root / name).mkdir(parents=True, exist_ok=True)


def read_state(layout: Layout) -> dict[str, Any]:
    try:
        data = json.loads(layout.state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_json(path: Path, doc: Mapping[str, Any]) -> None:
    """Atomically (temp file and rename): readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def central_toml(port: int) -> str:
    return (
        "# The demo's central (written by `hallvakt demo`, recreated on every run).\n"
        'store = "central.db"\n\n'
        "[signing]\n"
        'key = "secrets/central.key"\n'
        f'kid = "{CENTRAL_KID}"\n\n'
        "[broker]\n"
        f'url = "mqtt://127.0.0.1:{port}"\n'
        'client_id = "central-demo"\n'
        "keepalive_s = 10\n"
    )


def node_toml(port: int, central_key: str) -> str:
    return f"""\
# The demo node (written by `hallvakt demo`, recreated on every run). The serial
# ports are placeholders: `hallvakt door --simulate` puts libosdp's simulated
# readers and a simulated relay board on ptys in their place.
node_id = "{DEMO_NODE}"
facility_id = "{FACILITY_ID}"
timezone = "{DEMO_TZ}"
database = "node.db"
node_key = "secrets/node.key"
credential_key = "secrets/credential.key"

[broker]
url = "mqtt://127.0.0.1:{port}"
keepalive_s = 10  # notice a stopped broker within seconds

[central_keys]
{CENTRAL_KID} = "{central_key}"

[[outputs]]
id = "relays"
port = "/dev/ttyDEMO-relays"
channels = 2

[[doors]]
id = "{DOOR}"
lock = {{ output = "relays", channel = 1, mode = "fail-safe" }}

[[readers]]
id = "{READER}"
kind = "osdp"
port = "/dev/ttyDEMO-osdp"
address = 0
key = "secrets/reader-{READER}.key"
door = "{DOOR}"
direction = "in"

[[readers]]
id = "{KIOSK_READER}"
kind = "osdp"
port = "/dev/ttyDEMO-osdp"
address = 1
key = "secrets/reader-{KIOSK_READER}.key"
kiosk = "foyer"

[[kiosks]]
id = "foyer"
screen = "540x960"
"""


def setup(
    layout: Layout, port: int, seed: int, now: datetime, log: TextIO, hallvakt: Hallvakt
) -> Plan:
    """Central's store, the node's config and secrets, registration (module rules).
    ``hallvakt`` runs one ``hallvakt`` command line in this process (the command's
    ``main``, handed down by it, so that the demo does not import the command)."""
    from firmware_config.config import load_config
    from firmware_config.model import b64url
    from firmware_config.provision import provision
    from firmware_config.secrets import encode_hex_key, load_node_key, write_secret

    def central(action: str, *rest: str) -> None:
        print(f"$ hallvakt central {action} {shlex.join(rest)}", file=log, flush=True)
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = hallvakt(["central", action, "--config", str(layout.central_toml), *rest])
        if code != 0:
            raise DemoError(
                f"hallvakt central {action} failed ({code}): see {layout.logs}/setup.log"
            )

    demo = plan(seed, now)
    layout.central_toml.write_text(central_toml(port), encoding="utf-8")
    central("init")
    central("demo-seed", "--node", DEMO_NODE, "--seed", str(seed))
    extras = layout.root / "central" / "demo-extras.json"
    write_json(extras, demo.extras)
    central("import", "--facility", FACILITY_ID, str(extras))
    central_key = load_node_key(layout.root / "central" / "secrets" / "central.key")
    pub = b64url(central_key.public_key().public_bytes_raw())
    layout.node_toml.write_text(node_toml(port, pub), encoding="utf-8")
    key_file = layout.root / "node" / "import" / "demo-credential.key"  # the municipality's K
    write_secret(key_file, encode_hex_key(DEMO_CREDENTIAL_KEY))
    cfg = load_config(layout.node_toml, files=False)
    done = provision(cfg, import_credential_key=key_file)
    key_file.unlink()
    for f in done.files:
        print(f"{f.action:<9} {f.what:<24} {f.path}", file=log)
    reg = done.registration
    central("register-node", "--node", DEMO_NODE, "--facility", FACILITY_ID,
            "--public-key", b64url(reg.public_key))  # fmt: skip
    Replica.open(cfg.database, default_tz=DEMO_TZ).close()  # created and migrated once, here
    return demo
