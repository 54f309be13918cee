"""A private PostgreSQL server for tests and benchmarks: Debian's binaries, a unix socket.

- ``PostgresServer.start()`` runs ``initdb`` into a fresh temp directory and
  ``pg_ctl start`` with ``listen_addresses=''``: no TCP port, only a unix
  socket in that directory, so parallel runs never collide. Run as root (CI,
  these machines) both run as the ``postgres`` user Debian's package creates
  (``initdb`` refuses root); otherwise as the current user.
- Authentication is ``trust`` for the superuser ``hallvakt`` on the socket,
  which only this machine's users can reach through the private directory.
- ``fast=True`` (tests) turns off ``fsync``: a test server that loses its
  data on power loss loses nothing of value, and every CREATE DATABASE is
  quicker. Benchmarks keep the production default (``fast=False``).
- ``create_database(name, template=...)`` makes a database (from a template:
  one migrated schema copied per test); ``url(name)`` is the libpq URL.
- ``stop()`` stops the server (``pg_ctl stop -m fast``) and removes the
  directory. ``available()`` says whether the binaries are installed.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "hallvakt"


def bindir() -> Path | None:
    """Debian's newest PostgreSQL binaries (``/usr/lib/postgresql/N/bin``), if any."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def available() -> bool:
    return bindir() is not None


class PostgresServer:
    """One private server (module docstring)."""

    def __init__(self, *, fast: bool = True, settings: dict[str, str] | None = None) -> None:
        b = bindir()
        if b is None:
            raise RuntimeError("PostgreSQL is not installed (Debian package postgresql)")
        self.bin = b
        self.fast = fast
        self.settings = dict(settings or {})
        self.root = Path(tempfile.mkdtemp(prefix="hallvakt-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0
        self.started = False

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)

    def start(self) -> PostgresServer:
        os.chmod(self.root, 0o755)  # the postgres user walks into it
        self.socket_dir.mkdir()
        if self._as_postgres:
            shutil.chown(self.socket_dir, "postgres", "postgres")
            shutil.chown(self.root, "postgres", "postgres")
        res = self._initdb()
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed: {res.stderr.strip()}")
        opts = {"listen_addresses": "''", "unix_socket_directories": f"'{self.socket_dir}'"}
        if self.fast:
            opts |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        opts |= {k: str(v) for k, v in self.settings.items()}
        res = self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            " ".join(f"-c {k}={v}" for k, v in opts.items()),
            "-l",
            str(self.log),
            "-w",
            "start",
        )
        if res.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {res.stderr.strip()}\n{log[-2000:]}")
        self.started = True
        return self

    def _initdb(self) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", SUPERUSER]
        argv += ["-E", "UTF8", "--locale=C.UTF-8"]
        if self.fast:
            argv.append("--no-sync")
        return self._run(*argv)

    def url(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@/{dbname}?host={self.socket_dir}"

    def sql(self, statement: str, dbname: str = "postgres") -> None:
        """Run one statement as the superuser (outside a transaction: CREATE DATABASE)."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(statement.encode())

    def create_database(self, name: str, template: str | None = None) -> str:
        """Make database ``name`` (a copy of ``template``); return its URL."""
        copy = f" TEMPLATE {template}" if template else ""
        self.sql(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pid(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        try:
            return int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Stop the server and remove its directory. Idempotent."""
        if self.started:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
