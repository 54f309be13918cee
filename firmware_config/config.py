"""The node configuration file (node.toml): its schema and how it is read.

Rules this module guarantees:
- ``NodeConfig`` (firmware_config.model) is the whole schema: every key, its
  type, range, default and meaning. docs/configuration.md's reference is
  generated from it (``python -m firmware_config.docgen``), so the two cannot
  drift. pydantic runs it (firmware_config.schema).
- A config is checked in three passes, and every problem of every pass that
  runs is reported at once, as ``FILE: key.path: problem`` lines:
  1. schema: types, ranges, enums, patterns, required and unknown keys, and
     rules within one table (``kind = "osdp"`` needs ``address`` and ``key``);
  2. cross-field (firmware_config.checks): references, ports, addresses, relay
     channels, inputs. It runs on every item that passed pass 1, so a broken
     reader does not hide a clash between two good ones;
  3. files (firmware_config.filecheck): key, certificate and password files
     exist, load, and are not open to group or others. ``load_config(...,
     files=False)`` skips it: ``config show`` and ``provision`` run before the
     secrets exist. Daemons and ``config check`` run all three.
- A TOML syntax error is a ``ConfigError`` naming the file, line and column.
- Relative paths in the file are taken from the file's own directory.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .checks import Parts, cross_check
from .filecheck import check_files
from .model import NodeConfig
from .schema import ConfigError, Context, Problem, adapter, entries, partial, problems_of

DEFAULT_CONFIG = Path("/etc/hallvakt/node.toml")
EX_CONFIG = 78  # sysexits.h: systemd units use RestartPreventExitStatus=78


def parse_config(
    data: object, *, file: str = "node.toml", base_dir: Path = Path(".")
) -> NodeConfig:
    """Passes 1 and 2 over a parsed TOML document; return the config or raise
    ``ConfigError`` with every problem found. Never raises anything else."""
    context = {"base_dir": base_dir}
    ctx = Context(file)
    cfg: NodeConfig | None = None
    try:
        cfg = adapter(NodeConfig).validate_python(data, context=context)
    except ValidationError as exc:
        ctx.problems += problems_of(exc, file)
    if not isinstance(data, dict):
        raise ConfigError(ctx.problems)
    values = entries(cfg) if cfg is not None else partial(NodeConfig, data, context)
    cross_check(Parts.of(values, data), ctx)
    if ctx.problems or cfg is None:
        raise ConfigError(ctx.problems)
    return cfg


def loads_config(text: str, *, file: str = "node.toml", base_dir: Path = Path(".")) -> NodeConfig:
    """Parse TOML text, then ``parse_config``. A syntax error is a ``ConfigError``
    whose key path is ``line L, column C``."""
    return parse_config(parse_toml(text, file), file=file, base_dir=base_dir)


def read_config_text(path: str | Path) -> str:
    """The UTF-8 text of a config file (a BOM from Notepad is fine); raises
    ``ConfigError`` naming the file as ``path`` was given."""
    file = str(path)
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(file, "", f"is not UTF-8 text (byte {exc.start})")]) from None
    except OSError as exc:
        raise ConfigError([Problem(file, "", f"cannot be read: {exc.strerror or exc}")]) from None


def parse_toml(text: str, file: str) -> dict[str, Any]:
    """The TOML document ``text`` as a dict; a syntax error is a ``ConfigError``
    whose key path is ``line L, column C``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(file, str(exc))]) from None
    except RecursionError:
        raise ConfigError([Problem(file, "", "invalid TOML: nested too deeply")]) from None


def _syntax_problem(file: str, message: str) -> Problem:
    head, sep, where = message.rpartition(" (at ")
    if sep and where.endswith(")"):
        return Problem(file, where[:-1], f"invalid TOML: {head}")
    return Problem(file, "", f"invalid TOML: {message}")


def load_config(path: str | Path, *, files: bool = True) -> NodeConfig:
    """Read and check the config at ``path`` (all three passes unless ``files``
    is false). Problems name the file as ``path`` was given. Raises
    ``ConfigError``."""
    file = str(path)
    cfg = loads_config(read_config_text(path), file=file, base_dir=Path(path).parent.absolute())
    if files:
        problems = check_files(cfg, file)
        if problems:
            raise ConfigError(problems)
    return cfg


def load_or_exit(path: str | Path) -> NodeConfig:
    """For daemons: the checked config, or every problem on stderr and exit 78."""
    try:
        return load_config(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None
