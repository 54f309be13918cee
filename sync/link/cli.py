"""``hallvakt sync --config FILE [--trust-clock] [--window N]``: the node's sync link process."""

from __future__ import annotations

import argparse
import logging

from firmware_config.config import load_or_exit


def run_sync(args: argparse.Namespace) -> int:
    from .core import MAX_WINDOW
    from .shell import run

    if args.window is not None and not 1 <= args.window <= MAX_WINDOW:
        raise SystemExit(f"hallvakt sync: --window must be 1..{MAX_WINDOW}, not {args.window}")

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = load_or_exit(args.config)
    return run(cfg, assume_clock_trusted=args.trust_clock, window=args.window)
