"""Central's data and commands into the node database, and the cursors that ask
for them (PROTOCOL.md §6; sans-I/O).

``Downstream`` handles the verified messages central sends down, except
``ack`` (the outbox's, in sync/link/core.py). Rules it guarantees:
- ``head`` passes ``HeadGuard`` (rollback, stale by ``exp``) and is recorded
  with ``record_head`` (§7 freshness); a head above ``applied_rev`` asks for
  changes (at once if it is above every revision known before, else as
  ``CursorPacer`` allows).
- ``changes`` apply through ``apply_changes`` in one transaction (APPLIED and
  GAP send a cursor; DUPLICATE is ignored); a GAP whose cursor the pacer holds
  back is asked again by the retry timer within 1 s (PROTOCOL.md §6: every
  gap gets a cursor). ``snapshot`` parts are staged (APPLIED sends a cursor; a
  part that does not fit its siblings is dropped as ``malformed``; a part of
  a revision already applied is ignored unless a snapshot is wanted or that
  revision is being staged). While a snapshot is wanted, ``changes`` are not
  applied.
- ``command`` passes ``CommandGuard`` and is queued in the database
  (``queue_command`` persists its seq first: at most once). ``resync`` is
  carried out here (a snapshot is asked for); door commands by the door
  controller; ``message`` by the kiosk. An ``unlock`` received while the clock
  is untrusted ends at once as ``failed`` (docs/protocol.md: its ``exp`` cannot
  be judged). The broker's redelivery of the command taken last finishes it.
- Cursors go out only while connected, as ``CursorPacer`` allows; while data
  is missing they are repeated on its timer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sync.protocol import (
    Changes,
    Cmd,
    Command,
    CommandGuard,
    Cursor,
    Head,
    HeadGuard,
    KioskText,
    Message,
    Rejected,
    RejectReason,
    Snapshot,
    Unlock,
    Want,
)
from sync.protocol.timeutil import from_ts
from sync.replica import (
    ApplyOutcome,
    BatchError,
    CommandRefused,
    Replica,
    apply_changes,
    expire_messages,
    finish_command,
    last_command_seq,
    next_message_exp,
    pending_commands,
    queue_command,
    stage_snapshot,
    staged_snapshot,
)

from .events import MessageIn, Moment, Output, Publish
from .pacing import CursorPacer

log = logging.getLogger("hallvakt.sync")

UNTRUSTED_UNLOCK = "refused: the node's clock is not trusted"

Sign = Callable[[Message, Moment], Publish]
Drop = Callable[[MessageIn, Rejected, Moment], None]


NEVER = float("inf")  # no pending message: nothing to expire until one arrives
# A pending message's exp is a wall instant, its wakeup monotonic: look again at
# least this often, so that a wall-clock step forward ends it within seconds.
MESSAGE_RECHECK_S = 5.0


class Downstream:
    """What central sends down, applied to the replica (module rules)."""

    def __init__(
        self,
        rep: Replica,
        *,
        sign: Sign,
        drop: Drop,
        connected: Callable[[], bool],
        cursor_retry: float,
        cursor_retry_max: float,
    ) -> None:
        self.rep = rep
        self._sign, self._drop, self._connected = sign, drop, connected
        self.want_snapshot = False
        self.cursors = CursorPacer(cursor_retry, cursor_retry_max)
        self._gap_rev = 0  # the rev of the newest batch that did not fit
        self.message_due: float | None = None  # monotonic: the earliest pending message's exp

    def on_connected(self, at: Moment, out: list[Output]) -> None:
        """A new connection forgets the pacing; a wanted snapshot is asked for."""
        self.cursors.reset()
        if self.want_snapshot:
            self.ask(Want.SNAPSHOT, at, out)

    # --- the messages ---------------------------------------------------------------

    def on_head(self, msg: MessageIn, head: Head, at: Moment, out: list[Output]) -> None:
        st = self.rep.state()
        rejected = HeadGuard(st.applied_rev, st.head_rev or 0).admit(
            head, now=at.unix, clock_trusted=at.trusted
        )
        if rejected is not None:
            self._drop(msg, rejected, at)
            return
        newer = head.rev > self._known_rev()  # central moved on: ask now, not at the retry
        self.rep.record_head(head.rev, head.oldest_rev, at.wall)
        if head.rev > st.applied_rev:
            self.ask(Want.CHANGES, at, out, force=newer)

    def on_changes(self, ch: Changes, at: Moment, out: list[Output]) -> None:
        if self.want_snapshot:
            log.info("changes %d->%d ignored: waiting for a snapshot", ch.batch.base, ch.batch.rev)
            return
        outcome = apply_changes(self.rep, ch.batch, at.wall)
        if outcome is ApplyOutcome.APPLIED:
            self.ask(Want.CHANGES, at, out, force=True)
        elif outcome is ApplyOutcome.GAP:
            self._gap_rev = max(self._gap_rev, ch.batch.rev)
            if not self.ask(Want.CHANGES, at, out):
                self.cursors.gap(at.mono)  # held back: the timer asks within 1 s

    def on_snapshot(self, msg: MessageIn, sn: Snapshot, at: Moment, out: list[Output]) -> None:
        staged = staged_snapshot(self.rep)
        if (
            not self.want_snapshot
            and sn.part.rev <= self.rep.state().applied_rev
            and (staged is None or staged.rev != sn.part.rev)
        ):
            return  # the rest of a snapshot applied already (or one not asked for)
        try:
            outcome = stage_snapshot(self.rep, sn.part, at.wall)
        except BatchError as exc:
            self._drop(msg, Rejected(RejectReason.MALFORMED, str(exc)), at)
            return
        if outcome is ApplyOutcome.APPLIED:
            self.want_snapshot = False
            log.info("snapshot rev %d applied", sn.part.rev)
            self.ask(Want.CHANGES, at, out, force=True)

    def on_command(
        self, msg: MessageIn, cmd: Command, iat: int, at: Moment, out: list[Output]
    ) -> None:
        last = last_command_seq(self.rep)
        rejected = CommandGuard(last).admit(cmd, iat=iat, now=at.unix, clock_trusted=at.trusted)
        if rejected is not None:
            if rejected.reason is RejectReason.REPLAYED and msg.dup and cmd.seq == last:
                # The broker's redelivery of the command we took last (we stopped
                # between our commit and the PUBACK): finish what was started.
                log.info("command %d delivered again; already taken", cmd.seq)
                self._finish_resync(cmd, at, out)
                return
            self._drop(msg, rejected, at)
            return
        args: dict[str, object] = {}
        if isinstance(cmd.args, Unlock):
            args = {"door": cmd.args.door, "seconds": cmd.args.seconds}
        elif isinstance(cmd.args, KioskText):
            args = {"text": cmd.args.text, "audience": str(cmd.args.audience)}
        try:
            with self.rep.write():
                queue_command(self.rep, cmd.seq, cmd.cmd.value, args, from_ts(cmd.exp), at.wall)
                if cmd.cmd is Cmd.UNLOCK and not at.trusted:
                    # docs/protocol.md "Replays": with an untrusted clock a withheld
                    # unlock could be released late; refuse it (its seq is taken).
                    finish_command(self.rep, cmd.seq, "failed", UNTRUSTED_UNLOCK, at.wall)
        except CommandRefused as exc:  # another writer took the seq meanwhile
            self._drop(msg, Rejected(RejectReason.REPLAYED, str(exc)), at)
            return
        log.info("command %d %s taken", cmd.seq, cmd.cmd)
        if cmd.cmd is Cmd.MESSAGE:
            self.message_due = None  # look at its exp at the end of this input
        self._finish_resync(cmd, at, out)

    def expire_messages(self, at: Moment) -> None:
        """End ``message`` commands no kiosk took before their ``exp`` (docs/protocol.md
        "Kiosk messages": the link, which sends ``command.done``, notices; a kiosk
        that is down cannot). Only with a trusted clock."""
        if not at.trusted:
            self.message_due = None
            return
        if self.message_due is not None and at.mono < self.message_due:
            return
        if expire_messages(self.rep, at.wall):
            log.info("message commands expired before a kiosk showed them")
        due = next_message_exp(self.rep)
        left = None if due is None else max(0.0, (due - at.wall).total_seconds())
        self.message_due = NEVER if left is None else at.mono + min(left, MESSAGE_RECHECK_S)

    def _finish_resync(self, cmd: Command, at: Moment, out: list[Output]) -> None:
        if cmd.cmd is not Cmd.RESYNC:
            return
        if not any(c.seq == cmd.seq for c in pending_commands(self.rep, frozenset({"resync"}))):
            return
        self.want_snapshot = True
        self.ask(Want.SNAPSHOT, at, out)
        finish_command(self.rep, cmd.seq, "done", "snapshot requested", at.wall)

    # --- cursors ------------------------------------------------------------------------

    def _needs_data(self) -> bool:
        applied = self.rep.state().applied_rev
        return self.want_snapshot or self._known_rev() > applied

    def _known_rev(self) -> int:
        """The newest revision central is known to have: its head, or a batch seen."""
        return max(self.rep.state().head_rev or 0, self._gap_rev)

    def ask(self, want: Want, at: Moment, out: list[Output], *, force: bool = False) -> bool:
        """Send a cursor as ``CursorPacer`` allows; ``force``: there is news (a new
        ``applied_rev`` to report, or a head above every revision known before),
        or the retry timer decided. True if one was sent (or the next connection
        will ask)."""
        if not self._connected():
            return True  # the next connection asks (hello, the retained head, want_snapshot)
        key = (self.rep.state().applied_rev, Want.SNAPSHOT if self.want_snapshot else want)
        if not self.cursors.may_send(key, at.mono, force=force):
            return False
        out.append(self._sign(Cursor(*key), at))
        self.cursors.sent(key, at.mono, missing=self._needs_data())
        return True

    def cursor_timer(self, at: Moment, out: list[Output]) -> None:
        """Ask again if data is still missing when the pacer's timer is due."""
        if not self.cursors.due(at.mono):
            return
        if self._needs_data():
            key = self.cursors.key
            self.ask(key[1] if key else Want.CHANGES, at, out, force=True)
        else:
            self.cursors.retry_at = None
