"""``hallvakt central web`` and ``hallvakt central web-user``: the web page's command line.

- ``web [--host H] [--port N] [--forwarded-allow-ips IPS]
  [--allow-remote]``: serve the page over the config's store until SIGTERM or
  SIGINT; loopback (127.0.0.1:8080) by default, and it prints its URL.
- ``web-user --username U --role viewer|grants|operator|admin [--name N]
  [--password-stdin] [--disable]``: add an account (the password is asked
  twice on a terminal, or read from standard input), or change an existing
  one's role or password, or disable it. Every session of a changed account
  ends.
This is an I/O edge (terminal, clock); the modules it calls are not.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from ..config import CentralConfig
from . import accounts, sessions
from .settings import WebSettings


def add_arguments(web: argparse.ArgumentParser, user: argparse.ArgumentParser) -> None:
    web.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=8080, help="port (default 8080; 0: a free one)")
    web.add_argument(
        "--forwarded-allow-ips",
        default=None,
        help="the TLS reverse proxy's address, whose X-Forwarded-* headers to believe",
    )
    web.add_argument("--allow-remote", action="store_true", help="listen on a non-loopback address")
    user.add_argument("--username", required=True, help="1-64 of a-z 0-9 . _ @ -")
    user.add_argument("--role", choices=[r.value for r in accounts.Role], default=None)
    user.add_argument("--name", default="", help="the name shown on the page")
    user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    user.add_argument("--disable", action="store_true", help="disable the account")


def store_url(cfg: CentralConfig) -> str:
    return cfg.store.url


def run_web(cfg: CentralConfig, args: argparse.Namespace) -> int:
    from .server import serve

    settings = WebSettings(
        store_url(cfg),
        host=args.host,
        port=args.port,
        evidence=cfg.evidence_settings,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    return serve(
        settings,
        allow_remote=args.allow_remote,
        ready=lambda url: print(f"web page on {url} (Ctrl-C stops it)", flush=True),
    )


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise accounts.AccountError("the two passwords differ")
    return first


def run_web_user(cfg: CentralConfig, args: argparse.Namespace) -> int:
    from ..store import open_store

    now = datetime.now(UTC).replace(microsecond=0)
    ph = accounts.hasher()
    with open_store(store_url(cfg), create=False) as store:
        try:
            existing = accounts.get(store, args.username)
            if existing is None:
                if args.role is None:
                    raise accounts.AccountError("a new account needs --role")
                accounts.add(store, ph, args.username, args.name, args.role, _password(args), now)
                print(f"account {args.username} added ({args.role})")
                return 0
            if args.disable:
                accounts.set_disabled(store, args.username, True)
            elif args.role is not None:
                accounts.set_role(store, args.username, args.role)
            else:
                accounts.set_password(store, ph, args.username, _password(args), now)
            ended = sessions.end_all(store, args.username)
            print(f"account {args.username} changed; {ended} sessions ended")
            return 0
        except accounts.AccountError as exc:
            print(f"hallvakt central web-user: {exc}", file=sys.stderr)
            return 1
