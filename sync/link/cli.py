"""``hallvakt sync --config FILE [--trust-clock] [--window N]``: the node's sync link process."""

from __future__ import annotations

import argparse
import logging

from firmware_config.config import load_or_exit


def run_sync(args: argparse.Namespace) -> int:
    from .shell import run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = load_or_exit(args.config)
    return run(cfg, assume_clock_trusted=args.trust_clock, window=args.window)
