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
from firmware_config.model import Kiosk, Reader
from firmware_config.secrets import SecretError, load_credential_key
from sync.replica.clock import SystemClock
from sync.replica.refusal import open_or_exit

from .display import DEFAULT_DIAGONAL_IN, Display
from .services import KioskSettings, ReaderPlace, Services, corrupt_tally
from .speech import EspeakSpeaker

BUSY_TIMEOUT_S = 2.0  # a write waits this long for the door controller's lock, then says "busy"
# Software GL (Mesa llvmpipe) with rasterizer threads keeps memory for the
# label textures the kiosk replaces (1 GiB after 1,500 refreshes); with one
# thread RSS stays flat (docs/benchmarks.md, the kiosk). Hardware GL drivers
# ignore it. The bench runs both apps with these.
ENVIRONMENT = {"KIVY_NO_ARGS": "1", "LP_NUM_THREADS": "0"}


def kivy_settings(display: Display, fullscreen: bool = False) -> dict[tuple[str, str], str]:
    """Kivy's configuration for the kiosk's window (set before the window exists).

    No multisampling: text and edges sit on whole pixels, and a 2x
    multisampled window makes software GL fill every pixel twice and hold
    ~75 MiB more (docs/benchmarks.md, the kiosk).
    """
    return {
        ("graphics", "width"): str(display.width),
        ("graphics", "height"): str(display.height),
        ("graphics", "multisamples"): "0",
        ("graphics", "fullscreen"): "auto" if fullscreen else "0",
        ("kivy", "exit_on_escape"): "0",
    }


def settings_of(kiosk: Kiosk, readers: tuple[Reader, ...] = ()) -> KioskSettings:
    """The kiosk's settings from its node.toml entry (and where the readers sit)."""
    screen = kiosk.screen
    display = Display.of(
        (screen.width, screen.height),
        kiosk.orientation,
        diagonal_in=kiosk.screen_diagonal_in or DEFAULT_DIAGONAL_IN,
        dpi=kiosk.screen_dpi,
    )
    return KioskSettings(
        kiosk.id,
        kiosk.languages,
        kiosk.default_language,
        kiosk.idle_timeout_s,
        kiosk.speech,
        kiosk.phone_walkins,
        display=display,
        speaker_device=kiosk.speaker_device,
        headset_device=kiosk.headset_device,
        volume=kiosk.volume,
        qr_url_template=kiosk.qr_url_template,
        readers={r.id: ReaderPlace(r.door, r.direction, r.kiosk) for r in readers},
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
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    from kivy.config import Config

    settings = settings_of(kiosk, cfg.readers)
    for (section, option), value in kivy_settings(settings.display, args.fullscreen).items():
        Config.set(section, option, value)
    from .model import KioskModel
    from .ui.app import KioskApp

    rep = open_or_exit(cfg.database, default_tz=cfg.timezone, busy_timeout_s=BUSY_TIMEOUT_S)
    rep.policy_overlay = cfg.policy.apply
    speaker = EspeakSpeaker(
        speaker_device=settings.speaker_device,
        headset_device=settings.headset_device,
        volume=settings.volume,
    )
    tally = corrupt_tally(cfg.database, kiosk.id)  # the link watches it (docs/kiosk.md)
    svc = Services(
        rep, SystemClock(), speaker, settings, cfg.node_id, cfg.facility_id, key, corrupt=tally
    )
    try:
        KioskApp(KioskModel(svc)).run()
    finally:
        tally.close()
        rep.close()
    return 0
