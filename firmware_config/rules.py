"""Rules across the keys of one config table (``@table(doc, rules)``, firmware_config.schema).

Rules this module guarantees:
- A rule reads the keys as written (``raw``) and the validated values of the
  keys it names (``keys``); a key that did not validate is None there, and a
  rule that needs it says nothing (its own problem is reported already).
- Each problem is (key path below the table, message); ``describe`` is the
  rule in words for the reference docs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from .keypath import KeyPath


class Rule:
    """A check across the keys of one table, run after its keys validated."""

    keys: tuple[str, ...] = ()  # the keys whose validated values the rule reads

    def check(
        self, raw: Mapping[str, object], values: Mapping[str, Any]
    ) -> Iterator[tuple[KeyPath, str]]:
        """Yield (key path below the table, message) for each problem."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class ExactlyOne(Rule):
    """Exactly one of ``keys`` is written."""

    def __init__(self, *names: str) -> None:
        self.names = names

    def check(
        self, raw: Mapping[str, object], values: Mapping[str, Any]
    ) -> Iterator[tuple[KeyPath, str]]:
        present = [k for k in self.names if k in raw]
        if not present:
            yield (), f"needs one of {', '.join(self.names)}"
        for k in present[1:]:
            yield (k,), f"cannot be combined with {present[0]}"

    def describe(self) -> str:
        return "exactly one of " + ", ".join(f"`{k}`" for k in self.names)


class When(Rule):
    """When ``key`` validated and ``test(value)`` holds (``label`` in words),
    the keys in ``require`` must be written and those in ``forbid`` must not."""

    def __init__(
        self,
        key: str,
        test: Callable[[Any], bool],
        label: str,
        *,
        require: Sequence[str] = (),
        forbid: Sequence[str] = (),
    ) -> None:
        self.key, self.test, self.label = key, test, label
        self.keys = (key,)
        self.require, self.forbid = tuple(require), tuple(forbid)

    def check(
        self, raw: Mapping[str, object], values: Mapping[str, Any]
    ) -> Iterator[tuple[KeyPath, str]]:
        if values.get(self.key) is None or not self.test(values[self.key]):
            return
        for k in self.require:
            if k not in raw:
                yield (k,), f"is required when {self.label}"
        for k in self.forbid:
            if k in raw:
                yield (k,), f"is not allowed when {self.label}"

    def describe(self) -> str:
        parts = [f"`{k}` required" for k in self.require]
        parts += [f"`{k}` not allowed" for k in self.forbid]
        return f"when {self.label}: " + ", ".join(parts)


class Check(Rule):
    """A free check over the validated values of ``keys`` of one table."""

    def __init__(
        self,
        fn: Callable[[Mapping[str, object], Mapping[str, Any]], Iterator[tuple[KeyPath, str]]],
        doc: str,
        keys: Sequence[str],
    ) -> None:
        self.fn, self.doc, self.keys = fn, doc, tuple(keys)

    def check(
        self, raw: Mapping[str, object], values: Mapping[str, Any]
    ) -> Iterator[tuple[KeyPath, str]]:
        return self.fn(raw, values)

    def describe(self) -> str:
        return self.doc
