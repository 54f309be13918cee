"""``hallvakt kiosk --config FILE [--kiosk ID] [--fullscreen]``: the kiosk process.

The I/O edge: it reads the node config and the credential key, opens the node
database, and starts the Kivy app with every service passed in. Kivy is
imported only here and in ``kiosk.ui``, after the window size is configured.
"""

from __future__ import annotations

import argparse
import os
import sys

from firmware_config.config import EX_CONFIG, load_or_exit
from firmware_config.model import Kiosk
from firmware_config.secrets import SecretError, load_credential_key
from sync.replica.refusal import open_or_exit

from .services import KioskSettings, Services, SystemClock
from .speech import EspeakSpeaker

BUSY_TIMEOUT_S = 2.0  # a write waits this long for the door controller's lock, then says "busy"


def settings_of(kiosk: Kiosk) -> KioskSettings:
    return KioskSettings(
        kiosk.id, kiosk.languages, kiosk.default_language, kiosk.idle_timeout_s, kiosk.speech
    )


def run_kiosk(args: argparse.Namespace) -> int:
    cfg = load_or_exit(args.config)
    kiosks = {k.id: k for k in cfg.kiosks}
    kiosk = kiosks.get(args.kiosk) if args.kiosk else next(iter(kiosks.values()), None)
    if kiosk is None:
        print(f"{args.config}: kiosks: no kiosk {args.kiosk or ''} in this config", file=sys.stderr)
        return EX_CONFIG
    try:
        key = load_credential_key(cfg.credential_key)
    except SecretError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    # Software GL (Mesa llvmpipe) with rasterizer threads keeps memory for the
    # label textures the kiosk replaces (1 GiB after 1,500 refreshes); with one
    # thread RSS stays flat and a refresh is about as fast (docs/benchmarks.md,
    # the kiosk). Hardware GL drivers ignore it.
    os.environ.setdefault("LP_NUM_THREADS", "0")
    from kivy.config import Config

    Config.set("graphics", "width", str(kiosk.screen.width))
    Config.set("graphics", "height", str(kiosk.screen.height))
    Config.set("graphics", "fullscreen", "auto" if args.fullscreen else "0")
    Config.set("kivy", "exit_on_escape", "0")
    from .model import KioskModel
    from .ui.app import KioskApp

    rep = open_or_exit(cfg.database, default_tz=cfg.timezone, busy_timeout_s=BUSY_TIMEOUT_S)
    rep.policy_overlay = cfg.policy.apply
    svc = Services(
        rep, SystemClock(), EspeakSpeaker(), settings_of(kiosk), cfg.node_id, cfg.facility_id, key
    )
    try:
        KioskApp(KioskModel(svc)).run()
    finally:
        rep.close()
    return 0
