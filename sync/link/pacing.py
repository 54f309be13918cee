"""How often the link asks central for data and how many drops it records (pure).

``CursorPacer`` (PROTOCOL.md §5 cursor, §6):
- The same request (``applied_rev``, ``want``) is not sent again within its
  delay, however many heads or gaps call for it (a burst of gaps from one
  answer costs one cursor); news always goes (a new ``applied_rev`` to report,
  a head above every revision known before).
- While data is still missing, the request is repeated after its delay:
  ``retry``, doubling for each repeat of the same request, up to ``retry_max``.
  A new connection forgets everything.
- A gap (a batch above ``applied_rev``, PROTOCOL.md §6) is always answered
  within ``gap_retry`` (1 s): when the pacer holds its cursor back, ``gap``
  moves the retry to at most ``gap_retry`` after the last cursor sent (a
  gap 0.2 s after a confirmed batch waited 150 s before).

``DropLimit`` (PROTOCOL.md §4 security events): at most ``per_minute``
``security.rejected`` events per minute, so that someone with broker access
cannot fill the outbox; the drops left out are counted and reported with the
next recorded one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync.protocol import Want

CursorKey = tuple[int, Want]  # (applied_rev, want)


@dataclass(slots=True)
class CursorPacer:
    retry: float = 10.0
    retry_max: float = 300.0
    gap_retry: float = 1.0
    key: CursorKey | None = None  # the last request sent
    sent_at: float = float("-inf")
    delay: float = 0.0
    repeats: int = 0
    retry_at: float | None = None  # when to ask again if data is still missing

    def reset(self) -> None:
        self.key, self.sent_at, self.delay, self.repeats, self.retry_at = (
            None, float("-inf"), 0.0, 0, None,
        )  # fmt: skip

    def may_send(self, key: CursorKey, mono: float, *, force: bool) -> bool:
        return force or key != self.key or mono >= self.sent_at + self.delay

    def sent(self, key: CursorKey, mono: float, *, missing: bool) -> None:
        """A cursor ``key`` went out; ``missing``: the node still lacks data."""
        self.repeats = self.repeats + 1 if key == self.key else 0
        self.delay = min(self.retry * 2**self.repeats, self.retry_max)
        self.key, self.sent_at = key, mono
        self.retry_at = mono + self.delay if missing else None

    def gap(self, mono: float) -> None:
        """A gap was seen and its cursor held back: ask again by ``gap_retry``
        after the last cursor at the latest."""
        at = max(mono, self.sent_at + self.gap_retry)
        self.retry_at = at if self.retry_at is None else min(self.retry_at, at)

    def due(self, mono: float) -> bool:
        return self.retry_at is not None and mono >= self.retry_at


@dataclass(slots=True)
class DropLimit:
    per_minute: int = 30
    start: float = float("-inf")
    recorded: int = 0
    suppressed: int = 0

    def admit(self, mono: float) -> int | None:
        """None: do not record this drop (it is counted); else record it, with
        the number of drops left out before it."""
        if mono - self.start >= 60.0:
            self.start, self.recorded = mono, 0
        if self.recorded >= self.per_minute:
            self.suppressed += 1
            return None
        left_out, self.suppressed = self.suppressed, 0
        self.recorded += 1
        return left_out
