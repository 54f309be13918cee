"""The ``hallvakt provision`` and ``hallvakt config check|show`` subcommands.

This is an I/O edge: it reads the config and writes secrets, and prints. Exit
status 0 is success; 1 means a problem was printed (the config's problems,
one ``FILE: key.path: problem`` line each, or why provisioning stopped).
- ``config check FILE``: all three passes; prints ``FILE: ok``. When files
  the config names do not exist yet, the problems are followed by the
  numbered steps that make them (provision, central's certificates).
- ``config show FILE``: passes 1 and 2 (the secrets may not exist yet); prints
  the effective config as JSON, without secrets.
- ``provision --config FILE``: passes 1 and 2, then writes the missing secrets;
  prints each secret's outcome and what is still missing on stderr, and the
  registration block for central on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from firmware_config.config import load_config
from firmware_config.filecheck import check_files, next_steps
from firmware_config.provision import ProvisionError, provision, render_files, render_registration
from firmware_config.schema import ConfigError
from firmware_config.show import effective


def run_config(args: argparse.Namespace) -> int:
    """``hallvakt config check FILE`` or ``hallvakt config show FILE``."""
    file: Path = args.file
    if args.action == "check":
        try:
            load_config(file)
        except ConfigError as exc:
            print(exc)
            steps = _next_steps(file)
            if steps:
                print(f'{file}: to make what is missing (docs/configuration.md, "Installing"):')
                print("\n".join(steps))
            return 1
        print(f"{file}: ok")
        return 0
    try:
        cfg = load_config(file, files=False)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(json.dumps(effective(cfg), indent=2, ensure_ascii=False))
    return 0


def _next_steps(file: Path) -> list[str]:
    """The steps that make the missing files, when the config itself is sound."""
    try:
        cfg = load_config(file, files=False)
    except ConfigError:
        return []
    return next_steps(cfg, str(file))


def run_provision(args: argparse.Namespace) -> int:
    """``hallvakt provision --config FILE [--force] [--import-credential-key PATH] [--csr]``."""
    file: Path = args.config
    try:
        cfg = load_config(file, files=False)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        done = provision(
            cfg,
            force=args.force,
            import_credential_key=args.import_credential_key,
            csr=args.csr,
        )
    except (ProvisionError, OSError) as exc:
        print(f"hallvakt provision: {exc}", file=sys.stderr)
        return 1
    sys.stderr.write(render_files(done.files))
    remaining = check_files(cfg, str(file))
    if remaining:
        print("Still missing before `hallvakt config check` passes:", file=sys.stderr)
        for problem in remaining:
            print(f"  {problem}", file=sys.stderr)
    sys.stdout.write(render_registration(done.registration))
    return 0
