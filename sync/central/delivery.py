"""What each node has been sent and when: the in-flight batches and the last snapshot.

Rules this module guarantees (docs/central.md "Several gateways"):
- This is the state that decides what a node gets next, and it lives in the
  store, not in a gateway's memory: with several gateways, the one that
  answers a node's next cursor knows what another one sent it.
- Every function here runs inside the caller's write transaction, after the
  caller took the node's lock (``store.lock("node", node)``): reading this
  state, deciding and recording the decision is one step, so two gateways
  answering two cursors of one node at once never both send the same batch
  nor two different batches for one base.
- The batches in flight form a chain from a ``base`` with the time each was
  sent; ``in_flight`` (pure) says which still count for a node's cursor: a
  batch older than the window is lost, and so is everything after it. A
  ``hello`` (a new connection) forgets the chain: whatever was in flight is
  lost to the node.
- ``snapshot`` is the revision and time of the last snapshot sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .store import Store


@dataclass(frozen=True, slots=True)
class Sent:
    """What a node was sent. ``base`` and ``batches``: a chain of ``changes``
    batches in flight, the first applying on ``base``, each next one on the
    previous one's ``rev``, each with the time it was sent. The last
    snapshot's revision and time (None: never)."""

    base: int
    batches: tuple[tuple[int, int], ...]  # (rev, sent at)
    snapshot_rev: int | None
    snapshot_at: int | None


NOTHING = Sent(0, (), None, None)


def in_flight(last: Sent, applied: int, now: int, window: int) -> list[tuple[int, int]]:
    """The batches of ``last`` still in flight to a node that reports ``applied``:
    those above ``applied`` on a chain through it, each sent less than
    ``window`` seconds ago, up to the first one that is older (it counts as
    lost, and the ones after it cannot be applied without it). A node whose
    ``applied`` is not on the chain (a snapshot moved it) has nothing in
    flight: it is sent from ``applied`` afresh."""
    if applied != last.base and applied not in (r for r, _ in last.batches):
        return []
    out: list[tuple[int, int]] = []
    for rev, at in last.batches:
        if rev <= applied:
            continue
        if now - at >= window:
            break
        out.append((rev, at))
    return out


def sent(store: Store, node: str) -> Sent:
    """What ``node`` was sent (``NOTHING`` for a node that is not registered)."""
    return sent_many(store, [node]).get(node, NOTHING)


def sent_many(store: Store, names: Sequence[str]) -> dict[str, Sent]:
    """What each registered node of ``names`` was sent (one query)."""
    if not names:
        return {}
    marks = ", ".join("?" * len(names))
    rows = store.execute(
        "SELECT node, sent_batches, sent_snapshot_rev, sent_snapshot_ts FROM node_state"
        f" WHERE node IN ({marks})",
        list(names),
    )
    out = {}
    for node, text, snapshot_rev, snapshot_at in rows:
        base, batches = _decode(str(text))
        out[str(node)] = Sent(base, batches, snapshot_rev, snapshot_at)
    return out


def _decode(text: str) -> tuple[int, tuple[tuple[int, int], ...]]:
    """``base;rev@at,rev@at,...`` (empty: nothing in flight)."""
    if not text:
        return 0, ()
    base, _, rest = text.partition(";")
    pairs = (item.split("@") for item in rest.split(",") if item)
    return int(base), tuple((int(r), int(t)) for r, t in pairs)


def chain_text(base: int, batches: Sequence[tuple[int, int]]) -> str:
    """The stored form of a chain from ``base``, ``(rev, sent at)`` each."""
    return f"{base};" + ",".join(f"{r}@{t}" for r, t in batches) if batches else ""


def record_batches(store: Store, node: str, base: int, batches: list[tuple[int, int]]) -> None:
    """The chain now in flight to ``node``: from ``base``, ``(rev, sent at)`` each."""
    record_many(store, [(node, chain_text(base, batches))])


def record_many(store: Store, chains: Sequence[tuple[str, str]]) -> None:
    """Several nodes' chains (``chain_text``) at once: ``(node, chain)`` each."""
    if chains:
        store.executemany(
            "UPDATE node_state SET sent_batches = ? WHERE node = ?", [(c, n) for n, c in chains]
        )


def forget_batches(store: Store, node: str) -> None:
    """A new connection (``hello``): nothing is in flight any more."""
    store.execute("UPDATE node_state SET sent_batches = '' WHERE node = ?", [node])


def record_snapshot(store: Store, node: str, rev: int, at: int) -> None:
    store.execute(
        "UPDATE node_state SET sent_snapshot_rev = ?, sent_snapshot_ts = ? WHERE node = ?",
        [rev, at, node],
    )
