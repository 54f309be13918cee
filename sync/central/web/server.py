"""Running the web page: uvicorn on a socket this module binds.

Rules this module guarantees:
- ``start`` binds the listening socket itself before uvicorn runs, so a port
  of 0 yields a free port and the URL is known (``Running.url``) before the
  first request; uvicorn serves in a thread of its own until ``stop``.
- It listens on loopback unless ``allow_remote`` is set; a non-loopback host
  without it raises ``ValueError`` (the page is meant to sit behind a TLS
  reverse proxy: docs/central.md "Web page").
- ``serve`` runs in the foreground until SIGTERM or SIGINT (uvicorn's own
  handlers) and returns 0. It is the web page's own process, so it tunes that
  process's garbage collector first (``tune_gc``).
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from .app import create_app
from .settings import WebSettings

log = logging.getLogger("hallvakt.central.web")


def _bind(settings: WebSettings) -> socket.socket:
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _server(settings: WebSettings, clock: Callable[[], float]) -> uvicorn.Server:
    app = create_app(settings, clock=clock)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        lifespan="on",
    )
    return uvicorn.Server(config)


def _check_host(settings: WebSettings, allow_remote: bool) -> None:
    if not settings.loopback and not allow_remote:
        raise ValueError(
            f"web: host {settings.host!r} is not loopback; put the page behind a TLS reverse"
            " proxy (docs/central.md) or allow it explicitly"
        )


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


@dataclass
class Running:
    """A web page serving in a thread: its ``url``; ``stop()`` ends it."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()


def start(
    settings: WebSettings,
    *,
    allow_remote: bool = False,
    clock: Callable[[], float] = time.time,
    timeout: float = 30.0,
) -> Running:
    """Serve in a background thread; return once it accepts requests."""
    _check_host(settings, allow_remote)
    sock = _bind(settings)
    server = _server(settings, clock)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="hallvakt-web", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the web page did not start (see the log)")
        time.sleep(0.02)
    return Running(url_of(sock), server, thread, sock)


GC_GEN0 = 20_000  # allocations between young collections (Python's default: 700)


def tune_gc() -> None:
    """The web process's garbage collector, tuned for pages of thousands of rows.

    The fleet page of 2,000 nodes allocates some 40,000 objects per request:
    with Python's defaults that is about 30 young collections per request and
    a full collection every few requests, which walks every object the process
    holds (modules, templates, the app: 80,000 objects, 25-120 ms here), the
    slowest requests' tail (docs/benchmarks.md, "Central's web page"). So:
    what exists at start is frozen (``gc.freeze``: never walked again, it
    lives as long as the process anyway), and the young generation is
    collected every ``GC_GEN0`` allocations instead of 700. Reference counting
    still frees everything that is not a cycle at once; cycles wait a little
    longer.
    """
    gc.collect()
    gc.freeze()
    gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(max(gen0, GC_GEN0), gen1, gen2)


def serve(
    settings: WebSettings,
    *,
    allow_remote: bool = False,
    ready: Callable[[str], None] | None = None,
) -> int:
    """Serve in the foreground until SIGTERM/SIGINT; ``ready(url)`` once bound."""
    _check_host(settings, allow_remote)
    sock = _bind(settings)
    try:
        server = _server(settings, time.time)
        tune_gc()
        if ready is not None:
            ready(url_of(sock))
        log.info("web page on %s", url_of(sock))
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
